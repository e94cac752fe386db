//! Reads a message in another language into the English request Aisle's reader understands (its pivot): the
//! language's phrase table turns grammar (negation, comparison, "the first one", "cheaper", questions, service
//! words) into English; numbers with a currency and a bound become English price phrases ("100元以内" ->
//! "under £100" when the shop sells in that currency); every other word is looked up in the bilingual dictionary
//! and said as the gloss the catalog uses ("装饰品" -> "ornament", because the catalog's titles say ornament).
//! Everything a language needs is in its `lang.toml`; this code knows no Chinese word.
use super::dict::Dictionary;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
mod numbers;
pub use numbers::symbol;

/// The `[reading]` table of a language's `lang.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingFile {
    /// Words after a number that name its currency ("元" = "CNY").
    pub currency_words: HashMap<String, String>,
    /// Symbols before a number ("¥" = "CNY").
    pub currency_symbols: HashMap<String, String>,
    /// Words after a price that make it an upper bound ("以内"), a lower one ("以上"), or a rough one ("左右").
    pub under_after: Vec<String>,
    pub over_after: Vec<String>,
    pub around_after: Vec<String>,
    /// Words between two prices of a range ("到").
    pub range: Vec<String>,
    /// Words after a number that make it a count ("个装" = "pack of").
    pub count_after: HashMap<String, String>,
    /// Phrases and their English, matched longest first ("便宜一点" = "cheaper"); an empty English drops it.
    pub phrases: HashMap<String, String>,
    /// Whole messages and their English ("好的" = "yes").
    pub whole: HashMap<String, String>,
    /// Words said for grammar only, dropped ("的", "吗").
    pub stop: Vec<String>,
    /// English question heads that English says first ("how much is"): moved to the front of the request, for a
    /// language that says them last ("第一个多少钱" -> "how much is the first one").
    pub fronted: Vec<String>,
    /// Digits of the language's own numerals ("五" = 5) and their multipliers ("十" = 10).
    pub digits: HashMap<String, u32>,
    pub multipliers: HashMap<String, u32>,
}

/// A message read into English.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pivot {
    /// The English request.
    pub text: String,
    /// The message's words and the English they were read as, in order (for the transcript and the reply).
    pub terms: Vec<(String, String)>,
    /// A budget said in a currency the shop does not sell in (its ISO code): not applied, and the reply says so.
    pub foreign_budget: Option<String>,
}

/// A language's reader.
#[derive(Debug, Default)]
pub struct Reader {
    phrases: Vec<(Vec<char>, String)>,
    whole: HashMap<String, String>,
    currency_words: Vec<(Vec<char>, String)>,
    currency_symbols: HashMap<char, String>,
    under_after: Vec<Vec<char>>,
    over_after: Vec<Vec<char>>,
    around_after: Vec<Vec<char>>,
    range: Vec<Vec<char>>,
    count_after: Vec<(Vec<char>, String)>,
    stop: HashSet<String>,
    fronted: Vec<String>,
    digits: HashMap<char, u32>,
    multipliers: HashMap<char, u32>,
    dict: Option<Arc<Dictionary>>,
}

/// What the reader needs to know of the catalog.
pub trait CatalogWords {
    /// Whether the catalog's titles or attributes use this English word.
    fn has(&self, word: &str) -> bool;
    /// Whether the catalog itself is written in the message's language (its words are then kept as they are).
    fn same_language(&self) -> bool {
        false
    }
}

impl CatalogWords for HashSet<String> {
    fn has(&self, word: &str) -> bool {
        self.contains(word)
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn longest_first(mut v: Vec<(Vec<char>, String)>) -> Vec<(Vec<char>, String)> {
    v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    v
}

fn starts(text: &[char], at: usize, word: &[char]) -> bool {
    !word.is_empty() && text.len() >= at + word.len() && text[at..at + word.len()] == *word
}

/// English words that never decide which gloss the catalog uses.
const GLOSS_STOP: &[&str] = &["a", "an", "the", "of", "to", "for", "and", "or", "one", "thing", "something", "kind"];

impl Reader {
    pub fn new(file: ReadingFile, dict: Option<Arc<Dictionary>>) -> Self {
        let pairs = |m: HashMap<String, String>| longest_first(m.into_iter().map(|(k, v)| (chars(&k), v)).collect());
        let list = |v: Vec<String>| {
            let mut v: Vec<Vec<char>> = v.iter().map(|s| chars(s)).collect();
            v.sort_by_key(|w| std::cmp::Reverse(w.len()));
            v
        };
        let single =
            |m: HashMap<String, u32>| m.into_iter().filter_map(|(k, v)| Some((k.chars().next()?, v))).collect();
        Self {
            phrases: pairs(file.phrases),
            whole: file.whole,
            currency_words: pairs(file.currency_words),
            currency_symbols: file
                .currency_symbols
                .into_iter()
                .filter_map(|(k, v)| Some((k.chars().next()?, v)))
                .collect(),
            under_after: list(file.under_after),
            over_after: list(file.over_after),
            around_after: list(file.around_after),
            range: list(file.range),
            count_after: pairs(file.count_after),
            stop: file.stop.into_iter().collect(),
            fronted: file.fronted,
            digits: single(file.digits),
            multipliers: single(file.multipliers),
            dict,
        }
    }

    pub fn has_dictionary(&self) -> bool {
        self.dict.is_some()
    }

    /// Reads a message into English for a shop selling in `currency` (an ISO code, "GBP").
    pub fn read(&self, text: &str, catalog: &dyn CatalogWords, currency: &str) -> Pivot {
        let norm = normalize(text);
        let trimmed = norm.trim().trim_end_matches(['!', '.', '?', '。', '！', '？', '~']).trim();
        if let Some(e) = self.whole.get(trimmed) {
            return Pivot { text: e.clone(), terms: vec![(trimmed.to_string(), e.clone())], foreign_budget: None };
        }
        let t = chars(&norm);
        let mut out: Vec<String> = vec![];
        let mut p = Pivot::default();
        let mut i = 0;
        while i < t.len() {
            let c = t[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if let Some((w, e)) = self.phrases.iter().find(|(w, _)| starts(&t, i, w)) {
                let said: String = w.iter().collect();
                if !e.is_empty() {
                    out.push(e.clone());
                }
                p.terms.push((said, e.clone()));
                i += w.len();
                continue;
            }
            // a price, a count or a plain number (an order number)
            if let Some((next, words)) = self.number_phrase(&t, i, &mut out, currency, &mut p) {
                out.extend(words);
                i = next;
                continue;
            }
            if c.is_ascii_alphanumeric() {
                let end = (i..t.len())
                    .find(|&k| !(t[k].is_ascii_alphanumeric() || t[k] == '-' || t[k] == '\''))
                    .unwrap_or(t.len());
                out.push(t[i..end].iter().collect::<String>().to_lowercase());
                i = end;
                continue;
            }
            if c.is_alphanumeric() {
                let (n, english) = self.word(&t[i..], catalog);
                let said: String = t[i..i + n].iter().collect();
                if let Some(e) = english {
                    out.push(e.clone());
                    p.terms.push((said, e));
                }
                i += n;
                continue;
            }
            match c {
                '?' | '？' => out.push("?".into()),
                ',' | '，' | '、' | '。' | ';' | '；' | '!' | '！' => out.push(",".into()),
                _ => {}
            }
            i += 1;
        }
        // question heads first, each clause on its own ("灯笼，第一个多少钱" keeps "lantern," first)
        let mut ordered: Vec<String> = vec![];
        let mut clause: Vec<String> = vec![];
        let flush = |clause: &mut Vec<String>, ordered: &mut Vec<String>| {
            let (heads, rest): (Vec<String>, Vec<String>) =
                clause.drain(..).partition(|w| self.fronted.iter().any(|f| f == w));
            ordered.extend(heads);
            ordered.extend(rest);
        };
        for w in out {
            let end = w == "," || w == "?";
            clause.push(w);
            if end {
                let mark = clause.pop();
                flush(&mut clause, &mut ordered);
                ordered.extend(mark);
            }
        }
        flush(&mut clause, &mut ordered);
        let mut text = ordered.join(" ").replace(" ?", "?").replace(" ,", ",");
        while text.starts_with(',') {
            text = text[1..].trim_start().to_string();
        }
        p.text = text.trim_end_matches([',', ' ']).to_string();
        p
    }

    /// One word of the language at the start of `t`: its length in characters and the English it is read as (None
    /// for a grammar word). The catalog's own words are preferred among the glosses.
    fn word(&self, t: &[char], catalog: &dyn CatalogWords) -> (usize, Option<String>) {
        let found = self.dict.as_ref().and_then(|d| d.longest_at(t));
        let Some((n, glosses)) = found else {
            let one = t[0].to_string();
            return (1, (!self.stop.contains(&one)).then_some(one));
        };
        let said: String = t[..n].iter().collect();
        if self.stop.contains(&said) {
            return (n, None);
        }
        if catalog.same_language() {
            return (n, Some(said));
        }
        let content = |g: &str| -> Vec<String> {
            g.split([' ', '-']).filter(|w| !w.is_empty() && !GLOSS_STOP.contains(w)).map(str::to_string).collect()
        };
        let in_catalog = |w: &str| catalog.has(w) || catalog.has(&format!("{w}s")) || catalog.has(&format!("{w}es"));
        // a gloss the catalog says in full, else the catalog's words of the first gloss that has any
        let full = glosses.iter().find(|g| {
            let c = content(g);
            !c.is_empty() && c.iter().all(|w| in_catalog(w))
        });
        if let Some(g) = full {
            return (n, Some(g.clone()));
        }
        let partial = glosses.iter().find_map(|g| {
            let hits: Vec<String> = content(g).into_iter().filter(|w| in_catalog(w)).collect();
            (!hits.is_empty()).then(|| hits.join(" "))
        });
        (n, Some(partial.unwrap_or_else(|| glosses[0].clone())))
    }
}

/// Full-width letters, digits and punctuation as their ASCII forms; Latin letters lower-cased.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' if !matches!(c, '，' | '？' | '！' | '；') => {
                char::from_u32(c as u32 - 0xfee0).unwrap_or(c)
            }
            '\u{3000}' => ' ',
            '￥' => '¥',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}
