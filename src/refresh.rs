//! The refresh loop: ties the sources to the metrics and the served body.
//!
//! Every `refresh.interval` (measured from the start of one refresh to the next, never
//! overlapping) each account is collected, its snapshot published or its failure recorded,
//! and the body re-rendered. No AWS request is ever made on behalf of a scrape.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::error_chain;
use crate::exposition::{Metrics, Published};
use crate::health::Readiness;
use crate::source::{collect_within, Source, UNKNOWN_ACCOUNT};

/// One account's source and whether it has ever succeeded.
struct Target {
    source: Arc<dyn Source>,
    succeeded_once: AtomicBool,
}

/// Refreshes every account, on demand or on a schedule.
pub(crate) struct Refresher {
    targets: Vec<Target>,
    metrics: Arc<Metrics>,
    body: Arc<Published>,
    ready: Readiness,
    interval: Duration,
    timeout: Duration,
}

impl Refresher {
    /// A refresher over `sources` publishing into `metrics` and `body`, and setting `ready`
    /// once every account has succeeded.
    pub(crate) fn new(
        sources: Vec<Arc<dyn Source>>,
        metrics: Arc<Metrics>,
        body: Arc<Published>,
        ready: Readiness,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        let targets = sources
            .into_iter()
            .map(|source| {
                if let Some(id) = source.account_id() {
                    metrics.init_account(&id);
                }
                Target {
                    source,
                    succeeded_once: AtomicBool::new(false),
                }
            })
            .collect();
        Refresher {
            targets,
            metrics,
            body,
            ready,
            interval,
            timeout,
        }
    }

    /// Refreshes every account once, concurrently, and publishes the new body. Returns whether
    /// every account succeeded.
    pub(crate) async fn refresh_all(&self) -> bool {
        let results =
            futures_util::future::join_all(self.targets.iter().map(|t| self.refresh(t))).await;
        match self.metrics.render() {
            Ok(rendered) => self.body.publish(rendered),
            Err(err) => {
                tracing::error!(error = %err, "cannot render the metrics; still serving the previous body")
            }
        }
        let ready = self
            .targets
            .iter()
            .all(|t| t.succeeded_once.load(Ordering::SeqCst));
        self.ready.set(ready);
        results.into_iter().all(|ok| ok)
    }

    async fn refresh(&self, target: &Target) -> bool {
        let started = Instant::now();
        let result = collect_within(target.source.as_ref(), self.timeout).await;
        let took = started.elapsed();
        match result {
            Ok(snapshot) => {
                let keys: usize = snapshot.users.iter().map(|u| u.access_keys.len()).sum();
                tracing::info!(
                    account_id = %snapshot.account_id,
                    users = snapshot.users.len(),
                    access_keys = keys,
                    users_with_multiple_active_access_keys = snapshot.users_with_multiple_active_keys(),
                    root_access_keys_present = snapshot
                        .root_access_keys_present
                        .map_or("unknown", |present| if present { "true" } else { "false" }),
                    duration_seconds = took.as_secs_f64(),
                    "refresh succeeded"
                );
                self.metrics.refresh_succeeded(Arc::new(snapshot), took);
                target.succeeded_once.store(true, Ordering::SeqCst);
                true
            }
            Err(err) => {
                let account = target
                    .source
                    .account_id()
                    .unwrap_or_else(|| UNKNOWN_ACCOUNT.to_owned());
                let served = if target.succeeded_once.load(Ordering::SeqCst) {
                    "refresh failed; still serving the last successful data"
                } else {
                    "refresh failed; no data for this account yet"
                };
                tracing::error!(
                    account_id = %account,
                    kind = err.kind().as_str(),
                    duration_seconds = took.as_secs_f64(),
                    error = %error_chain(&err),
                    "{served}"
                );
                self.metrics.refresh_failed(&account, err.kind(), took);
                false
            }
        }
    }

    /// Refreshes on schedule until `shutdown` turns true (or its sender is dropped).
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let started = Instant::now();
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = self.refresh_all() => {}
            }
            let next = started + self.interval;
            if Instant::now() > next {
                tracing::warn!(
                    interval = %humantime::format_duration(self.interval),
                    "the refresh took longer than the interval; starting the next one now"
                );
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }
}
