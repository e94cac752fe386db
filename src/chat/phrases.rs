//! The sentences and quick replies code puts together, per language: `prompts/phrases.toml` in English and
//! `prompts/<code>/phrases.toml` for the others (a key missing there falls back to English). Templates word the
//! answers; these are the short pieces around them (a card's reason in a listing, the chips under a reply).
use crate::prompts::Templates;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Phrases {
    /// Quick replies by situation (see [`chip_key`]).
    chips: HashMap<String, Vec<String>>,
    /// Sentences by name, with `{name}` holes.
    text: HashMap<String, String>,
    /// The chat widget's labels (its button, placeholder, notes), sent to the page in the conversation's language.
    widget: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("phrases.toml{lang}: {source}")]
pub struct PhrasesError {
    lang: String,
    source: Box<toml::de::Error>,
}

impl Phrases {
    /// The phrases of the templates' language over the English ones.
    pub fn load(t: &Templates) -> Result<Self, PhrasesError> {
        let parse = |src: Option<String>, lang: &str| -> Result<Phrases, PhrasesError> {
            let src = src.unwrap_or_default();
            toml::from_str(&src).map_err(|e| PhrasesError { lang: lang.to_string(), source: Box::new(e) })
        };
        let mut p = parse(t.localized(crate::lang::DEFAULT).source("phrases.toml"), "")?;
        if t.lang() != crate::lang::DEFAULT {
            let own = parse(t.source("phrases.toml"), &format!(" ({})", t.lang()))?;
            p.chips.extend(own.chips);
            p.text.extend(own.text);
            p.widget.extend(own.widget);
        }
        Ok(p)
    }

    /// A sentence with its holes filled; the key itself when no file has it (a gap shows, never panics).
    pub fn say(&self, key: &str, args: &[(&str, &str)]) -> String {
        let Some(t) = self.text.get(key) else {
            tracing::warn!(key, "no phrase");
            return key.to_string();
        };
        args.iter().fold(t.clone(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
    }

    /// A sentence as written, when a file has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.text.get(key).map(String::as_str)
    }

    /// Quick replies offered after a turn answered by `tool` with `cards` cards.
    pub fn chips(&self, tool: &str, cards: usize) -> Vec<String> {
        self.chips.get(chip_key(tool, cards)).cloned().unwrap_or_default()
    }

    /// The widget's labels.
    pub fn widget(&self) -> &HashMap<String, String> {
        &self.widget
    }
}

/// The situation a turn's chips are chosen by.
pub fn chip_key(tool: &str, cards: usize) -> &'static str {
    match (tool, cards) {
        ("search", 0) => "search_none",
        ("search", 1) => "search_one",
        ("search", _) => "search",
        ("compare", _) => "compare",
        ("product_question" | "price" | "stock", _) => "product",
        ("variants" | "similar" | "goes_with", 0) => "list_none",
        ("variants" | "similar" | "goes_with", _) => "list",
        ("past_orders" | "reorder", 0) => "past_none",
        ("past_orders" | "reorder", _) => "past",
        ("order", _) => "order",
        ("policy" | "retrieve", _) => "policy",
        ("handoff", _) => "handoff",
        _ => "other",
    }
}

/// The phrases of every language the shop answers in.
#[derive(Debug, Default)]
pub struct PhraseBook {
    by_lang: HashMap<String, Arc<Phrases>>,
}

impl PhraseBook {
    pub fn load(t: &Templates, codes: &[String]) -> Result<Self, PhrasesError> {
        let mut by_lang = HashMap::new();
        for c in codes {
            by_lang.insert(c.clone(), Arc::new(Phrases::load(&t.localized(c))?));
        }
        Ok(Self { by_lang })
    }

    pub fn get(&self, code: &str) -> Arc<Phrases> {
        self.by_lang.get(code).or_else(|| self.by_lang.get(crate::lang::DEFAULT)).cloned().unwrap_or_default()
    }
}
