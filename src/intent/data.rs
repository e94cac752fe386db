//! Labelled utterances (the Bitext layout: `flags,utterance,category,intent`) and the held-out split.
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Utterance {
    pub flags: String,
    pub text: String,
    pub intent: String,
}

/// Flags whose utterances are phrased unlike the basic forms: lexical variation (L), colloquial (Q), noise (Z),
/// keyword-only (K), complex structure (C) and offensive (W). Evaluation holds these out whole.
pub const HELD_OUT_FLAGS: &[char] = &['L', 'Q', 'Z', 'K', 'C', 'W'];

pub fn held_out(u: &Utterance) -> bool {
    u.flags.chars().any(|f| HELD_OUT_FLAGS.contains(&f))
}

pub fn load(path: &Path) -> Result<Vec<Utterance>, crate::import::ImportError> {
    let reader = crate::import::open(path)?;
    let mut csv = csv::Reader::from_reader(reader);
    let mut out = vec![];
    for rec in csv.records().flatten() {
        let get = |i: usize| rec.get(i).unwrap_or("").trim_start_matches('\u{feff}').trim().to_string();
        if rec.len() >= 4 && !get(1).is_empty() && !get(3).is_empty() {
            out.push(Utterance { flags: get(0), text: get(1), intent: get(3) });
        }
    }
    Ok(out)
}

/// The English utterances, and the others as the chat's reader writes them in English (`read` gives None for
/// English), so the head for read messages is trained on what it will be asked.
pub fn split_by_language(
    utterances: Vec<Utterance>,
    read: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Utterance>, Vec<Utterance>) {
    let (mut english, mut other) = (vec![], vec![]);
    for mut u in utterances {
        match read(&u.text) {
            Some(e) => {
                u.text = e;
                other.push(u);
            }
            None => english.push(u),
        }
    }
    (english, other)
}

/// The training sets Aisle ships with: Bitext's customer-service utterances, Aisle's shopping intents and the
/// Chinese utterances written for Aisle (read into English when trained on).
pub fn default_sets(root: &Path) -> Vec<std::path::PathBuf> {
    ["data/bitext/bitext_cs_8k.csv", "data/intents/shopping.csv", "data/intents/zh_train.csv"]
        .iter()
        .map(|p| root.join(p))
        .collect()
}
