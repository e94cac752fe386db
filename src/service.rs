//! Customer-service tools: order status and history from the shop's orders (a customer only ever sees their own),
//! answers quoted from the shop's policy documents (`data/policies/*.md`, each section listing the intents it
//! answers), and handing the chat over to a person. Facts come from here; templates in `prompts/service/` word them.
use crate::store::{Order, Store, StoreError};
use std::path::Path;

/// Intents answered from the shopper's orders.
pub const ORDER_INTENTS: &[&str] = &["track_order", "check_invoice", "get_invoice"];
/// Intents that ask for a person.
pub const HANDOFF_INTENTS: &[&str] = &["contact_human_agent", "complaint"];
/// Shopping intents (answered by search and the recommender).
pub const SHOPPING_INTENTS: &[&str] = &["search", "recommend", "compare", "product_question"];

/// One section of a policy document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Section {
    pub document: String,
    pub heading: String,
    pub intents: Vec<String>,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Policies {
    pub sections: Vec<Section>,
    /// One embedding per section (heading and text), when an embedding model is loaded.
    vectors: Vec<Vec<f32>>,
}

/// Least cosine similarity for a retrieved section to count as an answer.
pub const MIN_SIMILARITY: f32 = 0.35;

impl Policies {
    /// Reads every `*.md` in `dir`: `# Title`, then `## Heading` sections whose first line is `intents: a, b`.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let mut sections = vec![];
        let mut files: Vec<_> = match std::fs::read_dir(dir) {
            Ok(d) => d
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(e),
        };
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f)?;
            sections.extend(parse(&text));
        }
        Ok(Self { sections, vectors: vec![] })
    }

    /// Embeds every section so messages the classifier is unsure about can be matched by meaning.
    pub fn index(&mut self, embedder: &crate::embed::Embedder) -> Result<(), crate::llm::LlmError> {
        let texts = self.sections.iter().map(|s| format!("{}. {}. {}", s.document, s.heading, s.text)).collect();
        self.vectors = embedder.embed_blocking(texts, crate::embed::Role::Passage)?;
        Ok(())
    }

    /// The section closest in meaning to a message's embedding, with its similarity.
    pub fn closest(&self, query: &[f32]) -> Option<(&Section, f32)> {
        self.vectors
            .iter()
            .map(|v| crate::embed::dot(v, query))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, s)| (&self.sections[i], s))
    }

    /// Sections that answer an intent; when several do, the one sharing most words with the message first.
    pub fn for_intent(&self, intent: &str, message: &str) -> Vec<&Section> {
        let words: std::collections::HashSet<String> = message
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 3)
            .map(String::from)
            .collect();
        let mut found: Vec<(&Section, usize)> = self
            .sections
            .iter()
            .filter(|s| s.intents.iter().any(|i| i == intent))
            .map(|s| {
                let overlap =
                    s.text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| words.contains(*w)).count();
                (s, overlap)
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.1));
        found.into_iter().map(|(s, _)| s).collect()
    }
}

fn parse(text: &str) -> Vec<Section> {
    let mut out = vec![];
    let mut document = String::new();
    let mut current: Option<Section> = None;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# ") {
            document = t.trim().to_string();
        } else if let Some(h) = line.strip_prefix("## ") {
            out.extend(current.take());
            current = Some(Section {
                document: document.clone(),
                heading: h.trim().to_string(),
                intents: vec![],
                text: String::new(),
            });
        } else if let Some(s) = current.as_mut() {
            if let Some(list) = line.strip_prefix("intents:") {
                s.intents = list.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect();
            } else if !line.trim().is_empty() {
                if !s.text.is_empty() {
                    s.text.push(' ');
                }
                s.text.push_str(line.trim());
            }
        }
    }
    out.extend(current);
    out
}

/// An order number in the message: six digits, optionally after a `C` (a cancellation invoice).
pub fn order_number(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter_map(as_order_number).next().map(str::to_uppercase)
}

/// The order number a word is (`536365`, `C536379`, `#536365`, `no536365`), if it is one.
fn as_order_number(word: &str) -> Option<&str> {
    let w = word.trim_start_matches(['#', 'n', 'N', 'o', 'O']);
    let digits = w.strip_prefix(['C', 'c']).unwrap_or(w);
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(w)
}

/// The text without its order numbers: what the shopper asks, whatever the number (the intent classifier's
/// training phrasing has none: "where is my order?").
pub fn without_order_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if as_order_number(word).is_none() {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '#' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the order tool found, as facts for the template.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderAnswer {
    /// The shopper is not signed in: orders are only shown to their owner.
    SignIn,
    /// The order is not on this customer's account (it may not exist, or belong to someone else: never said).
    NotYours {
        number: String,
    },
    One {
        order: OrderFacts,
    },
    History {
        orders: Vec<OrderFacts>,
    },
    NoOrders,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct OrderFacts {
    pub number: String,
    pub date: String,
    pub lines: usize,
    pub items: i64,
    pub total: String,
    /// The latest status the shop reported (none: the shop reports no fulfilment for it).
    pub status: Option<StatusFacts>,
    /// The shopper's open requests on it (`cancel`, `return`).
    pub open_requests: Vec<String>,
}

/// The latest status as a reply says it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct StatusFacts {
    /// placed, paid, packed, shipped, delivered, cancelled, return_started, return_received, refunded.
    pub status: crate::store::OrderStatus,
    pub date: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

fn short_date(t: &str) -> String {
    t.replace('T', " ").chars().take(16).collect()
}

pub fn facts(o: &Order) -> OrderFacts {
    let total: f64 = o.lines.iter().map(|l| l.price.unwrap_or(0.0) * l.quantity as f64).sum();
    // the tracking of the latest shipment stays known after later changes (delivered, a return started)
    let shipped = o.status.iter().rev().find(|s| s.tracking_number.is_some() || s.tracking_url.is_some());
    OrderFacts {
        number: o.id.clone(),
        date: short_date(&o.timestamp),
        lines: o.lines.len(),
        items: o.lines.iter().map(|l| l.quantity).sum(),
        total: crate::catalog::format_price(total),
        status: o.status.last().map(|s| StatusFacts {
            status: s.status,
            date: short_date(&s.at),
            carrier: s.carrier.clone().or_else(|| shipped.and_then(|x| x.carrier.clone())),
            tracking_number: s.tracking_number.clone().or_else(|| shipped.and_then(|x| x.tracking_number.clone())),
            tracking_url: s.tracking_url.clone().or_else(|| shipped.and_then(|x| x.tracking_url.clone())),
        }),
        open_requests: o.requests.iter().filter(|r| r.state == "open").map(|r| r.kind.clone()).collect(),
    }
}

/// The order a message is about for this customer: an order number in the demo shop's form, else any word of
/// the message that is one of this customer's order ids (a shop's own numbering: `SO-1001`, `#1001`).
pub fn order_in(store: &Store, customer: &str, text: &str) -> Option<String> {
    if let Some(n) = order_number(text) {
        return Some(n);
    }
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '#'))
        .map(|w| w.trim_start_matches('#').trim_end_matches(['-', '_']))
        .filter(|w| w.len() >= 3 && w.len() <= 64 && w.chars().any(|c| c.is_ascii_digit()))
        .find(|w| store.order(w).ok().flatten().is_some_and(|o| o.customer == customer))
        .map(str::to_string)
}

/// Intents that ask staff to do something with an order, and the request each records.
pub const REQUEST_INTENTS: &[(&str, &str)] = &[("cancel_order", "cancel"), ("get_refund", "return")];

/// A cancellation or return request recorded for staff on the signed-in customer's order (the one named, else
/// their latest): what the reply says about it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestAnswer {
    /// Not signed in: nothing recorded.
    SignIn,
    /// No order of theirs to record it on.
    NoOrder {
        number: Option<String>,
    },
    Recorded {
        request: String,
        order: Box<OrderFacts>,
    },
}

pub fn record_request(store: &Store, customer: Option<&str>, kind: &str, text: &str) -> RequestAnswer {
    let Some(customer) = customer else { return RequestAnswer::SignIn };
    let named = order_in(store, customer, text);
    let number = named.clone().or_else(|| last_order(store, customer).ok().flatten().map(|(o, _)| o.number));
    let Some(n) = number else { return RequestAnswer::NoOrder { number: None } };
    match crate::orders::request(store, customer, &n, kind, text) {
        Ok(Some(o)) => RequestAnswer::Recorded { request: kind.to_string(), order: Box::new(facts(&o)) },
        Ok(None) => RequestAnswer::NoOrder { number: named },
        Err(e) => {
            tracing::error!(error = %e, "an order request could not be recorded");
            RequestAnswer::NoOrder { number: named }
        }
    }
}

/// Looks up an order (or the recent history) for the signed-in customer only.
pub fn order_status(store: &Store, customer: Option<&str>, number: Option<&str>) -> Result<OrderAnswer, StoreError> {
    let Some(customer) = customer else { return Ok(OrderAnswer::SignIn) };
    if let Some(n) = number {
        return Ok(match store.order(n)? {
            Some(o) if o.customer == customer => OrderAnswer::One { order: facts(&o) },
            _ => OrderAnswer::NotYours { number: n.to_string() },
        });
    }
    // the customer's orders from their purchase events (newest first)
    let mut ids: Vec<(String, String)> =
        store.user_events(customer)?.into_iter().filter_map(|e| e.order.map(|o| (e.timestamp, o))).collect();
    ids.sort();
    ids.dedup_by(|a, b| a.1 == b.1);
    let mut orders = vec![];
    for (_, id) in ids.iter().rev().take(3) {
        if let Some(o) = store.order(id)? {
            orders.push(facts(&o));
        }
    }
    Ok(if orders.is_empty() { OrderAnswer::NoOrders } else { OrderAnswer::History { orders } })
}

/// The signed-in customer's latest order with its lines (None when they have none).
pub fn last_order(
    store: &Store,
    customer: &str,
) -> Result<Option<(OrderFacts, Vec<crate::store::OrderLine>)>, StoreError> {
    let latest = store.user_events(customer)?.into_iter().filter_map(|e| e.order.map(|o| (e.timestamp, o))).max();
    let Some((_, id)) = latest else { return Ok(None) };
    Ok(store.order(&id)?.filter(|o| o.customer == customer).map(|o| (facts(&o), o.lines)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_found_in_plain_words() {
        assert_eq!(order_number("where is order 536365?").as_deref(), Some("536365"));
        assert_eq!(order_number("invoice #C536379 please").as_deref(), Some("C536379"));
        assert_eq!(order_number("I bought 12 mugs"), None);
        assert_eq!(order_number("call 01234567890"), None);
        assert_eq!(without_order_numbers("where is my order 536365?"), "where is my order ?");
        assert_eq!(without_order_numbers("invoice #C536379 please, 12 mugs"), "invoice please, 12 mugs");
        assert_eq!(without_order_numbers("call 01234567890"), "call 01234567890");
    }

    #[test]
    fn policy_sections_know_their_intents() {
        let p = parse("# Returns\n\n## Returns\nintents: get_refund, check_refund_policy\nWithin 30 days.\nUnused items.\n\n## Cancel\nintents: cancel_order\nFree until dispatch.\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].intents, vec!["get_refund", "check_refund_policy"]);
        assert_eq!(p[0].text, "Within 30 days. Unused items.");
        assert_eq!(p[1].document, "Returns");
    }
}
