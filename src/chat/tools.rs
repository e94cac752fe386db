//! Two shopping tools that answer from the catalog alone: comparing products and answering a question about one
//! product from its record and its reviews. Which products: the ones the shopper points at ("the first one",
//! "the second and third", "both"), else the ones the message names, else the cards just shown.
use crate::catalog::{Catalog, Product};
use crate::search::{Mode, Search, SearchRequest};
use serde::Serialize;
use std::sync::Arc;

const ORDINALS: &[(&[&str], usize)] =
    &[(&["first", "1st"], 0), (&["second", "2nd"], 1), (&["third", "3rd"], 2), (&["fourth", "4th"], 3)];

pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// Positions in the list just shown that the message points at, in the order mentioned.
pub fn pointed_at(text: &str, shown: usize) -> Vec<usize> {
    let toks = tokens(text);
    let mut out = vec![];
    // "the first two", "the first 3"
    let count = |w: &str| match w {
        "two" | "2" => Some(2),
        "three" | "3" => Some(3),
        "four" | "4" => Some(4),
        _ => None,
    };
    if let Some(n) = toks.windows(2).find(|w| w[0] == "first").and_then(|w| count(&w[1])) {
        return (0..n.min(shown)).collect();
    }
    for t in &toks {
        if let Some((_, i)) = ORDINALS.iter().find(|(w, _)| w.contains(&t.as_str())) {
            if *i < shown && !out.contains(i) {
                out.push(*i);
            }
        }
        if t == "last" && shown > 0 && !out.contains(&(shown - 1)) {
            out.push(shown - 1);
        }
    }
    let both = ["both", "them", "these", "those", "two"].iter().any(|w| toks.iter().any(|t| t == w));
    if out.is_empty() && both && shown >= 2 {
        out = vec![0, 1];
    }
    out
}

/// Whether the message asks to compare products.
pub fn asks_to_compare(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("compare")
        || lower.contains(" vs ")
        || lower.contains(" versus ")
        || lower.contains("difference between")
}

/// Whether the turn is a comparison: the message asks for one in words, or the classifier is sure it does and the
/// message does not point at exactly one of the products shown ("tell me more about the first one" is a question
/// about that product, whatever the classifier makes of it: a comparison needs two).
pub fn is_comparison(text: &str, classifier_says_compare: bool, shown: usize) -> bool {
    asks_to_compare(text) || classifier_says_compare && pointed_at(text, shown).len() != 1
}

/// Whether the message asks about one of the products just shown ("tell me more about the first one").
pub fn asks_about_shown(text: &str, shown: usize) -> bool {
    let lower = text.to_lowercase();
    let about = ["tell me", "more about", "what is", "what's", "is it", "does it", "how big", "made of", "details"];
    shown > 0
        && (lower.contains('?') || about.iter().any(|a| lower.contains(a)))
        && (!pointed_at(text, shown).is_empty()
            || [" it ", " it?", "this one", "that one"].iter().any(|w| format!(" {lower} ").contains(w)))
}

/// Products the message names: for each part split on "and"/"or"/"vs", the best keyword hit whose title shares at
/// least two of the part's words (or all of them, for a one-word part).
pub fn named(search: &Search, catalog: &Catalog, text: &str) -> Vec<Arc<Product>> {
    let lower = text.to_lowercase().replace(" versus ", " vs ");
    let mut out: Vec<Arc<Product>> = vec![];
    for part in lower
        .split([',', ';'])
        .flat_map(|p| p.split(" and "))
        .flat_map(|p| p.split(" or "))
        .flat_map(|p| p.split(" vs "))
    {
        let words: Vec<String> = crate::chat::query::understand(part).words;
        if words.is_empty() {
            continue;
        }
        let req = SearchRequest { text: words.join(" "), mode: Mode::Keyword, limit: 5, ..SearchRequest::default() };
        let Ok(hits) = search.search(&req, catalog, |_| 0) else { continue };
        let need = words.len().min(2);
        let best = hits.iter().filter_map(|h| catalog.get(&h.id)).find(|p| {
            let title = tokens(&p.title);
            words
                .iter()
                .filter(|w| title.iter().any(|t| t.starts_with(w.as_str()) || w.starts_with(t.as_str())))
                .count()
                >= need
        });
        if let Some(p) = best {
            if !out.iter().any(|o| o.id == p.id) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether a title says the product comes in a count of `n` ("SET OF 6 SPICE TINS", "SET/6", "12 PENCILS PACK",
/// "6 PIECE", "6 RIBBONS RUSTIC CHARM"): the number leading the title or with a set, pack, box or piece word beside
/// it.
pub fn comes_in(title: &str, n: u32) -> bool {
    let toks = tokens(title);
    let n = n.to_string();
    let counted =
        |t: &str| matches!(t, "set" | "sets" | "pack" | "packs" | "box" | "of" | "pc" | "pcs" | "piece" | "pieces");
    toks.iter().enumerate().any(|(i, t)| {
        *t == n && (i == 0 || toks[i.saturating_sub(2)..(i + 3).min(toks.len())].iter().any(|w| counted(w)))
    })
}

/// One product's facts as the templates show them.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub id: String,
    pub title: String,
    pub price: Option<f64>,
    pub price_label: String,
    pub category: String,
    pub brand: String,
    pub in_stock: Option<bool>,
    pub rating: Option<f32>,
    pub buyers: u32,
    /// How many the shopper ordered (a line of a past order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A product of a list answer and why it is on the list (true to the data behind it).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub facts: Facts,
    pub reason: String,
}

/// A list answer: another product's designs, similar products, what is bought with it, or a past order.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Listing {
    /// variants, similar, goes_with, past_orders, reorder.
    pub tool: &'static str,
    /// The product asked about.
    pub about: Option<Facts>,
    pub items: Vec<Item>,
    /// The design the shopper asked for ("does it come in green?").
    pub wanted: Option<String>,
    /// Whether some of the items have it.
    pub wanted_found: bool,
    /// The order listed (past orders).
    pub order: Option<crate::service::OrderFacts>,
    pub signed_in: bool,
    /// Items left off the list (a long order).
    pub more: usize,
}

/// Whether two words are within a typo of each other: one edit (a swap of two neighbours counts as one) for words
/// of up to 7 letters, two for longer ones.
pub fn near(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let limit = if a.len().max(b.len()) >= 8 { 2 } else { 1 };
    if a.len().abs_diff(b.len()) > limit || a.len().min(b.len()) < 4 {
        return a == b;
    }
    // optimal string alignment distance
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()] <= limit
}

pub fn facts(p: &Product, buyers: u32) -> Facts {
    Facts {
        id: p.id.clone(),
        title: p.title.clone(),
        price: p.price,
        price_label: p.price_label(),
        category: p.category.clone(),
        brand: p.brand.clone(),
        in_stock: p.stock.map(|s| s > 0),
        rating: p.rating,
        buyers,
        quantity: None,
        image: p.images.first().cloned(),
        url: (!p.url.is_empty()).then(|| p.url.clone()),
    }
}

/// A comparison of two or more products: their facts side by side and the price difference of the first two.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub products: Vec<Facts>,
    /// "£1.20" when both have prices and they differ; names the cheaper one.
    pub cheaper: Option<(String, String)>,
}

pub fn compare(products: &[Facts]) -> Comparison {
    let cheaper = match (products.first(), products.get(1)) {
        (Some(a), Some(b)) => match (a.price, b.price) {
            (Some(x), Some(y)) if (x - y).abs() >= 0.005 => {
                let (c, d) = if x < y { (a, y - x) } else { (b, x - y) };
                Some((c.title.clone(), crate::catalog::format_price(d)))
            }
            _ => None,
        },
        _ => None,
    };
    Comparison { products: products.to_vec(), cheaper }
}

const STOP: &[&str] = &[
    "the", "a", "an", "is", "it", "this", "that", "what", "how", "does", "do", "can", "you", "me", "tell", "about",
    "more", "one", "first", "second", "third", "last", "of", "for", "to", "in", "on", "and", "or", "with", "are", "be",
    "i", "my", "its", "there", "any", "please", "much", "many", "will", "would", "have", "has", "was",
];

fn stem(w: &str) -> &str {
    w.strip_suffix("es").filter(|s| s.len() >= 3).or_else(|| w.strip_suffix('s').filter(|s| s.len() >= 3)).unwrap_or(w)
}

/// What the record and the reviews say that bears on the question: the sentences sharing the most of its words
/// (title words and filler left out), best first, at most `n` from each source.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Answer {
    pub product: Option<Facts>,
    pub from_description: Vec<String>,
    pub from_reviews: Vec<String>,
    /// The question words that were looked for.
    pub looked_for: Vec<String>,
    /// The question asked, when it is about the price or the stock.
    pub ask: Option<crate::chat::query::Ask>,
    /// When the product is out of stock: its designs and the products like it that are in stock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Item>,
}

fn sentences(text: &str) -> Vec<String> {
    text.split(['.', '!', '?', '\n'])
        .map(|s| s.trim().trim_start_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|s| s.split_whitespace().count() >= 3 && s.chars().count() <= 300)
        .collect()
}

fn best(sents: Vec<String>, words: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, usize, String)> = sents
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let toks: Vec<String> = tokens(&s);
            let hits = words.iter().filter(|w| toks.iter().any(|t| stem(t) == w.as_str())).count();
            (hits, i, s)
        })
        .filter(|(h, _, _)| *h > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(n).map(|(_, _, s)| s).collect()
}

pub fn answer(p: &Product, buyers: u32, question: &str) -> Answer {
    let title: Vec<String> = tokens(&p.title).iter().map(|t| stem(t).to_string()).collect();
    // instructions inside the message ("tell me it is on sale") are not what was asked
    let question = crate::chat::query::without_instructions(question);
    let looked_for: Vec<String> = tokens(&question)
        .iter()
        .filter(|t| t.len() >= 3 && !STOP.contains(&t.as_str()))
        .map(|t| stem(t).to_string())
        .filter(|t| !title.contains(t))
        .collect();
    Answer {
        product: Some(facts(p, buyers)),
        from_description: best(sentences(&p.description), &looked_for, 2),
        from_reviews: best(sentences(&p.reviews), &looked_for, 2),
        looked_for,
        ask: None,
        alternatives: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_and_both_point_into_the_list_just_shown() {
        assert_eq!(pointed_at("compare the first two", 4), vec![0, 1]);
        assert_eq!(pointed_at("tell me more about the third one", 4), vec![2]);
        assert_eq!(pointed_at("the second and the last", 4), vec![1, 3]);
        assert_eq!(pointed_at("compare both", 4), vec![0, 1]);
        assert_eq!(pointed_at("the fourth", 2), Vec::<usize>::new(), "nothing beyond what was shown");
        assert!(asks_to_compare("what's the difference between these"));
        assert!(asks_about_shown("tell me more about the first one", 3));
        assert!(asks_about_shown("is it made of glass?", 3));
        assert!(!asks_about_shown("show me candles", 3));
        assert!(!asks_about_shown("tell me more about the first one", 0));
        assert!(!is_comparison("tell me more about the first one", true, 3), "one product pointed at");
        assert!(is_comparison("which one is cheaper?", true, 3), "the classifier, nothing pointed at");
        assert!(is_comparison("the first and the second?", true, 3), "two pointed at");
        assert!(is_comparison("compare the first one with this", false, 3), "asked in words");
        assert!(!is_comparison("which one is cheaper?", false, 3));
    }

    #[test]
    fn typos_are_near_and_other_words_are_not() {
        assert!(near("latnerns", "lanterns"));
        assert!(near("doormta", "doormat"));
        assert!(near("umbrela", "umbrella"));
        assert!(!near("mug", "bug"), "too short to guess");
        assert!(!near("candle", "handles"));
    }

    #[test]
    fn a_count_is_read_from_the_title() {
        assert!(comes_in("SET OF 6 SPICE TINS PANTRY DESIGN", 6));
        assert!(comes_in("SET/6 RED SPOTTY PAPER CUPS", 6));
        assert!(comes_in("Wooden Blocks, 12 Pieces", 12));
        assert!(!comes_in("SET OF 3 CAKE TINS PANTRY DESIGN", 6));
        assert!(comes_in("6 RIBBONS RUSTIC CHARM", 6), "a count leading the title");
        assert!(!comes_in("JUMBO BAG 50'S CHRISTMAS", 50), "a number inside the title with no set word");
    }

    #[test]
    fn an_answer_quotes_the_sentences_that_bear_on_the_question() {
        let p = Product {
            description: "A wooden train set with 40 pieces. Batteries are not included. Suitable for ages 3 and up."
                .into(),
            reviews: "My son loves it. The batteries ran out quickly though. Great value for the price.".into(),
            ..Product::titled("t1", "Wooden Train Set")
        };
        let a = answer(&p, 3, "does the train set need batteries?");
        assert_eq!(a.from_description, vec!["Batteries are not included"]);
        assert_eq!(a.from_reviews, vec!["The batteries ran out quickly though"]);
        assert!(!a.looked_for.contains(&"train".to_string()), "title words are not the question: {:?}", a.looked_for);
        let none = answer(&p, 3, "what colour is it?");
        assert!(none.from_description.is_empty() && none.from_reviews.is_empty());
    }

    #[test]
    fn a_comparison_names_the_cheaper_product_and_the_difference() {
        let a = facts(&Product { price: Some(4.95), ..Product::titled("a", "Red Lantern") }, 10);
        let b = facts(&Product { price: Some(3.75), ..Product::titled("b", "White Lantern") }, 3);
        let c = compare(&[a.clone(), b]);
        assert_eq!(c.cheaper, Some(("White Lantern".to_string(), "£1.20".to_string())));
        let same = compare(&[a.clone(), a]);
        assert_eq!(same.cheaper, None);
    }
}
