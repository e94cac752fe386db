//! The server's periodic work while it serves.
use crate::http::AppState;
use std::time::Duration;

/// Every 5 s, owned by the caller (joined before the engine stops and the store is flushed): a model installed by
/// `aisle train` is swapped in without a restart (and the recommender's tables rebuilt after catalog or behaviour
/// changes), transcript edits become searchable, due feeds are fetched, the behaviour tables rebuilt after
/// purchases, the review sentiment roll-ups computed again after catalog changes (on a thread of their own: the
/// first takes about a minute for a thousand reviews); hourly (and at start) transcripts past the retention age are
/// deleted.
pub(super) fn spawn(state: &AppState) -> tokio::task::JoinHandle<()> {
    let (rec, rec_store, mut stopping) = (state.recommender.clone(), state.store.clone(), state.shutdown.clone());
    let (live_behavior, importer) = (state.behavior.clone(), state.importer.clone());
    let (sessions, retention_days) = (state.sessions.clone(), state.config.transcript_retention_days);
    let guard = state.guard.clone();
    let (head, reviews, catalog) = (state.sentiment.clone(), state.reviews.clone(), state.catalog.clone());
    tokio::spawn(async move {
        let mut last_purge: Option<std::time::Instant> = None;
        let mut reviewed: Option<u64> = None;
        loop {
            if let Some(s) = head.get().filter(|_| reviewed != Some(catalog.version()) && !reviews.busy()) {
                reviewed = Some(catalog.version());
                let (r, c) = (reviews.clone(), catalog.clone());
                let spawned = std::thread::Builder::new().name("review-sentiment".into()).spawn(move || {
                    if let Err(e) = r.all(&c, &s) {
                        tracing::warn!(error = %e, "review sentiment not computed");
                    }
                });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "could not start computing review sentiment");
                }
            }
            if retention_days > 0 && last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_purge = Some(std::time::Instant::now());
                let s = sessions.clone();
                match tokio::task::spawn_blocking(move || s.purge_older_than(retention_days * 86_400)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => {
                        tracing::info!(sessions = n, days = retention_days, "old transcripts deleted (retention)")
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
                    Err(e) => tracing::error!(error = %e, "retention purge panicked"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stopping.changed() => break,
            }
            guard.tidy();
            let s = sessions.clone();
            let _ = tokio::task::spawn_blocking(move || s.index().map(|i| i.commit())).await;
            let (rec, store) = (rec.clone(), rec_store.clone());
            match tokio::task::spawn_blocking(move || rec.reload_if_changed(&store)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "recommender reload failed; the old model keeps serving"),
                Err(e) => tracing::error!(error = %e, "recommender reload panicked"),
            }
            let feeds = importer.clone();
            match tokio::task::spawn_blocking(move || feeds.run_due_feeds(crate::session::now())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the scheduled feeds could not be started"),
                Err(e) => tracing::error!(error = %e, "the feed schedule panicked"),
            }
            let (b, store) = (live_behavior.clone(), rec_store.clone());
            match tokio::task::spawn_blocking(move || b.rebuild_if_changed(&store)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "behaviour rebuild failed; the old tables keep serving"),
                Err(e) => tracing::error!(error = %e, "behaviour rebuild panicked"),
            }
        }
    })
}
