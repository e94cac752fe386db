//! Intent classification: a softmax classifier, trained in Rust with Adam, over two views of a message: its
//! sentence embedding (meaning) through one hidden ReLU layer, and hashed character n-grams (spelling, so typos
//! and run-on words still match) straight into the output layer. Trained on the Bitext customer-service set plus
//! Aisle's shopping intents, with a typing-noise copy of each utterance and generated nonsense labelled "other"
//! ([`augmented`]); evaluated on phrasing held out by whole linguistic-flag groups.
pub mod data;
pub mod llm;

use serde::{Deserialize, Serialize};

/// Buckets for hashed character n-grams.
pub const HASH_DIM: usize = 4096;

/// A message's features: the dense embedding and the sparse n-gram buckets (with weights).
#[derive(Clone)]
pub struct Features {
    pub dense: Vec<f32>,
    pub sparse: Vec<(u32, f32)>,
}

/// The 32-bit FNV-1a hash (n-gram buckets; benchmarks' held-out splits).
pub fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Character 3- to 5-grams of the lower-cased text with word boundaries marked, hashed and L2-normalised.
pub fn ngrams(text: &str) -> Vec<(u32, f32)> {
    let norm: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let padded: Vec<char> = format!(" {} ", norm.split_whitespace().collect::<Vec<_>>().join(" ")).chars().collect();
    let mut counts: std::collections::HashMap<u32, f32> = std::collections::HashMap::new();
    for n in 3..=5 {
        for w in padded.windows(n) {
            let s: String = w.iter().collect();
            *counts.entry(fnv(s.as_bytes()) % HASH_DIM as u32).or_default() += 1.0;
        }
    }
    let norm = counts.values().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    let mut v: Vec<(u32, f32)> = counts.into_iter().map(|(k, c)| (k, c / norm)).collect();
    v.sort_by_key(|x| x.0);
    v
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentModel {
    pub labels: Vec<String>,
    pub dense_dim: usize,
    /// Width of the hidden ReLU layer over the embedding (0: the embedding feeds the output layer directly).
    #[serde(default)]
    pub hidden: usize,
    /// Hidden layer, row-major: one row of `dense_dim` per hidden unit.
    #[serde(default)]
    hidden_weights: Vec<f32>,
    #[serde(default)]
    hidden_bias: Vec<f32>,
    /// Output layer, row-major: one row of `deep width + HASH_DIM` per label (deep width: `hidden`, or
    /// `dense_dim` without a hidden layer).
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// The embedding model the head was trained with; another model's vectors would be meaningless to it.
    pub embed_model: String,
    /// What it was trained on beyond the utterances ([`TRAINING_RECIPE`] when served); a saved head of another
    /// recipe is trained again.
    #[serde(default)]
    pub recipe: String,
}

/// The served training set beyond the labelled utterances; see [`augmented`].
pub const TRAINING_RECIPE: &str = "typing-noise copies + 300 nonsense as other";

/// The head for messages read into English from another language: the English utterances and the other
/// languages' read ones, each with a typing-noise copy, and the nonsense.
pub const READ_RECIPE: &str =
    "english + other languages read into English, typing-noise copies + 300 nonsense as other";

/// Where the head for messages read from other languages is saved, beside the English one.
pub fn read_head_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("read.json")
}

#[derive(Debug, Clone, Copy)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    /// Adam step for the output layer.
    pub learning_rate: f32,
    /// Adam step for the hidden layer.
    pub hidden_learning_rate: f32,
    /// Hidden units over the embedding (0: a linear head).
    pub hidden: usize,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The served settings: 256 hidden units (held-out accuracy in BENCHMARKS.md beside the linear head).
    fn default() -> Self {
        Self { epochs: 40, batch: 32, learning_rate: 0.01, hidden_learning_rate: 1e-3, hidden: 256, l2: 1e-5, seed: 1 }
    }
}

/// One prediction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub intent: String,
    pub confidence: f32,
    /// Probability that the message is a customer-service request of any kind (all service intents together).
    #[serde(skip)]
    pub service: f32,
    /// The classifier's three best intents, best first, with their probabilities.
    #[serde(skip)]
    pub top: Vec<(String, f32)>,
    /// The language model chose `intent` among `top` (the classifier was unsure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_llm: bool,
}

/// The intent classifier once it is there: loaded at start, or trained in the background on a first start while
/// the server already answers (until then [`keyword_guess`] routes the plain service requests). Cloning is
/// shallow.
#[derive(Clone, Default)]
pub struct Slot(std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<Intents>>>>);

impl Slot {
    pub fn ready(i: std::sync::Arc<Intents>) -> Self {
        let s = Self::default();
        s.set(i);
        s
    }
    pub fn get(&self) -> Option<std::sync::Arc<Intents>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, i: std::sync::Arc<Intents>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(i);
    }
}

/// A guess at the plain service requests by their words, for the minutes before the classifier is ready (a first
/// start trains it): an order number or "my order", refunds and returns, asking for a person. Anything else is
/// None (a shopping request).
pub fn keyword_guess(text: &str) -> Option<Prediction> {
    let t = text.to_lowercase();
    let words: Vec<&str> = t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |w: &str| words.contains(&w);
    let number = words.iter().any(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_digit()));
    let intent = if (has("human") || has("agent") || has("person") || has("someone")) && !has("gift") {
        "contact_human_agent"
    } else if has("refund") || has("return") || has("returns") || t.contains("money back") {
        "get_refund"
    } else if (has("order") || has("parcel") || has("package") || has("delivery")) && (number || has("my")) {
        "track_order"
    } else {
        return None;
    };
    Some(Prediction {
        intent: intent.into(),
        confidence: 0.9,
        service: 0.9,
        top: vec![(intent.into(), 0.9)],
        by_llm: false,
    })
}

/// Intents that are not customer-service requests.
pub const NON_SERVICE: &[&str] = &["search", "recommend", "compare", "product_question", "chit_chat", "other"];

/// Adam's moment estimates for one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n] }
    }

    /// One step on `params` with gradient `g` (plus `l2` weight decay); `c1`, `c2` are the bias corrections.
    fn step(&mut self, params: &mut [f32], g: &[f32], lr: f32, l2: f32, (c1, c2): (f32, f32)) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        for k in 0..params.len() {
            let g = g[k] + l2 * params[k];
            self.m[k] = b1 * self.m[k] + (1.0 - b1) * g;
            self.v[k] = b2 * self.v[k] + (1.0 - b2) * g * g;
            params[k] -= lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + eps);
        }
    }
}

impl IntentModel {
    /// Width of what the output layer reads from the embedding side.
    fn deep_dim(&self) -> usize {
        if self.hidden > 0 {
            self.hidden
        } else {
            self.dense_dim
        }
    }

    fn width(&self) -> usize {
        self.deep_dim() + HASH_DIM
    }

    /// The embedding side's features: the hidden layer's activations, or the embedding itself.
    fn deep(&self, dense: &[f32]) -> Vec<f32> {
        if self.hidden == 0 {
            return dense.to_vec();
        }
        (0..self.hidden)
            .map(|j| {
                let row = &self.hidden_weights[j * self.dense_dim..(j + 1) * self.dense_dim];
                (row.iter().zip(dense).map(|(w, v)| w * v).sum::<f32>() + self.hidden_bias[j]).max(0.0)
            })
            .collect()
    }

    fn logits(&self, deep: &[f32], sparse: &[(u32, f32)]) -> Vec<f32> {
        let (width, d) = (self.width(), self.deep_dim());
        (0..self.labels.len())
            .map(|l| {
                let row = &self.weights[l * width..(l + 1) * width];
                let dense: f32 = row[..d].iter().zip(deep).map(|(w, v)| w * v).sum();
                let sparse: f32 = sparse.iter().map(|(i, v)| row[d + *i as usize] * v).sum();
                dense + sparse + self.bias[l]
            })
            .collect()
    }

    pub fn probabilities(&self, x: &Features) -> Vec<f32> {
        softmax(&self.logits(&self.deep(&x.dense), &x.sparse))
    }

    pub fn predict(&self, x: &Features) -> Prediction {
        let p = self.probabilities(x);
        let (best, conf) =
            p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, c)| (i, *c)).unwrap_or((0, 0.0));
        let service =
            self.labels.iter().zip(&p).filter(|(l, _)| !NON_SERVICE.contains(&l.as_str())).map(|(_, p)| p).sum();
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
        let top = order.iter().take(3).filter_map(|&i| Some((self.labels.get(i)?.clone(), p[i]))).collect();
        Prediction {
            intent: self.labels.get(best).cloned().unwrap_or_default(),
            confidence: conf,
            service,
            top,
            by_llm: false,
        }
    }

    /// Trains with Adam on softmax cross-entropy: the output layer over the n-grams and the embedding side, and
    /// (with `cfg.hidden`) the hidden ReLU layer over the embedding.
    pub fn train(
        labels: Vec<String>,
        dense_dim: usize,
        embed_model: &str,
        xs: &[Features],
        ys: &[usize],
        cfg: TrainConfig,
    ) -> Self {
        let hidden = if dense_dim == 0 { 0 } else { cfg.hidden };
        let n_labels = labels.len();
        let mut rng = crate::rng::Rng(cfg.seed);
        // Glorot-uniform start for the hidden layer; the output layer starts at zero
        let scale = (6.0 / (dense_dim + hidden).max(1) as f32).sqrt();
        let mut m = IntentModel {
            labels,
            dense_dim,
            hidden,
            hidden_weights: (0..hidden * dense_dim).map(|_| (rng.unit() * 2.0 - 1.0) * scale).collect(),
            hidden_bias: vec![0.0; hidden],
            weights: vec![],
            bias: vec![0.0; n_labels],
            embed_model: embed_model.to_string(),
            recipe: String::new(),
        };
        let (width, d) = (m.width(), m.deep_dim());
        m.weights = vec![0.0; n_labels * width];
        let mut adam = [m.weights.len(), n_labels, m.hidden_weights.len(), hidden].map(Adam::new);
        let mut grads: [Vec<f32>; 4] =
            [m.weights.len(), n_labels, m.hidden_weights.len(), hidden].map(|n| vec![0.0; n]);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut step = 0i32;
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut order);
            for batch in order.chunks(cfg.batch.max(1)) {
                grads.iter_mut().for_each(|g| g.iter_mut().for_each(|v| *v = 0.0));
                let [gw, gb, ghw, ghb] = &mut grads;
                for &n in batch {
                    let deep = m.deep(&xs[n].dense);
                    let p = softmax(&m.logits(&deep, &xs[n].sparse));
                    let mut dh = vec![0.0f32; hidden];
                    for l in 0..n_labels {
                        let dl = (p[l] - f32::from(u8::from(l == ys[n]))) / batch.len() as f32;
                        if dl.abs() < 1e-7 {
                            continue;
                        }
                        let row = &mut gw[l * width..(l + 1) * width];
                        for (g, v) in row[..d].iter_mut().zip(&deep) {
                            *g += dl * v;
                        }
                        for (i, v) in &xs[n].sparse {
                            row[d + *i as usize] += dl * v;
                        }
                        gb[l] += dl;
                        for (j, h) in dh.iter_mut().enumerate() {
                            *h += dl * m.weights[l * width + j];
                        }
                    }
                    for (j, h) in dh.iter().enumerate() {
                        if deep[j] <= 0.0 {
                            continue; // ReLU: no gradient through an inactive unit
                        }
                        for (g, v) in ghw[j * dense_dim..(j + 1) * dense_dim].iter_mut().zip(&xs[n].dense) {
                            *g += h * v;
                        }
                        ghb[j] += h;
                    }
                }
                step += 1;
                let c = (1.0 - 0.9f32.powi(step), 1.0 - 0.999f32.powi(step));
                let [aw, ab, ahw, ahb] = &mut adam;
                aw.step(&mut m.weights, gw, cfg.learning_rate, cfg.l2, c);
                ab.step(&mut m.bias, gb, cfg.learning_rate, 0.0, c);
                ahw.step(&mut m.hidden_weights, ghw, cfg.hidden_learning_rate, cfg.l2, c);
                ahb.step(&mut m.hidden_bias, ghb, cfg.hidden_learning_rate, 0.0, c);
            }
        }
        m
    }
}

/// The text with typing noise: each word of four or more letters, with probability 0.2, gets one random edit
/// (a letter dropped, doubled, swapped with the next, or replaced), as hurried shoppers type.
pub fn typing_noise(text: &str, rng: &mut crate::rng::Rng) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            let mut c: Vec<char> = w.chars().collect();
            if c.len() < 4 || !c.iter().all(|x| x.is_alphabetic()) || rng.unit() >= 0.2 {
                return w.to_string();
            }
            let i = 1 + rng.below(c.len() - 2);
            match rng.below(4) {
                0 => {
                    c.remove(i);
                }
                1 => c.insert(i, c[i]),
                2 => c.swap(i, i + 1),
                _ => c[i] = (b'a' + rng.below(26) as u8) as char,
            }
            c.into_iter().collect()
        })
        .collect();
    words.join(" ")
}

/// `n` strings of made-up words, the kind a shopper's cat or a test of the widget types: letters at random,
/// syllables that sound like words, runs along a keyboard row; one to three words each.
pub fn nonsense(n: usize, rng: &mut crate::rng::Rng) -> Vec<String> {
    const ROWS: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];
    const ONSETS: [&str; 18] =
        ["b", "bl", "br", "d", "dr", "f", "fl", "g", "gr", "k", "m", "n", "p", "pl", "s", "st", "t", "z"];
    const VOWELS: [&str; 7] = ["a", "e", "i", "o", "u", "oo", "ee"];
    const CODAS: [&str; 8] = ["", "", "n", "ng", "rp", "k", "sh", "m"];
    let word = |rng: &mut crate::rng::Rng| -> String {
        match rng.below(3) {
            0 => (0..3 + rng.below(6)).map(|_| (b'a' + rng.below(26) as u8) as char).collect(),
            1 => (0..2 + rng.below(3))
                .map(|_| {
                    [ONSETS[rng.below(ONSETS.len())], VOWELS[rng.below(VOWELS.len())], CODAS[rng.below(CODAS.len())]]
                        .concat()
                })
                .collect(),
            _ => {
                let row = ROWS[rng.below(ROWS.len())];
                let len = 4 + rng.below(row.len() - 4);
                let start = rng.below(row.len() - len + 1);
                row[start..start + len].to_string()
            }
        }
    };
    (0..n).map(|_| (0..1 + rng.below(3)).map(|_| word(rng)).collect::<Vec<_>>().join(" ")).collect()
}

pub(crate) fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_keeps_most_of_its_ngrams() {
        let a = ngrams("track my order");
        let b = ngrams("trak my order");
        let shared: f32 = a.iter().filter_map(|(i, v)| b.iter().find(|(j, _)| j == i).map(|(_, w)| v * w)).sum();
        assert!(shared > 0.6, "{shared}");
    }

    #[test]
    fn the_hidden_layer_learns_what_a_linear_head_cannot() {
        // exclusive or over two dense inputs (a bias input breaks the symmetry at zero)
        let points = [([0.0, 0.0], 0), ([1.0, 1.0], 0), ([0.0, 1.0], 1), ([1.0, 0.0], 1)];
        let xs: Vec<Features> = points
            .iter()
            .cycle()
            .take(32)
            .map(|(d, _)| Features { dense: vec![d[0], d[1], 1.0], sparse: vec![] })
            .collect();
        let ys: Vec<usize> = points.iter().cycle().take(32).map(|p| p.1).collect();
        let labels = vec!["same".to_string(), "different".to_string()];
        let cfg = TrainConfig { epochs: 300, hidden_learning_rate: 0.01, ..TrainConfig::default() };
        let right =
            |m: &IntentModel| xs[..4].iter().zip(&ys).filter(|(x, y)| m.predict(x).intent == labels[**y]).count();
        let deep = IntentModel::train(labels.clone(), 3, "none", &xs, &ys, TrainConfig { hidden: 16, ..cfg });
        let linear = IntentModel::train(labels.clone(), 3, "none", &xs, &ys, TrainConfig { hidden: 0, ..cfg });
        assert_eq!(right(&deep), 4);
        assert!(right(&linear) < 4, "a linear head cannot separate exclusive or");
    }

    #[test]
    fn nonsense_is_seeded_lower_case_and_one_to_three_words() {
        let made = nonsense(200, &mut crate::rng::Rng(5));
        assert_eq!(made, nonsense(200, &mut crate::rng::Rng(5)));
        for s in &made {
            let words = s.split(' ').count();
            assert!((1..=3).contains(&words) && s.chars().all(|c| c == ' ' || c.is_ascii_lowercase()), "{s}");
        }
        let distinct: std::collections::HashSet<&String> = made.iter().collect();
        assert!(distinct.len() > 190, "{} distinct of 200", distinct.len());
    }

    #[test]
    fn typing_noise_edits_some_longer_words_and_keeps_the_rest() {
        let text = "please could you help me track the parcel with my new address details";
        let mut rng = crate::rng::Rng(1);
        let noisy: Vec<String> = (0..50).map(|_| typing_noise(text, &mut rng)).collect();
        let changed = noisy.iter().filter(|n| *n != text).count();
        assert!(changed > 30, "{changed} of 50 changed");
        for n in &noisy {
            let (a, b): (Vec<&str>, Vec<&str>) = (text.split(' ').collect(), n.split(' ').collect());
            assert_eq!(a.len(), b.len(), "{n}");
            for (x, y) in a.iter().zip(&b) {
                if x.len() < 4 {
                    assert_eq!(x, y, "short words stay: {n}");
                } else {
                    assert!(y.len().abs_diff(x.len()) <= 1, "one edit at most: {x} -> {y}");
                }
            }
        }
        let mut again = crate::rng::Rng(1);
        assert_eq!(typing_noise(text, &mut again), noisy[0], "seeded: the same noise again");
    }

    #[test]
    fn the_head_learns_a_separable_toy_problem() {
        let xs: Vec<Features> = ["refund please", "refund my money", "track parcel", "where is my parcel"]
            .iter()
            .map(|t| Features { dense: vec![], sparse: ngrams(t) })
            .collect();
        let ys = vec![0, 0, 1, 1];
        let m = IntentModel::train(vec!["refund".into(), "track".into()], 0, "none", &xs, &ys, TrainConfig::default());
        let p = m.predict(&Features { dense: vec![], sparse: ngrams("i want a refund") });
        assert_eq!(p.intent, "refund");
        assert!(p.confidence > 0.5);
    }
}

/// The classifier in use: the head and the embedding model that feeds it.
pub struct Intents {
    pub model: IntentModel,
    /// The head for messages read into English from another language (None: the English head reads them).
    pub read: Option<IntentModel>,
    embedder: std::sync::Arc<crate::embed::Embedder>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    #[error(transparent)]
    Data(#[from] crate::import::ImportError),
    #[error("embeddings: {0}")]
    Embed(#[from] crate::llm::LlmError),
    #[error("intent model file {path}: {why}")]
    File { path: String, why: String },
    #[error("no training utterances found")]
    Empty,
}

/// Features of many texts (embeddings in batches).
pub fn featurize(embedder: &crate::embed::Embedder, texts: &[String]) -> Result<Vec<Features>, IntentError> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let vecs = embedder.embed_blocking(chunk.to_vec(), crate::embed::Role::Query)?;
        out.extend(chunk.iter().zip(vecs).map(|(t, dense)| Features { dense, sparse: ngrams(t) }));
    }
    Ok(out)
}

/// What the served classifier learns from beyond the labelled utterances, as (text, intent): first a copy of each
/// utterance with typing noise, in the utterances' order, then 300 strings of nonsense (about one Bitext intent's
/// worth) labelled "other" when that intent is among the labels. Seeded, so training is reproducible. The noisy
/// copies raise held-out accuracy (`aisle bench intent`, BENCHMARKS.md) but alone they make the classifier sure
/// of itself on nonsense (40-47% of unseen nonsense routed as a service request, e.g. "xqzv blorptang" as a
/// complaint at 0.96, which hands the chat to a person); with the nonsense examples none is.
pub fn augmented(utterances: &[data::Utterance]) -> Vec<(String, String)> {
    let mut rng = crate::rng::Rng(3);
    let mut out: Vec<(String, String)> =
        utterances.iter().map(|u| (typing_noise(&u.text, &mut rng), u.intent.clone())).collect();
    if utterances.iter().any(|u| u.intent == "other") {
        let made_up = nonsense(300, &mut crate::rng::Rng(7));
        out.extend(made_up.into_iter().map(|t| (t, "other".to_string())));
    }
    out
}

/// Trains the served classifier on the given utterances and their [`augmented`] examples.
pub fn train_on(embedder: &crate::embed::Embedder, utterances: &[data::Utterance]) -> Result<IntentModel, IntentError> {
    Ok(train_both(embedder, utterances, &[])?.0)
}

/// What the head for read messages learns beyond the English head's examples: the read utterances and a
/// typing-noise copy of each (their nonsense is the English set's).
pub fn read_examples(read: &[data::Utterance]) -> Vec<(String, String)> {
    read.iter()
        .map(|u| (u.text.clone(), u.intent.clone()))
        .chain(augmented(read).into_iter().take(read.len()))
        .collect()
}

/// The English head on the English utterances, and, when there are utterances read from other languages, the
/// head for read messages on both (the English ones embedded once). Two heads, because the reader's English
/// ("yield artificial come handle" for 请让人工来处理) taught the English head that "hand" and "come" ask for a
/// person: a shopper typing "a hand puppet" was handed to staff.
pub fn train_both(
    embedder: &crate::embed::Embedder,
    english: &[data::Utterance],
    read: &[data::Utterance],
) -> Result<(IntentModel, Option<IntentModel>), IntentError> {
    if english.is_empty() {
        return Err(IntentError::Empty);
    }
    let mut labels: Vec<String> = english.iter().chain(read).map(|u| u.intent.clone()).collect();
    labels.sort();
    labels.dedup();
    let examples: Vec<(String, String)> =
        english.iter().map(|u| (u.text.clone(), u.intent.clone())).chain(augmented(english)).collect();
    let texts: Vec<String> = examples.iter().map(|(t, _)| t.clone()).collect();
    let mut xs = featurize(embedder, &texts)?;
    let mut ys: Vec<usize> = examples.iter().map(|(_, i)| labels.binary_search(i).unwrap_or(0)).collect();
    let mut model =
        IntentModel::train(labels.clone(), embedder.dim, &embedder.model_id, &xs, &ys, TrainConfig::default());
    model.recipe = TRAINING_RECIPE.to_string();
    if read.is_empty() {
        return Ok((model, None));
    }
    let extra = read_examples(read);
    xs.extend(featurize(embedder, &extra.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>())?);
    ys.extend(extra.iter().map(|(_, i)| labels.binary_search(i).unwrap_or(0)));
    let mut head = IntentModel::train(labels, embedder.dim, &embedder.model_id, &xs, &ys, TrainConfig::default());
    head.recipe = READ_RECIPE.to_string();
    Ok((model, Some(head)))
}

impl Intents {
    /// The saved classifier at `path` when it was trained for this embedding model with the current recipe;
    /// None when there is none, or it is of another model, shape or recipe (it must be trained again).
    pub fn load_current(
        path: &Path,
        embedder: &std::sync::Arc<crate::embed::Embedder>,
    ) -> Result<Option<Self>, IntentError> {
        let file_err = |why: String| IntentError::File { path: path.display().to_string(), why };
        let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
        let model: IntentModel = serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
        let current = model.hidden == TrainConfig::default().hidden && model.recipe == TRAINING_RECIPE;
        if model.embed_model == embedder.model_id && current {
            // the head for read messages, when it was saved for the same model and recipe
            let read = std::fs::read_to_string(read_head_path(path))
                .ok()
                .and_then(|t| serde_json::from_str::<IntentModel>(&t).ok())
                .filter(|m| m.embed_model == embedder.model_id && m.recipe == READ_RECIPE);
            return Ok(Some(Self { model, read, embedder: embedder.clone() }));
        }
        tracing::info!("the intent model was trained with another embedding model, shape or recipe: training again");
        Ok(None)
    }

    /// Loads the current head from `path`, or trains it on `sets` (and saves it). `read` gives an utterance in
    /// another language as the chat reads it into English (`Languages::into_english`); None keeps it as written.
    pub fn load_or_train(
        path: &Path,
        sets: &[std::path::PathBuf],
        embedder: std::sync::Arc<crate::embed::Embedder>,
        read: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, IntentError> {
        let file_err = |why: String| IntentError::File { path: path.display().to_string(), why };
        let mut all = vec![];
        for set in sets {
            all.extend(data::load(set)?);
        }
        let (english, read_ones) = data::split_by_language(all, read);
        if let Some(done) = Self::load_current(path, &embedder)? {
            if done.read.is_some() || read_ones.is_empty() {
                return Ok(done);
            }
        }
        tracing::info!(english = english.len(), read = read_ones.len(), "training the intent classifier");
        let (model, read) = train_both(&embedder, &english, &read_ones)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| file_err(e.to_string()))?;
        }
        if let Some(head) = &read {
            let json = serde_json::to_string(head).map_err(|e| file_err(e.to_string()))?;
            std::fs::write(read_head_path(path), json).map_err(|e| file_err(e.to_string()))?;
        }
        let json = serde_json::to_string(&model).map_err(|e| file_err(e.to_string()))?;
        std::fs::write(path, json).map_err(|e| file_err(e.to_string()))?;
        Ok(Self { model, read, embedder })
    }

    /// Classifies one message (blocking: the embedding thread does the work).
    pub fn classify(&self, text: &str) -> Result<Prediction, IntentError> {
        Ok(self.classify_with_vector(text)?.0)
    }

    /// Classifies a message read into English from another language, with the head trained for such messages
    /// (the English head when there is none).
    pub fn classify_read(&self, text: &str) -> Result<Prediction, IntentError> {
        Ok(self.classify_by(self.read.as_ref().unwrap_or(&self.model), text)?.0)
    }

    /// Classifies one message and returns its embedding too (policy retrieval reuses it). Order numbers are
    /// left out first: they are a slot, not a wording, and the training phrasing has none.
    pub fn classify_with_vector(&self, text: &str) -> Result<(Prediction, Vec<f32>), IntentError> {
        self.classify_by(&self.model, text)
    }

    /// One head's prediction for a message (order numbers left out first) and the message's embedding.
    fn classify_by(&self, head: &IntentModel, text: &str) -> Result<(Prediction, Vec<f32>), IntentError> {
        let text = &crate::service::without_order_numbers(text);
        let dense =
            self.embedder.embed_blocking(vec![text.to_string()], crate::embed::Role::Query)?.pop().unwrap_or_default();
        let p = head.predict(&Features { dense: dense.clone(), sparse: ngrams(text) });
        Ok((p, dense))
    }

    pub fn embedder(&self) -> &crate::embed::Embedder {
        &self.embedder
    }
}

use std::path::Path;
