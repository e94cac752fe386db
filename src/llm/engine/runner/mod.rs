//! The engine thread: slots decoded together in one batch per step, admission, sampling (grammar included),
//! finishing and failing jobs.
use super::*;
mod prepare;

/// A generation in a slot.
pub(super) struct Active {
    pub(super) out: mpsc::Sender<Output>,
    pub(super) params: GenParams,
    pub(super) sampler: LlamaSampler,
    pub(super) prompt: Vec<LlamaToken>,
    /// The sampled token not yet decoded (its KV is made in the next step).
    pub(super) pending: Option<LlamaToken>,
    /// Index in this step's batch of the token whose logits this slot samples from.
    pub(super) logits_at: Option<i32>,
    /// Prompt tokens put in this step's batch.
    pub(super) reading: usize,
    pub(super) generated: usize,
    pub(super) text: Utf8Stream,
    pub(super) stops: StopText,
    pub(super) queue_ms: f64,
    pub(super) started: Instant,
    pub(super) prompt_done: Option<Instant>,
    pub(super) first: Option<Instant>,
    pub(super) reused: usize,
    pub(super) dropped: usize,
    pub(super) deadline: Option<Instant>,
}

/// One sequence of the context.
pub(super) struct Slot {
    pub(super) seq: i32,
    /// The tokens whose KV cache this sequence holds, by position.
    pub(super) tokens: Vec<LlamaToken>,
    pub(super) last_used: u64,
    pub(super) work: Option<Active>,
}

pub(super) struct Runner<'m> {
    pub(super) model: &'m LlamaModel,
    pub(super) ctx: LlamaContext<'m>,
    pub(super) template: ChatTemplate,
    pub(super) cfg: LlmConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) slots: Vec<Slot>,
    pub(super) clock: u64,
}

pub(super) fn run(
    cfg: LlmConfig,
    jobs: Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<ModelInfo, LlmError>>,
    counters: Arc<Counters>,
) {
    let loaded = (|| {
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &cfg.model, &LlamaModelParams::default())
            .map_err(|e| LlmError::Load { path: cfg.model.clone(), why: e.to_string() })?;
        let template = ChatTemplate::for_model(&model)?;
        Ok::<_, LlmError>((backend, model, template))
    })();
    let (backend, model, template) = match loaded {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let n_slots = cfg.slots.clamp(1, cfg.batch_size.max(1) as usize);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.ctx_size.saturating_mul(n_slots as u32)))
        .with_n_batch(cfg.batch_size)
        .with_n_ubatch(cfg.batch_size)
        .with_n_seq_max(n_slots as u32)
        .with_kv_unified(false)
        .with_n_threads(cfg.threads.max(1))
        .with_n_threads_batch(cfg.threads.max(1));
    let ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(LlmError::Backend(format!("cannot create a context: {e}"))));
            return;
        }
    };
    let info = ModelInfo {
        path: cfg.model.clone(),
        description: model.meta_val_str("general.name").unwrap_or_else(|_| "unnamed model".into()),
        parameters: model.n_params(),
        context: cfg.ctx_size.min(ctx.n_ctx()),
        template: template.kind().into(),
    };
    tracing::info!(model = %info.description, params = info.parameters, threads = cfg.threads, slots = n_slots,
        "language model ready");
    let _ = ready.send(Ok(info));
    let slots = (0..n_slots).map(|i| Slot { seq: i as i32, tokens: Vec::new(), last_used: 0, work: None }).collect();
    let mut runner = Runner { model: &model, ctx, template, cfg, counters, slots, clock: 0 };
    runner.serve(&jobs);
}

impl Runner<'_> {
    fn serve(&mut self, jobs: &Receiver<Job>) {
        // every generating slot needs a place in each step's batch
        let n_batch = (self.cfg.batch_size as usize).max(self.slots.len());
        let mut batch = LlamaBatch::new(n_batch, 1);
        let mut open = true;
        loop {
            if self.slots.iter().all(|s| s.work.is_none()) {
                match jobs.recv() {
                    Ok(job) => self.admit(job),
                    Err(_) => return,
                }
            }
            while open && self.slots.iter().any(|s| s.work.is_none()) {
                match jobs.try_recv() {
                    Ok(job) => self.admit(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            self.drop_abandoned();
            if !self.fill(&mut batch, n_batch) {
                if !open && self.slots.iter().all(|s| s.work.is_none()) {
                    return;
                }
                continue;
            }
            let t = Instant::now();
            if let Err(e) = self.ctx.decode(&mut batch) {
                // each slot's prompt and answer fit its stream (checked at admission), so this is llama.cpp failing
                self.fail_batch(&format!("decode failed: {e}"));
                continue;
            }
            let decoding = self.slots.iter().any(|s| s.work.as_ref().is_some_and(|a| a.prompt_done.is_some()));
            self.after_decode();
            if decoding {
                Counters::add(&self.counters.decode_us, t.elapsed().as_micros() as u64);
            }
            self.sample_all();
        }
    }

    /// Renders and tokenises a request, picks its slot and reuses the longest cached prefix it can.
    fn admit(&mut self, job: Job) {
        let c = self.counters.clone();
        c.waiting.fetch_sub(1, Ordering::Relaxed);
        Counters::add(&c.requests, 1);
        let started = Instant::now();
        let queue_ms = started.duration_since(job.enqueued).as_secs_f64() * 1000.0;
        let prepared = self.prepare(&job);
        let (prompt, dropped, sampler) = match prepared {
            Ok(p) => p,
            Err(e) => {
                Counters::add(&c.failed, 1);
                tracing::warn!(error = %e, "generation refused");
                let _ = job.out.try_send(Output::Failed(e.to_string()));
                return;
            }
        };
        let view: Vec<(&[LlamaToken], bool, u64)> =
            self.slots.iter().map(|s| (s.tokens.as_slice(), s.work.is_none(), s.last_used)).collect();
        let Some(plan) = plan_slot(&view, &prompt) else {
            // unreachable: admit is only called with a free slot
            let _ = job.out.try_send(Output::Failed("no free slot".into()));
            return;
        };
        let seq = self.slots[plan.slot].seq;
        if let Some((src, n)) = plan.copy_from {
            // streams are copied whole (llama.cpp copies between streams only in full), then cut to the prefix
            let src_seq = self.slots[src].seq;
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            let _ = self.ctx.copy_kv_cache_seq(src_seq, seq, None, None);
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), Some(n as u32), None);
            let head = self.slots[src].tokens[..n].to_vec();
            self.slots[plan.slot].tokens = head;
        } else if !matches!(self.ctx.clear_kv_cache_seq(Some(seq as u32), Some(plan.reuse as u32), None), Ok(true)) {
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            self.slots[plan.slot].tokens.clear();
        } else {
            self.slots[plan.slot].tokens.truncate(plan.reuse);
        }
        let reused = self.slots[plan.slot].tokens.len();
        Counters::add(&c.prompt_tokens, prompt.len() as u64);
        Counters::add(&c.reused_tokens, reused as u64);
        Counters::add(if reused > 0 { &c.cache_hits } else { &c.cache_misses }, 1);
        c.active.fetch_add(1, Ordering::Relaxed);
        let deadline = job.params.deadline.map(|d| job.enqueued + d);
        let stops = StopText::new(job.params.stop.clone());
        self.clock += 1;
        let slot = &mut self.slots[plan.slot];
        slot.last_used = self.clock;
        slot.work = Some(Active {
            out: job.out,
            params: job.params,
            sampler,
            prompt,
            pending: None,
            logits_at: None,
            reading: 0,
            generated: 0,
            text: Utf8Stream::default(),
            stops,
            queue_ms,
            started,
            prompt_done: None,
            first: None,
            reused,
            dropped,
            deadline,
        });
    }

    /// Ends generations whose reader went away or whose deadline passed.
    fn drop_abandoned(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let Some(a) = &self.slots[i].work else { continue };
            if a.out.is_closed() {
                self.finish(i, Stop::Cancelled);
            } else if a.deadline.is_some_and(|d| now >= d) {
                self.finish(i, Stop::Deadline);
            }
        }
    }

    /// Puts this step's tokens in the batch: one for each generating slot, then prompt chunks in the room left.
    /// False when there is nothing to decode.
    fn fill(&mut self, batch: &mut LlamaBatch, n_batch: usize) -> bool {
        batch.clear();
        let mut n = 0usize;
        for s in &mut self.slots {
            let Some(a) = &mut s.work else { continue };
            a.logits_at = None;
            a.reading = 0;
            if let Some(t) = a.pending {
                if batch.add(t, s.tokens.len() as i32, &[s.seq], true).is_err() {
                    continue;
                }
                a.logits_at = Some(n as i32);
                n += 1;
            }
        }
        // prompts are read oldest request first
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].work.as_ref().is_some_and(|a| a.prompt_done.is_none()))
            .collect();
        order.sort_by_key(|&i| self.slots[i].work.as_ref().map(|a| a.started));
        for i in order {
            let s = &mut self.slots[i];
            let Some(a) = &mut s.work else { continue };
            let from = s.tokens.len();
            let take = (a.prompt.len() - from).min(n_batch.saturating_sub(n));
            for k in 0..take {
                let last = from + k + 1 == a.prompt.len();
                if batch.add(a.prompt[from + k], (from + k) as i32, &[s.seq], last).is_err() {
                    break;
                }
                if last {
                    a.logits_at = Some(n as i32);
                }
                a.reading += 1;
                n += 1;
            }
        }
        n > 0
    }

    /// Records what the decoded batch put in each sequence's cache.
    fn after_decode(&mut self) {
        for s in &mut self.slots {
            let Some(a) = &mut s.work else { continue };
            if let Some(t) = a.pending.take() {
                s.tokens.push(t);
            } else if a.prompt_done.is_none() {
                let from = s.tokens.len();
                s.tokens.extend_from_slice(&a.prompt[from..from + a.reading]);
                if s.tokens.len() == a.prompt.len() {
                    a.prompt_done = Some(Instant::now());
                }
            }
        }
    }

    fn sample_all(&mut self) {
        for i in 0..self.slots.len() {
            let n_ctx = self.cfg.ctx_size as usize;
            let s = &mut self.slots[i];
            let Some(a) = &mut s.work else { continue };
            let Some(idx) = a.logits_at.take() else { continue };
            if a.generated >= a.params.max_tokens as usize {
                self.finish(i, Stop::MaxTokens);
                continue;
            }
            let token = a.sampler.sample(&self.ctx, idx);
            if self.model.vocab().is_eog(token) {
                self.finish(i, Stop::EndOfText);
                continue;
            }
            a.generated += 1;
            if a.first.is_none() {
                a.first = Some(Instant::now());
            }
            let piece = a.text.push(&self.model.vocab().token_to_piece(token, false, None));
            let (send, stopped) = a.stops.push(&piece);
            if !send.is_empty() && a.out.try_send(Output::Text(send)).is_err() {
                self.finish(i, Stop::Cancelled);
                continue;
            }
            if stopped {
                self.finish(i, Stop::StopString);
            } else if a.generated >= a.params.max_tokens as usize || s.tokens.len() + 1 >= n_ctx {
                self.finish(i, Stop::MaxTokens);
            } else {
                a.pending = Some(token);
            }
        }
    }

    /// Ends slot `i`'s generation: sends what the stop-string check held back and the figures.
    fn finish(&mut self, i: usize, stop: Stop) {
        let Some(mut a) = self.slots[i].work.take() else { return };
        self.clock += 1;
        self.slots[i].last_used = self.clock;
        let c = &self.counters;
        c.active.fetch_sub(1, Ordering::Relaxed);
        Counters::add(&c.generated, a.generated as u64);
        c.finished(stop, a.first.map(|f| f.duration_since(a.started)));
        let rest = a.stops.flush(stop == Stop::StopString);
        if !rest.is_empty() {
            let _ = a.out.try_send(Output::Text(rest));
        }
        let ms = |t: Instant| t.duration_since(a.started).as_secs_f64() * 1000.0;
        let prompt_done = a.prompt_done.unwrap_or_else(Instant::now);
        let stats = Stats {
            prompt_tokens: a.prompt.len(),
            reused_tokens: a.reused,
            dropped_messages: a.dropped,
            generated_tokens: a.generated,
            queue_ms: a.queue_ms,
            prompt_ms: ms(prompt_done),
            first_token_ms: a.first.map_or(0.0, ms),
            generate_ms: Instant::now().duration_since(prompt_done).as_secs_f64() * 1000.0,
            stop,
        };
        tracing::debug!(
            tokens = stats.generated_tokens,
            reused = stats.reused_tokens,
            first_token_ms = stats.first_token_ms,
            ?stop,
            "generation done"
        );
        let _ = a.out.try_send(Output::Done(stats));
    }

    /// Fails every request in the batch that could not be decoded and forgets their caches.
    fn fail_batch(&mut self, why: &str) {
        tracing::warn!(error = why, "generation failed");
        for s in &mut self.slots {
            let Some(a) = s.work.take() else { continue };
            if a.logits_at.is_none() && a.pending.is_none() && a.prompt_done.is_some() {
                s.work = Some(a);
                continue;
            }
            self.counters.active.fetch_sub(1, Ordering::Relaxed);
            Counters::add(&self.counters.failed, 1);
            let _ = a.out.try_send(Output::Failed(format!("llama.cpp: {why}")));
            let _ = self.ctx.clear_kv_cache_seq(Some(s.seq as u32), None, None);
            s.tokens.clear();
        }
    }
}
