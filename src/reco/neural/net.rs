//! The network: product vectors (a learned id vector plus a learned projection of the text embedding) and a
//! causal self-attention encoder over the shopper's last products (SASRec's shape: pre-norm blocks of one-head
//! attention and a position-wise feed-forward layer, learned positions, left padding).
use candle_core::{Device, Tensor, Var, D};

pub(super) type Result<T> = candle_core::Result<T>;

/// One encoder block's weights.
#[derive(Clone)]
pub(super) struct Block {
    pub ln1: (Tensor, Tensor),
    pub wq: Tensor,
    pub wk: Tensor,
    pub wv: Tensor,
    pub wo: Tensor,
    pub ln2: (Tensor, Tensor),
    pub w1: Tensor,
    pub b1: Tensor,
    pub w2: Tensor,
    pub b2: Tensor,
}

/// All the weights, as tensors (training makes them from its variables, serving from the file).
#[derive(Clone)]
pub(super) struct Net {
    /// Id vectors, one row per product (rows of products nobody bought are never used).
    pub e: Tensor,
    /// Text projection (text dim × dim); empty (0 × dim) without text.
    pub w: Tensor,
    pub pos: Tensor,
    pub blocks: Vec<Block>,
    pub ln_f: (Tensor, Tensor),
}

/// The shapes of every weight, in file order.
pub(super) fn shapes(n: usize, t: usize, d: usize, len: usize, blocks: usize) -> Vec<Vec<usize>> {
    let mut s = vec![vec![n, d], vec![t, d], vec![len, d]];
    for _ in 0..blocks {
        s.extend([vec![d], vec![d], vec![d, d], vec![d, d], vec![d, d], vec![d, d], vec![d], vec![d]]);
        s.extend([vec![d, d], vec![d], vec![d, d], vec![d]]);
    }
    s.extend([vec![d], vec![d]]);
    s
}

impl Net {
    /// Builds the network from weights in [`shapes`] order.
    pub fn from_list(list: Vec<Tensor>) -> Self {
        let blocks = list.len().saturating_sub(5) / 12;
        let r = |k: usize| list[k].clone();
        Self {
            e: r(0),
            w: r(1),
            pos: r(2),
            blocks: (0..blocks)
                .map(|b| {
                    let o = 3 + 12 * b;
                    Block {
                        ln1: (r(o), r(o + 1)),
                        wq: r(o + 2),
                        wk: r(o + 3),
                        wv: r(o + 4),
                        wo: r(o + 5),
                        ln2: (r(o + 6), r(o + 7)),
                        w1: r(o + 8),
                        b1: r(o + 9),
                        w2: r(o + 10),
                        b2: r(o + 11),
                    }
                })
                .collect(),
            ln_f: (r(3 + 12 * blocks), r(4 + 12 * blocks)),
        }
    }

    /// The weights in [`shapes`] order.
    pub fn list(&self) -> Vec<&Tensor> {
        let mut l = vec![&self.e, &self.w, &self.pos];
        for b in &self.blocks {
            l.extend([&b.ln1.0, &b.ln1.1, &b.wq, &b.wk, &b.wv, &b.wo, &b.ln2.0, &b.ln2.1, &b.w1, &b.b1, &b.w2, &b.b2]);
        }
        l.extend([&self.ln_f.0, &self.ln_f.1]);
        l
    }

    pub fn dim(&self) -> usize {
        self.pos.dims()[1]
    }
    pub fn max_len(&self) -> usize {
        self.pos.dims()[0]
    }

    /// Product vectors for `ids` (U), with their text embeddings (U × t) and whether each keeps its id vector
    /// (U × 1: 0 for products nobody bought, and for the ones dropped in training so text learns to stand alone).
    pub fn items(&self, ids: &Tensor, text: Option<&Tensor>, keep: &Tensor) -> Result<Tensor> {
        let id = self.e.index_select(ids, 0)?.broadcast_mul(keep)?;
        match text {
            Some(t) if self.w.dims()[0] > 0 => id + t.matmul(&self.w)?,
            _ => Ok(id),
        }
    }

    /// The encoder over `x` (B × L × d, product vectors, left-padded) with `real` (B × L, 1 for a product, 0 for
    /// padding): each position's output sees itself and the positions before it.
    pub fn encode(
        &self,
        x: &Tensor,
        real: &Tensor,
        drop: &mut impl FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let pos = self.pos.narrow(0, self.max_len() - l, l)?;
        let real3 = real.unsqueeze(2)?;
        let mut h = drop(&(x * (d as f64).sqrt())?.broadcast_add(&pos)?)?.broadcast_mul(&real3)?;
        let mask = attention_mask(real, b, l, x.device())?;
        let scale = 1.0 / (d as f64).sqrt();
        // position-wise products on (B·L) × d rows: one matrix product instead of B small ones
        let rows = |t: &Tensor, w: &Tensor| t.reshape((b * l, d))?.matmul(w)?.reshape((b, l, d));
        for blk in &self.blocks {
            let a = layer_norm(&h, &blk.ln1)?;
            let q = rows(&a, &blk.wq)?;
            let k = rows(&a, &blk.wk)?;
            let v = rows(&a, &blk.wv)?;
            let att = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let o = rows(&att.matmul(&v)?, &blk.wo)?;
            h = (h + drop(&o)?)?;
            let a = layer_norm(&h, &blk.ln2)?;
            let f = rows(&a, &blk.w1)?.broadcast_add(&blk.b1)?.relu()?;
            let f = rows(&drop(&f)?, &blk.w2)?.broadcast_add(&blk.b2)?;
            h = (h + drop(&f)?)?.broadcast_mul(&real3)?;
        }
        layer_norm(&h, &self.ln_f)
    }
}

/// Layer normalisation over the last dimension, from plain operations (so it has a gradient).
fn layer_norm(x: &Tensor, (g, b): &(Tensor, Tensor)) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let c = x.broadcast_sub(&mean)?;
    let var = c.sqr()?.mean_keepdim(D::Minus1)?;
    c.broadcast_div(&(var + 1e-6)?.sqrt()?)?.broadcast_mul(g)?.broadcast_add(b)
}

/// B × L × L additive mask: a position sees neither later positions nor padding (a padded position sees itself,
/// so its row is defined; its output is masked out).
fn attention_mask(real: &Tensor, b: usize, l: usize, dev: &Device) -> Result<Tensor> {
    let r = real.to_vec2::<f32>()?;
    let mut m = vec![0f32; b * l * l];
    for (bi, row) in r.iter().enumerate() {
        for i in 0..l {
            for j in 0..l {
                if j > i || (row[j] == 0.0 && j != i) {
                    m[(bi * l + i) * l + j] = -1e9;
                }
            }
        }
    }
    Tensor::from_vec(m, (b, l, l), dev)
}

/// Fresh variables in [`shapes`] order: normal(0, 0.02) matrices (the id vectors 0.01), unit norm gains, zero
/// biases.
pub(super) fn init(shapes: &[Vec<usize>], rng: &mut crate::rng::Rng, dev: &Device) -> Result<Vec<Var>> {
    shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let len: usize = s.iter().product();
            let v: Vec<f32> = if s.len() == 2 {
                let sd = if k == 0 { 0.01 } else { 0.02 };
                (0..len).map(|_| rng.normal(sd)).collect()
            } else if is_gain(k, shapes.len()) {
                vec![1.0; len]
            } else {
                vec![0.0; len]
            };
            Var::from_tensor(&Tensor::from_vec(v, s.as_slice(), dev)?)
        })
        .collect()
}

/// Whether the `k`th of `total` weights is a layer norm's gain.
fn is_gain(k: usize, total: usize) -> bool {
    if k < 3 {
        return false;
    }
    if k == total - 2 {
        return true;
    }
    let in_block = (k - 3) % 12;
    k < total - 2 && (in_block == 0 || in_block == 6)
}
