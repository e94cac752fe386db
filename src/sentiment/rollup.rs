//! Review sentiment rolled up per product, category and shop: how many reviews read negative, neutral and
//! positive, each aspect's mentions and mean score with a quote, and what shoppers praise and complain of (their
//! own sentences, quoted). A product's roll-up is computed once per review text and kept; the groups are summed
//! from the products on each request.
use super::aspects;
use super::model::{Mood, Sentiment};
use crate::catalog::{Catalog, Product};
use crate::intent::IntentError;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Quotes kept per product for praise and for complaints.
const QUOTES: usize = 3;

/// How sure a sentence must be of its side to be quoted.
const QUOTE_SURE: f32 = 0.6;

/// One aspect's mentions in a set of reviews.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AspectRoll {
    pub aspect: &'static str,
    pub mentions: usize,
    pub positive: usize,
    pub negative: usize,
    /// Mean of the mentioning sentences' scores (-1 to 1).
    pub score: f32,
    /// The mentioning sentence that reads most strongly the way the mean leans.
    pub quote: Option<String>,
}

/// One product's reviews.
#[derive(Debug, Clone, Serialize)]
pub struct ProductSentiment {
    pub id: String,
    pub title: String,
    pub category: String,
    pub reviews: usize,
    pub negative: usize,
    pub neutral: usize,
    pub positive: usize,
    /// Mean of the reviews' scores (-1 to 1).
    pub score: f32,
    pub aspects: Vec<AspectRoll>,
    /// Its reviews' most positive sentences, as written.
    pub praise: Vec<String>,
    /// Its reviews' most negative sentences, as written.
    pub complaints: Vec<String>,
}

/// Many products' reviews together (a category, or the shop).
#[derive(Debug, Clone, Serialize)]
pub struct GroupSentiment {
    /// The category path ("" for the shop).
    pub key: String,
    pub products: usize,
    pub reviews: usize,
    pub negative: usize,
    pub neutral: usize,
    pub positive: usize,
    pub score: f32,
    pub aspects: Vec<AspectRoll>,
    /// Its products with reviews, lowest score first.
    pub lowest: Vec<ProductLine>,
}

/// A product in a group's list.
#[derive(Debug, Clone, Serialize)]
pub struct ProductLine {
    pub id: String,
    pub title: String,
    pub reviews: usize,
    pub score: f32,
    pub complaint: Option<String>,
}

/// A product's reviews, one per line of its `reviews` field.
pub fn reviews_of(p: &Product) -> Vec<String> {
    p.reviews.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// A sentence worth quoting: a few words at least (not "Five Stars."), not a page of text.
fn quotable(s: &str) -> bool {
    let chars = s.chars().count();
    let words = s.split_whitespace().count();
    let cjk = s.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    (words >= 4 || cjk >= 5) && chars <= 160
}

/// The roll-up of one product from its reviews' moods and their sentences' moods.
pub fn product(p: &Product, reviews: &[Mood], sentences: &[(String, Mood)]) -> ProductSentiment {
    let count = |l: &str| reviews.iter().filter(|m| m.label() == l).count();
    let mut praise: Vec<&(String, Mood)> =
        sentences.iter().filter(|(s, m)| m.positive >= QUOTE_SURE && quotable(s)).collect();
    praise.sort_by(|a, b| b.1.positive.total_cmp(&a.1.positive));
    let mut complaints: Vec<&(String, Mood)> =
        sentences.iter().filter(|(s, m)| m.negative >= QUOTE_SURE && quotable(s)).collect();
    complaints.sort_by(|a, b| b.1.negative.total_cmp(&a.1.negative));
    let firsts = |v: Vec<&(String, Mood)>| -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for (s, _) in v {
            if !out.contains(s) && out.len() < QUOTES {
                out.push(s.clone());
            }
        }
        out
    };
    ProductSentiment {
        id: p.id.clone(),
        title: p.title.clone(),
        category: p.category.clone(),
        reviews: reviews.len(),
        negative: count("negative"),
        neutral: count("neutral"),
        positive: count("positive"),
        score: mean(reviews.iter().map(Mood::score)),
        aspects: aspect_rolls(sentences.iter().map(|(s, m)| (s.as_str(), *m))),
        praise: firsts(praise),
        complaints: firsts(complaints),
    }
}

fn mean(xs: impl Iterator<Item = f32>) -> f32 {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in xs {
        sum += x;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f32
    }
}

/// Each aspect's mentions among scored sentences, in [`aspects::names`]' order, those never mentioned left out.
pub fn aspect_rolls<'a>(sentences: impl Iterator<Item = (&'a str, Mood)>) -> Vec<AspectRoll> {
    let mut by: HashMap<&'static str, Vec<(&'a str, Mood)>> = HashMap::new();
    for (s, m) in sentences {
        for a in aspects::of(s) {
            by.entry(a).or_default().push((s, m));
        }
    }
    aspects::names()
        .into_iter()
        .filter_map(|a| {
            let v = by.get(a)?;
            let score = mean(v.iter().map(|(_, m)| m.score()));
            let lean = |m: &Mood| if score >= 0.0 { m.score() } else { -m.score() };
            let quote = v
                .iter()
                .filter(|(s, m)| quotable(s) && lean(m) > 0.0)
                .max_by(|x, y| lean(&x.1).total_cmp(&lean(&y.1)))
                .map(|(s, _)| s.to_string());
            Some(AspectRoll {
                aspect: a,
                mentions: v.len(),
                positive: v.iter().filter(|(_, m)| m.label() == "positive").count(),
                negative: v.iter().filter(|(_, m)| m.label() == "negative").count(),
                score,
                quote,
            })
        })
        .collect()
}

/// Sums products into a group (their aspects weighted by mentions).
pub fn group(key: &str, products: &[Arc<ProductSentiment>]) -> GroupSentiment {
    let reviews: usize = products.iter().map(|p| p.reviews).sum();
    let weighted: f32 = products.iter().map(|p| p.score * p.reviews as f32).sum();
    let mut aspects: Vec<AspectRoll> = vec![];
    for name in aspects::names() {
        let parts: Vec<&AspectRoll> = products.iter().flat_map(|p| &p.aspects).filter(|a| a.aspect == name).collect();
        let mentions: usize = parts.iter().map(|a| a.mentions).sum();
        if mentions == 0 {
            continue;
        }
        let score = parts.iter().map(|a| a.score * a.mentions as f32).sum::<f32>() / mentions as f32;
        let lean = |a: &&&AspectRoll| if score >= 0.0 { a.score } else { -a.score };
        let quote = parts.iter().filter(|a| a.quote.is_some()).max_by(|x, y| lean(x).total_cmp(&lean(y)));
        aspects.push(AspectRoll {
            aspect: name,
            mentions,
            positive: parts.iter().map(|a| a.positive).sum(),
            negative: parts.iter().map(|a| a.negative).sum(),
            score,
            quote: quote.and_then(|a| a.quote.clone()),
        });
    }
    let mut lowest: Vec<ProductLine> = products
        .iter()
        .map(|p| ProductLine {
            id: p.id.clone(),
            title: p.title.clone(),
            reviews: p.reviews,
            score: p.score,
            complaint: p.complaints.first().cloned(),
        })
        .collect();
    lowest.sort_by(|a, b| a.score.total_cmp(&b.score).then(b.reviews.cmp(&a.reviews)));
    GroupSentiment {
        key: key.to_string(),
        products: products.len(),
        reviews,
        negative: products.iter().map(|p| p.negative).sum(),
        neutral: products.iter().map(|p| p.neutral).sum(),
        positive: products.iter().map(|p| p.positive).sum(),
        score: if reviews == 0 { 0.0 } else { weighted / reviews as f32 },
        aspects,
        lowest,
    }
}

/// A group with the categories one level below it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub group: GroupSentiment,
    pub children: Vec<Child>,
}

/// A category one level below a group.
#[derive(Debug, Clone, Serialize)]
pub struct Child {
    pub key: String,
    pub products: usize,
    pub reviews: usize,
    pub negative: usize,
    pub score: f32,
}

/// The category one level below `key` that `category` falls in ("" when it is `key` itself).
pub fn child_of(category: &str, key: &str) -> String {
    let rest =
        if key.is_empty() { category } else { category.strip_prefix(key).unwrap_or("").trim_start_matches(" > ") };
    match rest.split(" > ").next().filter(|c| !c.trim().is_empty()) {
        Some(first) if key.is_empty() => first.trim().to_string(),
        Some(first) => format!("{key} > {}", first.trim()),
        None => String::new(),
    }
}

/// The products of category `key` ("" the shop) summed, with the categories one level below, those with the most
/// reviews first.
pub fn summary(all: &[Arc<ProductSentiment>], key: &str) -> Summary {
    let inside: Vec<Arc<ProductSentiment>> = all.iter().filter(|r| in_category(&r.category, key)).cloned().collect();
    let mut by: Vec<(String, Vec<Arc<ProductSentiment>>)> = vec![];
    for r in &inside {
        let c = child_of(&r.category, key);
        match by.iter_mut().find(|(k, _)| *k == c) {
            Some((_, v)) => v.push(r.clone()),
            None => by.push((c, vec![r.clone()])),
        }
    }
    let mut children: Vec<Child> = by
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let g = group(&k, &v);
            Child { key: k, products: g.products, reviews: g.reviews, negative: g.negative, score: g.score }
        })
        .collect();
    children.sort_by(|a, b| b.reviews.cmp(&a.reviews).then(a.key.cmp(&b.key)));
    Summary { group: group(key, &inside), children }
}

/// Whether a product's category is `key` or under it (`key` "" is the whole shop).
pub fn in_category(category: &str, key: &str) -> bool {
    key.is_empty() || category == key || category.strip_prefix(key).is_some_and(|rest| rest.starts_with(" > "))
}

fn fingerprint(p: &Product) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&p.reviews, &p.title, &p.category).hash(&mut h);
    h.finish()
}

/// Each product's roll-up by its id, with the fingerprint of the text it was computed from.
type Kept = HashMap<String, (u64, Arc<ProductSentiment>)>;

/// Product roll-ups kept by the text they were computed from. Cloning is shallow.
#[derive(Clone, Default)]
pub struct Rollups {
    kept: Arc<Mutex<Kept>>,
    /// Held while the whole catalog is computed: a second request waits for the first instead of repeating it.
    computing: Arc<Mutex<()>>,
}

impl Rollups {
    /// The roll-up of every product with reviews in the catalog, computing those whose reviews are new or changed
    /// (blocking: the embedding thread does the work).
    pub fn all(&self, catalog: &Catalog, s: &Sentiment) -> Result<Vec<Arc<ProductSentiment>>, IntentError> {
        let _one = self.computing.lock().unwrap_or_else(|e| e.into_inner());
        let products: Vec<Arc<Product>> =
            catalog.snapshot().into_iter().filter(|p| !reviews_of(p).is_empty()).collect();
        let stale: Vec<Arc<Product>> = {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            products.iter().filter(|p| kept.get(&p.id).is_none_or(|(f, _)| *f != fingerprint(p))).cloned().collect()
        };
        for chunk in stale.chunks(64) {
            let computed = compute(chunk, s)?;
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            for (p, r) in chunk.iter().zip(computed) {
                kept.insert(p.id.clone(), (fingerprint(p), Arc::new(r)));
            }
        }
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Arc<ProductSentiment>> =
            products.iter().filter_map(|p| kept.get(&p.id).map(|(_, r)| r.clone())).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Whether the whole catalog is being computed now.
    pub fn busy(&self) -> bool {
        self.computing.try_lock().is_err()
    }

    /// One product's roll-up (None: it has no reviews).
    pub fn product(&self, p: &Product, s: &Sentiment) -> Result<Option<Arc<ProductSentiment>>, IntentError> {
        if reviews_of(p).is_empty() {
            return Ok(None);
        }
        if let Some((f, r)) = self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
            if *f == fingerprint(p) {
                return Ok(Some(r.clone()));
            }
        }
        let r = Arc::new(compute(std::slice::from_ref(&Arc::new(p.clone())), s)?.remove(0));
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).insert(p.id.clone(), (fingerprint(p), r.clone()));
        Ok(Some(r))
    }
}

/// Roll-ups of some products: every review and every sentence of them scored in one batch.
fn compute(products: &[Arc<Product>], s: &Sentiment) -> Result<Vec<ProductSentiment>, IntentError> {
    let mut texts: Vec<String> = vec![];
    let mut spans = vec![];
    for p in products {
        let reviews = reviews_of(p);
        // only the sentences a quote or an aspect can come from are scored
        let sentences: Vec<String> = reviews
            .iter()
            .flat_map(|r| aspects::sentences(r))
            .filter(|s| quotable(s) || !aspects::of(s).is_empty())
            .collect();
        spans.push((reviews.len(), sentences.len()));
        texts.extend(reviews);
        texts.extend(sentences);
    }
    let moods = s.moods(&texts)?;
    let mut at = 0;
    let mut out = vec![];
    for (p, (n_reviews, n_sentences)) in products.iter().zip(spans) {
        let reviews = &moods[at..at + n_reviews];
        let sentences: Vec<(String, Mood)> =
            (at + n_reviews..at + n_reviews + n_sentences).map(|i| (texts[i].clone(), moods[i])).collect();
        at += n_reviews + n_sentences;
        out.push(product(p, reviews, &sentences));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mood(negative: f32, positive: f32) -> Mood {
        Mood { negative, neutral: 1.0 - negative - positive, positive }
    }

    fn toy(id: &str, category: &str) -> Product {
        Product { id: id.into(), title: format!("Toy {id}"), category: category.into(), ..Default::default() }
    }

    #[test]
    fn a_products_reviews_roll_up_into_labels_aspects_and_quotes() {
        let p = toy("a", "Games > Puzzles");
        let reviews = [mood(0.05, 0.9), mood(0.8, 0.1), mood(0.1, 0.2)];
        let sentences = vec![
            ("Great value for the money, my son loves it".to_string(), mood(0.02, 0.95)),
            ("The pieces broke within a week of play".to_string(), mood(0.9, 0.05)),
            ("Five Stars.".to_string(), mood(0.0, 1.0)),
            ("It arrived late but the quality is fine".to_string(), mood(0.3, 0.4)),
        ];
        let r = product(&p, &reviews, &sentences);
        assert_eq!((r.reviews, r.negative, r.neutral, r.positive), (3, 1, 1, 1));
        assert!((r.score - (0.85 - 0.7 + 0.1) / 3.0).abs() < 1e-6, "{}", r.score);
        // "Five Stars." is too short to quote; the most positive quotable sentence is praise
        assert_eq!(r.praise, vec!["Great value for the money, my son loves it"]);
        assert_eq!(r.complaints, vec!["The pieces broke within a week of play"]);
        let names: Vec<&str> = r.aspects.iter().map(|a| a.aspect).collect();
        assert_eq!(names, vec!["price", "quality", "delivery"]);
        let quality = &r.aspects[1];
        assert_eq!((quality.mentions, quality.negative), (2, 1));
        // the mean leans negative ((-0.85 + 0.1) / 2), so the quote is the complaint
        assert_eq!(quality.quote.as_deref(), Some("The pieces broke within a week of play"));
    }

    #[test]
    fn groups_sum_their_products_and_name_the_level_below() {
        let mk = |id: &str, cat: &str, n: usize, score: f32| {
            Arc::new(ProductSentiment {
                reviews: n,
                positive: n,
                score,
                aspects: vec![AspectRoll {
                    aspect: "price",
                    mentions: n,
                    positive: n,
                    negative: 0,
                    score,
                    quote: Some(format!("quote {id}")),
                }],
                complaints: vec![],
                praise: vec![],
                negative: 0,
                neutral: 0,
                ..product(&toy(id, cat), &[], &[])
            })
        };
        let all = vec![
            mk("a", "Games > Puzzles", 3, 0.5),
            mk("b", "Games > Cards", 1, -0.5),
            mk("c", "Hobbies", 2, 1.0),
            mk("d", "Games", 1, 0.0),
        ];
        let shop = summary(&all, "");
        assert_eq!((shop.group.products, shop.group.reviews), (4, 7));
        assert!((shop.group.score - (1.5 - 0.5 + 2.0) / 7.0).abs() < 1e-6);
        let keys: Vec<(&str, usize)> = shop.children.iter().map(|c| (c.key.as_str(), c.reviews)).collect();
        assert_eq!(keys, vec![("Games", 5), ("Hobbies", 2)]);
        assert_eq!(shop.group.lowest[0].id, "b");
        let games = summary(&all, "Games");
        assert_eq!(games.group.products, 3);
        // "Games" itself has no level below; its puzzles and cards do
        let keys: Vec<&str> = games.children.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["Games > Puzzles", "Games > Cards"]);
        assert_eq!(games.group.aspects[0].mentions, 5);
        assert_eq!(games.group.aspects[0].quote.as_deref(), Some("quote a"));
        assert!(in_category("Games > Puzzles", "Games") && !in_category("Gamesmanship", "Games"));
        assert_eq!(child_of("Hobbies > Trains > Rolling Stock", "Hobbies"), "Hobbies > Trains");
        assert_eq!(child_of("", ""), "");
    }
}
