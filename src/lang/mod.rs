//! The shopper's language. English is the language Aisle reads requests in and the catalog's (the default);
//! every other language is a folder of files under `prompts/<code>/`: `lang.toml` (its name, the script that tells
//! it apart, and its reader's phrase table), the reply templates with the same names as the English ones, and
//! `phrases.toml` (quick replies and the few sentences code puts together), plus its policy documents under
//! `data/policies/<code>/`. A message is read into English through its language's reader ([`pivot`]), answered by
//! the same tools, and worded by that language's templates.
pub mod dict;
pub mod pivot;

use crate::service::Policies;
use dict::Dictionary;
use pivot::{Reader, ReadingFile};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// The language requests are read in and templates are written in when no other is chosen.
pub const DEFAULT: &str = "en";

#[derive(Debug, thiserror::Error)]
pub enum LangError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("{path}: unknown script {script:?} (han, kana, hangul, cyrillic, arabic, thai)")]
    Script { path: String, script: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LangFile {
    /// The language's own name ("中文").
    name: String,
    /// The script whose letters mark a message as this language.
    script: String,
    /// Read through the bilingual dictionary (`chat.dictionary`).
    #[serde(default)]
    dictionary: bool,
    #[serde(default)]
    reading: ReadingFile,
}

/// A language other than English.
#[derive(Debug)]
pub struct Language {
    pub code: String,
    pub name: String,
    script: Script,
    pub reader: Reader,
    /// The shop's policy documents in this language (the English ones answer when there are none).
    pub policies: Option<Policies>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    Han,
    Kana,
    Hangul,
    Cyrillic,
    Arabic,
    Thai,
}

impl Script {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "han" => Script::Han,
            "kana" => Script::Kana,
            "hangul" => Script::Hangul,
            "cyrillic" => Script::Cyrillic,
            "arabic" => Script::Arabic,
            "thai" => Script::Thai,
            _ => return None,
        })
    }

    fn of(c: char) -> Option<Self> {
        Some(match c as u32 {
            0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x2ebef => Script::Han,
            0x3040..=0x30ff => Script::Kana,
            0xac00..=0xd7af | 0x1100..=0x11ff => Script::Hangul,
            0x0400..=0x04ff => Script::Cyrillic,
            0x0600..=0x06ff => Script::Arabic,
            0x0e00..=0x0e7f => Script::Thai,
            _ => return None,
        })
    }

    /// Scripts written without spaces: each letter is about a word.
    fn unspaced(self) -> bool {
        matches!(self, Script::Han | Script::Kana | Script::Thai)
    }
}

/// The languages besides English this shop answers in.
#[derive(Debug, Default)]
pub struct Languages {
    list: Vec<Language>,
}

impl Languages {
    /// Every `prompts/<code>/lang.toml`; the dictionary is read once, when a language asks for it (a missing
    /// dictionary leaves that language reading its phrase table only, with a warning).
    pub fn load(prompts: &Path, policies: &Path, dictionary: &Path) -> Result<Self, LangError> {
        let mut dirs: Vec<_> = match std::fs::read_dir(prompts) {
            Ok(d) => d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("lang.toml").is_file()).collect(),
            Err(_) => vec![],
        };
        dirs.sort();
        let mut dict: Option<Option<Arc<Dictionary>>> = None;
        let mut list = vec![];
        for dir in dirs {
            let path = dir.join("lang.toml");
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(&path).map_err(|source| LangError::Read { path: shown.clone(), source })?;
            let file: LangFile =
                toml::from_str(&text).map_err(|e| LangError::Parse { path: shown.clone(), source: Box::new(e) })?;
            let script =
                Script::parse(&file.script).ok_or(LangError::Script { path: shown.clone(), script: file.script })?;
            let code = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let d = if file.dictionary {
                dict.get_or_insert_with(|| match Dictionary::load(dictionary) {
                    Ok(d) => {
                        tracing::info!(entries = d.len(), path = %dictionary.display(), "bilingual dictionary loaded");
                        Some(Arc::new(d))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no bilingual dictionary (run `models/fetch.sh cedict`): messages in other languages are read by their phrase tables only");
                        None
                    }
                })
                .clone()
            } else {
                None
            };
            let pol_dir = policies.join(&code);
            let policies = pol_dir
                .is_dir()
                .then(|| Policies::load(&pol_dir))
                .transpose()
                .map_err(|source| LangError::Read { path: pol_dir.display().to_string(), source })?;
            list.push(Language { code, name: file.name, script, reader: Reader::new(file.reading, d), policies });
        }
        Ok(Self { list })
    }

    pub fn get(&self, code: &str) -> Option<&Language> {
        self.list.iter().find(|l| l.code == code)
    }

    /// A message in one of these languages read into English by its reader, with no catalog (each word's first
    /// gloss): how the intent classifier's training utterances in other languages are read, so it learns the
    /// English the chat's reader writes. The language is the one the letters tell, or for a message too short to
    /// tell ("嗨") the one whose script it uses. None for English and for text in no loaded language's script.
    pub fn into_english(&self, text: &str, currency: &str) -> Option<String> {
        let code = self.detect(text).filter(|c| *c != DEFAULT).or_else(|| {
            let script = text.chars().find_map(Script::of)?;
            self.list.iter().find(|l| l.script == script).map(|l| l.code.as_str())
        })?;
        let no_catalog = std::collections::HashSet::<String>::new();
        Some(self.get(code)?.reader.read(text, &no_catalog, currency).text)
    }

    /// The codes of every language the shop answers in, English first.
    pub fn codes(&self) -> Vec<String> {
        std::iter::once(DEFAULT.to_string()).chain(self.list.iter().map(|l| l.code.clone())).collect()
    }

    /// Whether `code` is English or one of the loaded languages.
    pub fn knows(&self, code: &str) -> bool {
        code == DEFAULT || self.get(code).is_some()
    }

    /// The language a message is written in, when its letters say so: a language's script makes up at least 30%
    /// of the message (counting a letter of a script written without spaces as a word, and a Latin word as one)
    /// and two of its letters; English for a sentence of three or more Latin words and no other script. None for
    /// the rest ("ok", "536365", emoji), which keep the conversation's language.
    pub fn detect(&self, text: &str) -> Option<&str> {
        let mut latin_words = 0usize;
        let mut in_word = false;
        let mut counts: Vec<(Script, usize)> = vec![];
        for c in text.chars() {
            let script = Script::of(c);
            let latin = c.is_ascii_alphabetic() || (c.is_alphabetic() && script.is_none());
            if latin && !in_word {
                latin_words += 1;
            }
            in_word = latin;
            if let Some(s) = script {
                match counts.iter_mut().find(|(x, _)| *x == s) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((s, 1)),
                }
            }
        }
        let units: usize =
            latin_words + counts.iter().map(|(s, n)| if s.unspaced() { *n } else { n.div_ceil(5) }).sum::<usize>();
        if counts.is_empty() {
            // a sentence in Latin letters only is English ("ok" and "thanks" do not tell)
            return (latin_words >= 3).then_some(DEFAULT);
        }
        let best = counts.iter().max_by_key(|(_, n)| *n)?;
        let weight = if best.0.unspaced() { best.1 } else { best.1.div_ceil(5) };
        if best.1 < 2 || weight * 10 < units * 3 {
            return None;
        }
        // kana beside Han is Japanese; Han alone goes to the language that claims Han
        let script =
            if best.0 == Script::Han && counts.iter().any(|(s, _)| *s == Script::Kana) { Script::Kana } else { best.0 };
        self.list.iter().find(|l| l.script == script).map(|l| l.code.as_str())
    }
}

#[cfg(test)]
mod tests;
