//! The model's words, streamed as they pass the grounding check, within the reply's time budget.
use super::*;

/// Streams the model's words as they pass the grounding check; on a violation, an engine error or a busy queue
/// the shopper gets `fallback` instead (a `replace` frame when some words were already shown).
///
/// `budget` is the time the model's words may take after its first token; past it the generation is cancelled and
/// the template completes the reply, so a shopper on a busy machine is never left watching a cursor.
pub async fn speak<E: std::fmt::Display>(
    llm: &dyn Generate,
    gen: GenParams,
    messages: Result<Vec<Message>, E>,
    facts: &Facts,
    fallback: String,
    out: &mpsc::Sender<TurnFrame>,
    budget: Option<std::time::Duration>,
) -> (String, Verdict, Option<Stats>) {
    let failed = |reason: String, streamed: bool, stats: Option<Stats>| {
        let fallback = fallback.clone();
        async move {
            let frame = if streamed {
                TurnFrame::Replace { text: fallback.clone() }
            } else {
                TurnFrame::Delta { text: fallback.clone() }
            };
            let _ = out.send(frame).await;
            (fallback, Verdict { passed: false, reason: Some(reason) }, stats)
        }
    };
    let messages = match messages {
        Ok(m) => m,
        Err(e) => return failed(format!("prompt: {e}"), false, None).await,
    };
    let prefill = messages.last().filter(|m| m.role == "assistant").map(|m| m.content.clone());
    let prefill = prefill.as_deref();
    let mut rx = match llm.generate(messages, gen) {
        Ok(rx) => rx,
        Err(e) => {
            if matches!(e, LlmError::Busy(_)) {
                return failed(format!("{BUSY_REASON}{e}"), false, None).await;
            }
            tracing::error!(error = %e, "generation could not start");
            return failed(e.to_string(), false, None).await;
        }
    };
    let mut checker = Checker::new(facts);
    let (mut streamed, mut stats) = (false, None);
    let mut pending = prefill.map(|p| Output::Text(p.to_string()));
    // set at the model's first token
    let mut cutoff: Option<tokio::time::Instant> = None;
    loop {
        let o = match pending.take() {
            Some(o) => o,
            None => match next_within(&mut rx, &mut cutoff, budget).await {
                Ok(Some(o)) => o,
                Ok(None) => break,
                Err(()) => {
                    drop(rx); // stop generating
                    tracing::info!("the reply ran past its time budget; the template completes it");
                    let reason = format!("{BUDGET_REASON}over {:.1} s", budget.unwrap_or_default().as_secs_f64());
                    return failed(reason, streamed, None).await;
                }
            },
        };
        match o {
            Output::Text(t) => match checker.push(&t) {
                Ok(ok) if !ok.is_empty() => {
                    streamed = true;
                    if out.send(TurnFrame::Delta { text: ok }).await.is_err() {
                        // the reader went away: dropping `rx` cancels the generation
                        return (String::new(), Verdict { passed: false, reason: Some("cancelled".into()) }, None);
                    }
                }
                Ok(_) => {}
                Err(v) => {
                    drop(rx); // stop generating
                    tracing::info!(violation = %v, "generated text failed the grounding check");
                    return failed(format!("check: {v}"), streamed, None).await;
                }
            },
            Output::Done(s) => {
                stats = Some(s);
                break;
            }
            Output::Failed(e) => return failed(format!("engine: {e}"), streamed, None).await,
        }
    }
    match checker.finish() {
        Ok((tail, full)) => {
            if !tail.is_empty() {
                let _ = out.send(TurnFrame::Delta { text: tail }).await;
            }
            (full, Verdict { passed: true, reason: None }, stats)
        }
        Err(v) => failed(format!("check: {v}"), streamed, stats).await,
    }
}

/// The model's next output; the budget's clock starts at its first token. `Err` when the budget ran out first,
/// `Ok(None)` when the generation ended.
async fn next_within(
    rx: &mut mpsc::Receiver<Output>,
    cutoff: &mut Option<tokio::time::Instant>,
    budget: Option<std::time::Duration>,
) -> Result<Option<Output>, ()> {
    let next = match *cutoff {
        Some(at) => tokio::time::timeout_at(at, rx.recv()).await.map_err(|_| ())?,
        None => rx.recv().await,
    };
    if next.is_some() && cutoff.is_none() {
        *cutoff = budget.map(|b| tokio::time::Instant::now() + b);
    }
    Ok(next)
}
