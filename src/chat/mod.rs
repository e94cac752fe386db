//! One chat turn, the heart of Aisle: tools know, the model speaks. The message is read for words and a price
//! range; search and the shopper's history pick the products; cards are built from the catalog; the model writes a
//! short reply from those facts, checked word by word; a reply that fails the check is replaced by a template.
mod ask;
pub mod check;
mod phrases;
mod pick;
pub mod query;
mod route;
mod service;
mod speak;
pub mod tools;
mod turn;
pub mod vocab;

use crate::behavior;
use crate::catalog::{format_price, Catalog};
use crate::llm::{GenParams, Generate, LlmError, Message, Output, Stats};
use crate::prompts::Templates;
use crate::recommend::{Blend, Explanation, Limits, Pick, Ranker};
use crate::search::{Filters, Mode, Search, SearchRequest};
use check::{Checker, Facts, NameIndex};
pub use phrases::{chip_key, PhraseBook, Phrases, PhrasesError};
use query::{Slots, Understanding};
pub(crate) use route::*;
use serde::{Deserialize, Serialize};
pub use speak::speak;
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
    /// Whether the shop has it (None: the shop does not keep stock for it). A card of a product out of stock is
    /// only ever the subject of a question ("is it in stock?"), never an offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    /// The product's main picture and its page on the shop's site, when the shop gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The product's variants the shop declared (its `family`), this one first, for a picker on the card: each
    /// with what tells it apart ("Silver", "Red / M"), its price and whether it is in stock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<CardOption>,
}

/// One variant on a card's picker.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CardOption {
    pub id: String,
    pub label: String,
    pub price: Option<f64>,
    pub price_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Whether a product may be offered: the shop has it, or keeps no stock count for it.
pub fn available(p: &crate::catalog::Product) -> bool {
    p.stock.is_none_or(|s| s > 0)
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
/// The start of a verdict's reason when the reply's language is one the model is not asked to write.
pub const TEMPLATE_REASON: &str = "template: ";
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

/// Everything a turn needs. Cloning is shallow.
#[derive(Clone)]
pub struct Assistant {
    pub catalog: Catalog,
    /// Purchase histories, popularity and co-purchase neighbours, following purchases as they arrive.
    pub behavior: Arc<behavior::Live>,
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
    /// The ranker's weights (the defaults, or a chat experiment's variant for this conversation).
    pub blend: Blend,
    /// Other chat models by name (`llm.alternatives`), for chat experiments' variants.
    pub models: Arc<std::collections::BTreeMap<String, Arc<dyn Generate>>>,
    /// The languages besides English the shop answers in (their readers and policy documents).
    pub langs: Arc<crate::lang::Languages>,
    /// Quick replies and code's sentences in every language; `phrases` is this assistant's language's.
    pub phrasebook: Arc<PhraseBook>,
    pub phrases: Arc<Phrases>,
    /// The languages the model writes well enough to be asked to; in the others the templates answer.
    pub model_languages: Arc<Vec<String>>,
    /// The shop's currency (ISO 4217).
    pub currency: String,
    /// The shop's standing rules: categories never offered, categories favoured (as `/api/recommend` obeys them).
    pub rules: Arc<crate::reco::rules::ShopRules>,
}

/// Least cosine similarity for a product found only by meaning to be shown as a match.
pub const MIN_SEMANTIC_ONLY: f32 = 0.5;

/// "£10" for a whole amount, "£7.50" otherwise (in the shop's currency).
pub fn budget_label(p: f64) -> String {
    crate::catalog::format_money(p, crate::catalog::shop_currency(), true)
}

/// The products chosen for a message, before any words are written.
pub struct Plan {
    pub understanding: Understanding,
    pub picks: Vec<Pick>,
    /// When nothing met every hard constraint: the one that emptied the shelf, as a reply says it ("under £2"),
    /// and the message that drops it (a quick reply).
    pub emptied_by: Option<(String, String)>,
    /// Products that met the request as well as the first picks but are out of stock: the reply says so.
    pub sold_out: Vec<Arc<crate::catalog::Product>>,
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
    /// Whether a product may be offered on a card: in stock (or not counted) and allowed by the shop's rules.
    pub fn offerable(&self, p: &crate::catalog::Product) -> bool {
        available(p) && self.rules.allows(p)
    }

    /// This assistant answering in another language: its templates, phrases and policies (English where the
    /// language has none of its own).
    pub fn in_lang(&self, code: &str) -> Assistant {
        let code = if self.langs.knows(code) { code } else { crate::lang::DEFAULT };
        let mut a = self.clone();
        a.prompts = self.prompts.localized(code);
        a.phrases = self.phrasebook.get(code);
        a
    }

    /// The language this assistant answers in.
    pub fn lang(&self) -> &str {
        self.prompts.lang()
    }

    /// Whether the model is asked for words in this assistant's language.
    pub fn model_speaks(&self) -> bool {
        self.model_languages.iter().any(|l| l == self.lang())
    }

    /// A message in this assistant's language read into the English request the tools understand (None in
    /// English, or for a language without a reader).
    pub fn pivot(&self, text: &str) -> Option<crate::lang::pivot::Pivot> {
        let lang = self.langs.get(self.lang())?;
        let vocab = self.vocab.get(&self.catalog);
        let p = lang.reader.read(text, vocab.as_ref(), &self.currency);
        tracing::debug!(lang = %lang.code, pivot = %p.text, "read into English");
        Some(p)
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
            .render("reply_fallback.j2", serde_json::json!({
                "products": cards, "words": words, "max_price_label": u.max_price.map(budget_label), "limits": limits,
                "without": without, "emptied_by": emptied_by,
                // the request as data, for languages that word the limits themselves
                "request": {
                    "min_price": u.min_price, "max_price": u.max_price, "count": u.count, "excluded": &u.excluded,
                    "min_price_label": u.min_price.map(budget_label), "max_price_label": u.max_price.map(budget_label),
                },
                "emptied": &u.emptied,
                "emptied_label": u.emptied.as_ref().map(|c| match c {
                    query::Constraint::Price => u.describe(c).replace("under ", "").replace("over ", ""),
                    query::Constraint::Attribute(a) | query::Constraint::Excluded(a) => a.clone(),
                    query::Constraint::Count => u.count.unwrap_or_default().to_string(),
                }),
            }))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "fallback template failed");
                self.phrases.say("fallback", &[])
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
    pub async fn classify(&self, text: &str, read: bool) -> Option<crate::intent::Prediction> {
        let Some(intents) = self.intents.get() else { return crate::intent::keyword_guess(text) };
        let t = text.to_string();
        let classified =
            tokio::task::spawn_blocking(move || if read { intents.classify_read(&t) } else { intents.classify(&t) });
        match classified.await {
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
}

/// What a shopping tool turn answers with.
pub(crate) enum ShoppingTool {
    Compare(Vec<tools::Facts>),
    Question(tools::Answer),
    List(tools::Listing),
}

#[cfg(test)]
mod tests;
