//! Other chat models a chat experiment's variant may speak with (`[llm.alternatives.NAME]`).
use super::{LlmBackend, LlmConfig};
use serde::Deserialize;
use std::path::PathBuf;

/// What an alternative chat model changes of [`LlmConfig`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AltModel {
    pub model: Option<PathBuf>,
    pub backend: Option<LlmBackend>,
    pub server_url: Option<String>,
    pub server_model: Option<String>,
}

impl LlmConfig {
    /// The configuration of an alternative: this one with its changes (and no alternatives of its own).
    pub fn alternative(&self, a: &AltModel) -> LlmConfig {
        let mut c = self.clone();
        c.alternatives.clear();
        if let Some(m) = &a.model {
            c.model = m.clone();
        }
        if let Some(b) = a.backend {
            c.backend = b;
        }
        if let Some(u) = &a.server_url {
            c.server_url = u.clone();
        }
        if let Some(m) = &a.server_model {
            c.server_model = m.clone();
        }
        c
    }
}
