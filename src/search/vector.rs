//! The semantic side: product vectors (normalised embeddings). The vectors live in sled next to the model id
//! that made them; vectors of another model are never mixed in. Small catalogs are searched exactly (an 8-bit
//! scan, rescored with f32 dot products); large ones through an HNSW graph (`instant-distance`) built over the
//! 8-bit codes and saved next to the tantivy index. Vectors added, changed or removed after the graph was built
//! are handled exactly beside it (changed ones are masked in the graph's answers) until the next rebuild.
use crate::embed::dot;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

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
    ann: Option<Ann>,
}

/// A vector's 8-bit code as a point of the graph; distance = 1 - cosine, from the codes.
#[derive(Clone, Serialize, Deserialize)]
struct Code {
    v: Vec<i8>,
    scale: f32,
}

impl instant_distance::Point for Code {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot_i8(&self.v, &other.v) as f32 * self.scale * other.scale
    }
}

/// Candidates the graph returns per query (its `ef`); the exact rescoring then keeps the best.
pub const ANN_EF: usize = 200;
/// Candidates weighed for each point's links while building (100k vectors: 160-175 s on 2 cores, 213 s at 200).
const ANN_EF_CONSTRUCTION: usize = 100;
/// Rebuild the graph when more than this share of the vectors changed since it was built.
const ANN_STALE_SHARE: f64 = 0.1;

/// The graph and what changed since it was built.
struct Ann {
    map: instant_distance::HnswMap<Code, String>,
    /// Ids in the graph.
    built: HashSet<String>,
    /// Ids in the graph whose vector changed or was removed since: their graph answers are ignored.
    stale: HashSet<String>,
    /// Ids whose current vector is not in the graph (new or changed): scored exactly beside it.
    fresh: HashSet<String>,
}

/// The graph as saved: the model id guards against mixing models, as for the vectors themselves.
#[derive(Deserialize)]
struct AnnFile {
    model_id: String,
    dim: usize,
    map: instant_distance::HnswMap<Code, String>,
}

/// [`AnnFile`] written from borrowed parts (the same encoding).
#[derive(Serialize)]
struct AnnFileRef<'a> {
    model_id: &'a str,
    dim: usize,
    map: &'a instant_distance::HnswMap<Code, String>,
}

/// What [`VectorIndex::ensure_ann`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnState {
    /// Too few vectors for a graph: exact search.
    Exact,
    /// A saved graph was loaded (and is fresh enough).
    Loaded,
    /// The graph was built (none saved, another model's, or too much changed) and saved.
    Built,
}

/// 8-bit codes of a vector and the scale that turns them back.
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
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

impl VectorIndex {
    pub fn new(model_id: &str, dim: usize) -> Self {
        Self { model_id: model_id.to_string(), dim, ..Default::default() }
    }

    /// Loads the stored vectors when they were made by `model_id`; otherwise an empty index (and the caller
    /// re-embeds). Returns the index and whether the stored vectors were usable.
    pub fn load(store: &Store, model_id: &str, dim: usize) -> Result<(Self, bool), StoreError> {
        let mut idx = Self::new(model_id, dim);
        if store.vectors_model()?.as_deref() != Some(model_id) {
            return Ok((idx, false));
        }
        for (id, vec) in store.vectors()? {
            if vec.len() == dim {
                idx.insert(id, &vec);
            }
        }
        Ok((idx, true))
    }

    /// Forgets every stored vector and records the model that will make the new ones.
    pub fn reset_store(store: &Store, model_id: &str) -> Result<(), StoreError> {
        store.reset_vectors(model_id)
    }

    pub fn persist(store: &Store, id: &str, v: &[f32]) -> Result<(), StoreError> {
        store.put_vector(id, v)
    }

    pub fn insert(&mut self, id: String, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        if let Some(ann) = &mut self.ann {
            if ann.built.contains(&id) {
                ann.stale.insert(id.clone());
            }
            ann.fresh.insert(id.clone());
        }
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
        if let Some(ann) = &mut self.ann {
            if ann.built.contains(id) {
                ann.stale.insert(id.to_string());
            }
            ann.fresh.remove(id);
        }
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

    fn code(&self, i: usize) -> Code {
        Code { v: self.codes[i * self.dim..(i + 1) * self.dim].to_vec(), scale: self.scales[i] }
    }

    /// Whether searches go through the graph.
    pub fn has_ann(&self) -> bool {
        self.ann.is_some()
    }

    /// Makes sure a catalog of at least `min` vectors is searched through a graph: loads the one saved at `path`
    /// when it was made by the same model and little changed since, else builds one and saves it. Below `min`,
    /// the graph is dropped and searches are exact.
    pub fn ensure_ann(&mut self, path: &Path, min: usize) -> std::io::Result<AnnState> {
        if self.ids.len() < min || self.ids.is_empty() {
            self.ann = None;
            return Ok(AnnState::Exact);
        }
        if self.ann.is_none() {
            if let Some(map) = self.load_ann(path) {
                self.attach(map);
            }
        }
        let (changed, loaded) = match &self.ann {
            Some(a) => (a.stale.len().max(a.fresh.len()), true),
            None => (0, false),
        };
        if loaded && (changed as f64) <= ANN_STALE_SHARE * self.ids.len() as f64 {
            return Ok(AnnState::Loaded);
        }
        self.build_ann();
        let map = &self.ann.as_ref().expect("just built").map;
        let file = AnnFileRef { model_id: &self.model_id, dim: self.dim, map };
        let bytes = postcard::to_allocvec(&file).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(AnnState::Built)
    }

    /// Builds the graph over the current vectors (not saved).
    pub fn build_ann(&mut self) {
        let points: Vec<Code> = (0..self.ids.len()).map(|i| self.code(i)).collect();
        let map = instant_distance::Builder::default()
            .ef_construction(ANN_EF_CONSTRUCTION)
            .ef_search(ANN_EF)
            .seed(7)
            .build(points, self.ids.clone());
        self.attach(map);
    }

    /// The saved graph, when it is this model's and readable.
    fn load_ann(&self, path: &Path) -> Option<instant_distance::HnswMap<Code, String>> {
        let bytes = std::fs::read(path).ok()?;
        let file: AnnFile = match postcard::from_bytes(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable vector graph: rebuilding it");
                return None;
            }
        };
        (file.model_id == self.model_id && file.dim == self.dim).then_some(file.map)
    }

    /// Uses `map` for searches, comparing its points with the current vectors to find what changed since.
    fn attach(&mut self, map: instant_distance::HnswMap<Code, String>) {
        let mut built = HashSet::with_capacity(map.values.len());
        let mut stale = HashSet::new();
        for (pid, point) in map.iter() {
            let id = &map.values[pid.into_inner() as usize];
            let same = self.pos.get(id).is_some_and(|&i| {
                point.v == self.codes[i * self.dim..(i + 1) * self.dim] && point.scale == self.scales[i]
            });
            if !same {
                stale.insert(id.clone());
            }
            built.insert(id.clone());
        }
        let fresh = self.ids.iter().filter(|id| !built.contains(*id) || stale.contains(*id)).cloned().collect();
        self.ann = Some(Ann { map, built, stale, fresh });
    }

    /// Candidates from the graph (minus changed ones) and the vectors added since, by exact score, best first,
    /// filtered; None when the filter left fewer than `k` and the graph may hold more (the caller scans).
    fn search_ann(
        &self,
        ann: &Ann,
        query: &[f32],
        k: usize,
        allow: &impl Fn(&str) -> bool,
    ) -> Option<Vec<(String, f32)>> {
        let (v, scale) = quantise(query);
        let mut search = instant_distance::Search::default();
        let mut returned = 0;
        let mut scored: Vec<(usize, f32)> = vec![];
        for item in ann.map.search(&Code { v, scale }, &mut search) {
            returned += 1;
            if !ann.stale.contains(item.value) {
                if let Some(&i) = self.pos.get(item.value) {
                    scored.push((i, 0.0));
                }
            }
        }
        scored.extend(ann.fresh.iter().filter_map(|id| self.pos.get(id)).map(|&i| (i, 0.0)));
        for entry in &mut scored {
            entry.1 = dot(query, &self.data[entry.0 * self.dim..(entry.0 + 1) * self.dim]);
        }
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let out: Vec<(String, f32)> = scored
            .into_iter()
            .map(|(i, s)| (&self.ids[i], s))
            .filter(|(id, _)| allow(id))
            .take(k)
            .map(|(id, s)| (id.clone(), s))
            .collect();
        (out.len() == k || returned < ANN_EF).then_some(out)
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
        if let Some(found) = self.ann.as_ref().and_then(|ann| self.search_ann(ann, query, k, &allow)) {
            return found;
        }
        self.exact(query, k, allow)
    }

    /// [`search`](Self::search) without the graph: every vector is scored.
    pub fn exact(&self, query: &[f32], k: usize, allow: impl Fn(&str) -> bool) -> Vec<(String, f32)> {
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
        let mut rng = crate::rng::Rng(3);
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

    /// Vectors around a few hundred centres, like product families.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = crate::rng::Rng(seed);
        let mut unit = |spread: f32| -> Vec<f32> {
            (0..dim).map(|_| ((rng.next_u64() % 2001) as f32 / 1000.0 - 1.0) * spread).collect()
        };
        let centres: Vec<Vec<f32>> = (0..300).map(|_| unit(1.0)).collect();
        (0..n)
            .map(|i| {
                let noise = unit(0.5);
                crate::embed::normalise(&centres[i % 300].iter().zip(&noise).map(|(c, e)| c + e).collect::<Vec<_>>())
            })
            .collect()
    }

    fn again_other(vectors: &[Vec<f32>]) -> VectorIndex {
        let mut idx = VectorIndex::new("other", 48);
        idx.insert("a".into(), &vectors[0]);
        idx
    }

    fn recall(idx: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
        let mut found = 0;
        for q in queries {
            let want = exact(idx, q, 10);
            found += idx.search(q, 10, |_| true).iter().filter(|g| want.contains(&g.0)).count();
        }
        found as f64 / (10 * queries.len()) as f64
    }

    #[test]
    fn the_graph_finds_nearly_the_exact_top_ten_and_follows_changes_made_after_it_was_built() {
        let vectors = clustered(6000, 48, 5);
        let mut idx = VectorIndex::new("m", 48);
        for (i, v) in vectors.iter().enumerate() {
            idx.insert(format!("p{i}"), v);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.ann");
        assert_eq!(idx.ensure_ann(&path, 10_000).unwrap(), AnnState::Exact);
        assert!(!idx.has_ann());
        assert_eq!(idx.ensure_ann(&path, 1000).unwrap(), AnnState::Built);
        assert!(idx.has_ann());
        let queries = clustered(100, 48, 11);
        let r = recall(&idx, &queries);
        assert!(r >= 0.95, "graph recall@10 {r}");

        // a changed vector is found where it now is, a removed one never, a new one at once
        let q = &queries[0];
        let top = idx.search(q, 1, |_| true)[0].0.clone();
        idx.insert(top.clone(), &queries[1]);
        idx.remove("p1");
        idx.insert("new".into(), q);
        let got = idx.search(q, 10, |_| true);
        assert_eq!(got[0].0, "new");
        assert!(got.iter().all(|(id, _)| id != "p1" && id != &top), "{got:?}");
        assert_eq!(idx.search(&queries[1], 1, |_| true)[0].0, top);
        // a filter too tight for the graph's candidates falls back to the exact scan
        assert_eq!(idx.search(q, 3, |id| id == "p4321").len(), 1);

        // saved and loaded: the same answers; another model's file is not used
        let mut again = VectorIndex::new("m", 48);
        for (i, v) in vectors.iter().enumerate() {
            again.insert(format!("p{i}"), v);
        }
        assert_eq!(again.ensure_ann(&path, 1000).unwrap(), AnnState::Loaded);
        assert_eq!(recall(&again, &queries), r);
        // too many changes since the graph was saved: rebuilt
        let mut changed = VectorIndex::new("m", 48);
        for (i, v) in vectors.iter().enumerate() {
            changed.insert(format!("p{i}"), if i % 5 == 0 { &queries[2] } else { v });
        }
        assert_eq!(changed.ensure_ann(&path, 1000).unwrap(), AnnState::Built);
        // another model's graph, or an unreadable file, is never used
        let mut other = VectorIndex::new("other", 48);
        other.insert("a".into(), &vectors[0]);
        assert_eq!(other.ensure_ann(&path, 1).unwrap(), AnnState::Built);
        std::fs::write(&path, b"not a graph").unwrap();
        assert_eq!(again_other(&vectors).ensure_ann(&path, 1).unwrap(), AnnState::Built);
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
