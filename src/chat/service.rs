//! Customer-service answers: an order, a policy section or a hand-over, worded by a template from what the
//! tools found (no model: the facts are the answer).
use super::*;

impl Assistant {
    /// A customer-service answer from the tools, worded by a template (no model: the facts are the answer).
    pub(super) async fn serve(
        &self,
        r: Route,
        text: &str,
        customer: Option<&str>,
        out: &mpsc::Sender<TurnFrame>,
    ) -> TurnResult {
        let this = self.clone();
        let (t, c, r2) = (text.to_string(), customer.map(str::to_string), r.clone());
        let answer = tokio::task::spawn_blocking(move || this.service_answer(&r2, &t, c.as_deref())).await;
        let (reply, source) = match answer {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "service answer failed");
                (self.phrases.say("lookup_failed", &[]), "an error".to_string())
            }
            Err(e) => {
                tracing::error!(error = %e, "service task failed");
                (self.phrases.say("went_wrong", &[]), "an error".to_string())
            }
        };
        let handoff = matches!(r, Route::Handoff(_));
        let verdict = Verdict { passed: false, reason: Some(format!("answered from {source}")) };
        let _ = out.send(TurnFrame::Delta { text: reply.clone() }).await;
        let tool = match r {
            Route::Order => "order",
            Route::Policy(i) if crate::service::REQUEST_INTENTS.iter().any(|(r, _)| *r == i) => "order_request",
            Route::Policy(_) => "policy",
            Route::Retrieve => "retrieve",
            Route::Handoff(_) => "handoff",
            Route::Greeting => "greeting",
            Route::OffTopic | Route::Shop => "off_topic",
        };
        TurnResult {
            text: reply,
            cards: vec![],
            verdict,
            understanding: Understanding::default(),
            stats: None,
            intent: None,
            handoff,
            tool: tool.into(),
            focus: None,
            suggest: vec![],
        }
    }

    pub(super) fn service_answer(
        &self,
        r: &Route,
        text: &str,
        customer: Option<&str>,
    ) -> Result<(String, String), crate::prompts::TemplateError> {
        let shop = serde_json::json!({ "shop": &self.shop_name });
        let (reply, source) = match r {
            Route::Order => {
                let number = customer
                    .and_then(|c| crate::service::order_in(&self.store, c, text))
                    .or_else(|| crate::service::order_number(text));
                let answer = crate::service::order_status(&self.store, customer, number.as_deref())
                    .unwrap_or(crate::service::OrderAnswer::NoOrders);
                (
                    self.prompts.render("service/order.j2", serde_json::json!({ "answer": answer }))?,
                    "the order tool".to_string(),
                )
            }
            Route::Policy(intent) if crate::service::REQUEST_INTENTS.iter().any(|(i, _)| i == intent) => {
                // "cancel my order": recorded on the order for staff, with what the policy says (never promised)
                let kind = crate::service::REQUEST_INTENTS.iter().find(|(i, _)| i == intent).map_or("cancel", |r| r.1);
                let answer = crate::service::record_request(&self.store, customer, kind, text);
                let section = self.policies.for_intent(intent, text).into_iter().next().map(|s| self.local_section(s));
                let source = match &answer {
                    crate::service::RequestAnswer::Recorded { .. } => {
                        format!("the order tool ({kind} request recorded)")
                    }
                    _ => "the order tool".to_string(),
                };
                let ctx = serde_json::json!({ "answer": answer, "request": kind, "section": section });
                (self.prompts.render("service/request.j2", ctx)?, source)
            }
            Route::Policy(intent) => {
                let section = self.policies.for_intent(intent, text).into_iter().next().map(|s| self.local_section(s));
                let source =
                    section.map_or("no policy".to_string(), |s| format!("the {} policy", s.document.to_lowercase()));
                (self.prompts.render("service/policy.j2", serde_json::json!({ "section": section }))?, source)
            }
            Route::Retrieve => {
                let found = self
                    .intents
                    .get()
                    .and_then(|i| i.embedder().embed_blocking(vec![text.to_string()], crate::embed::Role::Query).ok());
                let best = found
                    .and_then(|mut v| v.pop())
                    .and_then(|q| self.policies.closest(&q).filter(|(_, s)| *s >= crate::service::MIN_SIMILARITY));
                let section = best.map(|(s, _)| self.local_section(s));
                let source = section.map_or("no policy".to_string(), |s| {
                    format!("the {} policy (retrieved)", s.document.to_lowercase())
                });
                (self.prompts.render("service/policy.j2", serde_json::json!({ "section": section }))?, source)
            }
            Route::Handoff(intent) => (
                self.prompts.render("service/handoff.j2", serde_json::json!({ "intent": intent }))?,
                "the handoff tool".to_string(),
            ),
            Route::Greeting => (self.prompts.render("service/chit_chat.j2", &shop)?, "a greeting template".to_string()),
            Route::OffTopic | Route::Shop => {
                (self.prompts.render("service/other.j2", &shop)?, "an off-topic template".to_string())
            }
        };
        Ok((reply.trim().to_string(), source))
    }

    /// A policy section as this assistant's language has it (its own documents have the same sections in the
    /// same order); the English section where the language has no documents.
    fn local_section<'a>(&'a self, s: &'a crate::service::Section) -> &'a crate::service::Section {
        let local = self.langs.get(self.lang()).and_then(|l| l.policies.as_ref());
        let at = self.policies.sections.iter().position(|x| std::ptr::eq(x, s));
        match (local, at) {
            (Some(l), Some(i)) if l.sections.len() == self.policies.sections.len() => &l.sections[i],
            _ => s,
        }
    }
}
