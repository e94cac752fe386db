"""IsolationForest reference for `aisle bench anomaly --reference benches/anomaly_reference.py`.

Reads DIR/days.csv and DIR/shoppers.csv (an id column, then the features Aisle's rules read: each judged day's
visitors, events, purchases, buyers and weekday; each shopper's event rates, orders, small orders within an hour,
bought lines, share bought without a view, cancelled orders and their share) and DIR/k.txt (how many days and
shoppers are labelled). Fits scikit-learn's IsolationForest (200 trees, random_state 0) on each table and writes the
ids of the k most anomalous rows (lowest score_samples) to DIR/if_days.txt and DIR/if_shoppers.txt.
Needs `pip install scikit-learn`. Usage: python anomaly_reference.py DIR
"""
import csv
import sys

import numpy as np
from sklearn.ensemble import IsolationForest


def top(path, k):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    ids = [r[0] for r in rows[1:]]
    x = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    scores = IsolationForest(n_estimators=200, random_state=0).fit(x).score_samples(x)
    return [ids[i] for i in np.argsort(scores)[:k]]


def main():
    d = sys.argv[1]
    k_days, k_users = (int(v) for v in open(f"{d}/k.txt").read().split())
    for name, k in (("days", k_days), ("shoppers", k_users)):
        with open(f"{d}/if_{name}.txt", "w") as out:
            out.write("\n".join(top(f"{d}/{name}.csv", k)) + "\n")


if __name__ == "__main__":
    main()
