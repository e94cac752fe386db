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
    mean_over(cases, threads, |&(u, item)| {
        let k = known(u, item);
        ndcg_hit(rank_of(&score(u, &k), item, &k))
    })
}

/// The mean (Recall@10, NDCG@10) of `case` over `cases`, on `threads` threads.
fn mean_over<T: Sync>(cases: &[T], threads: usize, case: impl Fn(&T) -> (f64, f64) + Sync) -> Metrics {
    let per = cases.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = cases
            .chunks(per)
            .map(|chunk| {
                let case = &case;
                s.spawn(move || {
                    let mut m = Metrics::default();
                    for c in chunk {
                        let (r, n) = case(c);
                        m.add_values(r, n);
                    }
                    m
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_default()).fold(Metrics::default(), Metrics::merge)
    })
}

/// Recall@10 and NDCG@10 of one user's ranking (`scores` over every product, `known` excluded) against a set of
/// held-out products: hits over min(|relevant|, 10), and DCG over the ideal DCG. With one relevant product this is
/// [`rank_of`]'s hit and 1/log2(rank + 2) (ties go to the lower index, as there).
pub fn set_metrics(scores: &[f32], relevant: &[u32], known: &[u32]) -> (f64, f64) {
    let known: std::collections::HashSet<u32> = known.iter().copied().collect();
    let mut top: Vec<u32> = Vec::with_capacity(11);
    for (i, &x) in scores.iter().enumerate() {
        let i = i as u32;
        if known.contains(&i) {
            continue;
        }
        let worse = |j: &u32| scores[*j as usize] < x;
        if top.len() < 10 || top.last().is_some_and(worse) {
            let at = top.iter().position(worse).unwrap_or(top.len());
            top.insert(at, i);
            top.truncate(10);
        }
    }
    let wanted: Vec<u32> = relevant.iter().copied().filter(|i| !known.contains(i)).collect();
    if wanted.is_empty() {
        return (0.0, 0.0);
    }
    let gain = |r: usize| 1.0 / ((r + 2) as f64).log2();
    let hits: Vec<usize> = top.iter().enumerate().filter(|(_, i)| wanted.contains(i)).map(|(r, _)| r).collect();
    let ideal: f64 = (0..wanted.len().min(10)).map(gain).sum();
    (hits.len() as f64 / wanted.len().min(10) as f64, hits.iter().map(|&r| gain(r)).sum::<f64>() / ideal)
}

/// [`set_metrics`] averaged over users, scored on `threads` threads: `targets` are (user, held-out products).
pub fn evaluate_sets(
    targets: &[(u32, Vec<u32>)],
    known: impl Fn(u32) -> Vec<u32> + Sync,
    score: impl Fn(u32) -> Vec<f32> + Sync,
    threads: usize,
) -> Metrics {
    mean_over(targets, threads, |(u, items)| set_metrics(&score(*u), items, &known(*u)))
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
        self.add_values(r, n);
    }

    /// Adds one case's Recall@10 and NDCG@10.
    pub fn add_values(&mut self, r: f64, n: f64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_metrics_agree_with_the_single_item_rank_and_reward_every_hit() {
        let scores = [0.9f32, 0.5, 0.5, 0.7, 0.1, 0.8, 0.0, 0.2, 0.3, 0.4, 0.6, 0.05];
        for target in 0..scores.len() as u32 {
            for known in [vec![], vec![0u32], vec![5, 3]] {
                let (r, n) = ndcg_hit(rank_of(&scores, target, &known));
                let (r2, n2) = set_metrics(&scores, &[target], &known);
                assert!((r - r2).abs() < 1e-12 && (n - n2).abs() < 1e-12, "target {target}, known {known:?}");
            }
        }
        // two relevant products at the top: perfect; one of them last of 12: half the recall
        assert_eq!(set_metrics(&scores, &[0, 5], &[]), (1.0, 1.0));
        let (r, n) = set_metrics(&scores, &[0, 6], &[]);
        assert_eq!(r, 0.5);
        assert!((n - 1.0 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
    }
}
