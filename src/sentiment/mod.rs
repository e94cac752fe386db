//! Sentiment of shopper text (reviews, chat turns): negative, neutral or positive, by a classifier head over the
//! multilingual embedding (multilingual-e5: English and Chinese share one space) and character n-grams, trained on
//! review text labelled by its star rating (1-2 stars negative, 3 neutral, 4-5 positive). Star ratings are noisy
//! labels: a 4-star review may complain, a 2-star one may praise; the benchmark states how the labels were made.
//! Served: [`model`] (the head, trained once per store, and how it reads other languages), [`aspects`] (what a
//! sentence talks about), [`rollup`] (per product, category and shop).
pub mod aspects;
pub mod model;
pub mod rollup;

pub use model::{Mood, Sentiment, Slot};

use crate::intent::{featurize, Features, IntentModel, TrainConfig};

pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// One review as the Amazon toys catalog packs it: `title // rating // date // By name on date // text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub title: String,
    pub rating: f64,
    pub text: String,
}

impl Review {
    /// Title and text, as the classifier reads them.
    pub fn words(&self) -> String {
        format!("{}. {}", self.title.trim().trim_end_matches('.'), self.text.trim())
    }
}

/// The reviews packed in one `customer_reviews` cell (reviews separated by `|`); malformed parts are skipped.
pub fn parse_reviews(cell: &str) -> Vec<Review> {
    cell.split('|')
        .filter_map(|part| {
            let fields: Vec<&str> = part.split(" // ").collect();
            if fields.len() < 5 {
                return None;
            }
            let rating: f64 = fields[1].trim().parse().ok()?;
            let text = fields[4..].join(" // ").split_whitespace().collect::<Vec<_>>().join(" ");
            (1.0..=5.0).contains(&rating).then(|| Review { title: fields[0].trim().to_string(), rating, text })
        })
        .filter(|r| !r.text.is_empty())
        .collect()
}

/// The label a star rating gives: 0 negative (1-2), 1 neutral (3), 2 positive (4-5).
pub fn label_of(rating: f64) -> usize {
    if rating < 2.5 {
        0
    } else if rating < 3.5 {
        1
    } else {
        2
    }
}

/// Trains the head on labelled features, each class repeated up to the largest one's size (reviews are mostly
/// positive; without it the head says "positive" to nearly everything).
pub fn train(embedder: &crate::embed::Embedder, xs: &[Features], labels: &[usize], seed: u64) -> IntentModel {
    let (x, y) = balanced(xs, labels);
    let cfg = TrainConfig { epochs: 20, seed, ..TrainConfig::default() };
    IntentModel::train(LABELS.iter().map(|l| l.to_string()).collect(), embedder.dim, &embedder.model_id, &x, &y, cfg)
}

/// A text's features as the head reads them: the embedding of the text as read into English, and the character
/// n-grams of both the reading and the text as written (so a Chinese review's own words count too).
pub fn features(
    embedder: &crate::embed::Embedder,
    read: &[String],
    written: &[String],
) -> Result<Vec<Features>, crate::intent::IntentError> {
    let mut xs = featurize(embedder, read)?;
    for ((x, r), w) in xs.iter_mut().zip(read).zip(written) {
        if r != w {
            x.sparse = crate::intent::ngrams(&format!("{w} {r}"));
        }
    }
    Ok(xs)
}

/// Every example, then copies of the smaller classes' examples in turn until each class is as large as the largest.
pub fn balanced(xs: &[Features], ys: &[usize]) -> (Vec<Features>, Vec<usize>) {
    let mut by: Vec<Vec<usize>> = vec![vec![]; LABELS.len()];
    for (i, y) in ys.iter().enumerate() {
        by[*y].push(i);
    }
    let most = by.iter().map(Vec::len).max().unwrap_or(0);
    let mut order: Vec<usize> = (0..xs.len()).collect();
    for class in &by {
        if class.is_empty() {
            continue;
        }
        order.extend(class.iter().cycle().take(most - class.len()));
    }
    (order.iter().map(|&i| xs[i].clone()).collect(), order.iter().map(|&i| ys[i]).collect())
}

/// Accuracy and macro-F1 of predictions against the truth over `classes` labels.
pub fn scores(pred: &[usize], truth: &[usize], classes: usize) -> (f64, f64) {
    let n = truth.len().max(1) as f64;
    let acc = pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n;
    let mut f1s = vec![];
    for c in 0..classes {
        let tp = pred.iter().zip(truth).filter(|(p, t)| **p == c && **t == c).count() as f64;
        let fp = pred.iter().zip(truth).filter(|(p, t)| **p == c && **t != c).count() as f64;
        let fneg = pred.iter().zip(truth).filter(|(p, t)| **p != c && **t == c).count() as f64;
        let f1 = if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fneg) };
        f1s.push(f1);
    }
    (acc, f1s.iter().sum::<f64>() / classes as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_cell_gives_its_reviews_and_skips_broken_ones() {
        let cell = "Five Stars // 5.0 // 27 Dec. 2014 // By\n  catherine  \n on 27 Dec. 2014 // just what my husband required \
                    | broken part | Rubbish // 1.0 // 1 Jan. 2015 // By x on 1 Jan. 2015 // fell apart // in a day";
        let r = parse_reviews(cell);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].rating, 5.0);
        assert_eq!(r[0].text, "just what my husband required");
        assert_eq!(r[1].text, "fell apart // in a day");
        assert_eq!(r[1].words(), "Rubbish. fell apart // in a day");
        assert_eq!([1.0, 2.0, 3.0, 4.0, 5.0].map(label_of), [0, 0, 1, 2, 2]);
    }

    #[test]
    fn smaller_classes_are_repeated_up_to_the_largest() {
        let xs: Vec<Features> = (0..6).map(|i| Features { dense: vec![i as f32], sparse: vec![] }).collect();
        let ys = [2, 2, 2, 2, 0, 1];
        let (x, y) = balanced(&xs, &ys);
        assert_eq!(x.len(), 12);
        for c in 0..3 {
            assert_eq!(y.iter().filter(|v| **v == c).count(), 4);
        }
    }

    #[test]
    fn macro_f1_weighs_each_class_alike() {
        // always "positive" on 8 positives and 2 negatives: accuracy 0.8, macro-F1 over two classes 0.444
        let truth = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        let (acc, f1) = scores(&[1; 10], &truth, 2);
        assert!((acc - 0.8).abs() < 1e-12);
        assert!((f1 - (2.0 * 8.0 / 18.0) / 2.0).abs() < 1e-12, "{f1}");
    }
}
