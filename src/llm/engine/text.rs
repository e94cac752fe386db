//! Streaming text out of tokens: stop strings held back until decided, UTF-8 split across tokens held back until whole.
/// Holds back text that may be the start of a stop string; reports when one is reached.
#[derive(Default)]
pub(super) struct StopText {
    pub(super) stops: Vec<String>,
    pub(super) held: String,
}

impl StopText {
    pub(super) fn new(stops: Vec<String>) -> Self {
        Self { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), held: String::new() }
    }

    /// Returns the text safe to send and whether a stop string was reached (the text before it is sent).
    pub(super) fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (piece.to_string(), false);
        }
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let before = self.held[..at].to_string();
            self.held.clear();
            return (before, true);
        }
        // keep the longest tail that starts some stop string
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&self.held[i..])))
            .unwrap_or(self.held.len());
        let send = self.held[..keep].to_string();
        self.held.drain(..keep);
        (send, false)
    }

    /// What is still held when the generation ends (nothing after a stop string).
    pub(super) fn flush(&mut self, stopped: bool) -> String {
        let rest = std::mem::take(&mut self.held);
        if stopped {
            String::new()
        } else {
            rest
        }
    }
}

/// Holds back the bytes of a UTF-8 character split across tokens.
#[derive(Default)]
pub(super) struct Utf8Stream(Vec<u8>);

impl Utf8Stream {
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        match std::str::from_utf8(&self.0) {
            Ok(s) => {
                let s = s.to_string();
                self.0.clear();
                s
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.0[..valid]).to_string();
                self.0.drain(..valid);
                s
            }
            Err(_) => {
                let s = String::from_utf8_lossy(&self.0).to_string();
                self.0.clear();
                s
            }
        }
    }
}
