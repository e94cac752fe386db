//! Item-to-item neighbours from shoppers' histories: two products are alike when the same shoppers bought both
//! (cosine over the binary shopper × product matrix), the classic item-kNN recommender and a candidate source; and
//! the sequential neighbours ([`SequenceKnn`]): products bought close together in a shopper's sequence.
use std::collections::HashMap;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct ItemKnn {
    /// Per item: (neighbour, cosine), strongest first.
    pub neighbours: Vec<Vec<(u32, f32)>>,
}

/// Histories longer than this are wholesale accounts: they still count, but only through their latest products.
const MAX_HISTORY: usize = 300;

impl ItemKnn {
    pub fn build(n_items: usize, histories: &[Vec<u32>], k: usize) -> Self {
        let mut count = vec![0u32; n_items];
        let mut pairs: Vec<HashMap<u32, u32>> = vec![HashMap::new(); n_items];
        for h in histories {
            let h = &h[h.len().saturating_sub(MAX_HISTORY)..];
            for (x, &i) in h.iter().enumerate() {
                count[i as usize] += 1;
                for &j in &h[x + 1..] {
                    *pairs[i as usize].entry(j).or_default() += 1;
                    *pairs[j as usize].entry(i).or_default() += 1;
                }
            }
        }
        let neighbours = pairs
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let cosine =
                    |(j, c): (u32, u32)| (j, c as f32 / ((count[i] as f32) * (count[j as usize] as f32)).sqrt());
                strongest(row.into_iter().map(cosine).collect(), k)
            })
            .collect();
        Self { neighbours }
    }

    /// Adds `weight × similarity` to `scores` for the neighbours of each history item (weights align with `items`).
    pub fn score_into(&self, scores: &mut [f32], items: &[u32], weights: &[f32]) {
        score_rows(&self.neighbours, scores, items, weights);
    }
}

/// Sequential neighbours: `j` is near `i` when shoppers bought it within `window` places of `i` (before or after)
/// in their sequences, each time weighted 1/gap, so the next line of a basket counts most. A row is normalised by
/// its own total (the share of what was bought near `i` that was `j`), so a product's usual companions lead it.
/// This is the order signal the shopper-level item-kNN lacks (on Online Retail most held-out products are the next
/// line of the last basket); the window and the normalisation were chosen on validation items.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct SequenceKnn {
    /// Per item: (a product bought near it, share), strongest first.
    pub near: Vec<Vec<(u32, f32)>>,
}

impl SequenceKnn {
    pub fn build(n_items: usize, histories: &[Vec<u32>], window: usize, k: usize) -> Self {
        let mut total = vec![0f32; n_items];
        let mut pairs: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_items];
        for h in histories {
            let h = &h[h.len().saturating_sub(MAX_HISTORY)..];
            for (x, &i) in h.iter().enumerate() {
                for (g, &j) in h[x + 1..].iter().take(window).enumerate() {
                    let w = 1.0 / (g + 1) as f32;
                    *pairs[i as usize].entry(j).or_default() += w;
                    *pairs[j as usize].entry(i).or_default() += w;
                    total[i as usize] += w;
                    total[j as usize] += w;
                }
            }
        }
        let near = pairs
            .into_iter()
            .enumerate()
            .map(|(i, row)| strongest(row.into_iter().map(|(j, c)| (j, c / total[i].max(1e-6))).collect(), k))
            .collect();
        Self { near }
    }

    /// Adds `weight × share` to `scores` for the neighbours of each of `items` (weights align with `items`).
    pub fn score_into(&self, scores: &mut [f32], items: &[u32], weights: &[f32]) {
        score_rows(&self.near, scores, items, weights);
    }
}

/// The `k` strongest of a row, strongest first (ties by index).
fn strongest(mut list: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    list.truncate(k);
    list
}

/// Adds `weight × strength` to `scores` for the row of each of `items`.
fn score_rows(rows: &[Vec<(u32, f32)>], scores: &mut [f32], items: &[u32], weights: &[f32]) {
    for (&j, &w) in items.iter().zip(weights) {
        for &(i, s) in rows.get(j as usize).into_iter().flatten() {
            scores[i as usize] += w * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_bought_by_the_same_shoppers_are_neighbours() {
        let knn = ItemKnn::build(4, &[vec![0, 1], vec![0, 1, 2], vec![3]], 10);
        assert_eq!(knn.neighbours[0][0].0, 1);
        assert!((knn.neighbours[0][0].1 - 1.0).abs() < 1e-6);
        assert!(knn.neighbours[3].is_empty());
        let mut s = vec![0.0; 4];
        knn.score_into(&mut s, &[2], &[1.0]);
        assert!(s[0] > 0.0 && s[1] > 0.0 && s[3] == 0.0);
    }

    #[test]
    fn products_bought_close_together_are_sequence_neighbours() {
        // 1 follows 0 in every sequence; 4 is once 2 places after 0 and once right before it; 3 once 2 places
        // after; 2 only 4 places after (outside a window of 2)
        let h = vec![vec![0, 1, 4, 5, 2], vec![0, 1, 3], vec![4, 0, 1]];
        let seq = SequenceKnn::build(6, &h, 2, 10);
        assert_eq!(seq.near[0][0].0, 1, "the next line leads");
        let share = |i: usize, j: u32| seq.near[i].iter().find(|x| x.0 == j).map_or(0.0, |x| x.1);
        assert!(share(0, 1) > share(0, 4) && share(0, 4) > share(0, 3) && share(0, 3) > 0.0, "{:?}", seq.near[0]);
        assert_eq!(share(0, 2), 0.0, "outside the window");
        let total: f32 = seq.near[0].iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-5, "a row is shares of its total");
        let mut s = vec![0.0; 6];
        seq.score_into(&mut s, &[0], &[1.0]);
        assert_eq!(s.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0), Some(1));
    }
}
