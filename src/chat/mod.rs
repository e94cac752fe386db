//! One chat turn, the heart of Aisle: tools know, the model speaks. The message is read for words and a price
//! range; search and the shopper's history pick the products; cards are built from the catalog; the model writes a
//! short reply from those facts, checked word by word; a reply that fails the check is replaced by a template.
mod ask;
pub mod check;
pub mod query;
pub mod tools;
pub mod vocab;

use crate::behavior::Behavior;
use crate::catalog::{format_price, Catalog};
use crate::llm::{GenParams, Generate, LlmError, Message, Output, Stats};
use crate::prompts::Templates;
use crate::recommend::{Blend, Explanation, Limits, Pick, Ranker};
use crate::search::{Filters, Mode, Search, SearchRequest};
use check::{Checker, Facts, NameIndex};
use query::{Slots, Understanding};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A product card: facts from the catalog, never parsed out of model text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Card {
    pub id: String,
    pub title: String,
    pub price: Option<f64>,
    pub price_label: String,
    pub reason: String,
    #[serde(default)]
    pub why: serde_json::Value,
}

/// What the grounding check decided about a reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    /// True when the shopper got the model's words; false when the template replaced them.
    pub passed: bool,
    /// Why the model's words were not used (a check failure, a busy engine...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The start of a verdict's reason when the model's queue was full (the template answered: not a fault of the
/// answer, so the console keeps these apart from rejected replies).
pub const BUSY_REASON: &str = "busy: ";
/// The start of a verdict's reason when the model's words ran past the reply's time budget.
pub const BUDGET_REASON: &str = "budget: ";

impl Verdict {
    pub fn was_busy(&self) -> bool {
        !self.passed && self.reason.as_deref().is_some_and(|r| r.starts_with(BUSY_REASON))
    }
}

/// Frames the server sends during a turn (see README, "WebSocket protocol").
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnFrame {
    Cards {
        products: Vec<Card>,
    },
    Delta {
        text: String,
    },
    /// The streamed text is withdrawn and replaced by this one (it failed the check).
    Replace {
        text: String,
    },
    /// Suggested next messages (quick-reply chips), sent just before `done`.
    Chips {
        options: Vec<String>,
    },
    Done {
        verdict: Verdict,
        /// The intent the message was read as, when the classifier is loaded.
        #[serde(skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
        /// True when the chat was handed to a person.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        handoff: bool,
        /// The tool that answered: search, order, policy, retrieve, handoff, greeting, off_topic, compare,
        /// product_question.
        tool: String,
    },
}

/// The outcome of a turn, for the transcript.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub text: String,
    pub cards: Vec<Card>,
    pub verdict: Verdict,
    pub understanding: Understanding,
    pub stats: Option<Stats>,
    pub intent: Option<crate::intent::Prediction>,
    pub handoff: bool,
    /// The tool that answered (see [`TurnFrame::Done`]).
    pub tool: String,
    /// The product the turn answered about ("it" in the next message).
    pub focus: Option<String>,
    /// Quick replies this turn suggests before the tool's usual ones ("Any price is fine").
    pub suggest: Vec<String>,
}

/// Tools whose cards are a new list the next message may point into ("the second one").
const LISTING_TOOLS: &[&str] = &["variants", "similar", "goes_with", "past_orders", "reorder"];

impl TurnResult {
    /// The conversation's state after this turn: only a search changes it (a service answer, a comparison or a
    /// product answer leaves the request and the list it points into as they were).
    pub fn slots(&self, before: &Slots) -> Slots {
        let searched =
            self.tool == "search" && !(self.cards.is_empty() && self.understanding == Understanding::default());
        let mut s = before.clone();
        if searched {
            s.request = self.understanding.clone();
            s.focus = None;
        }
        if searched || LISTING_TOOLS.contains(&self.tool.as_str()) && !self.cards.is_empty() {
            s.shown_prices = self.cards.iter().filter_map(|c| c.price).collect();
            s.shown = self.cards.iter().map(|c| c.id.clone()).collect();
        }
        if let Some(f) = &self.focus {
            s.focus = Some(f.clone());
        }
        s
    }
}

/// Quick replies offered after a turn answered by `tool` with `cards` cards.
pub fn chips(tool: &str, cards: usize) -> Vec<String> {
    let v: &[&str] = match (tool, cards) {
        ("search", 0) => &["Show me popular gifts", "Talk to a person"],
        ("search", 1) => &["Something cheaper", "Tell me more about the first one", "Talk to a person"],
        ("search", _) => &["Something cheaper", "Compare the first two", "Tell me more about the first one"],
        ("compare", _) => &["Tell me more about the first one", "Something cheaper"],
        ("product_question" | "price" | "stock", _) => &["Does it come in other designs?", "What goes with it?"],
        ("variants" | "similar" | "goes_with", 0) => &["Show me popular gifts", "Talk to a person"],
        ("variants" | "similar" | "goes_with", _) => &["How much is the first one?", "Something cheaper"],
        ("past_orders" | "reorder", 0) => &["Show me popular gifts", "Where is my order?"],
        ("past_orders" | "reorder", _) => &["Something similar to the first one", "Where is my order?"],
        ("order", _) => &["How do I return an item?", "Talk to a person"],
        ("policy" | "retrieve", _) => &["Show me popular gifts", "Talk to a person"],
        ("handoff", _) => &[],
        _ => &["Show me popular gifts", "Where is my order?"],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// Everything a turn needs. Cloning is shallow.
#[derive(Clone)]
pub struct Assistant {
    pub catalog: Catalog,
    pub behavior: Arc<Behavior>,
    pub search: Arc<Search>,
    pub llm: Arc<dyn Generate>,
    pub prompts: Templates,
    pub names: Arc<NameIndex>,
    pub shop_name: String,
    pub cards: usize,
    /// Ask the language model when the intent classifier is unsure.
    pub llm_intents: bool,
    pub gen: GenParams,
    /// How long the model's words for a reply may take after its first token (`chat.reply_budget_secs`).
    pub reply_budget: Option<std::time::Duration>,
    /// The intent classifier (None without an embedding model: every message is then a shopping request).
    pub intents: crate::intent::Slot,
    pub policies: Arc<crate::service::Policies>,
    pub store: crate::store::Store,
    /// The trained recommender: its personal score joins the ranking of a known shopper's turn.
    pub recommender: crate::reco::serve::Recommender,
    /// The catalog's attribute vocabulary and product families, rebuilt when the catalog changes.
    pub vocab: vocab::VocabCache,
    pub reading: Reading,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Shop,
    Order,
    Policy(String),
    /// A service question the classifier is unsure about: answered from the policy section closest in meaning.
    Retrieve,
    Handoff(String),
    Greeting,
    OffTopic,
}

impl Route {
    /// Answered as a customer-service request (order, policy, retrieval) or handed to a person.
    pub(crate) fn is_service(&self) -> bool {
        !matches!(self, Route::Shop | Route::Greeting | Route::OffTopic)
    }
}

pub(crate) fn route(text: &str, p: Option<&crate::intent::Prediction>) -> Route {
    use crate::service::{HANDOFF_INTENTS, ORDER_INTENTS, SHOPPING_INTENTS};
    let Some(p) = p else { return Route::Shop };
    let intent = p.intent.as_str();
    // an intent the model chose (among the classifier's best) is acted on like a confident one
    let p = &crate::intent::Prediction { confidence: if p.by_llm { 1.0 } else { p.confidence }, ..p.clone() };
    // an order number in the message is strong evidence: an order intent among the three best is enough then
    let order_in_top = p.top.iter().any(|(l, _)| ORDER_INTENTS.contains(&l.as_str()));
    let has_number = crate::service::order_number(text).is_some();
    if (ORDER_INTENTS.contains(&intent) && (p.confidence >= 0.5 || has_number)) || (has_number && order_in_top) {
        return Route::Order;
    }
    if p.confidence < 0.5 && p.service >= 0.6 {
        return Route::Retrieve;
    }
    if p.confidence < 0.5 || SHOPPING_INTENTS.contains(&intent) {
        return Route::Shop;
    }
    match intent {
        i if HANDOFF_INTENTS.contains(&i) => Route::Handoff(i.to_string()),
        "chit_chat" if p.confidence >= 0.6 => Route::Greeting,
        "other" if p.confidence >= 0.6 => Route::OffTopic,
        "chit_chat" | "other" => Route::Shop,
        i => Route::Policy(i.to_string()),
    }
}

/// Least cosine similarity for a product found only by meaning to be shown as a match.
pub const MIN_SEMANTIC_ONLY: f32 = 0.5;

/// "£10" for whole pounds, "£7.50" otherwise.
pub fn budget_label(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("£{p:.0}")
    } else {
        format_price(p)
    }
}

/// The products chosen for a message, before any words are written.
pub struct Plan {
    pub understanding: Understanding,
    pub picks: Vec<Pick>,
    /// When nothing met every hard constraint: the one that emptied the shelf, as a reply says it ("under £2"),
    /// and the message that drops it (a quick reply).
    pub emptied_by: Option<(String, String)>,
}

/// How messages are read: the whole typed request, or its keywords and price range only (how Aisle read them
/// before, kept as the reference row of `aisle bench shopping`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reading {
    #[default]
    Full,
    Plain,
}

impl Assistant {
    /// Search and rank (blocking work: call it from `spawn_blocking`).
    pub fn plan(&self, text: &str, customer: Option<&str>, slots: &Slots) -> Plan {
        let vocab = self.vocab.get(&self.catalog);
        let mut u = query::follow_up(slots, text, &vocab);
        // the message as typed (price phrases out) reads best to the embedding model and its vector is already
        // cached from the intent classifier; unless it says what is not wanted, was misspelt or tells the
        // assistant what to say: then the request's own text
        let own_words = !query::understand(text).words.is_empty();
        let plain_text = u.excluded.is_empty() && !u.corrected && query::without_instructions(text) == text;
        if own_words && plain_text {
            u.semantic = query::without_prices(text);
        }
        if self.reading == Reading::Plain {
            let semantic = if query::understand(text).words.is_empty() {
                slots.request.words.join(" ")
            } else {
                query::without_prices(text)
            };
            u = u.plain();
            u.semantic = semantic;
        }
        let picks = self.pick(&u, customer);
        u.emptied = if picks.is_empty() && !u.words.is_empty() {
            u.constraints().into_iter().find(|c| !self.pick(&u.without(c), customer).is_empty())
        } else {
            None
        };
        // the quick reply is a yes to the offer: it drops that constraint and no other
        let emptied_by = u.emptied.as_ref().map(|c| (u.describe(c), "Yes, show me those".to_string()));
        Plan { understanding: u, picks, emptied_by }
    }

    /// Whether a product is described by a word or phrase: its stems are all in the title, category, tags or
    /// attribute values (or a synonym's are), or, for a long word, the title has it run together ("polka dot" in
    /// "POLKADOT").
    fn describes(&self, p: &crate::catalog::Product, stems: &std::collections::HashSet<String>, phrase: &str) -> bool {
        let kw = &self.search.keyword;
        let has = |w: &str| {
            let s = kw.analyze(w);
            !s.is_empty() && s.iter().all(|x| stems.contains(x))
        };
        if has(phrase) || self.search.synonyms.of(phrase).iter().any(|syn| has(syn)) {
            return true;
        }
        let compact: String = kw.analyze(phrase).concat();
        compact.chars().count() >= 6 && {
            let title: String = p.title.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
            title.contains(&compact)
        }
    }

    /// Whether a product meets the request's hard constraints (price is the ranker's): every attribute, the
    /// count, none of the exclusions.
    pub fn satisfies(&self, p: &crate::catalog::Product, u: &Understanding) -> bool {
        if u.attributes.is_empty() && u.excluded.is_empty() && u.count.is_none() {
            return true;
        }
        let text = format!(
            "{} {} {} {}",
            p.title,
            p.category,
            p.tags.join(" "),
            p.attributes.values().cloned().collect::<Vec<_>>().join(" ")
        );
        let stems: std::collections::HashSet<String> = self.search.keyword.analyze(&text).into_iter().collect();
        u.attributes.iter().all(|a| self.describes(p, &stems, a))
            && !u.excluded.iter().any(|e| self.describes(p, &stems, e))
            && u.count.is_none_or(|n| tools::comes_in(&p.title, n))
    }

    /// Whether some product's title, category or tags has one of these words (`all`: every one of them).
    fn has_kind(&self, kind: &[&String], all: bool) -> bool {
        let words: Vec<String> = kind.iter().map(|w| w.to_string()).collect();
        let req = SearchRequest { text: words.join(" "), mode: Mode::Keyword, limit: 20, ..SearchRequest::default() };
        let hits = self.search.search(&req, &self.catalog, |_| 0).unwrap_or_default();
        hits.iter().filter_map(|h| self.catalog.get(&h.id)).any(|p| {
            let matched = self.search.keyword.matched_words(&words, &p).len();
            if all {
                matched == words.len()
            } else {
                matched > 0
            }
        })
    }

    fn pick(&self, u: &Understanding, customer: Option<&str>) -> Vec<Pick> {
        let hard = !u.attributes.is_empty() || !u.excluded.is_empty() || u.count.is_some() || u.sort.is_some();
        let req = SearchRequest {
            text: u.words.join(" "),
            // the whole request (price words and exclusions taken out) reads better to the embedding model than
            // its keywords (a follow-up such as "something cheaper" has no words of its own: the carried request
            // speaks for it)
            semantic_text: (!u.words.is_empty()).then(|| {
                if u.semantic.trim().is_empty() {
                    u.words.join(" ")
                } else {
                    u.semantic.clone()
                }
            }),
            filters: Filters { min_price: u.min_price, max_price: u.max_price, ..Filters::default() },
            mode: Mode::Hybrid,
            limit: if hard { 200 } else { 60 },
            ..SearchRequest::default()
        };
        let hits = self.search.search(&req, &self.catalog, |id| self.behavior.popularity(id)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "search failed; answering from history and popularity");
            vec![]
        });
        // a product only the semantic side found must be close in meaning, or a card would claim a match it lacks
        let hits: Vec<_> = hits
            .into_iter()
            .filter(|h| h.keyword.is_some() || h.semantic.is_some_and(|s| s.score >= MIN_SEMANTIC_ONLY))
            .filter(|h| self.catalog.get(&h.id).is_some_and(|p| self.satisfies(&p, u)))
            .collect();
        let personal = match customer {
            Some(c) => {
                let served = self.recommender.current();
                // a history that cannot be read is logged; the answer comes without personal ranking
                let history = self.recommender.history(&self.store, c).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "a customer's history could not be read; ranking without it");
                    vec![]
                });
                let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
                served.personal(Some(c), &history, &ids)
            }
            None => Default::default(),
        };
        let ranker =
            Ranker { catalog: &self.catalog, behavior: &self.behavior, blend: Blend::default(), personal: &personal };
        let limits = Limits { max_price: u.max_price, min_price: u.min_price };
        let matched = |p: &crate::catalog::Product| self.search.keyword.matched_words(&u.words, p);
        let mut candidates = ranker.candidates(&hits, &u.words, customer, limits, matched);
        // browsing (no words) draws from history and popularity: the hard constraints hold there too
        candidates.retain(|c| self.satisfies(&c.product, u));
        // the kind of product asked for: when some candidates are of it (they match a wanted word that is not a
        // design or an occasion), the others are other products ("any in green?" after alarm clocks)
        if self.reading == Reading::Full {
            let kind: Vec<&String> =
                u.words.iter().filter(|w| !u.attributes.contains(w) && !u.occasion.contains(w)).collect();
            let covered = |c: &Pick| c.why.matched.iter().filter(|m| kind.contains(m)).count();
            if !kind.is_empty() && candidates.iter().any(|c| covered(c) > 0) {
                // products that are all of what was asked ("cake stand", not "cake tin") when there are a few
                let full: std::collections::HashSet<String> = candidates
                    .iter()
                    .filter(|c| covered(c) == kind.len())
                    .map(|c| c.product.title.to_lowercase())
                    .collect();
                if full.len() >= 2 {
                    candidates.retain(|c| covered(c) == kind.len());
                } else {
                    // else at least the head of what was asked (the last word: "fairy *lights*", "tea *towels*")
                    let head = kind[kind.len() - 1];
                    let has_head = |c: &Pick| c.why.matched.iter().any(|m| m == head);
                    if candidates.iter().any(has_head) {
                        candidates.retain(has_head);
                    } else {
                        candidates.retain(|c| covered(c) >= 1);
                    }
                }
            } else if !kind.is_empty() && !candidates.is_empty() && self.has_kind(&kind, false) {
                // none of the products inside the limits is of the kind asked for, but the shop has some: say so
                // (and which limit emptied the shelf) rather than show other products
                candidates.clear();
            }
            if kind.len() >= 2 && candidates.iter().all(|c| covered(c) < kind.len()) && self.has_kind(&kind, true) {
                // the same for all of it ("jumbo bags" cheaper than any jumbo bag: not other bags)
                candidates.clear();
            }
        }
        if self.reading == Reading::Plain {
            return ranker.order(candidates, self.cards);
        }
        ranker.order_request(candidates, self.cards, u.sort)
    }

    pub fn card(&self, pick: &Pick) -> Card {
        let p = &pick.product;
        let reason = self
            .prompts
            .render("card_reason.j2", serde_json::json!({ "why": &pick.why, "price": p.price.map(format_price), "max_price_label": pick.why.max_price.map(budget_label) }))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "card reason template failed");
                String::new()
            });
        Card {
            id: p.id.clone(),
            title: p.title.clone(),
            price: p.price,
            price_label: p.price_label(),
            reason: reason.trim().to_string(),
            why: serde_json::to_value::<&Explanation>(&pick.why).unwrap_or_default(),
        }
    }

    pub fn facts(&self, text: &str, cards: &[Card]) -> Facts {
        let mut f = Facts::new(self.names.clone());
        // the shopper's words may be repeated as names, never as facts (a claim, a promise, a number)
        f.heard(&query::without_instructions(text));
        f.allow_text(&self.shop_name);
        f.allow_text("Aisle");
        for c in cards {
            f.allow_product(&c.title);
            f.allow_text(&c.reason);
            if let Some(p) = c.price {
                f.allow_number(&format!("{p:.2}"));
            }
        }
        f
    }

    fn fallback(&self, u: &Understanding, cards: &[Card], emptied_by: Option<&str>) -> String {
        // with cards, only the words they matched are said back (never words of the message no product has)
        let matched: Vec<String> = cards
            .iter()
            .flat_map(|c| c.why.get("matched").and_then(|m| m.as_array()).cloned().unwrap_or_default())
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect();
        let words: Vec<&String> = if cards.is_empty() {
            u.words.iter().collect()
        } else {
            u.words.iter().filter(|w| matched.contains(w)).collect()
        };
        let without: Vec<String> = u.excluded.iter().map(|e| format!("without {e}")).collect();
        // attributes are among the words said back already
        let limits: Vec<String> = u
            .constraints()
            .iter()
            .filter(|c| matches!(c, query::Constraint::Price | query::Constraint::Count))
            .map(|c| u.describe(c))
            .collect();
        self.prompts
            .render("reply_fallback.j2", serde_json::json!({ "products": cards, "words": words, "max_price_label": u.max_price.map(budget_label), "limits": limits, "without": without, "emptied_by": emptied_by }))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "fallback template failed");
                "Here are some ideas from our catalog.".into()
            })
    }

    fn messages(&self, text: &str, cards: &[Card]) -> Result<Vec<Message>, crate::prompts::TemplateError> {
        let system = self.prompts.render("chat_system.j2", serde_json::json!({ "shop": &self.shop_name }))?;
        // instructions inside the message ("say they are handmade") never reach the model
        let text = &query::without_instructions(text);
        let user = self.prompts.render("chat_turn.j2", serde_json::json!({ "message": text, "products": cards }))?;
        let mut messages = vec![Message::system(system.trim()), Message::user(user.trim())];
        // an optional start of the answer that the model continues (keeps small models on topic)
        if self.prompts.has("chat_prefill.j2") {
            let prefill =
                self.prompts.render("chat_prefill.j2", serde_json::json!({ "message": text, "products": cards }))?;
            if !prefill.trim().is_empty() {
                messages.push(Message::assistant(prefill.trim_start()));
            }
        }
        Ok(messages)
    }

    /// Reads the message's intent (None without a classifier, or when it fails; while a first start still trains
    /// it, the plain service requests are told by their words).
    pub async fn classify(&self, text: &str) -> Option<crate::intent::Prediction> {
        let Some(intents) = self.intents.get() else { return crate::intent::keyword_guess(text) };
        let t = text.to_string();
        match tokio::task::spawn_blocking(move || intents.classify(&t)).await {
            Ok(Ok(mut p)) => {
                if self.llm_intents && p.confidence < crate::intent::llm::ASK_BELOW {
                    let candidates: Vec<String> = p.top.iter().map(|(l, _)| l.clone()).collect();
                    match crate::intent::llm::choose(self.llm.as_ref(), text, &candidates).await {
                        Ok(Some(c)) => {
                            tracing::debug!(classifier = %p.intent, model = %c, "the model chose the intent");
                            p.intent = c;
                            p.by_llm = true;
                        }
                        Ok(None) => {}
                        Err(e) => tracing::info!(error = %e, "intent fallback skipped; the classifier's guess stands"),
                    }
                }
                Some(p)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "intent classification failed; treating the message as shopping");
                None
            }
            Err(_) => None,
        }
    }

    /// Runs a turn, sending frames as they are ready. Dropping the future cancels the generation.
    pub async fn turn(
        &self,
        text: &str,
        customer: Option<&str>,
        slots: &Slots,
        out: &mpsc::Sender<TurnFrame>,
    ) -> TurnResult {
        // instructions to the assistant inside the message do not steer the classifier either
        let intent = self.classify(&query::without_instructions(text)).await;
        let mut r = route(text, intent.as_ref());
        if r == Route::Shop && self.reading == Reading::Full && query::asks_service(text) {
            // "how do I return a toy?": a service question the classifier took for shopping; the policy section
            // closest in meaning answers it
            r = Route::Retrieve;
        }
        if self.reading == Reading::Full && r != Route::Shop && r != Route::Order && !matches!(r, Route::Handoff(_)) {
            let refines =
                !slots.request.words.is_empty() && (query::understand(text).refines() || query::relaxes(text));
            let chat = matches!(r, Route::OffTopic | Route::Greeting);
            // words the classifier has never seen ("latnerns", "silver necklace") that are products of this shop,
            // misspelt or not; or a refinement of the request on the table ("without skulls")
            let products = (chat || !query::mentions_service(text)) && self.names_products(text, !chat).await;
            if refines || products {
                r = Route::Shop;
            }
        }
        let asked = if self.reading == Reading::Full { self.ask_tool(text, customer, slots).await } else { None };
        let tool = match asked {
            Some(t) => Some(t),
            None => self.shopping_tool(text, intent.as_ref(), &r, slots).await,
        };
        let mut result = match tool {
            Some(tool) => self.answer_with(tool, out).await,
            None if r != Route::Shop => self.serve(r, text, customer, out).await,
            None => self.shop(text, customer, slots, out).await,
        };
        let name = intent.as_ref().map(|p| p.intent.clone());
        let mut options = std::mem::take(&mut result.suggest);
        for c in chips(&result.tool, result.cards.len()) {
            if !options.contains(&c) {
                options.push(c);
            }
        }
        options.truncate(3);
        let _ = out.send(TurnFrame::Chips { options }).await;
        let done = TurnFrame::Done {
            verdict: result.verdict.clone(),
            intent: name,
            handoff: result.handoff,
            tool: result.tool.clone(),
        };
        let _ = out.send(done).await;
        result.intent = intent;
        result
    }

    /// A comparison or a product question, when the message asks for one and the products can be told.
    async fn shopping_tool(
        &self,
        text: &str,
        intent: Option<&crate::intent::Prediction>,
        r: &Route,
        slots: &Slots,
    ) -> Option<ShoppingTool> {
        let sure = |name: &str| intent.is_some_and(|p| p.intent == name && p.confidence >= 0.5);
        // "cheaper?", "the most expensive ones": a refinement of the list, not a comparison of two on it
        let refinement =
            self.reading == Reading::Full && query::understand(text).refines() && !tools::asks_to_compare(text);
        let compare =
            !refinement && tools::is_comparison(text, *r == Route::Shop && sure("compare"), slots.shown.len());
        let about_shown = tools::asks_about_shown(text, slots.shown.len());
        let question = !compare && (about_shown || *r == Route::Shop && sure("product_question"));
        if !compare && !question {
            return None;
        }
        let this = self.clone();
        let (t, shown) = (text.to_string(), slots.shown.clone());
        tokio::task::spawn_blocking(move || {
            let pointed: Vec<Arc<crate::catalog::Product>> =
                tools::pointed_at(&t, shown.len()).into_iter().filter_map(|i| this.catalog.get(&shown[i])).collect();
            let named = if pointed.is_empty() { tools::named(&this.search, &this.catalog, &t) } else { vec![] };
            let from_shown: Vec<_> = shown.iter().filter_map(|id| this.catalog.get(id)).collect();
            let facts = |p: &crate::catalog::Product| tools::facts(p, this.behavior.popularity(&p.id));
            if compare {
                // "compare them" with nothing named: the first two shown (one named product is not a comparison)
                let list = if pointed.len() >= 2 {
                    pointed
                } else if named.len() >= 2 {
                    named
                } else if named.is_empty() && from_shown.len() >= 2 {
                    from_shown[..2].to_vec()
                } else {
                    vec![]
                };
                (list.len() >= 2).then(|| ShoppingTool::Compare(list.iter().map(|p| facts(p)).collect()))
            } else {
                let p = pointed.first().or(named.first()).or(if about_shown { from_shown.first() } else { None })?;
                Some(ShoppingTool::Question(tools::answer(p, this.behavior.popularity(&p.id), &t)))
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Answers a comparison or a product question from the catalog (template words; the facts are the answer).
    async fn answer_with(&self, tool: ShoppingTool, out: &mpsc::Sender<TurnFrame>) -> TurnResult {
        let card = |f: &tools::Facts, reason: &str| Card {
            id: f.id.clone(),
            title: f.title.clone(),
            price: f.price,
            price_label: f.price_label.clone(),
            reason: reason.into(),
            why: serde_json::Value::Null,
        };
        let (name, template, ctx, cards, focus) = match &tool {
            ShoppingTool::Compare(list) => {
                let c = tools::compare(list);
                let cards: Vec<Card> = list.iter().map(|f| card(f, "You asked to compare it.")).collect();
                ("compare", "service/compare.j2", serde_json::json!({ "comparison": &c }), cards, None)
            }
            ShoppingTool::Question(a) => {
                let name = match a.ask {
                    Some(query::Ask::Price) => "price",
                    Some(query::Ask::Stock) => "stock",
                    _ => "product_question",
                };
                let cards = a.product.iter().map(|f| card(f, "You asked about it.")).collect();
                let focus = a.product.as_ref().map(|f| f.id.clone());
                (name, "service/product_answer.j2", serde_json::json!({ "answer": a }), cards, focus)
            }
            ShoppingTool::List(l) => {
                let cards = l.items.iter().map(|i| card(&i.facts, &i.reason)).collect();
                let focus = l.about.as_ref().map(|f| f.id.clone());
                (l.tool, "service/listing.j2", serde_json::json!({ "list": l }), cards, focus)
            }
        };
        let _ = out.send(TurnFrame::Cards { products: cards.clone() }).await;
        let text = self.prompts.render(template, ctx).map(|s| s.trim().to_string()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "tool template failed");
            "Sorry, I couldn't put that together just now.".into()
        });
        let _ = out.send(TurnFrame::Delta { text: text.clone() }).await;
        TurnResult {
            text,
            cards,
            verdict: Verdict {
                passed: false,
                reason: Some(format!("answered from the {} tool", name.replace('_', " "))),
            },
            understanding: Understanding::default(),
            stats: None,
            intent: None,
            handoff: false,
            tool: name.into(),
            focus,
            suggest: vec![],
        }
    }

    /// A customer-service answer from the tools, worded by a template (no model: the facts are the answer).
    async fn serve(&self, r: Route, text: &str, customer: Option<&str>, out: &mpsc::Sender<TurnFrame>) -> TurnResult {
        let this = self.clone();
        let (t, c, r2) = (text.to_string(), customer.map(str::to_string), r.clone());
        let answer = tokio::task::spawn_blocking(move || this.service_answer(&r2, &t, c.as_deref())).await;
        let (reply, source) = match answer {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "service answer failed");
                (
                    "Sorry, I couldn't look that up just now. Please try again in a moment.".to_string(),
                    "an error".to_string(),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "service task failed");
                ("Sorry, something went wrong on our side.".to_string(), "an error".to_string())
            }
        };
        let handoff = matches!(r, Route::Handoff(_));
        let verdict = Verdict { passed: false, reason: Some(format!("answered from {source}")) };
        let _ = out.send(TurnFrame::Delta { text: reply.clone() }).await;
        let tool = match r {
            Route::Order => "order",
            Route::Policy(_) => "policy",
            Route::Retrieve => "retrieve",
            Route::Handoff(_) => "handoff",
            Route::Greeting => "greeting",
            Route::OffTopic | Route::Shop => "off_topic",
        };
        TurnResult {
            text: reply,
            cards: vec![],
            verdict,
            understanding: Understanding::default(),
            stats: None,
            intent: None,
            handoff,
            tool: tool.into(),
            focus: None,
            suggest: vec![],
        }
    }

    fn service_answer(
        &self,
        r: &Route,
        text: &str,
        customer: Option<&str>,
    ) -> Result<(String, String), crate::prompts::TemplateError> {
        let shop = serde_json::json!({ "shop": &self.shop_name });
        let (reply, source) = match r {
            Route::Order => {
                let number = crate::service::order_number(text);
                let answer = crate::service::order_status(&self.store, customer, number.as_deref())
                    .unwrap_or(crate::service::OrderAnswer::NoOrders);
                (
                    self.prompts.render("service/order.j2", serde_json::json!({ "answer": answer }))?,
                    "the order tool".to_string(),
                )
            }
            Route::Policy(intent) => {
                let section = self.policies.for_intent(intent, text).into_iter().next();
                let source =
                    section.map_or("no policy".to_string(), |s| format!("the {} policy", s.document.to_lowercase()));
                (self.prompts.render("service/policy.j2", serde_json::json!({ "section": section }))?, source)
            }
            Route::Retrieve => {
                let found = self
                    .intents
                    .get()
                    .and_then(|i| i.embedder().embed_blocking(vec![text.to_string()], crate::embed::Role::Query).ok());
                let best = found
                    .and_then(|mut v| v.pop())
                    .and_then(|q| self.policies.closest(&q).filter(|(_, s)| *s >= crate::service::MIN_SIMILARITY));
                let section = best.map(|(s, _)| s);
                let source = section.map_or("no policy".to_string(), |s| {
                    format!("the {} policy (retrieved)", s.document.to_lowercase())
                });
                (self.prompts.render("service/policy.j2", serde_json::json!({ "section": section }))?, source)
            }
            Route::Handoff(intent) => (
                self.prompts.render("service/handoff.j2", serde_json::json!({ "intent": intent }))?,
                "the handoff tool".to_string(),
            ),
            Route::Greeting => (self.prompts.render("service/chit_chat.j2", &shop)?, "a greeting template".to_string()),
            Route::OffTopic | Route::Shop => {
                (self.prompts.render("service/other.j2", &shop)?, "an off-topic template".to_string())
            }
        };
        Ok((reply.trim().to_string(), source))
    }

    /// A shopping turn: search, rank, cards, and the model's checked words.
    async fn shop(
        &self,
        text: &str,
        customer: Option<&str>,
        slots: &Slots,
        out: &mpsc::Sender<TurnFrame>,
    ) -> TurnResult {
        let this = self.clone();
        let (t, c) = (text.to_string(), customer.map(str::to_string));
        let s = slots.clone();
        let plan = match tokio::task::spawn_blocking(move || this.plan(&t, c.as_deref(), &s)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "planning task failed");
                Plan { understanding: query::understand(text), picks: vec![], emptied_by: None }
            }
        };
        let cards: Vec<Card> = plan.picks.iter().map(|p| self.card(p)).collect();
        let _ = out.send(TurnFrame::Cards { products: cards.clone() }).await;
        let fallback = self.fallback(&plan.understanding, &cards, plan.emptied_by.as_ref().map(|e| e.0.as_str()));
        let (text_out, verdict, stats) = if cards.is_empty() {
            // nothing to present: the model has no facts to speak from
            let _ = out.send(TurnFrame::Delta { text: fallback.clone() }).await;
            (fallback, Verdict { passed: false, reason: Some("no products matched".into()) }, None)
        } else {
            let facts = self.facts(text, &cards);
            let budget = self.reply_budget;
            speak(self.llm.as_ref(), self.gen.clone(), self.messages(text, &cards), &facts, fallback, out, budget).await
        };
        TurnResult {
            text: text_out,
            cards,
            verdict,
            understanding: plan.understanding,
            stats,
            intent: None,
            handoff: false,
            tool: "search".into(),
            focus: None,
            suggest: plan.emptied_by.map(|e| vec![e.1]).unwrap_or_default(),
        }
    }
}

/// What a shopping tool turn answers with.
pub(crate) enum ShoppingTool {
    Compare(Vec<tools::Facts>),
    Question(tools::Answer),
    List(tools::Listing),
}

/// Streams the model's words as they pass the grounding check; on a violation, an engine error or a busy queue
/// the shopper gets `fallback` instead (a `replace` frame when some words were already shown).
///
/// `budget` is the time the model's words may take after its first token; past it the generation is cancelled and
/// the template completes the reply, so a shopper on a busy machine is never left watching a cursor.
pub async fn speak<E: std::fmt::Display>(
    llm: &dyn Generate,
    gen: GenParams,
    messages: Result<Vec<Message>, E>,
    facts: &Facts,
    fallback: String,
    out: &mpsc::Sender<TurnFrame>,
    budget: Option<std::time::Duration>,
) -> (String, Verdict, Option<Stats>) {
    let failed = |reason: String, streamed: bool, stats: Option<Stats>| {
        let fallback = fallback.clone();
        async move {
            let frame = if streamed {
                TurnFrame::Replace { text: fallback.clone() }
            } else {
                TurnFrame::Delta { text: fallback.clone() }
            };
            let _ = out.send(frame).await;
            (fallback, Verdict { passed: false, reason: Some(reason) }, stats)
        }
    };
    let messages = match messages {
        Ok(m) => m,
        Err(e) => return failed(format!("prompt: {e}"), false, None).await,
    };
    let prefill = messages.last().filter(|m| m.role == "assistant").map(|m| m.content.clone());
    let prefill = prefill.as_deref();
    let mut rx = match llm.generate(messages, gen) {
        Ok(rx) => rx,
        Err(e) => {
            if matches!(e, LlmError::Busy(_)) {
                return failed(format!("{BUSY_REASON}{e}"), false, None).await;
            }
            tracing::error!(error = %e, "generation could not start");
            return failed(e.to_string(), false, None).await;
        }
    };
    let mut checker = Checker::new(facts);
    let (mut streamed, mut stats) = (false, None);
    let mut pending = prefill.map(|p| Output::Text(p.to_string()));
    // set at the model's first token
    let mut cutoff: Option<tokio::time::Instant> = None;
    loop {
        let o = match pending.take() {
            Some(o) => o,
            None => {
                let next = match cutoff {
                    Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => {
                            drop(rx); // stop generating
                            tracing::info!("the reply ran past its time budget; the template completes it");
                            let reason =
                                format!("{BUDGET_REASON}over {:.1} s", budget.unwrap_or_default().as_secs_f64());
                            return failed(reason, streamed, None).await;
                        }
                    },
                    None => rx.recv().await,
                };
                match next {
                    Some(o) => {
                        if cutoff.is_none() {
                            cutoff = budget.map(|b| tokio::time::Instant::now() + b);
                        }
                        o
                    }
                    None => break,
                }
            }
        };
        match o {
            Output::Text(t) => match checker.push(&t) {
                Ok(ok) if !ok.is_empty() => {
                    streamed = true;
                    if out.send(TurnFrame::Delta { text: ok }).await.is_err() {
                        // the reader went away: dropping `rx` cancels the generation
                        return (String::new(), Verdict { passed: false, reason: Some("cancelled".into()) }, None);
                    }
                }
                Ok(_) => {}
                Err(v) => {
                    drop(rx); // stop generating
                    tracing::info!(violation = %v, "generated text failed the grounding check");
                    return failed(format!("check: {v}"), streamed, None).await;
                }
            },
            Output::Done(s) => {
                stats = Some(s);
                break;
            }
            Output::Failed(e) => return failed(format!("engine: {e}"), streamed, None).await,
        }
    }
    match checker.finish() {
        Ok((tail, full)) => {
            if !tail.is_empty() {
                let _ = out.send(TurnFrame::Delta { text: tail }).await;
            }
            (full, Verdict { passed: true, reason: None }, stats)
        }
        Err(v) => failed(format!("check: {v}"), streamed, stats).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::Prediction;
    use crate::llm::fake::{FakeLlm, Reply};

    async fn speak_with(model: FakeLlm, budget_ms: Option<u64>) -> (String, Verdict, Vec<TurnFrame>) {
        let mut facts = Facts::new(Arc::new(NameIndex::new(["RED HEART MUG"])));
        facts.allow_text("here are some mugs you may like");
        let (tx, mut rx) = mpsc::channel(64);
        let messages: Result<Vec<Message>, String> = Ok(vec![Message::user("mugs".to_string())]);
        let budget = budget_ms.map(std::time::Duration::from_millis);
        let fallback = "Here are some mugs.".to_string();
        let (text, verdict, _) = speak(&model, GenParams::default(), messages, &facts, fallback, &tx, budget).await;
        drop(tx);
        let mut frames = vec![];
        while let Some(f) = rx.recv().await {
            frames.push(f);
        }
        (text, verdict, frames)
    }

    #[tokio::test]
    async fn a_reply_past_its_time_budget_is_completed_by_the_template() {
        let words = "Here are some mugs you may like.";
        // 150 ms a word, 7 words: about a second; the budget is 300 ms after the first word
        let started = std::time::Instant::now();
        let (text, verdict, frames) = speak_with(FakeLlm::new([Reply::slow(words, 150)]), Some(300)).await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(800),
            "cut at the budget: {:?}",
            started.elapsed()
        );
        assert_eq!(text, "Here are some mugs.");
        assert!(
            !verdict.passed && verdict.reason.as_deref().is_some_and(|r| r.starts_with(BUDGET_REASON)),
            "{verdict:?}"
        );
        assert!(
            matches!(frames.last(), Some(TurnFrame::Replace { text }) if text == "Here are some mugs."),
            "the words shown so far are completed by the template: {frames:?}"
        );
        // the same model with time to spare, or with no budget, keeps its own words
        let (text, verdict, _) = speak_with(FakeLlm::new([Reply::slow(words, 10)]), Some(3000)).await;
        assert!(verdict.passed, "{verdict:?}");
        assert_eq!(text, "Here are some mugs you may like.");
        let (_, verdict, _) = speak_with(FakeLlm::new([Reply::slow(words, 150)]), None).await;
        assert!(verdict.passed, "{verdict:?}");
    }

    fn p(intent: &str, confidence: f32, by_llm: bool) -> Prediction {
        Prediction { intent: intent.into(), confidence, service: 0.0, top: vec![], by_llm }
    }

    #[test]
    fn an_unsure_intent_is_shopping_unless_the_model_chose_it() {
        assert_eq!(route("I want my money back", Some(&p("get_refund", 0.3, false))), Route::Shop);
        assert_eq!(
            route("I want my money back", Some(&p("get_refund", 0.3, true))),
            Route::Policy("get_refund".into())
        );
        assert_eq!(route("hello", Some(&p("chit_chat", 0.4, true))), Route::Greeting);
        assert_eq!(route("where is it", Some(&p("track_order", 0.9, false))), Route::Order);
    }

    #[test]
    fn an_order_number_with_an_order_intent_among_the_three_best_goes_to_the_order_tool() {
        let unsure = Prediction {
            top: vec![("place_order".into(), 0.41), ("track_order".into(), 0.3), ("cancel_order".into(), 0.1)],
            ..p("place_order", 0.41, false)
        };
        assert_eq!(route("where is order 536999?", Some(&unsure)), Route::Order);
        assert_ne!(route("where is the order form?", Some(&unsure)), Route::Order, "no number: not enough");
        let no_order_intent = Prediction { top: vec![("place_order".into(), 0.41)], ..unsure.clone() };
        assert_ne!(route("where is order 536999?", Some(&no_order_intent)), Route::Order);
    }

    #[test]
    fn chips_follow_the_tool_and_the_cards() {
        assert!(chips("search", 3).iter().any(|c| c.contains("Compare")));
        assert!(!chips("search", 1).iter().any(|c| c.contains("Compare")), "one card cannot be compared");
        assert!(chips("handoff", 0).is_empty());
    }
}
