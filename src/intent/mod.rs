//! Intent classification: a linear softmax head, trained in Rust with Adam, over two views of a message:
//! its sentence embedding (meaning) and hashed character n-grams (spelling, so typos and run-on words still
//! match). Trained on the Bitext customer-service set plus Aisle's shopping intents; evaluated on phrasing
//! held out by whole linguistic-flag groups.
pub mod data;
pub mod llm;

use serde::{Deserialize, Serialize};

/// Buckets for hashed character n-grams.
pub const HASH_DIM: usize = 4096;

/// A message's features: the dense embedding and the sparse n-gram buckets (with weights).
pub struct Features {
    pub dense: Vec<f32>,
    pub sparse: Vec<(u32, f32)>,
}

fn fnv(bytes: &[u8]) -> u32 {
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
    /// Row-major weights: one row of `dense_dim + HASH_DIM` per label.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// The embedding model the head was trained with; another model's vectors would be meaningless to it.
    pub embed_model: String,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 40, batch: 32, learning_rate: 0.01, l2: 1e-5, seed: 1 }
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

/// Intents that are not customer-service requests.
pub const NON_SERVICE: &[&str] = &["search", "recommend", "compare", "product_question", "chit_chat", "other"];

impl IntentModel {
    fn width(&self) -> usize {
        self.dense_dim + HASH_DIM
    }

    fn logits(&self, x: &Features) -> Vec<f32> {
        let width = self.width();
        (0..self.labels.len())
            .map(|l| {
                let row = &self.weights[l * width..(l + 1) * width];
                let dense: f32 = row[..self.dense_dim].iter().zip(&x.dense).map(|(w, v)| w * v).sum();
                let sparse: f32 = x.sparse.iter().map(|(i, v)| row[self.dense_dim + *i as usize] * v).sum();
                dense + sparse + self.bias[l]
            })
            .collect()
    }

    pub fn probabilities(&self, x: &Features) -> Vec<f32> {
        softmax(&self.logits(x))
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

    /// Trains the head with Adam on softmax cross-entropy.
    pub fn train(
        labels: Vec<String>,
        dense_dim: usize,
        embed_model: &str,
        xs: &[Features],
        ys: &[usize],
        cfg: TrainConfig,
    ) -> Self {
        let width = dense_dim + HASH_DIM;
        let n_labels = labels.len();
        let mut m = IntentModel {
            labels,
            dense_dim,
            weights: vec![0.0; n_labels * width],
            bias: vec![0.0; n_labels],
            embed_model: embed_model.to_string(),
        };
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut mw = vec![0.0f32; m.weights.len()];
        let mut vw = vec![0.0f32; m.weights.len()];
        let (mut mb, mut vb) = (vec![0.0f32; n_labels], vec![0.0f32; n_labels]);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = crate::bench::Rng(cfg.seed);
        let mut step = 0i32;
        let mut gw = vec![0.0f32; m.weights.len()];
        let mut gb = vec![0.0f32; n_labels];
        for _ in 0..cfg.epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            for batch in order.chunks(cfg.batch.max(1)) {
                gw.iter_mut().for_each(|g| *g = 0.0);
                gb.iter_mut().for_each(|g| *g = 0.0);
                for &n in batch {
                    let p = m.probabilities(&xs[n]);
                    for l in 0..n_labels {
                        let d = (p[l] - f32::from(u8::from(l == ys[n]))) / batch.len() as f32;
                        if d.abs() < 1e-7 {
                            continue;
                        }
                        let row = &mut gw[l * width..(l + 1) * width];
                        for (g, v) in row[..dense_dim].iter_mut().zip(&xs[n].dense) {
                            *g += d * v;
                        }
                        for (i, v) in &xs[n].sparse {
                            row[dense_dim + *i as usize] += d * v;
                        }
                        gb[l] += d;
                    }
                }
                step += 1;
                let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
                for k in 0..m.weights.len() {
                    let g = gw[k] + cfg.l2 * m.weights[k];
                    mw[k] = b1 * mw[k] + (1.0 - b1) * g;
                    vw[k] = b2 * vw[k] + (1.0 - b2) * g * g;
                    m.weights[k] -= cfg.learning_rate * (mw[k] / c1) / ((vw[k] / c2).sqrt() + eps);
                }
                for k in 0..n_labels {
                    mb[k] = b1 * mb[k] + (1.0 - b1) * gb[k];
                    vb[k] = b2 * vb[k] + (1.0 - b2) * gb[k] * gb[k];
                    m.bias[k] -= cfg.learning_rate * (mb[k] / c1) / ((vb[k] / c2).sqrt() + eps);
                }
            }
        }
        m
    }
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

/// Trains a head on the given utterances.
pub fn train_on(embedder: &crate::embed::Embedder, utterances: &[data::Utterance]) -> Result<IntentModel, IntentError> {
    if utterances.is_empty() {
        return Err(IntentError::Empty);
    }
    let mut labels: Vec<String> = utterances.iter().map(|u| u.intent.clone()).collect();
    labels.sort();
    labels.dedup();
    let texts: Vec<String> = utterances.iter().map(|u| u.text.clone()).collect();
    let xs = featurize(embedder, &texts)?;
    let ys: Vec<usize> = utterances.iter().map(|u| labels.binary_search(&u.intent).unwrap_or(0)).collect();
    Ok(IntentModel::train(labels, embedder.dim, &embedder.model_id, &xs, &ys, TrainConfig::default()))
}

impl Intents {
    /// Loads the head from `path`, or trains it on `sets` (and saves it) when absent or made for another
    /// embedding model.
    pub fn load_or_train(
        path: &Path,
        sets: &[std::path::PathBuf],
        embedder: std::sync::Arc<crate::embed::Embedder>,
    ) -> Result<Self, IntentError> {
        let file_err = |why: String| IntentError::File { path: path.display().to_string(), why };
        if let Ok(text) = std::fs::read_to_string(path) {
            let model: IntentModel = serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
            if model.embed_model == embedder.model_id {
                return Ok(Self { model, embedder });
            }
            tracing::info!("the intent model was trained with another embedding model: training again");
        }
        let mut all = vec![];
        for set in sets {
            all.extend(data::load(set)?);
        }
        tracing::info!(utterances = all.len(), "training the intent classifier");
        let model = train_on(&embedder, &all)?;
        let json = serde_json::to_string(&model).map_err(|e| file_err(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| file_err(e.to_string()))?;
        }
        std::fs::write(path, json).map_err(|e| file_err(e.to_string()))?;
        Ok(Self { model, embedder })
    }

    /// Classifies one message (blocking: the embedding thread does the work).
    pub fn classify(&self, text: &str) -> Result<Prediction, IntentError> {
        Ok(self.classify_with_vector(text)?.0)
    }

    /// Classifies one message and returns its embedding too (policy retrieval reuses it).
    pub fn classify_with_vector(&self, text: &str) -> Result<(Prediction, Vec<f32>), IntentError> {
        let dense =
            self.embedder.embed_blocking(vec![text.to_string()], crate::embed::Role::Query)?.pop().unwrap_or_default();
        let p = self.model.predict(&Features { dense: dense.clone(), sparse: ngrams(text) });
        Ok((p, dense))
    }

    pub fn embedder(&self) -> &crate::embed::Embedder {
        &self.embedder
    }
}

use std::path::Path;
