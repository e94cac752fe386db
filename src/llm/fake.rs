//! A scripted model for tests of dialogue logic and of the HTTP edge, where the real model would be slow and its
//! words unpredictable. It writes the replies it was given, word by word, with a chosen pause between words, can
//! fail or be busy on cue, and keeps every prompt it was sent. Never the only test of a feature: the end-to-end
//! tests run the real model.
use super::{GenParams, Generate, LlmError, Message, ModelInfo, Output, Stats, Stop};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the fake does for one generation.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Writes this text, split after each space, pausing `gap` after each piece.
    Text { text: String, gap: Duration },
    /// Writes `before`, then fails with `why` (an engine error mid-reply).
    Fail { before: String, why: String },
    /// Refuses at once: the generation queue is full.
    Busy,
}

impl Reply {
    pub fn text(text: &str) -> Self {
        Self::Text { text: text.into(), gap: Duration::ZERO }
    }

    /// A slow model: `gap_ms` between words.
    pub fn slow(text: &str, gap_ms: u64) -> Self {
        Self::Text { text: text.into(), gap: Duration::from_millis(gap_ms) }
    }
}

/// Answers each generation with the next scripted [`Reply`]; the last one repeats.
pub struct FakeLlm {
    script: Mutex<VecDeque<Reply>>,
    prompts: Mutex<Vec<Vec<Message>>>,
    info: ModelInfo,
}

impl FakeLlm {
    pub fn new(script: impl IntoIterator<Item = Reply>) -> Self {
        let info = ModelInfo {
            path: "fake.gguf".into(),
            description: "a scripted test model".into(),
            parameters: 0,
            context: 2048,
            template: String::new(),
        };
        Self { script: Mutex::new(script.into_iter().collect()), prompts: Mutex::default(), info }
    }

    /// Every prompt sent so far, oldest first.
    pub fn prompts(&self) -> Vec<Vec<Message>> {
        self.prompts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn next(&self) -> Reply {
        let mut s = self.script.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() > 1 {
            s.pop_front().unwrap_or(Reply::Busy)
        } else {
            s.front().cloned().unwrap_or(Reply::Busy)
        }
    }
}

fn stats(generated: usize) -> Stats {
    Stats {
        prompt_tokens: 1,
        reused_tokens: 0,
        dropped_messages: 0,
        generated_tokens: generated,
        queue_ms: 0.0,
        prompt_ms: 0.0,
        first_token_ms: 0.0,
        generate_ms: 0.0,
        stop: Stop::EndOfText,
    }
}

impl Generate for FakeLlm {
    fn generate(&self, messages: Vec<Message>, _: GenParams) -> Result<mpsc::Receiver<Output>, LlmError> {
        self.prompts.lock().unwrap_or_else(|e| e.into_inner()).push(messages);
        let reply = self.next();
        if matches!(reply, Reply::Busy) {
            return Err(LlmError::Busy(1));
        }
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let (text, gap, failure) = match reply {
                Reply::Text { text, gap } => (text, gap, None),
                Reply::Fail { before, why } => (before, Duration::ZERO, Some(why)),
                Reply::Busy => return,
            };
            let pieces: Vec<&str> = text.split_inclusive(' ').collect();
            for piece in &pieces {
                if tx.send(Output::Text(piece.to_string())).await.is_err() {
                    return; // cancelled
                }
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
            }
            let last = match failure {
                Some(why) => Output::Failed(why),
                None => Output::Done(stats(pieces.len())),
            };
            let _ = tx.send(last).await;
        });
        Ok(rx)
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}
