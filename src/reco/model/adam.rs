//! Training internals: sparse gradients, Adam moments, and a frozen view of the parameters for a batch.
use super::*;

#[derive(Default)]
pub(super) struct Grads {
    pub(super) e: HashMap<u32, Vec<f32>>,
    pub(super) a: HashMap<u32, Vec<f32>>,
    pub(super) u: HashMap<u32, Vec<f32>>,
    pub(super) b: HashMap<u32, f32>,
    pub(super) w: Vec<f32>,
    pub(super) v: Vec<f32>,
    pub(super) b_cold: f32,
    pub(super) loss: f64,
}

pub(super) fn add_row(map: &mut HashMap<u32, Vec<f32>>, row: u32, g: &[f32], scale: f32) {
    let r = map.entry(row).or_insert_with(|| vec![0.0; g.len()]);
    for (o, x) in r.iter_mut().zip(g) {
        *o += scale * x;
    }
}

impl Grads {
    pub(super) fn merge(&mut self, o: Grads) {
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
pub(super) struct Moments {
    pub(super) m: Vec<f32>,
    pub(super) v: Vec<f32>,
}

impl Moments {
    pub(super) fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n] }
    }
    /// One Adam step on `param[range]` with `grad` (plus L2 `reg` on the parameter); `lr` already bias-corrected.
    pub(super) fn step(&mut self, param: &mut [f32], at: usize, grad: &[f32], lr: f32, reg: f32) {
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
pub(super) struct View<'a> {
    pub(super) p: &'a Params,
    pub(super) d: usize,
    pub(super) t: usize,
    pub(super) text: &'a [f32],
    pub(super) trained: &'a [bool],
}

impl View<'_> {
    pub(super) fn text(&self, i: u32) -> &[f32] {
        &self.text[i as usize * self.t..][..self.t]
    }
    pub(super) fn row<'b>(&self, m: &'b [f32], i: u32) -> &'b [f32] {
        &m[i as usize * self.d..][..self.d]
    }
    /// Item vector and bias; `id` false scores from text alone (a product nobody bought yet).
    pub(super) fn item(&self, i: u32, id: bool) -> (Vec<f32>, f32) {
        let mut q = if id { self.row(&self.p.e, i).to_vec() } else { vec![0.0; self.d] };
        mat_vec_add(&mut q, &self.p.w, self.text(i));
        (q, if id { self.p.b[i as usize] } else { self.p.b_cold })
    }
    /// Shopper vector from learned factors (when known) and recent products (oldest first), with the text mean.
    pub(super) fn user(&self, u: Option<u32>, ctx: &[u32], decay: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
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
