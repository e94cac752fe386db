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

/// The training sets Aisle ships with.
pub fn default_sets(root: &Path) -> Vec<std::path::PathBuf> {
    vec![root.join("data/bitext/bitext_cs_8k.csv"), root.join("data/intents/shopping.csv")]
}
