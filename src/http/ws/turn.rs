//! A shopper's message: accepted (trimmed, limited, redacted), answered by the assistant with its frames
//! forwarded, then recorded (the turn, the handoff rule, the cards shown).
use super::*;

/// What a turn answers: the message, in the conversation's language, for its customer and its state so far.
pub(super) struct TurnInput<'a> {
    text: &'a str,
    lang: &'a str,
    customer: Option<&'a str>,
    slots: &'a crate::chat::query::Slots,
    /// A chat experiment's ranking weights for this conversation.
    blend: Option<crate::recommend::Blend>,
    /// A chat experiment's prompt template set for this conversation.
    prompts: Option<&'a str>,
    /// A chat experiment's other chat model for this conversation.
    model: Option<&'a str>,
}

impl Conversation {
    pub(super) async fn message(
        &mut self,
        text: String,
        tx: &mpsc::Sender<Outgoing>,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        let Some(text) = self.accept_text(&text, tx).await else { return true };
        if self.session.is_none() {
            self.hello(None, None, None, tx).await;
        }
        if !self.stored {
            if let Some(s) = &self.session {
                let (sessions, s) = (self.state.sessions.clone(), s.clone());
                if let Err(e) = off_workers(move || sessions.save(&s)).await {
                    tracing::error!(error = %e, "could not save a new session");
                }
                self.stored = true;
            }
        }
        let said = text.clone();
        // the shopper's letters decide the language; a message that does not tell ("ok", "536365") keeps it
        let detected = self.state.assistant.langs.detect(&text).map(str::to_string);
        let before = self.session.as_ref().and_then(|s| s.lang.clone()).unwrap_or_else(|| crate::lang::DEFAULT.into());
        if let Some(now) = detected.as_ref().filter(|d| **d != before) {
            // the page's labels follow the conversation into the shopper's language
            let labels = self.state.assistant.phrasebook.get(now);
            let _ = tx.send(Outgoing::Frame(json!({ "type": "lang", "lang": now, "labels": labels.widget() }))).await;
        }
        if self
            .update(move |s| {
                if detected.is_some() {
                    s.lang = detected;
                }
                s.shopper_said(&said)
            })
            .await
            .is_none()
        {
            let _ = tx.send(error("session_gone", "this conversation was deleted; reload to start a new one")).await;
            return true;
        }
        let Some(session) = self.session.as_ref() else { return false };
        let (customer, slots, id) = (session.customer.clone(), session.slots.clone(), session.id.clone());
        let lang = session.lang.clone().unwrap_or_else(|| crate::lang::DEFAULT.to_string());
        self.state.live.publish(id.as_str(), LiveEvent::Shopper { text: text.clone() });
        if session.live.is_some() {
            // a person is answering: the assistant stays quiet
            let _ = tx.send(Outgoing::Frame(json!({ "type": "sent_to_staff" }))).await;
            return true;
        }
        let treatment = self.treatment();
        if let Some(t) = treatment.as_ref().filter(|t| t.variant.holdout) {
            // the holdout's widget is hidden; a message that comes anyway gets no assistant
            self.expose(t).await;
            let _ = tx.send(error("holdout", "the assistant is not available on this page")).await;
            return true;
        }
        let blend = treatment.as_ref().and_then(|t| t.variant.ranking).map(Into::into);
        let prompts = treatment.as_ref().and_then(|t| t.variant.prompts.as_deref());
        let model = treatment.as_ref().and_then(|t| t.variant.chat_model.as_deref());
        let input =
            TurnInput { text: &text, lang: &lang, customer: customer.as_deref(), slots: &slots, blend, prompts, model };
        // how the message reads (for the support queue), scored while the turn runs
        let mood = self.state.sentiment.get().map(|s| {
            let t = text.clone();
            tokio::task::spawn_blocking(move || s.mood(&t))
        });
        let Some((r, done)) = self.run_turn(input, tx, stream, shutdown).await else {
            tracing::info!("turn cancelled: the shopper left or the server is stopping");
            return false;
        };
        // a ranking experiment exposes the conversation when its ranking first shows cards
        if let Some(t) = treatment.as_ref().filter(|t| t.experiment.has_holdout() || !r.cards.is_empty()) {
            self.expose(t).await;
        }
        let r = std::sync::Arc::new(r);
        let answered = r.clone();
        let mood = match mood {
            Some(m) => m.await.map_err(|e| e.to_string()).and_then(|m| m.map_err(|e| e.to_string())),
            None => Err("the sentiment head is not ready".into()),
        };
        let mood = mood.map_err(|e| tracing::debug!(error = %e, "the message's mood was not scored")).ok();
        let auto = self
            .update(move |s| {
                if let Some(m) = mood {
                    s.shopper_mood(m);
                }
                s.answered(&answered)
            })
            .await
            .unwrap_or(false);
        self.state.live.publish(id.as_str(), LiveEvent::Assistant { text: r.text.clone() });
        if let Some(s) = self.session.as_ref() {
            let (store, shown) = (self.state.store.clone(), s.shown_events(&r.cards));
            if let Err(err) = off_workers(move || store.record_events(&shown)).await {
                tracing::warn!(error = %err, "could not record the shown cards");
            }
        }
        // `done` goes out once the turn and its cards are recorded: a transcript read after it has the reply
        for f in done {
            let _ = tx.send(f).await;
        }
        if r.handoff || auto {
            let mut frame = json!({ "type": "handoff", "state": "waiting" });
            if auto {
                tracing::info!(session = id.as_str(), "handed to staff after repeated unhelpful answers");
                frame["reason"] = json!("repeated_failure");
            }
            let _ = tx.send(Outgoing::Frame(frame)).await;
        }
        true
    }

    /// The message as it may be used: trimmed, within the size limit, personal data redacted (it never reaches
    /// the store, the logs or the model). None (with an error frame sent) when it is empty or too long.
    pub(super) async fn accept_text(&self, text: &str, tx: &mpsc::Sender<Outgoing>) -> Option<String> {
        let text = text.trim();
        let max = self.state.config.chat.max_message_chars;
        if text.is_empty() {
            let _ = tx.send(error("empty", "the message is empty")).await;
            return None;
        }
        if text.chars().count() > max {
            let _ = tx.send(error("too_long", format!("messages are limited to {max} characters"))).await;
            return None;
        }
        Some(crate::privacy::redact(text))
    }

    /// Runs the assistant's turn, forwarding its frames as they come except `done`, which is handed back for
    /// the caller to send once the turn is recorded. A message sent meanwhile is refused ("one at a time");
    /// None when the shopper left or the server is stopping (the generation is dropped).
    pub(super) async fn run_turn(
        &self,
        input: TurnInput<'_>,
        tx: &mpsc::Sender<Outgoing>,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<(crate::chat::TurnResult, Vec<Outgoing>)> {
        let (ftx, mut frx) = mpsc::channel::<TurnFrame>(64);
        let mut assistant = self.state.assistant.in_lang(input.lang);
        if let Some(b) = input.blend {
            assistant.blend = b;
        }
        if let Some(set) = input.prompts {
            assistant.prompts = assistant.prompts.with_set(set);
        }
        if let Some(m) = input.model.and_then(|m| self.state.assistant.models.get(m)) {
            assistant.llm = m.clone();
        }
        let turn = assistant.turn(input.text, input.customer, input.slots, &ftx);
        tokio::pin!(turn);
        let forward = |f: TurnFrame| Outgoing::Frame(serde_json::to_value(f).unwrap_or_default());
        let mut done = vec![];
        let result = loop {
            tokio::select! {
                r = &mut turn => break Some(r),
                Some(f) = frx.recv() => match f {
                    TurnFrame::Done { .. } => done.push(forward(f)),
                    f => { let _ = tx.send(forward(f)).await; }
                },
                m = stream.next() => match m {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                    Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                        let _ = tx.send(error("busy", "one message at a time: wait for the answer to finish")).await;
                    }
                    Some(Ok(_)) => {}
                },
                _ = shutdown.changed() => break None,
            }
        };
        while let Ok(f) = frx.try_recv() {
            match f {
                TurnFrame::Done { .. } => done.push(forward(f)),
                f => {
                    let _ = tx.send(forward(f)).await;
                }
            }
        }
        result.map(|r| (r, done))
    }
}

impl Conversation {
    /// This conversation's variant of the running chat experiment (None: no experiment, or it was stopped).
    pub(super) fn treatment(&self) -> Option<crate::experiments::Treatment> {
        let e = self.state.experiments.running_on(crate::experiments::Surface::Chat)?;
        let s = self.session.as_ref()?;
        self.state.experiments.treatment(&e, &experiment_unit(&e, s))
    }

    /// Records the conversation's exposure (once per unit); returns the variant it was first exposed to.
    pub(super) async fn expose(&self, t: &crate::experiments::Treatment) -> Option<String> {
        let s = self.session.as_ref()?;
        let (x, t, unit, user) =
            (self.state.experiments.clone(), t.clone(), experiment_unit(&t.experiment, s), s.event_user());
        match off_workers(move || x.expose(&t, &unit, &user, crate::session::now())).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "could not record an experiment exposure");
                None
            }
        }
    }
}

/// The unit a chat experiment counts: the shopper (customer id or the session's anonymous id) or the session.
fn experiment_unit(e: &crate::experiments::Experiment, s: &crate::session::Session) -> String {
    match e.unit {
        crate::experiments::Unit::Shopper => s.event_user(),
        crate::experiments::Unit::Session => s.id.as_str().to_string(),
    }
}
