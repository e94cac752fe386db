//! Ranking metrics (Recall@10, NDCG@10) over held-out cases, computed on several threads.
use super::*;

pub(super) fn ndcg_hit(rank: Option<usize>) -> (f64, f64) {
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
