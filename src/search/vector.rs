//! The semantic side: product vectors (normalised embeddings) searched exactly with dot products. The vectors
//! live in sled next to the model id that made them; vectors of another model are never mixed in.
use crate::embed::dot;
use crate::store::{Store, StoreError};
use std::collections::HashMap;

/// Vectors are kept twice: as f32 for exact scores, and as 8-bit codes (one scale per vector) that a scan reads
/// four times faster from memory; the best candidates of the 8-bit scan are rescored exactly.
#[derive(Default)]
pub struct VectorIndex {
    pub model_id: String,
    pub dim: usize,
    ids: Vec<String>,
    pos: HashMap<String, usize>,
    data: Vec<f32>,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// 8-bit codes of a vector and the scale that turns them back.
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // sixteen independent lanes let the compiler use packed multiply-adds
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + ra.iter().zip(rb).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum::<i32>()
}

const MODEL_KEY: &str = "vectors.model";

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl VectorIndex {
    pub fn new(model_id: &str, dim: usize) -> Self {
        Self { model_id: model_id.to_string(), dim, ..Default::default() }
    }

    /// Loads the stored vectors when they were made by `model_id`; otherwise an empty index (and the caller
    /// re-embeds). Returns the index and whether the stored vectors were usable.
    pub fn load(store: &Store, model_id: &str, dim: usize) -> Result<(Self, bool), StoreError> {
        let mut idx = Self::new(model_id, dim);
        let stored: Option<String> = Store::get(&store.meta, MODEL_KEY)?;
        if stored.as_deref() != Some(model_id) {
            return Ok((idx, false));
        }
        for kv in store.vectors.iter() {
            let (k, v) = kv?;
            let vec: Vec<f32> = v.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if vec.len() == dim {
                idx.insert(String::from_utf8_lossy(&k).to_string(), &vec);
            }
        }
        Ok((idx, true))
    }

    /// Forgets every stored vector and records the model that will make the new ones.
    pub fn reset_store(store: &Store, model_id: &str) -> Result<(), StoreError> {
        store.vectors.clear()?;
        Store::put(&store.meta, MODEL_KEY, &model_id.to_string())?;
        Ok(())
    }

    pub fn persist(store: &Store, id: &str, v: &[f32]) -> Result<(), StoreError> {
        store.vectors.insert(id.as_bytes(), to_bytes(v))?;
        Ok(())
    }

    pub fn insert(&mut self, id: String, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        let (codes, scale) = quantise(v);
        match self.pos.get(&id) {
            Some(&i) => {
                self.data[i * self.dim..(i + 1) * self.dim].copy_from_slice(v);
                self.codes[i * self.dim..(i + 1) * self.dim].copy_from_slice(&codes);
                self.scales[i] = scale;
            }
            None => {
                self.pos.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.data.extend_from_slice(v);
                self.codes.extend_from_slice(&codes);
                self.scales.push(scale);
            }
        }
    }

    pub fn remove(&mut self, id: &str) {
        let Some(i) = self.pos.remove(id) else { return };
        let last = self.ids.len() - 1;
        if i != last {
            let (d, moved) = (self.dim, self.ids[last].clone());
            self.data.copy_within(last * d..(last + 1) * d, i * d);
            self.codes.copy_within(last * d..(last + 1) * d, i * d);
            self.scales[i] = self.scales[last];
            self.ids[i] = moved.clone();
            self.pos.insert(moved, i);
        }
        self.ids.pop();
        self.data.truncate(last * self.dim);
        self.codes.truncate(last * self.dim);
        self.scales.pop();
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.pos.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&[f32]> {
        self.pos.get(id).map(|&i| &self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// Approximate scores of every vector from the 8-bit codes; large indexes are split across threads.
    fn scan(&self, query: &[f32]) -> Vec<(u32, f32)> {
        const PER_THREAD: usize = 25_000;
        let (q8, qs) = quantise(query);
        let score = |from: usize, to: usize| -> Vec<(u32, f32)> {
            (from..to)
                .map(|i| {
                    (i as u32, dot_i8(&q8, &self.codes[i * self.dim..(i + 1) * self.dim]) as f32 * self.scales[i] * qs)
                })
                .collect()
        };
        let n = self.ids.len();
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n / PER_THREAD).max(1);
        if threads == 1 {
            return score(0, n);
        }
        let step = n.div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> =
                (0..threads).map(|t| s.spawn(move || score(t * step, ((t + 1) * step).min(n)))).collect();
            parts.into_iter().flat_map(|p| p.join().unwrap_or_default()).collect()
        })
    }

    /// The `k` products most similar to `query` among those `allow` accepts, best first. The filter is asked
    /// lazily, best scores first, so a selective filter costs little on a large catalog.
    pub fn search(&self, query: &[f32], k: usize, allow: impl Fn(&str) -> bool) -> Vec<(String, f32)> {
        if query.len() != self.dim || k == 0 || self.ids.is_empty() {
            return vec![];
        }
        let mut scored = self.scan(query);
        let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1);
        let mut out = Vec::with_capacity(k);
        // look at the best few first; widen to everything only when the filter rejects too many
        let mut window = (k * 8).min(scored.len());
        let mut start = 0;
        loop {
            if window < scored.len() {
                scored[start..].select_nth_unstable_by(window - start - 1, by_score);
            }
            // rescore the window exactly, then take it best first
            for entry in &mut scored[start..window] {
                let i = entry.0 as usize;
                entry.1 = dot(query, &self.data[i * self.dim..(i + 1) * self.dim]);
            }
            scored[start..window].sort_unstable_by(by_score);
            for &(i, score) in &scored[start..window] {
                let id = &self.ids[i as usize];
                if allow(id) {
                    out.push((id.clone(), score));
                    if out.len() == k {
                        return out;
                    }
                }
            }
            if window == scored.len() {
                return out;
            }
            start = window;
            window = (window * 8).min(scored.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ranks_by_similarity_and_respects_the_filter() {
        let mut idx = VectorIndex::new("m", 2);
        idx.insert("a".into(), &[1.0, 0.0]);
        idx.insert("b".into(), &[0.6, 0.8]);
        idx.insert("c".into(), &[0.0, 1.0]);
        let ids = |v: Vec<(String, f32)>| v.into_iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(ids(idx.search(&[0.0, 1.0], 2, |_| true)), vec!["c", "b"]);
        assert_eq!(ids(idx.search(&[0.0, 1.0], 2, |id| id != "c")), vec!["b", "a"]);
    }

    /// Exact top-k by f32 dot products, for recall.
    fn exact(idx: &VectorIndex, q: &[f32], k: usize) -> Vec<String> {
        let mut all: Vec<(String, f32)> = idx.ids.iter().map(|id| (id.clone(), dot(q, idx.get(id).unwrap()))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.into_iter().take(k).map(|x| x.0).collect()
    }

    #[test]
    fn the_eight_bit_scan_with_rescoring_finds_the_exact_top_ten() {
        let mut rng = crate::bench::Rng(3);
        let mut rand_vec = || {
            let v: Vec<f32> = (0..64).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect();
            crate::embed::normalise(&v)
        };
        let mut idx = VectorIndex::new("m", 64);
        for i in 0..3000 {
            idx.insert(format!("p{i}"), &rand_vec());
        }
        let (mut found, mut total) = (0, 0);
        for _ in 0..50 {
            let q = rand_vec();
            let want = exact(&idx, &q, 10);
            let got: Vec<String> = idx.search(&q, 10, |_| true).into_iter().map(|x| x.0).collect();
            found += got.iter().filter(|g| want.contains(g)).count();
            total += 10;
        }
        assert!(found as f64 / total as f64 >= 0.99, "recall@10 {found}/{total}");
    }

    #[test]
    fn a_removed_vector_is_gone_and_the_rest_stay_addressable() {
        let mut idx = VectorIndex::new("m", 2);
        idx.insert("a".into(), &[1.0, 0.0]);
        idx.insert("b".into(), &[0.0, 1.0]);
        idx.remove("a");
        assert!(!idx.contains("a"));
        assert_eq!(idx.get("b"), Some(&[0.0, 1.0][..]));
        assert_eq!(idx.search(&[1.0, 0.0], 5, |_| true).len(), 1);
    }
}
