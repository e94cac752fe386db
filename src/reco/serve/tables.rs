//! The served tables: what follows the store alone ([`Tables`], saved between starts) and the model's view of
//! them ([`Served::new`]).
use super::*;

impl Tables {
    /// Builds the tables from the interaction data; `repeat_buyers` (per product: buyers, buyers with more than one
    /// order of it) marks consumables.
    pub fn build(data: Dataset, repeat_buyers: &HashMap<String, (u32, u32)>) -> Self {
        let n = data.items.len();
        let knn = ItemKnn::build(n, &data.sequences, KNN_K);
        let seq = SequenceKnn::build(n, &data.sequences, SEQ_WINDOW, KNN_K);
        let mut popularity = vec![0u32; n];
        for s in &data.sequences {
            for &i in s {
                popularity[i as usize] += 1;
            }
        }
        let bought: Vec<bool> = popularity.iter().map(|&p| p > 0).collect();
        let proxies = text_proxies(&data, &bought, 5);
        let consumable = data
            .items
            .iter()
            .map(|id| {
                repeat_buyers.get(id).is_some_and(|&(buyers, repeaters)| {
                    buyers >= 5 && repeaters as f32 >= CONSUMABLE_REPEAT * buyers as f32
                })
            })
            .collect();
        Self { data, knn, seq, proxies, popularity, consumable }
    }
}

impl Served {
    /// The tables with a model (or none): the model's item indices and the text-only vectors of the products it
    /// has not seen are worked out here.
    pub fn new(tables: Arc<Tables>, model: Option<Model>) -> Self {
        let data = &tables.data;
        let n = data.items.len();
        let to_model: Vec<Option<u32>> = data.items.iter().map(|id| model.as_ref().and_then(|m| m.item(id))).collect();
        let mut unseen = vec![];
        if let Some(m) = &model {
            unseen = vec![0.0; n * m.dim()];
            for i in (0..n).filter(|&i| to_model[i].is_none()) {
                let q = m.text_item(data.text_of(i as u32));
                if !q.is_empty() {
                    unseen[i * m.dim()..][..m.dim()].copy_from_slice(&q);
                }
            }
        }
        Self { model, tables, to_model, unseen, sequential: None, seq_vectors: vec![] }
    }

    /// Serves the sequential model beside the model (its weight is the model's [`Weights::sequential`]): every
    /// product's vector is worked out here, from text for products added after it was trained.
    pub fn with_sequential(mut self, sequential: Option<NeuralModel>) -> Self {
        let data = &self.tables.data;
        self.seq_vectors = match &sequential {
            Some(s) => data
                .items
                .iter()
                .enumerate()
                .flat_map(|(i, id)| match s.item(id) {
                    Some(j) => s.vector(j).to_vec(),
                    None => {
                        let q = s.text_item(data.text_of(i as u32));
                        if q.len() == s.dim() {
                            q
                        } else {
                            vec![0.0; s.dim()]
                        }
                    }
                })
                .collect(),
            None => vec![],
        };
        self.sequential = sequential.map(Arc::new);
        self
    }

    /// Tables built from `data` (no consumables) with a model: for tests and benchmarks.
    pub fn build(data: Dataset, model: Option<Model>) -> Self {
        Self::new(Arc::new(Tables::build(data, &HashMap::new())), model)
    }
}
