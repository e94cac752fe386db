//! The environment's overrides (`AISLE_*`), applied over the defaults and the config file.
use super::{Config, ConfigError, Secret};
use std::fmt;

impl Config {
    /// Applies `AISLE_*` overrides read through `get` (a function so tests need not touch the process env).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.shop_env(&get)?;
        self.chat_env(&get)?;
        self.models_env(&get)?;
        self.security_env(&get)
    }

    /// The shop, its folders, the admin token and transcript retention.
    fn shop_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("AISLE_LISTEN") {
            self.listen = parse("AISLE_LISTEN", v)?;
        }
        if let Some(v) = get("AISLE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("AISLE_PROMPTS_DIR") {
            self.prompts_dir = v.into();
        }
        if let Some(v) = get("AISLE_TEMPLATES_DIR") {
            self.templates_dir = v.into();
        }
        if let Some(v) = get("AISLE_STATIC_DIR") {
            self.static_dir = v.into();
        }
        if let Some(v) = get("AISLE_SHOP_NAME") {
            self.shop_name = v;
        }
        if let Some(v) = get("AISLE_ADMIN_TOKEN") {
            self.admin_token = Secret::new(v);
        }
        if let Some(v) = get("AISLE_RETENTION_DAYS") {
            self.transcript_retention_days = parse("AISLE_RETENTION_DAYS", v)?;
        }
        Ok(())
    }

    /// The chat: its reply budget, dictionary, languages, currency, locale and rules.
    fn chat_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("AISLE_REPLY_BUDGET") {
            self.chat.reply_budget_secs = parse("AISLE_REPLY_BUDGET", v)?;
        }
        if let Some(v) = get("AISLE_DICTIONARY") {
            self.chat.dictionary = v.into();
        }
        if let Some(v) = get("AISLE_MODEL_LANGUAGES") {
            self.chat.model_languages = v.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        }
        if let Some(v) = get("AISLE_CURRENCY") {
            if v.len() != 3 || !v.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(ConfigError::Env {
                    name: "AISLE_CURRENCY",
                    value: v,
                    why: "an ISO 4217 code such as GBP".into(),
                });
            }
            self.chat.currency = v;
        }
        if let Some(v) = get("AISLE_LOCALE") {
            if crate::money::Locale::of(&v).is_none() {
                let why = format!("a locale such as de-DE (known languages: {})", crate::money::Locale::known());
                return Err(ConfigError::Env { name: "AISLE_LOCALE", value: v, why });
            }
            self.chat.locale = v;
        }
        if let Some(v) = get("AISLE_EXCLUDE_CATEGORIES") {
            self.rules.exclude_categories =
                v.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
        }
        if let Some(v) = get("AISLE_LLM_INTENTS") {
            self.chat.llm_intent_fallback = parse("AISLE_LLM_INTENTS", v)?;
        }
        Ok(())
    }

    /// The chat model and the embedding model (in-process or a server), and the vector index.
    fn models_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("AISLE_EMBED_MODEL") {
            self.embed.model = v.into();
        }
        if let Some(v) = get("AISLE_EMBED_URL") {
            self.embed.server_url = v;
        }
        if let Some(v) = get("AISLE_EMBED_SERVER_MODEL") {
            self.embed.server_model = v;
        }
        if let Some(v) = get("AISLE_ANN_MIN") {
            self.search.ann_min = parse("AISLE_ANN_MIN", v)?;
        }
        if let Some(v) = get("AISLE_EMBED_THREADS") {
            self.embed.threads = parse("AISLE_EMBED_THREADS", v)?;
        }
        if let Some(v) = get("AISLE_MODEL") {
            self.llm.model = v.into();
        }
        if let Some(v) = get("AISLE_THREADS") {
            self.llm.threads = parse("AISLE_THREADS", v)?;
        }
        if let Some(v) = get("AISLE_CTX") {
            self.llm.ctx_size = parse("AISLE_CTX", v)?;
        }
        if let Some(v) = get("AISLE_QUEUE") {
            self.llm.queue_capacity = parse("AISLE_QUEUE", v)?;
        }
        if let Some(v) = get("AISLE_TEMPERATURE") {
            self.llm.temperature = parse("AISLE_TEMPERATURE", v)?;
        }
        if let Some(v) = get("AISLE_SLOTS") {
            self.llm.slots = parse("AISLE_SLOTS", v)?;
        }
        if let Some(v) = get("AISLE_LLM_DEADLINE") {
            self.llm.deadline_secs = parse("AISLE_LLM_DEADLINE", v)?;
        }
        if let Some(v) = get("AISLE_LLM_BACKEND") {
            self.llm.backend = parse("AISLE_LLM_BACKEND", v)?;
        }
        if let Some(v) = get("AISLE_LLM_URL") {
            self.llm.server_url = v;
        }
        if let Some(v) = get("AISLE_LLM_SERVER_MODEL") {
            self.llm.server_model = v;
        }
        if let Some(v) = get("AISLE_LLM_API_KEY") {
            self.llm.api_key = Secret::new(v);
        }
        Ok(())
    }

    /// Shopper identity, allowed origins and cookies.
    fn security_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("AISLE_IDENTITY_SECRET") {
            self.security.identity_secret = Secret::new(v);
        }
        if let Some(v) = get("AISLE_TRUST_UNSIGNED_IDS") {
            self.security.trust_unsigned_ids = parse("AISLE_TRUST_UNSIGNED_IDS", v)?;
        }
        if let Some(v) = get("AISLE_ALLOWED_ORIGINS") {
            self.security.allowed_origins =
                v.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
        }
        if let Some(v) = get("AISLE_SECURE_COOKIES") {
            self.security.secure_cookies = parse("AISLE_SECURE_COOKIES", v)?;
        }
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, v: String) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    v.parse().map_err(|e: T::Err| ConfigError::Env { name, value: v.clone(), why: e.to_string() })
}
