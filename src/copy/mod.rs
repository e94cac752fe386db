//! The copy studio's engine. Templates live in `prompts/copy/`: `<name>.j2` (rendered with `part` = `system`
//! or `user`), an optional `<name>.fallback.j2` (the plain version shown when the model's words fail the check)
//! and `<name>.toml` declaring its label and parameters. They are read from disk on every request, so a marketer
//! adds one without recompiling or restarting. Variants are written by the model from the product's facts and
//! checked like a chat reply; the shop's brand rules flag what breaks them; saved variants get an id so clicks
//! can be attributed to them.
use crate::catalog::{format_price, Product};
use crate::chat::check::{audit, Facts, Violation};
use crate::chat::{speak, Assistant, TurnFrame, Verdict};
use crate::llm::{GenParams, Message};
use crate::prompts::Templates;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
mod saved;
pub use saved::*;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Param {
    pub name: String,
    /// Allowed values; empty means free text (one line, at most 60 characters).
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub default: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyTemplate {
    #[serde(default)]
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub params: Vec<Param>,
    /// Longest generation in tokens. Default 120.
    #[serde(default = "default_tokens")]
    pub max_tokens: u32,
}

fn default_tokens() -> u32 {
    120
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no product with id {0:?}")]
    UnknownProduct(String),
    #[error("no copy template named {0:?}")]
    UnknownTemplate(String),
    #[error("parameter {name:?}: {why}")]
    BadParam { name: String, why: String },
    #[error("{0}")]
    Template(#[from] crate::prompts::TemplateError),
    #[error("template description {path}: {why}")]
    Spec { path: String, why: String },
    #[error("no saved variant {0:?}")]
    UnknownVariant(String),
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The copy templates on disk now.
pub struct Library {
    env: Templates,
    pub templates: Vec<CopyTemplate>,
}

pub fn copy_dir(prompts_dir: &Path) -> PathBuf {
    prompts_dir.join("copy")
}

impl Library {
    pub fn load(prompts_dir: &Path) -> Result<Self, CopyError> {
        let dir = copy_dir(prompts_dir);
        let env = Templates::load(&dir, false)?;
        let mut templates = vec![];
        for name in env.names_under("") {
            let Some(base) = name.strip_suffix(".j2").filter(|b| !b.ends_with(".fallback") && !b.contains('/')) else {
                continue;
            };
            let spec_path = dir.join(format!("{base}.toml"));
            let mut t = match std::fs::read_to_string(&spec_path) {
                Ok(text) => toml::from_str::<CopyTemplate>(&text)
                    .map_err(|e| CopyError::Spec { path: spec_path.display().to_string(), why: e.to_string() })?,
                Err(_) => CopyTemplate {
                    name: String::new(),
                    label: base.replace('_', " "),
                    description: String::new(),
                    params: vec![],
                    max_tokens: default_tokens(),
                },
            };
            t.name = base.to_string();
            templates.push(t);
        }
        Ok(Self { env, templates })
    }

    pub fn get(&self, name: &str) -> Option<&CopyTemplate> {
        self.templates.iter().find(|t| t.name == name)
    }
}

/// What a marketer asks for: one variant of one template for one product.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CopyRequest {
    pub product: String,
    /// Template name under `prompts/copy/` without `.j2`. Default `product_description`.
    #[serde(default)]
    pub template: Option<String>,
    /// Values of the template's parameters (missing ones take their defaults).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The audience segment's description, given to the template as `segment`.
    #[serde(default)]
    pub segment: Option<String>,
    /// Which variant (0, 1, ...): each samples differently.
    #[serde(default)]
    pub variant: u32,
    /// What shoppers praise in the product's reviews, sentences as they wrote them (filled by the server from the
    /// sentiment roll-up, never by the caller): the copy may quote them.
    #[serde(skip)]
    pub praise: Vec<String>,
}

/// Something a reviewer must look at before approving.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Issue {
    /// `grounding` (not in the product's facts) or `brand` (breaks a brand rule).
    pub kind: String,
    pub detail: String,
}

fn grounding(v: &Violation) -> Issue {
    Issue { kind: "grounding".into(), detail: v.to_string() }
}

/// The shop's brand voice rules, kept in the store and edited in the studio.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BrandRules {
    /// Words or phrases that must not appear (case-insensitive).
    pub banned: Vec<String>,
    /// Phrases every variant must contain.
    pub required: Vec<String>,
    /// Highest Flesch-Kincaid grade allowed.
    pub max_grade: Option<f64>,
    /// Longest text in characters.
    pub max_chars: Option<usize>,
}

const RULES_KEY: &str = "brand.rules";

impl BrandRules {
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(store.setting(RULES_KEY)?.unwrap_or_default())
    }

    pub fn save(&self, store: &Store) -> Result<(), StoreError> {
        store.put_setting(RULES_KEY, self)
    }

    pub fn issues(&self, text: &str) -> Vec<Issue> {
        let lower = text.to_lowercase();
        let words: Vec<String> = lower.split(|c: char| !c.is_alphanumeric() && c != '\'').map(String::from).collect();
        let mut out = vec![];
        let brand = |d: String| Issue { kind: "brand".into(), detail: d };
        for b in self.banned.iter().map(|b| b.trim().to_lowercase()).filter(|b| !b.is_empty()) {
            let hit = if b.contains(' ') { lower.contains(&b) } else { words.contains(&b) };
            if hit {
                out.push(brand(format!("uses the banned word {b:?}")));
            }
        }
        for r in self.required.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            if !lower.contains(&r.to_lowercase()) {
                out.push(brand(format!("lacks the required phrase {r:?}")));
            }
        }
        if let Some(max) = self.max_chars {
            let n = text.chars().count();
            if n > max {
                out.push(brand(format!("{n} characters, over the limit of {max}")));
            }
        }
        if let (Some(max), Some(g)) = (self.max_grade, reading_grade(text)) {
            if g > max {
                out.push(brand(format!("reading grade {g:.1}, above the limit of {max:.1}")));
            }
        }
        out
    }
}

fn syllables(word: &str) -> usize {
    let w: Vec<char> = word.to_lowercase().chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if w.is_empty() {
        return 0;
    }
    let vowel = |c: char| "aeiouy".contains(c);
    let mut groups = 0;
    let mut prev = false;
    for &c in &w {
        let v = vowel(c);
        if v && !prev {
            groups += 1;
        }
        prev = v;
    }
    // a final silent e ("make"), but not "-le" ("table")
    if w.len() > 2 && w[w.len() - 1] == 'e' && !vowel(w[w.len() - 2]) && w[w.len() - 2] != 'l' && groups > 1 {
        groups -= 1;
    }
    groups.max(1)
}

/// Flesch-Kincaid grade level (None for a text without words).
pub fn reading_grade(text: &str) -> Option<f64> {
    let words: Vec<&str> = text.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).collect();
    if words.is_empty() {
        return None;
    }
    let sentences = text.split(['.', '!', '?']).filter(|s| s.chars().any(char::is_alphabetic)).count().max(1);
    let syl: usize = words.iter().map(|w| syllables(w)).sum();
    let (w, s) = (words.len() as f64, sentences as f64);
    Some(0.39 * (w / s) + 11.8 * (syl as f64 / w) - 15.59)
}

/// The facts a text about `product` may use.
pub fn product_facts(a: &Assistant, product: &Product, segment: Option<&str>, praise: &[String]) -> Facts {
    let mut facts = a.facts("", &[]);
    for q in praise {
        facts.allow_text(q);
    }
    facts.allow_product(&product.title);
    for t in [&product.description, &product.category, &product.brand, &a.shop_name] {
        facts.allow_text(t);
    }
    for t in &product.tags {
        facts.allow_text(t);
    }
    if let Some(s) = segment {
        facts.allow_text(s);
    }
    if let Some(p) = product.price {
        facts.allow_number(&format!("{p:.2}"));
        facts.allow_text(&format_price(p));
    }
    facts
}

/// Grounding and brand issues of a finished text.
pub fn review(
    a: &Assistant,
    product: &Product,
    segment: Option<&str>,
    praise: &[String],
    rules: &BrandRules,
    text: &str,
) -> Vec<Issue> {
    let facts = product_facts(a, product, segment, praise);
    let mut out: Vec<Issue> = audit(&facts, text).iter().map(grounding).collect();
    out.extend(rules.issues(text));
    out
}

pub fn resolve_params(
    t: &CopyTemplate,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CopyError> {
    let mut out = BTreeMap::new();
    for (k, v) in given {
        let Some(p) = t.params.iter().find(|p| p.name == *k) else {
            return Err(CopyError::BadParam { name: k.clone(), why: format!("template {} does not take it", t.name) });
        };
        let ok =
            if p.choices.is_empty() { v.chars().count() <= 60 && !v.contains('\n') } else { p.choices.contains(v) };
        if !ok {
            let why = if p.choices.is_empty() {
                "one line of at most 60 characters".into()
            } else {
                format!("one of {:?}", p.choices)
            };
            return Err(CopyError::BadParam { name: k.clone(), why });
        }
        out.insert(k.clone(), v.clone());
    }
    for p in &t.params {
        out.entry(p.name.clone()).or_insert_with(|| p.default.clone());
    }
    Ok(out)
}

/// What a finished variant came to.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    pub text: String,
    pub verdict: Verdict,
    pub issues: Vec<Issue>,
}

/// Writes one variant, streaming checked words to `out` (a failed check replaces them with the template's plain
/// version); the issues list what the model's draft was rejected for, and any brand rule the shown text breaks.
pub async fn generate(
    a: &Assistant,
    lib: &Library,
    rules: &BrandRules,
    req: &CopyRequest,
    out: &mpsc::Sender<TurnFrame>,
) -> Result<Variant, CopyError> {
    let product = a.catalog.get(&req.product).ok_or_else(|| CopyError::UnknownProduct(req.product.clone()))?.clone();
    let name = req.template.clone().unwrap_or_else(|| "product_description".into());
    let t = lib.get(&name).ok_or_else(|| CopyError::UnknownTemplate(name.clone()))?;
    let params = resolve_params(t, &req.params)?;
    let segment = req.segment.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (main, plain) = (format!("{name}.j2"), format!("{name}.fallback.j2"));
    let price = product.price_label();
    let ctx = |part: &str| {
        let mut c = serde_json::json!({ "part": part, "product": &*product, "price": &price, "shop": &a.shop_name, "segment": segment, "params": &params, "praise": &req.praise });
        if let Some(m) = c.as_object_mut() {
            for (k, v) in &params {
                m.entry(k.clone()).or_insert(serde_json::json!(v));
            }
        }
        c
    };
    let messages = lib.env.render(&main, ctx("system")).and_then(|system| {
        let user = lib.env.render(&main, ctx("user"))?;
        Ok(vec![Message::system(system.trim()), Message::user(user.trim())])
    });
    let fallback = if lib.env.has(&plain) {
        lib.env.render(&plain, ctx("plain")).map(|s| s.trim().to_string()).unwrap_or_else(|_| product.title.clone())
    } else {
        format!("{} - {}.", product.title, price)
    };
    let facts = product_facts(a, &product, segment, &req.praise);
    // variants differ by their sampling seed; greedy decoding would make them all the same
    let gen = GenParams {
        max_tokens: t.max_tokens,
        temperature: if req.variant == 0 { a.gen.temperature } else { a.gen.temperature.max(0.7) },
        seed: a.gen.seed.wrapping_add(req.variant.wrapping_mul(7919)),
        ..a.gen.clone()
    };
    // a marketer waits for whole variants: no time budget here
    let (text, verdict, _) = speak(a.llm.as_ref(), gen, messages, &facts, fallback, out, None).await;
    let mut issues = vec![];
    if let Some(why) = verdict.reason.as_deref().filter(|_| !verdict.passed) {
        issues.push(Issue {
            kind: "grounding".into(),
            detail: format!("the model's draft was rejected ({why}); the plain template is shown"),
        });
    }
    issues.extend(rules.issues(&text));
    Ok(Variant { text, verdict, issues })
}

#[cfg(test)]
mod tests;
