//! Turns messages into the model's prompt with the GGUF's own chat template: llama.cpp's built-in renderer for the
//! formats it knows (ChatML for SmolLM2 and Qwen), else the `tokenizer.chat_template` Jinja source through minijinja.
use super::{LlmError, Message};
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

pub enum ChatTemplate {
    Builtin(LlamaChatTemplate),
    Jinja { source: String, bos: String, eos: String },
}

impl ChatTemplate {
    /// Picks the renderer that works for this model, trying each on a probe conversation.
    pub fn for_model(model: &LlamaModel) -> Result<Self, LlmError> {
        let probe = [Message::system("s"), Message::user("u")];
        if let Ok(t) = model.chat_template(None) {
            let builtin = ChatTemplate::Builtin(t);
            if builtin.render(model, &probe).is_ok() {
                return Ok(builtin);
            }
        }
        let source = model
            .meta_val_str("tokenizer.chat_template")
            .map_err(|_| LlmError::Template("the model has no chat template".into()))?;
        let piece = |tok| String::from_utf8_lossy(&model.vocab().token_to_piece(tok, true, None)).to_string();
        let jinja = ChatTemplate::Jinja { source, bos: piece(model.vocab().bos()), eos: piece(model.vocab().eos()) };
        jinja.render(model, &probe)?;
        Ok(jinja)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ChatTemplate::Builtin(_) => "gguf (llama.cpp built-in)",
            ChatTemplate::Jinja { .. } => "gguf (jinja via minijinja)",
        }
    }

    /// Renders the conversation ready for the assistant's answer. A trailing assistant message is a prefill:
    /// the answer starts with its text and the model continues it.
    pub fn render(&self, model: &LlamaModel, messages: &[Message]) -> Result<String, LlmError> {
        match messages.split_last() {
            Some((last, rest)) if last.role == "assistant" && !rest.is_empty() => {
                Ok(self.render_open(model, rest)? + &last.content)
            }
            _ => self.render_open(model, messages),
        }
    }

    fn render_open(&self, model: &LlamaModel, messages: &[Message]) -> Result<String, LlmError> {
        match self {
            ChatTemplate::Builtin(t) => {
                let msgs = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.replace('\0', "")))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| LlmError::Template(e.to_string()))?;
                model.apply_chat_template(t, &msgs, true).map_err(|e| LlmError::Template(e.to_string()))
            }
            ChatTemplate::Jinja { source, bos, eos } => {
                let mut env = minijinja::Environment::new();
                env.add_template("chat", source).map_err(|e| LlmError::Template(e.to_string()))?;
                let ctx = serde_json::json!({ "messages": messages, "add_generation_prompt": true, "bos_token": bos, "eos_token": eos });
                env.get_template("chat")
                    .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
                    .map_err(|e| LlmError::Template(e.to_string()))
            }
        }
    }
}
