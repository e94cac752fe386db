//! Item-to-item neighbours from shoppers' histories: two products are alike when the same shoppers bought both
//! (cosine over the binary shopper × product matrix), the classic item-kNN recommender and a candidate source.
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
                let mut list: Vec<(u32, f32)> = row
                    .into_iter()
                    .map(|(j, c)| (j, c as f32 / ((count[i] as f32) * (count[j as usize] as f32)).sqrt()))
                    .collect();
                list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                list.truncate(k);
                list
            })
            .collect();
        Self { neighbours }
    }

    /// Adds `weight × similarity` to `scores` for the neighbours of each history item (weights align with `items`).
    pub fn score_into(&self, scores: &mut [f32], items: &[u32], weights: &[f32]) {
        for (&j, &w) in items.iter().zip(weights) {
            if let Some(list) = self.neighbours.get(j as usize) {
                for &(i, s) in list {
                    scores[i as usize] += w * s;
                }
            }
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
}
