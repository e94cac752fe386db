//! Serving recommendations: the installed model (hot-swapped when `aisle train` installs a new one), item-kNN
//! from shoppers' histories, sequence kNN from the order they bought in, what the shopper said, and popularity,
//! blended; then the shop's rules, then diversity
//! (MMR), each pick with the contributions behind it.
use super::data::Dataset;
use super::eval::{
    blend_scores, borrow_scores, knn_recent, new_product_scores, seq_recent, standardise, text_proxies, Proxies,
    Weights, KNN_K, SEQ_WINDOW,
};
use super::knn::{ItemKnn, SequenceKnn};
use super::model::{dot, Hyper, Model};
use super::neural::NeuralModel;
use crate::catalog::{Catalog, Product};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
mod install;
mod similar;
mod tables;
mod train;
pub use install::*;
pub use train::*;

/// Blend weights (documented in ARCHITECTURE.md, "Recommendations"). The item-kNN and sequence weights come with
/// the model (chosen on validation items at training); without a model the blend is popularity + [`Weights`]'
/// defaults.
pub const CONTEXT_WEIGHT: f32 = 1.5;
/// MMR trade-off between score and difference from the picks already made.
pub const MMR_LAMBDA: f32 = 0.75;
/// A product is a consumable (recommended again after a purchase) when this share of its buyers bought it in
/// more than one order.
pub const CONSUMABLE_REPEAT: f32 = 0.3;

/// The served tables that follow the store alone, whichever model is served: the interaction data, item-kNN, the
/// text proxies of products nobody bought, popularity and consumables. Built from the events (or loaded from their
/// saved copy, see [`crate::derived`]); a model swap reuses them while the store is unchanged.
#[derive(Serialize, Deserialize)]
pub struct Tables {
    pub data: Dataset,
    knn: ItemKnn,
    /// Products bought close together in shoppers' sequences.
    seq: SequenceKnn,
    /// Products nobody bought yet and their closest bought products by text.
    proxies: Proxies,
    pub popularity: Vec<u32>,
    pub consumable: Vec<bool>,
}

/// Everything the blend needs: the tables and the served model, with the model's view of the tables' items.
pub struct Served {
    pub model: Option<Model>,
    pub tables: Arc<Tables>,
    /// Model item index for each data item.
    to_model: Vec<Option<u32>>,
    /// Text-only vectors of products the model has not seen (added after training), computed once; row-major,
    /// one row per data item (zero rows for items the model knows).
    unseen: Vec<f32>,
    /// The sequential model served beside it (`sequential-<version>.bin`), if any.
    pub sequential: Option<Arc<NeuralModel>>,
    /// The sequential model's vector of every data item, row-major (text-only for products added after it).
    seq_vectors: Vec<f32>,
}

/// A recommendation request: who, how many, the shop's rules, and optional conversation context.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub user: Option<String>,
    pub n: usize,
    pub category: Option<String>,
    pub exclude_categories: Vec<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// Category (prefix) → score bonus.
    pub boosts: Vec<(String, f32)>,
    /// Show products the shopper already bought (consumables are always allowed).
    pub include_bought: bool,
    /// Embedding of what the shopper said in the conversation.
    pub context: Option<Vec<f32>>,
    /// Places at the end of the row kept for products nobody has bought yet (see `eval::NEW_SLOTS`).
    pub new_slots: usize,
    /// Blend weights instead of the trained model's (an experiment's variant).
    pub weights: Option<Weights>,
}

/// A history product that makes a pick relevant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Because {
    pub id: String,
    pub title: String,
    pub similarity: f32,
}

/// The contributions behind one pick, in score units.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Contributions {
    /// The trained model's personal score (standardised).
    pub model: f32,
    /// Bought by the same shoppers as these recent products.
    pub history: f32,
    /// Bought close to the shopper's last products in other shoppers' sequences (the next line of a basket).
    pub sequence: f32,
    /// The sequential model: what shoppers went on to buy after products like the shopper's last ones.
    pub order: f32,
    pub because: Option<Because>,
    /// Similarity to what the shopper said.
    pub context: f32,
    pub boost: f32,
    /// Shoppers who bought it.
    pub buyers: u32,
    /// Nobody has bought it yet: scored from its description alone.
    pub new_product: bool,
}

/// The blend's parts over every product (see [`Served::blend`]).
pub struct Parts {
    /// The model's standardised score (popularity without a model).
    pub model: Vec<f32>,
    pub knn: Vec<f32>,
    pub seq: Vec<f32>,
    /// The sequential model's standardised score (empty when none is served).
    pub sequential: Vec<f32>,
    pub score: Vec<f32>,
    pub weights: Weights,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub id: String,
    pub title: String,
    pub price: Option<f64>,
    pub category: String,
    pub score: f32,
    pub contributions: Contributions,
}

use super::rules::matches_category;

impl Served {
    pub fn index(&self, id: &str) -> Option<u32> {
        self.tables.data.item_index.get(id).copied()
    }

    /// Ranks the catalog for one request. `history` is the shopper's distinct products, oldest first.
    pub fn recommend(&self, catalog: &Catalog, req: &Request, history: &[u32]) -> Vec<Recommendation> {
        let n = self.tables.data.items.len();
        let parts = self.blend_with(req.user.as_deref(), history, req.context.as_deref(), req.weights);
        let (model_part, score, w) = (&parts.model, &parts.score, parts.weights);
        let top = |v: &[f32]| v.iter().copied().fold(0.0f32, f32::max).max(1e-6);
        let (top_knn, top_seq) = (top(&parts.knn), top(&parts.seq));
        let context: Vec<f32> =
            match req.context.as_deref().filter(|c| c.len() == self.tables.data.dim && self.tables.data.dim > 0) {
                Some(c) => standardise(&(0..n).map(|i| dot(self.tables.data.text_of(i as u32), c)).collect::<Vec<_>>()),
                None => vec![0.0; n],
            };
        let bought: HashSet<u32> = history.iter().copied().collect();
        let base: Vec<f32> = score.iter().zip(&context).map(|(s, c)| s + CONTEXT_WEIGHT * c).collect();
        let need = (req.n * 8).max(40);
        let max_boost: f32 = req.boosts.iter().map(|b| b.1.max(0.0)).sum();
        // rules and boosts need the product record: look at the best by base score first, the rest only when a
        // boost or the rules could still change the top
        let take = |order: &[u32], out: &mut Vec<(u32, Arc<Product>, f32)>| {
            for &i in order {
                let Some(p) = catalog.get(&self.tables.data.items[i as usize]) else { continue };
                if !self.allowed(&p, req, i, &bought) {
                    continue;
                }
                let boost: f32 = req.boosts.iter().filter(|(c, _)| matches_category(&p, c)).map(|(_, b)| *b).sum();
                out.push((i, p, base[i as usize] + boost));
            }
        };
        let by_base = |a: &u32, b: &u32| base[*b as usize].total_cmp(&base[*a as usize]).then(a.cmp(b));
        let mut order: Vec<u32> = (0..n as u32).collect();
        let head_len = (need * 25).min(n);
        if head_len < n && head_len > 0 {
            order.select_nth_unstable_by(head_len - 1, by_base);
        }
        let (head, tail) = order.split_at_mut(head_len);
        head.sort_by(by_base);
        let mut candidates: Vec<(u32, Arc<Product>, f32)> = vec![];
        take(head, &mut candidates);
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        let tail_best = tail.iter().map(|&i| base[i as usize]).fold(f32::MIN, f32::max);
        if !tail.is_empty() && (candidates.len() < need || candidates[need - 1].2 < tail_best + max_boost) {
            take(tail, &mut candidates);
            candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        }
        // places kept for products nobody has bought yet, best by the models' text-only scores
        let slots = req.new_slots.min(req.n);
        let fresh = if slots > 0 {
            let sequential = Some(parts.sequential.as_slice()).filter(|s| !s.is_empty());
            self.new_products(&new_product_scores(model_part, sequential), slots, take)
        } else {
            vec![]
        };
        candidates.truncate(need);
        let mut picks = self.mmr(candidates, req.n - slots.min(fresh.len()));
        for f in fresh {
            if picks.len() >= req.n {
                break;
            }
            if !picks.iter().any(|p| p.0 == f.0) {
                picks.push(f);
            }
        }
        picks
            .into_iter()
            .map(|(i, p, s)| {
                let because = self.because(i, history, catalog);
                let boost = req.boosts.iter().filter(|(c, _)| matches_category(&p, c)).map(|(_, b)| *b).sum();
                Recommendation {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    price: p.price,
                    category: p.category.clone(),
                    score: s,
                    contributions: Contributions {
                        model: model_part[i as usize],
                        history: w.knn * parts.knn[i as usize] / top_knn,
                        sequence: w.seq * parts.seq[i as usize] / top_seq,
                        order: parts.sequential.get(i as usize).map_or(0.0, |x| w.sequential * x),
                        because,
                        context: CONTEXT_WEIGHT * context[i as usize],
                        boost,
                        buyers: self.tables.popularity[i as usize],
                        new_product: self.tables.popularity[i as usize] == 0,
                    },
                }
            })
            .collect()
    }

    /// Candidates for the places kept for products nobody has bought yet, best by `model_part` (the models'
    /// text-only scores, [`new_product_scores`]); `take` keeps those the rules allow.
    fn new_products(
        &self,
        model_part: &[f32],
        slots: usize,
        take: impl Fn(&[u32], &mut Vec<(u32, Arc<Product>, f32)>),
    ) -> Vec<(u32, Arc<Product>, f32)> {
        let n = self.tables.data.items.len();
        let mut fresh = vec![];
        let mut new: Vec<u32> = (0..n as u32).filter(|&i| self.tables.popularity[i as usize] == 0).collect();
        let by_model = |a: &u32, b: &u32| model_part[*b as usize].total_cmp(&model_part[*a as usize]).then(a.cmp(b));
        let split = new.len().min(512);
        if split < new.len() {
            new.select_nth_unstable_by(split - 1, by_model);
        }
        let (best, rest) = new.split_at_mut(split);
        best.sort_by(by_model);
        take(best, &mut fresh);
        if fresh.len() < slots {
            // the rules refused most of the best: look further
            rest.sort_by(by_model);
            take(rest, &mut fresh);
        }
        fresh
    }

    /// The personal blend over every product: the model's standardised score (popularity without a model) plus
    /// the weighted item-kNN score of the recent history and the sequence kNN score of the last products.
    pub fn blend(&self, user: Option<&str>, history: &[u32], said: Option<&[f32]>) -> Parts {
        self.blend_with(user, history, said, None)
    }

    /// [`Served::blend`] with other weights than the model's (None: the model's).
    pub fn blend_with(&self, user: Option<&str>, history: &[u32], said: Option<&[f32]>, w: Option<Weights>) -> Parts {
        let n = self.tables.data.items.len();
        let hyper = self.model.as_ref().map(|m| m.header_hyper()).unwrap_or_default();
        // the model's personal score (text-only for products it has not seen)
        let model = match &self.model {
            Some(m) => {
                let recent: Vec<u32> = history.iter().filter_map(|&i| self.to_model[i as usize]).collect();
                let p = m.user_vector(user, &recent, said);
                let all = m.score_all(&p);
                let s: Vec<f32> = (0..n)
                    .map(|i| match self.to_model[i] {
                        Some(j) => all[j as usize],
                        None => dot(&self.unseen[i * m.dim()..][..m.dim()], &p) + m.new_product_bias(),
                    })
                    .collect();
                standardise(&s)
            }
            None => {
                let pop: Vec<f32> = self.tables.popularity.iter().map(|&p| (p as f32).ln_1p()).collect();
                standardise(&pop)
            }
        };
        let mut knn = knn_recent(&self.tables.knn, n, history, hyper.decay);
        borrow_scores(&mut knn, &self.tables.proxies);
        let weights = w.unwrap_or_else(|| self.model.as_ref().map_or(Weights::default(), Model::weights));
        let seq = seq_recent(&self.tables.seq, n, history, weights.seq_decay);
        let mut score = blend_scores(&model, &knn, &seq, weights);
        let sequential = self.sequential_scores(history, said);
        score.iter_mut().zip(&sequential).for_each(|(s, x)| *s += weights.sequential * x);
        Parts { model, knn, seq, sequential, score, weights }
    }

    /// The sequential model's standardised scores after the shopper's last products and what they said in the
    /// conversation (its last step; empty without a model or without either). At weight 0 in the blend they still
    /// rank the new-product places.
    fn sequential_scores(&self, history: &[u32], said: Option<&[f32]>) -> Vec<f32> {
        let Some(s) = self.sequential.as_ref().filter(|_| !history.is_empty() || said.is_some()) else {
            return vec![];
        };
        let d = s.dim();
        let recent: Vec<&[f32]> = history.iter().map(|&i| &self.seq_vectors[i as usize * d..][..d]).collect();
        let p = s.user_vector_of(&recent, said);
        standardise(&self.seq_vectors.chunks_exact(d).map(|q| dot(q, &p)).collect::<Vec<_>>())
    }

    /// The shopper's personal score (the blend standardised over the catalog) of the given products, by id, for
    /// the chat's ranker.
    pub fn personal(&self, user: Option<&str>, history: &[u32], ids: &[&str]) -> HashMap<String, f32> {
        if history.is_empty() && user.is_none_or(|u| self.model.as_ref().is_none_or(|m| !m.knows_user(u))) {
            return HashMap::new(); // nothing personal to say: leave the ranking to the request
        }
        let z = standardise(&self.blend(user, history, None).score);
        ids.iter().filter_map(|id| self.index(id).map(|i| (id.to_string(), z[i as usize]))).collect()
    }

    /// The shop's rules: never broken, whatever the scores say.
    pub fn allowed(&self, p: &Product, req: &Request, i: u32, bought: &HashSet<u32>) -> bool {
        if bought.contains(&i) && !req.include_bought && !self.tables.consumable[i as usize] {
            return false;
        }
        if p.stock.is_some_and(|s| s <= 0) {
            return false;
        }
        let price_ok = |bound: Option<f64>, ok: fn(f64, f64) -> bool| match (bound, p.price) {
            (None, _) => true,
            (Some(b), Some(x)) => ok(x, b),
            (Some(_), None) => false,
        };
        if !price_ok(req.max_price, |x, b| x <= b + 1e-9) || !price_ok(req.min_price, |x, b| x + 1e-9 >= b) {
            return false;
        }
        if req.category.as_deref().is_some_and(|c| !matches_category(p, c)) {
            return false;
        }
        !req.exclude_categories.iter().any(|c| matches_category(p, c))
    }

    /// Maximal marginal relevance over text embeddings (titles when a product has none): a row of cards shows
    /// different things, not five colours of one mug.
    fn mmr(&self, mut cands: Vec<(u32, Arc<Product>, f32)>, n: usize) -> Vec<(u32, Arc<Product>, f32)> {
        let mut picked: Vec<(u32, Arc<Product>, f32)> = vec![];
        let (lo, hi) = cands.iter().fold((f32::MAX, f32::MIN), |(l, h), c| (l.min(c.2), h.max(c.2)));
        let span = (hi - lo).max(1e-6);
        while picked.len() < n && !cands.is_empty() {
            let (best, _) = cands
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let sim = picked.iter().map(|p| self.similarity(c.0, p.0, &c.1, &p.1)).fold(0.0f32, f32::max);
                    (k, MMR_LAMBDA * (c.2 - lo) / span - (1.0 - MMR_LAMBDA) * sim)
                })
                .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
            picked.push(cands.remove(best));
        }
        picked
    }

    fn similarity(&self, a: u32, b: u32, pa: &Product, pb: &Product) -> f32 {
        if self.tables.data.dim > 0 {
            let s = dot(self.tables.data.text_of(a), self.tables.data.text_of(b));
            if s != 0.0 {
                return s;
            }
        }
        let words = |p: &Product| p.title.to_lowercase().split_whitespace().map(String::from).collect::<HashSet<_>>();
        let (wa, wb) = (words(pa), words(pb));
        wa.intersection(&wb).count() as f32 / wa.union(&wb).count().max(1) as f32
    }

    /// The recent history product most bought together with `i` (by the same shoppers).
    fn because(&self, i: u32, history: &[u32], catalog: &Catalog) -> Option<Because> {
        let link = |table: &[Vec<(u32, f32)>], j: u32| table[j as usize].iter().find(|(k, _)| *k == i).map(|x| x.1);
        history
            .iter()
            .rev()
            .take(50)
            .filter_map(|&j| {
                let s = link(&self.tables.knn.neighbours, j)
                    .unwrap_or(0.0)
                    .max(link(&self.tables.seq.near, j).unwrap_or(0.0));
                (s > 0.0).then_some((j, s))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .and_then(|(j, s)| {
                let id = &self.tables.data.items[j as usize];
                catalog.get(id).map(|p| Because { id: id.clone(), title: p.title.clone(), similarity: s })
            })
    }
}

#[cfg(test)]
mod tests;
