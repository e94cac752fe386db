//! The trained recommender: implicit-feedback learning to rank (BPR with the hardest of a few sampled negatives),
//! optimised with Adam, early-stopped on a validation item.
//!
//! A product is `q_i = E_i + W t_i` (a learned id vector plus a learned projection of its text embedding) with a
//! bias; a product nobody has bought yet has no id vector or bias of its own and is scored from its text alone
//! (training drops the id part of a quarter of the positives so the text projection learns to stand on its own).
//! A shopper is `p_u = U_u + Σ_j w_j A_j + V Σ_j w_j t_j` over their recent products `j` (most recent weighs
//! most, `w` decays geometrically): learned factors for shoppers seen in training, plus a vector built from the
//! ids and text embeddings of what they did lately, so an anonymous session or a new customer is scored too, and a
//! chat can add the embedding of what the shopper said. Score: `p_u · q_i + b_i`.
use super::data::{Dataset, Rng, Train};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::Path;
mod adam;
mod file;
mod grads;
mod math;
mod metrics;
mod train;
use adam::*;
use grads::*;
pub use math::*;
pub use metrics::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hyper {
    pub dim: usize,
    pub epochs: usize,
    pub lr: f32,
    pub reg: f32,
    pub batch: usize,
    /// Negatives sampled per positive; the highest-scored one is used.
    pub negatives: usize,
    /// Recent products that make the shopper's context vector.
    pub context: usize,
    /// Weight of each step back in the context (the sequential signal).
    pub decay: f32,
    /// Share of positives trained from text alone.
    pub id_dropout: f32,
    /// Epochs without a better validation NDCG@10 before stopping.
    pub patience: usize,
    pub threads: usize,
    pub seed: u64,
}

impl Default for Hyper {
    fn default() -> Self {
        Self {
            dim: 64,
            epochs: 40,
            lr: 0.004,
            reg: 1e-5,
            batch: 1024,
            negatives: 4,
            context: 20,
            decay: 0.8,
            id_dropout: 0.25,
            patience: 3,
            threads: 2,
            seed: 42,
        }
    }
}

/// The figures of one training run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_valid_ndcg: f64,
    pub seconds: f64,
    pub samples_per_epoch: usize,
}

#[derive(Clone, Serialize, Deserialize)]
struct Header {
    format: u32,
    version: u64,
    hyper: Hyper,
    report: TrainReport,
    text_dim: usize,
    items: Vec<String>,
    users: Vec<String>,
    trained: Vec<bool>,
    b_cold: f32,
    /// Weight of item-kNN in the served blend, chosen on the validation items.
    #[serde(default = "one")]
    knn_weight: f32,
    /// Weight and decay of the sequence kNN, chosen with it (a model saved before it had none: weight 0, the blend
    /// it was chosen for).
    #[serde(default)]
    seq_weight: f32,
    #[serde(default = "half")]
    seq_decay: f32,
    /// Weight of the sequential model served beside it (`sequential-<version>.bin`), chosen with the others.
    #[serde(default)]
    sequential_weight: f32,
}

fn half() -> f32 {
    0.5
}

fn one() -> f32 {
    1.0
}

#[derive(Clone)]
struct Params {
    e: Vec<f32>,
    a: Vec<f32>,
    u: Vec<f32>,
    b: Vec<f32>,
    w: Vec<f32>,
    v: Vec<f32>,
    b_cold: f32,
}

#[derive(Clone)]
pub struct Model {
    header: Header,
    p: Params,
    user_index: HashMap<String, u32>,
    item_index: HashMap<String, u32>,
    /// The products' text embeddings the model was trained with (items × text_dim).
    text: Vec<f32>,
    /// Serving cache: every item's vector and bias.
    q: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("recommender model {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("recommender model {0}: not an Aisle model file or a different format version")]
    Format(String),
    #[error("recommender model {path}: header: {source}")]
    Header { path: String, source: serde_json::Error },
    #[error("nothing to train on: no shopper has an interaction")]
    Empty,
}

impl Model {
    fn assemble(data: &Dataset, trained: &[bool], p: &Params, hyper: &Hyper, report: TrainReport) -> Self {
        let header = Header {
            format: 1,
            version: 0,
            hyper: hyper.clone(),
            report,
            text_dim: data.dim,
            items: data.items.clone(),
            users: data.users.clone(),
            trained: trained.to_vec(),
            b_cold: p.b_cold,
            knn_weight: 1.0,
            seq_weight: 0.0,
            seq_decay: 0.5,
            sequential_weight: 0.0,
        };
        Self::from_parts(header, p.clone(), &data.text)
    }

    fn from_parts(header: Header, p: Params, text: &[f32]) -> Self {
        let (d, t) = (header.hyper.dim, header.text_dim);
        let mut m = Self {
            user_index: header
                .users
                .iter()
                .enumerate()
                .filter(|(_, u)| !u.is_empty())
                .map(|(i, u)| (u.clone(), i as u32))
                .collect(),
            item_index: header.items.iter().enumerate().map(|(i, u)| (u.clone(), i as u32)).collect(),
            q: vec![],
            bias: vec![],
            text: text.to_vec(),
            header,
            p,
        };
        let n = m.header.items.len();
        m.q = vec![0.0; n * d];
        m.bias = vec![0.0; n];
        for i in 0..n {
            let q = &mut m.q[i * d..][..d];
            if m.header.trained[i] {
                q.copy_from_slice(&m.p.e[i * d..][..d]);
                m.bias[i] = m.p.b[i];
            } else {
                m.bias[i] = m.p.b_cold;
            }
            if t > 0 {
                mat_vec_add(q, &m.p.w, &text[i * t..][..t]);
            }
        }
        m
    }

    pub fn dim(&self) -> usize {
        self.header.hyper.dim
    }
    pub fn text_dim(&self) -> usize {
        self.header.text_dim
    }
    pub fn version(&self) -> u64 {
        self.header.version
    }

    /// Removes a shopper (their data was deleted): their learned factors are zeroed and their id blanked, so a
    /// saved copy holds nothing of them. Returns whether the model knew them.
    pub fn forget_user(&mut self, user: &str) -> bool {
        let Some(u) = self.user_index.remove(user) else { return false };
        let d = self.dim();
        self.p.u[u as usize * d..][..d].fill(0.0);
        self.header.users[u as usize].clear();
        true
    }
    pub fn report(&self) -> &TrainReport {
        &self.header.report
    }
    pub fn items(&self) -> &[String] {
        &self.header.items
    }
    pub fn item(&self, id: &str) -> Option<u32> {
        self.item_index.get(id).copied()
    }
    pub fn knows_user(&self, user: &str) -> bool {
        self.user_index.contains_key(user)
    }
    /// Whether the product had purchases when the model was trained (otherwise it is scored from its text).
    pub fn trained(&self, i: u32) -> bool {
        self.header.trained[i as usize]
    }

    /// The shopper's vector: learned factors (when the shopper was in training), their recent products (oldest
    /// first; products unknown to the model are skipped), and optionally the embedding of what they said now
    /// (weighted as one more recent product).
    pub fn user_vector(&self, user: Option<&str>, recent: &[u32], said: Option<&[f32]>) -> Vec<f32> {
        let (d, t) = (self.dim(), self.text_dim());
        let ctx = &recent[recent.len().saturating_sub(self.header.hyper.context)..];
        let view = View { p: &self.p, d, t, text: &[], trained: &self.header.trained };
        let mut p = match user.and_then(|u| self.user_index.get(u)) {
            Some(&u) => view.row(&self.p.u, u).to_vec(),
            None => vec![0.0; d],
        };
        let mut w = recency_weights(ctx.len() + usize::from(said.is_some()), self.header.hyper.decay);
        let said_w = if said.is_some() { w.pop().unwrap_or(0.0) } else { 0.0 };
        let mut c = vec![0.0; t];
        for (&j, &wj) in ctx.iter().zip(&w) {
            if self.header.trained[j as usize] {
                for (o, x) in p.iter_mut().zip(view.row(&self.p.a, j)) {
                    *o += wj * x;
                }
            }
            if let Some(text) = self.text.get(j as usize * t..(j as usize + 1) * t) {
                for (o, x) in c.iter_mut().zip(text) {
                    *o += wj * x;
                }
            }
        }
        if let Some(s) = said.filter(|s| s.len() == t) {
            for (o, x) in c.iter_mut().zip(s) {
                *o += said_w * x;
            }
        }
        mat_vec_add(&mut p, &self.p.v, &c);
        p
    }
}

impl Model {
    /// Scores of every product the model knows for a shopper vector.
    pub fn score_all(&self, p: &[f32]) -> Vec<f32> {
        let d = self.dim();
        self.q.chunks_exact(d).zip(&self.bias).map(|(q, b)| dot(q, p) + b).collect()
    }

    /// The vector of a product the model has not seen, from its text embedding alone (empty without text).
    pub fn text_item(&self, text: &[f32]) -> Vec<f32> {
        if text.len() != self.text_dim() || self.text_dim() == 0 {
            return vec![];
        }
        let mut q = vec![0.0; self.dim()];
        mat_vec_add(&mut q, &self.p.w, text);
        q
    }

    /// The shared bias of products nobody had bought.
    pub fn new_product_bias(&self) -> f32 {
        self.p.b_cold
    }

    /// The product's text embedding as the model saw it.
    pub fn text_of(&self, i: u32) -> &[f32] {
        let t = self.text_dim();
        &self.text[i as usize * t..][..t]
    }

    /// Validation: each (user, item)'s rank with the user's history before the item as context and exclusion.
    pub fn evaluate(&self, data: &Dataset, train: &Train, cases: &[(u32, u32)], threads: usize) -> Metrics {
        evaluate_cases(
            cases,
            |u, item| train.known_before(u, item),
            |u, known| self.score_all(&self.user_vector(Some(&data.users[u as usize]), known, None)),
            threads,
        )
    }
}

impl Model {
    /// The served blend's weights, chosen on the validation items when the model was trained.
    pub fn weights(&self) -> crate::reco::eval::Weights {
        let h = &self.header;
        crate::reco::eval::Weights {
            knn: h.knn_weight,
            seq: h.seq_weight,
            seq_decay: h.seq_decay,
            sequential: h.sequential_weight,
        }
    }
    pub fn set_weights(&mut self, w: crate::reco::eval::Weights) {
        let h = &mut self.header;
        (h.knn_weight, h.seq_weight, h.seq_decay, h.sequential_weight) = (w.knn, w.seq, w.seq_decay, w.sequential);
    }
    pub fn header_hyper(&self) -> Hyper {
        self.header.hyper.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests;
