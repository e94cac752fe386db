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

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out += m · x` for a row-major `d × t` matrix.
fn mat_vec_add(out: &mut [f32], m: &[f32], x: &[f32]) {
    let t = x.len();
    if t == 0 {
        return;
    }
    for (k, o) in out.iter_mut().enumerate() {
        *o += dot(&m[k * t..][..t], x);
    }
}

/// `g += a ⊗ x` (outer product into a row-major `d × t` matrix).
fn outer_add(g: &mut [f32], a: &[f32], x: &[f32]) {
    let t = x.len();
    for (k, &ak) in a.iter().enumerate() {
        if ak != 0.0 {
            for (o, xv) in g[k * t..][..t].iter_mut().zip(x) {
                *o += ak * xv;
            }
        }
    }
}

/// Recency weights for `n` context items (oldest first), summing to 1.
pub fn recency_weights(n: usize, decay: f32) -> Vec<f32> {
    let raw: Vec<f32> = (0..n).map(|j| decay.powi((n - 1 - j) as i32)).collect();
    let sum: f32 = raw.iter().sum::<f32>().max(1e-12);
    raw.into_iter().map(|w| w / sum).collect()
}

#[derive(Default)]
struct Grads {
    e: HashMap<u32, Vec<f32>>,
    a: HashMap<u32, Vec<f32>>,
    u: HashMap<u32, Vec<f32>>,
    b: HashMap<u32, f32>,
    w: Vec<f32>,
    v: Vec<f32>,
    b_cold: f32,
    loss: f64,
}

fn add_row(map: &mut HashMap<u32, Vec<f32>>, row: u32, g: &[f32], scale: f32) {
    let r = map.entry(row).or_insert_with(|| vec![0.0; g.len()]);
    for (o, x) in r.iter_mut().zip(g) {
        *o += scale * x;
    }
}

impl Grads {
    fn merge(&mut self, o: Grads) {
        for (k, g) in o.e {
            add_row(&mut self.e, k, &g, 1.0);
        }
        for (k, g) in o.a {
            add_row(&mut self.a, k, &g, 1.0);
        }
        for (k, g) in o.u {
            add_row(&mut self.u, k, &g, 1.0);
        }
        for (k, g) in o.b {
            *self.b.entry(k).or_default() += g;
        }
        for (x, y) in self.w.iter_mut().zip(&o.w) {
            *x += y;
        }
        for (x, y) in self.v.iter_mut().zip(&o.v) {
            *x += y;
        }
        self.b_cold += o.b_cold;
        self.loss += o.loss;
    }
}

/// Adam moments for one parameter block.
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n] }
    }
    /// One Adam step on `param[range]` with `grad` (plus L2 `reg` on the parameter); `lr` already bias-corrected.
    fn step(&mut self, param: &mut [f32], at: usize, grad: &[f32], lr: f32, reg: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        for (k, g) in grad.iter().enumerate() {
            let i = at + k;
            let g = g + reg * param[i];
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g;
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g * g;
            param[i] -= lr * self.m[i] / (self.v[i].sqrt() + 1e-8);
        }
    }
}

/// Read-only view used while computing one batch's gradients.
struct View<'a> {
    p: &'a Params,
    d: usize,
    t: usize,
    text: &'a [f32],
    trained: &'a [bool],
}

impl View<'_> {
    fn text(&self, i: u32) -> &[f32] {
        &self.text[i as usize * self.t..][..self.t]
    }
    fn row<'b>(&self, m: &'b [f32], i: u32) -> &'b [f32] {
        &m[i as usize * self.d..][..self.d]
    }
    /// Item vector and bias; `id` false scores from text alone (a product nobody bought yet).
    fn item(&self, i: u32, id: bool) -> (Vec<f32>, f32) {
        let mut q = if id { self.row(&self.p.e, i).to_vec() } else { vec![0.0; self.d] };
        mat_vec_add(&mut q, &self.p.w, self.text(i));
        (q, if id { self.p.b[i as usize] } else { self.p.b_cold })
    }
    /// Shopper vector from learned factors (when known) and recent products (oldest first), with the text mean.
    fn user(&self, u: Option<u32>, ctx: &[u32], decay: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut p = match u {
            Some(u) => self.row(&self.p.u, u).to_vec(),
            None => vec![0.0; self.d],
        };
        let w = recency_weights(ctx.len(), decay);
        let mut c = vec![0.0; self.t];
        for (&j, &wj) in ctx.iter().zip(&w) {
            if self.trained[j as usize] {
                for (o, x) in p.iter_mut().zip(self.row(&self.p.a, j)) {
                    *o += wj * x;
                }
            }
            for (o, x) in c.iter_mut().zip(self.text(j)) {
                *o += wj * x;
            }
        }
        mat_vec_add(&mut p, &self.p.v, &c);
        (p, c, w)
    }
}

fn ndcg_hit(rank: Option<usize>) -> (f64, f64) {
    match rank {
        Some(r) if r < 10 => (1.0, 1.0 / ((r + 2) as f64).log2()),
        _ => (0.0, 0.0),
    }
}

/// Rank (0-based) of `target` among all items by `scores`, skipping `exclude`; None when excluded.
pub fn rank_of(scores: &[f32], target: u32, exclude: &[u32]) -> Option<usize> {
    if exclude.contains(&target) {
        return None;
    }
    let s = scores[target as usize];
    let mut ahead = scores.iter().enumerate().filter(|(i, &x)| x > s || (x == s && (*i as u32) < target)).count();
    ahead -= exclude
        .iter()
        .filter(|&&j| {
            let x = scores[j as usize];
            x > s || (x == s && j < target)
        })
        .count();
    Some(ahead)
}

impl Model {
    /// Fits a model on `train` (validation items, when some users have one, drive early stopping).
    pub fn train(
        data: &Dataset,
        train: &Train,
        valid: &[(u32, u32)],
        hyper: &Hyper,
        mut progress: impl FnMut(usize, f64, f64),
    ) -> Result<(Self, TrainReport), ModelError> {
        let started = std::time::Instant::now();
        let (n, m, d, t) = (data.items.len(), data.users.len(), hyper.dim, data.dim);
        let trained = train.trained_items(n);
        let trainable: Vec<u32> = (0..n as u32).filter(|&i| trained[i as usize]).collect();
        if trainable.is_empty() {
            return Err(ModelError::Empty);
        }
        let mut rng = Rng(hyper.seed);
        let init = |rng: &mut Rng, len: usize, sd: f32| (0..len).map(|_| rng.normal(sd)).collect::<Vec<f32>>();
        let mut p = Params {
            e: init(&mut rng, n * d, 0.01),
            a: init(&mut rng, n * d, 0.01),
            u: vec![0.0; m * d],
            b: vec![0.0; n],
            w: init(&mut rng, d * t, 0.01),
            v: init(&mut rng, d * t, 0.01),
            b_cold: 0.0,
        };
        let mut mom = [
            Moments::new(n * d),
            Moments::new(n * d),
            Moments::new(m * d),
            Moments::new(n),
            Moments::new(d * t),
            Moments::new(d * t),
            Moments::new(1),
        ];
        let sorted: Vec<Vec<u32>> = train
            .histories
            .iter()
            .map(|h| {
                let mut s = h.clone();
                s.sort_unstable();
                s
            })
            .collect();
        let mut samples: Vec<(u32, u32)> = vec![];
        for (u, h) in train.histories.iter().enumerate() {
            for k in 0..h.len() {
                if train.held[u] != Some(k) {
                    samples.push((u as u32, k as u32));
                }
            }
        }
        let mut report = TrainReport { samples_per_epoch: samples.len(), ..Default::default() };
        let mut best: Option<(f64, Params)> = None;
        let mut step = 0i32;
        let threads = hyper.threads.max(1);
        for epoch in 0..hyper.epochs {
            rng.shuffle(&mut samples);
            let mut loss = 0.0;
            for (bi, batch) in samples.chunks(hyper.batch).enumerate() {
                let view = View { p: &p, d, t, text: &data.text, trained: &trained };
                let per = batch.len().div_ceil(threads);
                let seeds: Vec<u64> =
                    (0..threads).map(|k| hyper.seed ^ ((epoch as u64) << 32) ^ ((bi as u64) << 8) ^ k as u64).collect();
                let mut parts: Vec<Grads> = std::thread::scope(|s| {
                    let handles: Vec<_> = batch
                        .chunks(per.max(1))
                        .zip(&seeds)
                        .map(|(chunk, &seed)| {
                            let (view, train, sorted, trainable) = (&view, train, &sorted, &trainable);
                            s.spawn(move || batch_grads(view, train, sorted, trainable, chunk, hyper, seed))
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
                });
                let mut g = parts.pop().unwrap_or_default();
                for o in parts {
                    g.merge(o);
                }
                loss += g.loss;
                step += 1;
                let lr = hyper.lr * (1.0 - 0.999f32.powi(step)).sqrt() / (1.0 - 0.9f32.powi(step));
                let scale = 1.0 / batch.len() as f32;
                let rows = |p: &mut Vec<f32>, mom: &mut Moments, map: &HashMap<u32, Vec<f32>>| {
                    for (&r, gr) in map {
                        let gs: Vec<f32> = gr.iter().map(|x| x * scale).collect();
                        mom.step(p, r as usize * d, &gs, lr, hyper.reg);
                    }
                };
                let [me, ma, mu, mb, mw, mv, mc] = &mut mom;
                rows(&mut p.e, me, &g.e);
                rows(&mut p.a, ma, &g.a);
                rows(&mut p.u, mu, &g.u);
                for (&r, &gb) in &g.b {
                    mb.step(&mut p.b, r as usize, &[gb * scale], lr, 0.0);
                }
                if !g.w.is_empty() {
                    let gw: Vec<f32> = g.w.iter().map(|x| x * scale).collect();
                    mw.step(&mut p.w, 0, &gw, lr, hyper.reg);
                    let gv: Vec<f32> = g.v.iter().map(|x| x * scale).collect();
                    mv.step(&mut p.v, 0, &gv, lr, hyper.reg);
                }
                let mut bc = [p.b_cold];
                mc.step(&mut bc, 0, &[g.b_cold * scale], lr, 0.0);
                p.b_cold = bc[0];
            }
            report.epochs = epoch + 1;
            let model = Self::assemble(data, &trained, &p, hyper, report.clone());
            let score = if valid.is_empty() {
                -(loss / samples.len().max(1) as f64)
            } else {
                model.evaluate(data, train, valid, threads).ndcg
            };
            progress(epoch + 1, loss / samples.len().max(1) as f64, score);
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, p.clone()));
                report.best_epoch = epoch + 1;
                report.best_valid_ndcg = score;
            } else if epoch + 1 - report.best_epoch >= hyper.patience {
                break;
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        let (_, p) = best.ok_or(ModelError::Empty)?;
        Ok((Self::assemble(data, &trained, &p, hyper, report.clone()), report))
    }

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
        let known = |u: u32, item: u32| {
            let h = &train.histories[u as usize];
            match train.held[u as usize] {
                Some(k) if h.get(k) == Some(&item) => h[..k].to_vec(),
                _ => h.clone(),
            }
        };
        evaluate_cases(
            cases,
            known,
            |u, known| self.score_all(&self.user_vector(Some(&data.users[u as usize]), known, None)),
            threads,
        )
    }

    /// Writes the model (a JSON header line, then the parameters as little-endian f32) with a new version number.
    pub fn save(&mut self, path: &Path, version: u64) -> Result<(), ModelError> {
        let io = |source| ModelError::Io { path: path.display().to_string(), source };
        self.header.version = version;
        self.header.b_cold = self.p.b_cold;
        let tmp = path.with_extension("tmp");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(MAGIC).map_err(io)?;
        let header = serde_json::to_vec(&self.header)
            .map_err(|e| ModelError::Header { path: path.display().to_string(), source: e })?;
        f.write_all(&header).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        for block in [&self.p.e, &self.p.a, &self.p.u, &self.p.b, &self.p.w, &self.p.v, &self.text] {
            for x in block.iter() {
                f.write_all(&x.to_le_bytes()).map_err(io)?;
            }
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io { path: path.display().to_string(), source };
        let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut magic = vec![0u8; MAGIC.len()];
        f.read_exact(&mut magic).map_err(|_| ModelError::Format(path.display().to_string()))?;
        if magic != MAGIC {
            return Err(ModelError::Format(path.display().to_string()));
        }
        let mut line = vec![];
        f.read_until(b'\n', &mut line).map_err(io)?;
        let header: Header = serde_json::from_slice(&line)
            .map_err(|e| ModelError::Header { path: path.display().to_string(), source: e })?;
        let (n, m, d, t) = (header.items.len(), header.users.len(), header.hyper.dim, header.text_dim);
        let mut read = |len: usize| -> Result<Vec<f32>, ModelError> {
            let mut buf = vec![0u8; len * 4];
            f.read_exact(&mut buf).map_err(|_| ModelError::Format(path.display().to_string()))?;
            Ok(buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let p = Params {
            e: read(n * d)?,
            a: read(n * d)?,
            u: read(m * d)?,
            b: read(n)?,
            w: read(d * t)?,
            v: read(d * t)?,
            b_cold: header.b_cold,
        };
        let text = read(n * t)?;
        if header.trained.len() != n {
            return Err(ModelError::Format(path.display().to_string()));
        }
        Ok(Self::from_parts(header, p, &text))
    }
}

const MAGIC: &[u8] = b"AISLE-RECOMMENDER\n";

/// Ranks each case's item over every product on `threads` threads: `known(user, item)` is the history used as
/// context and left out of the ranking, `score(user, known)` scores every product.
pub fn evaluate_cases(
    cases: &[(u32, u32)],
    known: impl Fn(u32, u32) -> Vec<u32> + Sync,
    score: impl Fn(u32, &[u32]) -> Vec<f32> + Sync,
    threads: usize,
) -> Metrics {
    let per = cases.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = cases
            .chunks(per)
            .map(|chunk| {
                let (known, score) = (&known, &score);
                s.spawn(move || {
                    let mut m = Metrics::default();
                    for &(u, item) in chunk {
                        let k = known(u, item);
                        m.add(rank_of(&score(u, &k), item, &k));
                    }
                    m
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_default()).fold(Metrics::default(), Metrics::merge)
    })
}

/// Recall@10 and NDCG@10 over test cases (one held-out item each).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Metrics {
    pub cases: usize,
    pub recall: f64,
    pub ndcg: f64,
}

impl Metrics {
    pub fn add(&mut self, rank: Option<usize>) {
        let (r, n) = ndcg_hit(rank);
        let c = self.cases as f64;
        self.recall = (self.recall * c + r) / (c + 1.0);
        self.ndcg = (self.ndcg * c + n) / (c + 1.0);
        self.cases += 1;
    }
    pub fn merge(self, o: Metrics) -> Metrics {
        let c = (self.cases + o.cases).max(1) as f64;
        Metrics {
            cases: self.cases + o.cases,
            recall: (self.recall * self.cases as f64 + o.recall * o.cases as f64) / c,
            ndcg: (self.ndcg * self.cases as f64 + o.ndcg * o.cases as f64) / c,
        }
    }
}

/// Gradients of the BPR loss over one share of a batch, against a frozen view of the parameters.
fn batch_grads(
    view: &View,
    train: &Train,
    sorted: &[Vec<u32>],
    trainable: &[u32],
    chunk: &[(u32, u32)],
    hyper: &Hyper,
    seed: u64,
) -> Grads {
    let (d, t) = (view.d, view.t);
    let mut rng = Rng(seed);
    let mut g = Grads { w: vec![0.0; d * t], v: vec![0.0; d * t], ..Default::default() };
    for &(u, k) in chunk {
        let h = &train.histories[u as usize];
        let (k, pos) = (k as usize, h[k as usize]);
        let ctx = &h[k.saturating_sub(hyper.context)..k];
        let (p, c, w) = view.user(Some(u), ctx, hyper.decay);
        let with_id = rng.unit() >= hyper.id_dropout;
        let (qi, bi) = view.item(pos, with_id);
        // hardest of a few uniform negatives the shopper never touched; a negative is scored from text alone as
        // often as a positive, so the shared bias of never-bought products learns from both sides
        let neg_id = rng.unit() >= hyper.id_dropout;
        let mut neg: Option<(u32, Vec<f32>, f32)> = None;
        for _ in 0..hyper.negatives.max(1) {
            let j = trainable[rng.below(trainable.len())];
            if sorted[u as usize].binary_search(&j).is_ok() {
                continue;
            }
            let (qj, bj) = view.item(j, neg_id);
            let s = dot(&qj, &p) + bj;
            if neg.as_ref().is_none_or(|n| s > n.2) {
                neg = Some((j, qj, s));
            }
        }
        let Some((j, qj, sj)) = neg else { continue };
        let x = dot(&qi, &p) + bi - sj;
        let sig = 1.0 / (1.0 + x.exp()); // σ(-x)
        g.loss += f64::from((-x).exp().ln_1p());
        let dx = -sig;
        let dp: Vec<f32> = qi.iter().zip(&qj).map(|(a, b)| dx * (a - b)).collect();
        let dqi: Vec<f32> = p.iter().map(|x| dx * x).collect();
        let dqj: Vec<f32> = p.iter().map(|x| -dx * x).collect();
        add_row(&mut g.u, u, &dp, 1.0);
        for (&cj, &wj) in ctx.iter().zip(&w) {
            if view.trained[cj as usize] {
                add_row(&mut g.a, cj, &dp, wj);
            }
        }
        if t > 0 {
            outer_add(&mut g.v, &dp, &c);
            outer_add(&mut g.w, &dqi, view.text(pos));
            outer_add(&mut g.w, &dqj, view.text(j));
        }
        if with_id {
            add_row(&mut g.e, pos, &dqi, 1.0);
            *g.b.entry(pos).or_default() += dx;
        } else {
            g.b_cold += dx;
        }
        if neg_id {
            add_row(&mut g.e, j, &dqj, 1.0);
            *g.b.entry(j).or_default() -= dx;
        } else {
            g.b_cold -= dx;
        }
    }
    g
}

impl Model {
    pub fn knn_weight(&self) -> f32 {
        self.header.knn_weight
    }
    pub fn set_knn_weight(&mut self, w: f32) {
        self.header.knn_weight = w;
    }
    pub fn header_hyper(&self) -> Hyper {
        self.header.hyper.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reco::data::Split;
    use std::collections::HashMap;

    /// The first invoice lines of the real demo shop, with hashed title words as text features (the embedding
    /// model is not needed for a unit test; the end-to-end tests use the real one).
    pub(crate) fn real_slice(lines: usize) -> Dataset {
        use std::io::{BufRead, Write};
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let gz = std::fs::File::open(root.join("data/online-retail/online_retail.csv.gz")).unwrap();
        let src = std::io::BufReader::new(flate2::read::GzDecoder::new(gz));
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("slice.csv");
        let mut out = std::fs::File::create(&csv).unwrap();
        for line in src.lines().take(lines + 1) {
            writeln!(out, "{}", line.unwrap()).unwrap();
        }
        drop(out);
        let batch = crate::import::online_retail::read(&csv, &mut Default::default()).unwrap();
        let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
        for p in &batch.products {
            let mut v = vec![0f32; 64];
            for w in p.title.to_lowercase().split_whitespace() {
                let h = w.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
                v[(h % 64) as usize] += 1.0;
            }
            vectors.insert(p.id.clone(), v);
        }
        let ids: Vec<String> = batch.products.iter().map(|p| p.id.clone()).collect();
        let events = batch.events.into_iter().enumerate().map(|(i, (e, _))| (e, i as u64)).collect();
        Dataset::build(&ids, events, &vectors)
    }

    fn quick() -> Hyper {
        Hyper { epochs: 8, dim: 32, patience: 2, threads: 2, ..Hyper::default() }
    }

    #[test]
    fn a_model_trained_on_a_real_slice_ranks_held_out_products_far_above_chance() {
        let data = real_slice(40_000);
        let split = Split::leave_last_out(&data, 0.0, 200, 3);
        let (model, report) = Model::train(&data, &split.train, &split.valid, &quick(), |_, _, _| {}).unwrap();
        let m = model.evaluate(&data, &split.train, &split.test, 2);
        let chance = 10.0 / data.items.len() as f64;
        assert!(m.cases > 300, "{} test cases", m.cases);
        assert!(m.recall > 5.0 * chance, "Recall@10 {:.4} vs chance {chance:.4} ({report:?})", m.recall);
    }

    #[test]
    fn products_nobody_bought_are_scored_from_their_text_not_as_one_block() {
        let data = real_slice(20_000);
        let split = Split::leave_last_out(&data, 0.1, 100, 5);
        let (model, _) = Model::train(&data, &split.train, &split.valid, &quick(), |_, _, _| {}).unwrap();
        assert!(split.cold.iter().all(|&i| !model.trained(i)));
        let p = model.user_vector(Some(&data.users[0]), &split.train.histories[0], None);
        let scores = model.score_all(&p);
        let cold: Vec<f32> = split.cold.iter().map(|&i| scores[i as usize]).collect();
        let (lo, hi) = cold.iter().fold((f32::MAX, f32::MIN), |(l, h), s| (l.min(*s), h.max(*s)));
        // the id part is absent, so any spread among new products comes from their text through W
        assert!(hi - lo > 1e-3, "new products all score alike: {lo}..{hi}");
    }

    #[test]
    fn a_saved_model_loads_with_the_same_scores_and_a_corrupt_one_is_refused() {
        let data = real_slice(5_000);
        let split = Split::leave_last_out(&data, 0.0, 20, 3);
        let h = Hyper { epochs: 2, ..quick() };
        let (mut model, _) = Model::train(&data, &split.train, &split.valid, &h, |_, _, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        model.save(&path, 7).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.version(), 7);
        let p = model.user_vector(Some(&data.users[0]), &data.sequences[0], None);
        assert_eq!(
            model.score_all(&p),
            loaded.score_all(&loaded.user_vector(Some(&data.users[0]), &data.sequences[0], None))
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(Model::load(&path), Err(ModelError::Format(_))));
        std::fs::write(&path, b"not a model").unwrap();
        assert!(Model::load(&path).is_err());
    }
}
