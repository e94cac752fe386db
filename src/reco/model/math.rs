//! The small dense algebra the model needs (dot products, matrix-vector, outer products) and recency weights.
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
pub(super) fn mat_vec_add(out: &mut [f32], m: &[f32], x: &[f32]) {
    let t = x.len();
    if t == 0 {
        return;
    }
    for (k, o) in out.iter_mut().enumerate() {
        *o += dot(&m[k * t..][..t], x);
    }
}

/// `g += a ⊗ x` (outer product into a row-major `d × t` matrix).
pub(super) fn outer_add(g: &mut [f32], a: &[f32], x: &[f32]) {
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
