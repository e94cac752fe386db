//! A bilingual dictionary read from CC-CEDICT's format (`trad simp [pinyin] /gloss/gloss/`, gzip or plain):
//! the way a Chinese message is read against an English catalog without a translation model. Words are found by
//! longest match (the usual dictionary segmentation of text written without spaces), and each word's English
//! glosses are cleaned of grammar notes so that the words a catalog uses can be chosen among them.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DictError {
    #[error("cannot read the dictionary {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the dictionary {path} has no entries in CC-CEDICT's format (`trad simp [pinyin] /gloss/`)")]
    Empty { path: String },
}

/// Headwords (simplified and traditional) and their cleaned English glosses, in the dictionary's order.
#[derive(Debug, Default)]
pub struct Dictionary {
    words: HashMap<String, Vec<String>>,
    longest: usize,
}

impl Dictionary {
    pub fn load(path: &Path) -> Result<Self, DictError> {
        let err = |source| DictError::Read { path: path.display().to_string(), source };
        let raw = std::fs::read(path).map_err(err)?;
        let mut text = String::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text).map_err(err)?;
        } else {
            text = String::from_utf8_lossy(&raw).into_owned();
        }
        let d = Self::parse(&text);
        if d.words.is_empty() {
            return Err(DictError::Empty { path: path.display().to_string() });
        }
        Ok(d)
    }

    /// Reads CC-CEDICT lines; comment lines (`#`) and malformed ones are skipped.
    pub fn parse(text: &str) -> Self {
        let mut d = Dictionary::default();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((heads, rest)) = line.split_once(" [") else { continue };
            let Some((_, glosses)) = rest.split_once("] /") else { continue };
            let cleaned: Vec<String> = glosses.split('/').filter_map(clean).collect();
            if cleaned.is_empty() {
                continue;
            }
            let mut parts = heads.split(' ');
            let (Some(trad), Some(simp)) = (parts.next(), parts.next()) else { continue };
            for head in [simp, trad] {
                let entry = d.words.entry(head.to_string()).or_default();
                for g in &cleaned {
                    if !entry.contains(g) {
                        entry.push(g.clone());
                    }
                }
                d.longest = d.longest.max(head.chars().count());
            }
        }
        d
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The cleaned glosses of a headword.
    pub fn glosses(&self, word: &str) -> Option<&[String]> {
        self.words.get(word).map(Vec::as_slice)
    }

    /// The longest headword at the start of `chars` (at most eight characters), with its length in characters.
    pub fn longest_at(&self, chars: &[char]) -> Option<(usize, &[String])> {
        let max = chars.len().min(self.longest).min(8);
        (2..=max).rev().chain(std::iter::once(1)).filter(|&n| n <= chars.len()).find_map(|n| {
            let w: String = chars[..n].iter().collect();
            self.words.get(&w).map(|g| (n, g.as_slice()))
        })
    }
}

/// A gloss as plain English words: "(bound form) ornament" -> "ornament", "to cancel" -> "cancel"; cross-references,
/// classifiers, surnames and variant notes are dropped, as are glosses longer than four words.
fn clean(gloss: &str) -> Option<String> {
    let g = gloss.trim();
    let skip =
        ["CL:", "variant of", "old variant", "surname ", "see ", "used in", "abbr. for", "also written", "Taiwan pr."];
    if g.is_empty() || skip.iter().any(|s| g.starts_with(s)) {
        return None;
    }
    // parenthesised notes and anything after a semicolon's explanation
    let mut out = String::new();
    let mut depth = 0;
    for c in g.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = (depth - 1).max(0),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.split(';').next().unwrap_or("").trim().to_lowercase();
    let out = out.strip_prefix("to ").unwrap_or(&out).trim().to_string();
    let words = out.split_whitespace().count();
    let plain = out.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '\''));
    ((1..=4).contains(&words) && plain).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# CC-CEDICT sample\n\
        裝飾品 装饰品 [zhuang1 shi4 pin3] /ornament; adornment/decoration/\n\
        紅色 红色 [hong2 se4] /red (color)/revolutionary/\n\
        紅 红 [hong2] /red/popular/surname Hong/\n\
        心形 心形 [xin1 xing2] /heart shape/\n\
        取消 取消 [qu3 xiao1] /to cancel/to call off/\n\
        個 个 [ge4] /CL:個|个[ge4]/individual/\n\
        broken line without brackets\n";

    #[test]
    fn entries_are_cleaned_and_found_by_longest_match() {
        let d = Dictionary::parse(SAMPLE);
        assert_eq!(d.glosses("装饰品").unwrap(), ["ornament", "decoration"]);
        assert_eq!(d.glosses("裝飾品").unwrap(), ["ornament", "decoration"], "traditional heads too");
        assert_eq!(d.glosses("红色").unwrap(), ["red", "revolutionary"]);
        assert_eq!(d.glosses("取消").unwrap(), ["cancel", "call off"]);
        assert_eq!(d.glosses("个").unwrap(), ["individual"], "classifier notes are dropped");
        let text: Vec<char> = "红色的".chars().collect();
        assert_eq!(d.longest_at(&text).unwrap().0, 2, "红色 before 红");
        assert!(d.longest_at(&['的']).is_none());
    }

    #[test]
    fn a_file_without_entries_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.txt");
        std::fs::write(&p, "# nothing\n").unwrap();
        assert!(Dictionary::load(&p).unwrap_err().to_string().contains("CC-CEDICT"));
        assert!(Dictionary::load(&dir.path().join("missing")).unwrap_err().to_string().contains("cannot read"));
    }
}
