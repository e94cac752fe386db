//! Products like a given one, for `/api/similar` and the chat's "something like it".
use super::*;

impl Served {
    /// Products like this one: bought by the same shoppers, then alike in description.
    pub fn similar(
        &self,
        catalog: &Catalog,
        id: &str,
        n: usize,
        rules: &crate::reco::rules::ShopRules,
    ) -> Option<Vec<Recommendation>> {
        let i = self.index(id)?;
        let mut score: HashMap<u32, (f32, f32)> = HashMap::new();
        for &(j, s) in &self.tables.knn.neighbours[i as usize] {
            score.entry(j).or_default().0 = s;
        }
        if self.tables.data.dim > 0 {
            let t = self.tables.data.text_of(i);
            let mut by_text: Vec<(u32, f32)> = (0..self.tables.data.items.len() as u32)
                .filter(|&j| j != i)
                .map(|j| (j, dot(t, self.tables.data.text_of(j))))
                .collect();
            by_text.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (j, s) in by_text.into_iter().take(50) {
                score.entry(j).or_default().1 = s;
            }
        }
        let mut list: Vec<(u32, f32, f32)> = score.into_iter().map(|(j, (b, t))| (j, b, t)).collect();
        list.sort_by(|a, b| (b.1 + 0.5 * b.2).total_cmp(&(a.1 + 0.5 * a.2)).then(a.0.cmp(&b.0)));
        let source = catalog.get(id)?;
        let out = list
            .into_iter()
            .filter_map(|(j, b, t)| {
                let p = catalog.get(&self.tables.data.items[j as usize])?;
                let offered = p.stock.is_none_or(|s| s > 0) && rules.allows(&p);
                (offered && p.title != source.title).then(|| Recommendation {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    price: p.price,
                    category: p.category.clone(),
                    score: b + 0.5 * t,
                    contributions: Contributions {
                        history: b,
                        context: 0.5 * t,
                        buyers: self.tables.popularity[j as usize],
                        because: Some(Because { id: source.id.clone(), title: source.title.clone(), similarity: b }),
                        ..Default::default()
                    },
                })
            })
            .take(n)
            .collect();
        Some(out)
    }
}
