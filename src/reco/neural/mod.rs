//! The sequential recommender: a causal self-attention encoder over the shopper's last products (SASRec's family,
//! which leads published full-ranking results), trained with sampled-softmax cross-entropy and Adam, early-stopped
//! on validation items. A product is its learned id vector plus a learned projection of its text embedding
//! (UniSRec's idea), so a product nobody has bought is scored from its text, and what the shopper said in a chat
//! joins the sequence as one more, text-only, step. Built on candle (tensors with gradients, CPU matrix kernels).
//!
//! Warm start: a served model continues on the new events only (the windows whose targets are new); the id vectors
//! of products outside those windows are left as they were.
use super::data::{Dataset, Train};
use super::model::{evaluate_cases, Metrics, TrainReport};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
mod file;
mod net;
mod train;
use net::Net;
pub use train::{Progress, Start};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeqHyper {
    pub dim: usize,
    /// The last products the encoder reads.
    pub max_len: usize,
    /// Windows of `max_len` trained per shopper, the most recent first (0: the whole history).
    #[serde(default)]
    pub windows: usize,
    pub blocks: usize,
    /// Products sampled per batch as the softmax's negatives (shared by every position of the batch); 0 for the
    /// full softmax over every product trained.
    pub negatives: usize,
    /// Product vectors include the projection of their text embedding (off: id vectors alone, as SASRec).
    #[serde(default = "yes")]
    pub text: bool,
    /// Windows per batch.
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    /// The learning rate falls linearly over the epochs, from `lr` to a twentieth of it (off: constant, as SASRec).
    #[serde(default)]
    pub lr_decay: bool,
    pub dropout: f32,
    /// Share of products trained from text alone in each batch (so text learns to stand for a new product).
    pub id_dropout: f32,
    /// Epochs without a better validation NDCG@10 before stopping.
    pub patience: usize,
    pub seed: u64,
}

impl Default for SeqHyper {
    fn default() -> Self {
        Self {
            dim: 64,
            max_len: 50,
            windows: 0,
            blocks: 1,
            negatives: 512,
            text: true,
            batch: 64,
            epochs: 5,
            lr: 0.006,
            lr_decay: true,
            dropout: 0.2,
            id_dropout: 0.25,
            patience: 3,
            seed: 42,
        }
    }
}

fn yes() -> bool {
    true
}

impl SeqHyper {
    /// The SASRec-class reference `aisle eval --sequential` trains beside it: SASRec's published shape (2 blocks, id
    /// vectors alone, the full softmax, every window, lr 0.001, batch 128).
    pub fn sasrec() -> Self {
        Self {
            blocks: 2,
            negatives: 0,
            text: false,
            id_dropout: 0.0,
            lr: 0.001,
            lr_decay: false,
            batch: 128,
            epochs: 40,
            ..Self::default()
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Header {
    format: u32,
    version: u64,
    hyper: SeqHyper,
    report: TrainReport,
    text_dim: usize,
    items: Vec<String>,
    trained: Vec<bool>,
    /// How many products each shopper's history had when it was trained: a warm start trains on what came after.
    /// A shopper whose data is deleted is removed ([`NeuralModel::forget_user`]); nothing else in the file is
    /// per shopper.
    #[serde(default)]
    seen: HashMap<String, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum NeuralError {
    #[error("sequential model {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("sequential model {0}: not an Aisle sequential model file, a different format version, or cut short")]
    Format(String),
    #[error("sequential model: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("nothing to train on: no shopper has two products")]
    Empty,
}

/// A trained sequential model, ready to score.
#[derive(Clone)]
pub struct NeuralModel {
    header: Header,
    net: Net,
    item_index: HashMap<String, u32>,
    /// The products' text embeddings it was trained with (items × text dim).
    text: Vec<f32>,
    /// Every product's vector (items × dim): id + text for products bought in training, text alone otherwise.
    q: Vec<f32>,
}

impl NeuralModel {
    fn from_parts(header: Header, net: Net, text: Vec<f32>) -> Result<Self, NeuralError> {
        let (n, t) = (header.items.len(), header.text_dim);
        let dev = Device::Cpu;
        let ids = Tensor::arange(0u32, n as u32, &dev)?;
        let keep: Vec<f32> = header.trained.iter().map(|&b| f32::from(u8::from(b))).collect();
        let keep = Tensor::from_vec(keep, (n, 1), &dev)?;
        let tt = if t > 0 { Some(Tensor::from_slice(&text, (n, t), &dev)?) } else { None };
        let q = net.items(&ids, tt.as_ref(), &keep)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Self {
            item_index: header.items.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect(),
            header,
            net,
            text,
            q,
        })
    }

    pub fn dim(&self) -> usize {
        self.net.dim()
    }
    pub fn items(&self) -> &[String] {
        &self.header.items
    }
    pub fn item(&self, id: &str) -> Option<u32> {
        self.item_index.get(id).copied()
    }
    pub fn trained(&self, i: u32) -> bool {
        self.header.trained[i as usize]
    }
    pub fn report(&self) -> &TrainReport {
        &self.header.report
    }
    pub fn version(&self) -> u64 {
        self.header.version
    }
    pub fn text_dim(&self) -> usize {
        self.header.text_dim
    }
    pub fn hyper(&self) -> &SeqHyper {
        &self.header.hyper
    }

    /// Where each shopper's new products start in `data`'s histories (the whole history for a shopper it never
    /// saw), for a warm start.
    pub fn new_from(&self, data: &Dataset) -> Vec<usize> {
        data.users
            .iter()
            .zip(&data.sequences)
            .map(|(u, s)| self.header.seen.get(u).map_or(0, |&n| (n as usize).min(s.len())))
            .collect()
    }

    /// Forgets a shopper (whose data was deleted); true when it knew them.
    pub fn forget_user(&mut self, user: &str) -> bool {
        self.header.seen.remove(user).is_some()
    }

    /// Whether a warm start from this model can train with `hyper` on `data` (the same shapes).
    pub fn warm_start_fits(&self, data: &Dataset, hyper: &SeqHyper) -> bool {
        let h = &self.header.hyper;
        (h.dim, h.max_len, h.blocks, self.text_dim()) == (hyper.dim, hyper.max_len, hyper.blocks, data.dim)
    }

    /// Product `i`'s vector (id + text when bought in training, text alone otherwise).
    pub fn vector(&self, i: u32) -> &[f32] {
        &self.q[i as usize * self.dim()..][..self.dim()]
    }

    /// A product's vector from its text alone (a product added after training); empty without text.
    pub fn text_item(&self, text: &[f32]) -> Vec<f32> {
        let t = self.text_dim();
        if t == 0 || text.len() != t {
            return vec![];
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            Tensor::from_slice(text, (1, t), &Device::Cpu)?.matmul(&self.net.w)?.flatten_all()?.to_vec1()
        };
        run().unwrap_or_default()
    }

    /// The shopper's vector after their recent products (oldest first; the last `max_len` count) and, when
    /// given, the embedding of what they said now (one more step, from its text alone). Zero for nothing.
    pub fn user_vector(&self, recent: &[u32], said: Option<&[f32]>) -> Vec<f32> {
        let n = self.items().len() as u32;
        let vectors: Vec<&[f32]> = recent.iter().filter(|&&i| i < n).map(|&i| self.vector(i)).collect();
        self.user_vector_of(&vectors, said)
    }

    /// [`NeuralModel::user_vector`] from the recent products' vectors (oldest first): the served recommender
    /// passes text-only vectors for products added after training.
    pub fn user_vector_of(&self, recent: &[&[f32]], said: Option<&[f32]>) -> Vec<f32> {
        let d = self.dim();
        let said = said.map(|s| self.text_item(s)).filter(|v| v.len() == d);
        let room = self.net.max_len() - usize::from(said.is_some());
        let recent = &recent[recent.len().saturating_sub(room)..];
        let mut rows: Vec<f32> = recent.iter().filter(|v| v.len() == d).flat_map(|v| v.iter().copied()).collect();
        if let Some(s) = &said {
            rows.extend_from_slice(s);
        }
        let l = rows.len() / d;
        if l == 0 {
            return vec![0.0; d];
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let dev = Device::Cpu;
            let x = Tensor::from_vec(rows, (1, l, d), &dev)?;
            let real = Tensor::ones((1, l), candle_core::DType::F32, &dev)?;
            let out = self.net.encode(&x, &real, &mut |t: &Tensor| Ok(t.clone()))?;
            out.narrow(1, l - 1, 1)?.flatten_all()?.to_vec1()
        };
        run().unwrap_or_else(|_| vec![0.0; d])
    }

    /// Scores of every product for a shopper vector.
    pub fn score_all(&self, p: &[f32]) -> Vec<f32> {
        self.q.chunks_exact(self.dim()).map(|q| super::model::dot(q, p)).collect()
    }

    /// Every product's score after `recent` (and what the shopper said).
    pub fn scores(&self, recent: &[u32], said: Option<&[f32]>) -> Vec<f32> {
        self.score_all(&self.user_vector(recent, said))
    }

    /// Each (user, item)'s rank with the user's history before the item as context and exclusion.
    pub fn evaluate(&self, train: &Train, cases: &[(u32, u32)], threads: usize) -> Metrics {
        evaluate_cases(cases, |u, item| train.known_before(u, item), |_, known| self.scores(known, None), threads)
    }
}

#[cfg(test)]
mod tests;
