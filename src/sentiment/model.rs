//! The served sentiment head: what it learns from, how it is kept (trained once per store and embedding model,
//! saved beside the intent classifier) and how it reads text in other languages (into English first, as the chat
//! reads a message, so the head trained on English reviews reads a Chinese one).
use super::{label_of, LABELS};
use crate::intent::{IntentError, IntentModel};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What the served head is trained on; a saved head of another recipe is trained again.
pub const RECIPE: &str = "n-grams of the text as written too; toy reviews by stars; chinese shopping reviews read into english; bitext chat: offensive or \
                          complaint negative, every 4th other neutral";

/// One labelled text and the group it is held out with (a product's reviews go together).
#[derive(Debug, Clone)]
pub struct Example {
    /// The text as the head reads it (read into English when written in another language).
    pub text: String,
    /// The text as written.
    pub written: String,
    pub label: usize,
    pub group: String,
}

/// The training files under `root`: star-rated English and Chinese reviews and the Bitext customer-service
/// utterances (`data/sentiment/SOURCE.md`).
pub fn default_sources(root: &Path) -> Vec<PathBuf> {
    vec![
        root.join("data/sentiment/toy_reviews.csv"),
        root.join("data/sentiment/zh_reviews.csv"),
        root.join("data/bitext/bitext_cs_8k.csv"),
    ]
}

/// Reviews (`product_id,stars,title,text`) labelled by their stars (1-2 negative, 3 neutral, 4-5 positive).
pub fn reviews(path: &Path) -> Result<Vec<Example>, IntentError> {
    let bad = |e: csv::Error| IntentError::File { path: path.display().to_string(), why: e.to_string() };
    let mut out = vec![];
    for rec in csv::Reader::from_path(path).map_err(bad)?.records() {
        let rec = rec.map_err(bad)?;
        let (Some(id), Some(stars), Some(title), Some(text)) = (rec.get(0), rec.get(1), rec.get(2), rec.get(3)) else {
            continue;
        };
        let Ok(stars) = stars.trim().parse::<f64>() else { continue };
        let review = super::Review { title: title.into(), rating: stars, text: text.into() };
        let text = review.words();
        out.push(Example { written: text.clone(), text, label: label_of(stars), group: id.to_string() });
    }
    Ok(out)
}

/// Shoppers' messages to a shop (Bitext): those written with offensive words (flag `W`) and complaints are
/// negative, every fourth of the rest neutral. The chat's register is not a review's: without these the head
/// reads "where is my parcel" by the reviews' words.
pub fn chat(path: &Path) -> Result<Vec<Example>, IntentError> {
    let mut out = vec![];
    for (i, u) in crate::intent::data::load(path)?.into_iter().enumerate() {
        let negative = u.flags.contains('W') || u.intent == "complaint";
        if negative || i % 4 == 0 {
            let label = if negative { 0 } else { 1 };
            out.push(Example { label, group: format!("chat:{}", u.text), written: u.text.clone(), text: u.text });
        }
    }
    Ok(out)
}

/// The examples of every source: review files by their header, the others as Bitext utterances.
pub fn examples(sources: &[PathBuf]) -> Result<Vec<Example>, IntentError> {
    let mut out = vec![];
    for s in sources {
        let head = std::fs::read_to_string(s)
            .map_err(|e| IntentError::File { path: s.display().to_string(), why: e.to_string() })?;
        if head.starts_with("product_id,stars") {
            out.extend(reviews(s)?);
        } else {
            out.extend(chat(s)?);
        }
    }
    if out.is_empty() {
        return Err(IntentError::Empty);
    }
    Ok(out)
}

/// Examples in other languages as the head will be asked them: read into English by the shop's readers.
pub fn read_into_english(mut ex: Vec<Example>, langs: &crate::lang::Languages, currency: &str) -> Vec<Example> {
    for e in &mut ex {
        if let Some(read) = langs.into_english(&e.text, currency) {
            e.text = read;
        }
    }
    ex
}

/// Trains a head on examples (classes balanced by repetition).
pub fn train_examples(
    embedder: &crate::embed::Embedder,
    ex: &[Example],
    seed: u64,
) -> Result<IntentModel, IntentError> {
    let read: Vec<String> = ex.iter().map(|e| e.text.clone()).collect();
    let written: Vec<String> = ex.iter().map(|e| e.written.clone()).collect();
    let ys: Vec<usize> = ex.iter().map(|e| e.label).collect();
    let mut head = super::train(embedder, &super::features(embedder, &read, &written)?, &ys, seed);
    head.recipe = RECIPE.to_string();
    Ok(head)
}

/// How negative, neutral and positive a text reads (probabilities summing to 1).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Mood {
    pub negative: f32,
    pub neutral: f32,
    pub positive: f32,
}

impl Mood {
    /// From -1 (surely negative) to 1 (surely positive).
    pub fn score(&self) -> f32 {
        self.positive - self.negative
    }
    /// The likeliest label.
    pub fn label(&self) -> &'static str {
        let p = [self.negative, self.neutral, self.positive];
        LABELS[(0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap_or(1)]
    }
}

/// The sentiment head in use, with the embedding model that feeds it and the readers of other languages.
pub struct Sentiment {
    pub head: IntentModel,
    embedder: Arc<crate::embed::Embedder>,
    langs: Arc<crate::lang::Languages>,
    currency: String,
}

impl Sentiment {
    pub fn new(
        head: IntentModel,
        embedder: Arc<crate::embed::Embedder>,
        langs: Arc<crate::lang::Languages>,
        currency: &str,
    ) -> Self {
        Self { head, embedder, langs, currency: currency.to_string() }
    }

    /// The head saved at `path` when it is of this embedding model and recipe (None: missing, unreadable or
    /// another model's or recipe's: it must be trained).
    pub fn load_current(
        path: &Path,
        embedder: &Arc<crate::embed::Embedder>,
        langs: &Arc<crate::lang::Languages>,
        currency: &str,
    ) -> Option<Self> {
        let head = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<IntentModel>(&t).ok())
            .filter(|m| m.embed_model == embedder.model_id && m.recipe == RECIPE && m.labels.len() == LABELS.len())?;
        Some(Self::new(head, embedder.clone(), langs.clone(), currency))
    }

    /// The head saved at `path` when it is current, or one trained on `sources` (and saved there).
    pub fn load_or_train(
        path: &Path,
        sources: &[PathBuf],
        embedder: Arc<crate::embed::Embedder>,
        langs: Arc<crate::lang::Languages>,
        currency: &str,
    ) -> Result<Self, IntentError> {
        let file_err = |why: String| IntentError::File { path: path.display().to_string(), why };
        if let Some(s) = Self::load_current(path, &embedder, &langs, currency) {
            return Ok(s);
        }
        let ex = read_into_english(examples(sources)?, &langs, currency);
        let head = train_examples(&embedder, &ex, 1)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| file_err(e.to_string()))?;
        }
        let json = serde_json::to_string(&head).map_err(|e| file_err(e.to_string()))?;
        std::fs::write(path, json).map_err(|e| file_err(e.to_string()))?;
        Ok(Self::new(head, embedder, langs, currency))
    }

    /// The mood of each text (blocking: the embedding thread does the work). Text in another language the shop
    /// reads is read into English first.
    pub fn moods(&self, texts: &[String]) -> Result<Vec<Mood>, IntentError> {
        let read: Vec<String> =
            texts.iter().map(|t| self.langs.into_english(t, &self.currency).unwrap_or_else(|| t.clone())).collect();
        Ok(super::features(&self.embedder, &read, texts)?
            .iter()
            .map(|x| {
                let p = self.head.probabilities(x);
                Mood { negative: p[0], neutral: p[1], positive: p[2] }
            })
            .collect())
    }

    pub fn mood(&self, text: &str) -> Result<Mood, IntentError> {
        Ok(self.moods(&[text.to_string()])?.pop().unwrap_or(Mood { negative: 0.0, neutral: 1.0, positive: 0.0 }))
    }
}

/// The sentiment head once it is there (trained in the background on a first start). Cloning is shallow.
#[derive(Clone, Default)]
pub struct Slot(Arc<RwLock<Option<Arc<Sentiment>>>>);

impl Slot {
    pub fn ready(s: Arc<Sentiment>) -> Self {
        let slot = Self::default();
        slot.set(s);
        slot
    }
    pub fn get(&self) -> Option<Arc<Sentiment>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, s: Arc<Sentiment>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
}

/// How a chat reads, for the support queue.
impl crate::session::Session {
    /// Records how the shopper's last message read.
    pub fn shopper_mood(&mut self, mood: crate::sentiment::Mood) {
        if let Some(t) = self.turns.iter_mut().rev().find(|t| t.role == crate::session::Role::Shopper) {
            t.mood = Some(mood);
        }
    }

    /// How frustrated the shopper reads: the highest negative probability of their last three scored messages
    /// (None when none was scored).
    pub fn frustration(&self) -> Option<f32> {
        self.turns
            .iter()
            .rev()
            .filter(|t| t.role == crate::session::Role::Shopper)
            .filter_map(|t| t.mood)
            .take(3)
            .map(|m| m.negative)
            .reduce(f32::max)
    }
}

#[cfg(test)]
mod tests {
    use crate::session::Session;

    #[test]
    fn frustration_is_the_worst_of_the_last_three_scored_messages() {
        let mut s = Session::start(None);
        assert_eq!(s.frustration(), None);
        let m = |negative: f32| crate::sentiment::Mood { negative, neutral: 1.0 - negative, positive: 0.0 };
        for n in [0.9, 0.1, 0.2, 0.3] {
            s.shopper_said("…");
            s.shopper_mood(m(n));
        }
        // the 0.9 is four messages back
        assert_eq!(s.frustration(), Some(0.3));
        s.shopper_said("not scored");
        assert_eq!(s.frustration(), Some(0.3));
        s.shopper_mood(m(0.7));
        assert_eq!(s.frustration(), Some(0.7));
    }
}
