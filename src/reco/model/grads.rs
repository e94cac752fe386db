//! The BPR loss's gradients over one share of a batch.
use super::*;

/// Gradients of the BPR loss over one share of a batch, against a frozen view of the parameters.
pub(super) fn batch_grads(
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
