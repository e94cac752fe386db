//! A job's prompt made ready for its slot: the chat template rendered, the oldest turns dropped until it fits the
//! context beside its reply, tokenized; and its sampler chain (grammar, penalties, top-k/p, temperature).
use super::*;

impl Runner<'_> {
    pub(super) fn prepare(&self, job: &Job) -> Result<(Vec<LlamaToken>, usize, LlamaSampler), LlmError> {
        let ctx_size = self.cfg.ctx_size as usize;
        let room = ctx_size.saturating_sub(job.params.max_tokens as usize);
        let limit = match self.cfg.max_prompt_tokens as usize {
            0 => room,
            n => n.min(room),
        };
        let vocab = self.model.vocab();
        let tokenize = |msgs: &[Message]| -> Result<Vec<LlamaToken>, LlmError> {
            let prompt = self.template.render(self.model, msgs)?;
            Ok(vocab.tokenize(prompt.as_bytes(), true, true))
        };
        let (messages, dropped) = trim_to_fit(&job.messages, limit, |m| Ok(tokenize(m)?.len()))
            .map_err(|tokens| LlmError::PromptTooLong { tokens, context: self.cfg.ctx_size })?;
        let tokens = tokenize(&messages)?;
        if tokens.is_empty() {
            return Err(LlmError::PromptTooLong { tokens: 0, context: self.cfg.ctx_size });
        }
        Ok((tokens, dropped, self.sampler(&job.params, job.grammar.as_deref())?))
    }

    pub(super) fn sampler(&self, p: &GenParams, grammar: Option<&str>) -> Result<LlamaSampler, LlmError> {
        let mut chain = Vec::new();
        if let Some(g) = grammar {
            // the grammar masks every token that would leave its language
            chain.push(LlamaSampler::grammar(self.model, g, "root").map_err(|e| LlmError::Grammar(e.to_string()))?);
        }
        if p.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if (p.repeat_penalty - 1.0).abs() > f32::EPSILON {
                chain.push(LlamaSampler::penalties(self.model.n_vocab(), 64, p.repeat_penalty, 0.0, 0.0));
            }
            if p.top_k > 0 {
                chain.push(LlamaSampler::top_k(p.top_k));
            }
            if p.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(p.top_p, 1));
            }
            chain.push(LlamaSampler::temp(p.temperature));
            chain.push(LlamaSampler::dist(p.seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }
}
