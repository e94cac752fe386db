//! Reads a shopper's message into a typed request: the words to search for, the words that must not describe any
//! product ("nothing with polkadots"), the attributes every product must have (read against the catalog's own
//! vocabulary, see [`Vocab`]), a count ("set of 6"), a price range in the usual forms ("under £10", "less than 5
//! pounds", "between £5 and £15", "£20 or less", "around a tenner", "50p"), a sort ("the cheapest"), who it is for
//! ("a 7 year old": for the meaning side only) and the question asked (the price of a product, its other designs,
//! what goes with it, what the shopper ordered before).
use super::vocab::Vocab;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
mod asks;
mod follow;
mod occasion;
mod price;
mod readers;
mod words;
pub use asks::*;
pub use follow::{follow_up, is_yes, relaxes};
use occasion::*;
pub use price::foreign_currency;
use price::*;
use readers::*;
use words::*;

/// How the shopper wants the products ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Cheapest,
    Dearest,
    Popular,
}

/// The question a message asks, beyond "show me products".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    /// "how much is the regency cakestand?"
    Price,
    /// "is it in stock?"
    Stock,
    /// "does it come in other designs?"
    Variants,
    /// "something similar to the first one"
    Similar,
    /// "what goes with it?"
    GoesWith,
    /// "what did I order last time?"
    PastOrders,
    /// "can I order the same again?"
    Reorder,
}

impl Ask {
    /// Asks that need a product to be about (the rest are about the shopper).
    pub fn needs_product(self) -> bool {
        !matches!(self, Ask::PastOrders | Ask::Reorder)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    /// Words worth searching for (stop words, price phrases, exclusions and filler removed), lower case.
    pub words: Vec<String>,
    pub max_price: Option<f64>,
    pub min_price: Option<f64>,
    /// Words or phrases no product shown may have ("polkadot", "polka dot").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// The wanted words that are attributes in this catalog (colours, materials, patterns, designs): every product
    /// shown must have each of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// "set of 6", "pack of 12": the products shown come in that count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<Ask>,
    /// Who it is for, when said ("a 7 year old", "a boy"): read by meaning, never a word the products must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Words of what it is for ("for a party", "for the garden"): searched for, never required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occasion: Vec<String>,
    /// The message for the meaning side: price phrases, exclusions and questions taken out.
    #[serde(skip)]
    pub semantic: String,
    /// Whether a misspelt word was read as a title word.
    #[serde(skip)]
    pub corrected: bool,
    /// When nothing met every constraint: the one whose removal finds products (offered to the shopper; a "yes"
    /// drops it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emptied: Option<Constraint>,
}

impl Understanding {
    /// The hard constraints, as the shopper would say them ("under £2", "in green", "without polkadots"), for a
    /// reply that says which one emptied the shelf.
    pub fn constraints(&self) -> Vec<Constraint> {
        let mut out = vec![];
        if self.max_price.is_some() || self.min_price.is_some() {
            out.push(Constraint::Price);
        }
        out.extend(self.attributes.iter().map(|a| Constraint::Attribute(a.clone())));
        if self.count.is_some() {
            out.push(Constraint::Count);
        }
        out.extend(self.excluded.iter().map(|e| Constraint::Excluded(e.clone())));
        out
    }

    /// This request with one constraint dropped.
    pub fn without(&self, c: &Constraint) -> Understanding {
        let mut u = self.clone();
        match c {
            Constraint::Price => (u.max_price, u.min_price) = (None, None),
            Constraint::Attribute(a) => {
                // dropped from the request altogether: not required, nor a kind of product to look for
                u.attributes.retain(|x| x != a);
                u.words.retain(|x| x != a);
            }
            Constraint::Count => u.count = None,
            Constraint::Excluded(e) => u.excluded.retain(|x| x != e),
        }
        u
    }

    /// How a constraint reads in a reply.
    pub fn describe(&self, c: &Constraint) -> String {
        let label = crate::chat::budget_label;
        match c {
            Constraint::Price => match (self.min_price, self.max_price) {
                (Some(a), Some(b)) => format!("between {} and {}", label(a), label(b)),
                (None, Some(b)) => format!("under {}", label(b)),
                (Some(a), None) => format!("over {}", label(a)),
                (None, None) => String::new(),
            },
            Constraint::Attribute(a) => format!("in {a}"),
            Constraint::Count => format!("in a set of {}", self.count.unwrap_or_default()),
            Constraint::Excluded(e) => format!("without {e}"),
        }
    }

    /// Whether the message only refines a request (an exclusion, a price, a sort, a count, "cheaper"), asking
    /// nothing that names "which one".
    pub fn refines(&self) -> bool {
        let price_words = self
            .semantic
            .split(' ')
            .any(|w| matches!(w, "cheaper" | "pricier" | "dearer" | "expensive" | "costlier" | "cheap"));
        let which = self.semantic.split(' ').any(|w| matches!(w, "which" | "better" | "difference" | "vs" | "versus"));
        self.ask.is_none()
            && !which
            && (!self.excluded.is_empty()
                || self.max_price.is_some()
                || self.min_price.is_some()
                || self.sort.is_some()
                || self.count.is_some()
                || price_words)
    }

    /// Keyword words and price only: how messages were read before exclusions, attributes, sorts and questions
    /// (the reference row of `aisle bench shopping`).
    pub fn plain(&self) -> Understanding {
        let mut words = self.words.clone();
        for e in &self.excluded {
            words.extend(e.split(' ').map(str::to_string));
        }
        Understanding { words, max_price: self.max_price, min_price: self.min_price, ..Default::default() }
    }
}

/// A hard constraint of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Constraint {
    Price,
    Attribute(String),
    Count,
    Excluded(String),
}

/// Reads a message without the catalog (attributes are left to [`read`]).
pub fn understand(text: &str) -> Understanding {
    let toks = tokens(text);
    let mut used = vec![false; toks.len()];
    let mut u = Understanding::default();
    read_instructions(&toks, &mut used);
    read_prices(&toks, &mut used, &mut u);
    read_negations(&toks, &mut used, &mut u);
    read_recipient(&toks, &mut used, &mut u);
    read_count(&toks, &mut used, &mut u);
    read_occasion(&toks, &used, &mut u);
    let said: Vec<String> = toks.iter().zip(&used).filter(|(_, u)| !**u).map(|(t, _)| t.clone()).collect();
    u.sort = read_sort(&said);
    u.ask = read_ask(&said);
    let asked = u.ask.is_some();
    let mut semantic: Vec<&str> = vec![];
    for (i, (t, used)) in toks.iter().zip(&used).enumerate() {
        if *used || is_boundary(t) {
            continue;
        }
        // "lowest price first", "cheapest first": the order asked for, not a product word
        let sorting = ["price", "cheapest", "dearest", "priciest", "lowest", "highest", "expensive", "popular"];
        if t == "first" && i > 0 && sorting.contains(&toks[i - 1].as_str()) {
            continue;
        }
        if asked && question_words().contains(t.as_str()) {
            continue;
        }
        semantic.push(t);
        let Some(word) = content(t) else { continue };
        if RECIPIENTS.contains(&word.as_str()) || u.words.contains(&word) {
            continue;
        }
        u.words.push(word);
    }
    u.semantic = semantic.join(" ");
    if let Some(r) = &u.recipient {
        if !u.semantic.contains(r.trim_start_matches("a ")) {
            u.semantic = format!("{} for {r}", u.semantic).trim().to_string();
        }
    }
    u
}

/// Reads a message against the catalog's vocabulary: misspelt words are read as the title words they are near
/// ("latnerns" as "lanterns"), and the wanted words that are design words there (colours, materials, patterns)
/// become hard, unless they only say what it is for ("for a party").
pub fn read(text: &str, vocab: &Vocab) -> Understanding {
    let mut u = understand(text);
    let mut corrected = false;
    for w in u.words.iter_mut().chain(u.excluded.iter_mut()) {
        if let Some(c) = vocab.correct(w) {
            u.semantic = u
                .semantic
                .split(' ')
                .map(|t| if t == w.as_str() { c.as_str() } else { t })
                .collect::<Vec<_>>()
                .join(" ");
            *w = c;
            corrected = true;
        }
    }
    u.corrected = corrected;
    if corrected {
        let mut seen = HashSet::new();
        u.words.retain(|w| seen.insert(w.clone()));
    }
    u.attributes = u.words.iter().filter(|w| vocab.is_attribute(w) && !u.occasion.contains(w)).cloned().collect();
    u
}

/// What the conversation has settled so far: the last request and the products last shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slots {
    #[serde(default)]
    pub request: Understanding,
    #[serde(default)]
    pub shown_prices: Vec<f64>,
    /// Ids of the products last shown, in order ("the first one" points here).
    #[serde(default)]
    pub shown: Vec<String>,
    /// The product the conversation is about ("it"): the last one a question was answered about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
}

fn mentions(lower: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| lower.contains(p))
}

/// The message with its price phrases ("under £10", "between £5 and £8") taken out; a message without one comes
/// back as it is (trimmed), so the embedding of the same text made for its intent is reused.
pub fn without_prices(text: &str) -> String {
    let typed: Vec<&str> = text.split_whitespace().collect();
    let toks = tokens(text);
    let mut used = vec![false; toks.len()];
    read_prices(&toks, &mut used, &mut Understanding::default());
    if !used.contains(&true) {
        return text.trim().to_string();
    }
    // map the lower-case tokens back onto the typed words (punctuation tokens belong to the word before)
    let mut keep = vec![true; typed.len()];
    let mut w = 0;
    for (k, t) in toks.iter().enumerate() {
        if is_boundary(t) && k > 0 {
            continue;
        }
        if used[k] && w < typed.len() {
            keep[w] = false;
        }
        w += 1;
    }
    let kept: Vec<&str> = typed.iter().zip(keep).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
    kept.join(" ").trim_matches([',', ' ']).to_string()
}

#[cfg(test)]
mod tests;
