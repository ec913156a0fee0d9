//! The exporter's health metrics, one struct per concern, each registering its own families
//! (built from the [`super::catalogue`]) in the registry it is given: the build, the refreshes,
//! the AWS requests, the discovery, the accounts' names, and the events consumer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::{GaugeVec, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::catalogue;
use crate::aws::{ErrorKind, RequestObserver};
use crate::clock::seconds_f64;
use crate::snapshot::{AccountSnapshot, FallbackServed};

/// Registers `iam_exporter_build_info`, always 1.
pub(super) fn register_build_info(registry: &Registry) -> prometheus::Result<()> {
    let build_info = catalogue::BUILD_INFO.int_gauge_vec()?;
    build_info
        .with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            option_env!("BUILD_GIT_REVISION").unwrap_or("unknown"),
            option_env!("BUILD_RUSTC_VERSION").unwrap_or("unknown"),
        ])
        .set(1);
    registry.register(Box::new(build_info))
}

/// The refreshes: the interval, and each account's last outcome, its time and duration, its
/// failures by kind and the credential-report fallbacks.
pub(super) struct RefreshMetrics {
    success: IntGaugeVec,
    last_success: GaugeVec,
    duration: GaugeVec,
    errors: IntCounterVec,
    report_fallbacks: IntCounterVec,
}

impl RefreshMetrics {
    pub(super) fn register(registry: &Registry, interval: Duration) -> prometheus::Result<Self> {
        let interval_gauge = catalogue::REFRESH_INTERVAL.int_gauge()?;
        interval_gauge.set(interval.as_secs() as i64);
        registry.register(Box::new(interval_gauge))?;
        let metrics = RefreshMetrics {
            success: catalogue::REFRESH_SUCCESS.int_gauge_vec()?,
            last_success: catalogue::LAST_REFRESH_SUCCESS.gauge_vec()?,
            duration: catalogue::REFRESH_DURATION.gauge_vec()?,
            errors: catalogue::REFRESH_ERRORS.int_counter_vec()?,
            report_fallbacks: catalogue::REPORT_FALLBACKS.int_counter_vec()?,
        };
        registry.register(Box::new(metrics.success.clone()))?;
        registry.register(Box::new(metrics.last_success.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        registry.register(Box::new(metrics.report_fallbacks.clone()))?;
        Ok(metrics)
    }

    /// Makes every error kind of an account visible at zero, so that `rate()` and alerts see
    /// the first failure as an increase.
    pub(super) fn init_account(&self, account_id: &str) {
        for kind in ErrorKind::REFRESH_KINDS {
            self.errors.with_label_values(&[account_id, kind.as_str()]);
        }
    }

    pub(super) fn succeeded(&self, snapshot: &AccountSnapshot, took: Duration) {
        let account = snapshot.account_id.as_str();
        self.init_account(account);
        self.success.with_label_values(&[account]).set(1);
        self.last_success
            .with_label_values(&[account])
            .set(seconds_f64(SystemTime::now()));
        self.duration
            .with_label_values(&[account])
            .set(took.as_secs_f64());
        if let Some(fallback) = snapshot.report_fallback {
            self.report_fallbacks
                .with_label_values(&[account, fallback.reason, fallback.served.as_str()])
                .inc();
        }
    }

    pub(super) fn failed(&self, account_id: &str, kind: ErrorKind, took: Duration) {
        self.init_account(account_id);
        self.success.with_label_values(&[account_id]).set(0);
        self.duration
            .with_label_values(&[account_id])
            .set(took.as_secs_f64());
        self.errors
            .with_label_values(&[account_id, kind.as_str()])
            .inc();
    }

    /// Removes every series of the account.
    pub(super) fn forget(&self, account_id: &str) {
        let _ = self.success.remove_label_values(&[account_id]);
        let _ = self.last_success.remove_label_values(&[account_id]);
        let _ = self.duration.remove_label_values(&[account_id]);
        for kind in ErrorKind::REFRESH_KINDS {
            let _ = self
                .errors
                .remove_label_values(&[account_id, kind.as_str()]);
            for served in FallbackServed::ALL {
                let _ = self.report_fallbacks.remove_label_values(&[
                    account_id,
                    kind.as_str(),
                    served.as_str(),
                ]);
            }
        }
    }
}

/// The AWS requests and their attempts, by operation and outcome.
pub(super) struct AwsMetrics {
    requests: IntCounterVec,
    attempts: IntCounterVec,
    creator_lookups: IntCounterVec,
}

impl AwsMetrics {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = AwsMetrics {
            requests: catalogue::AWS_REQUESTS.int_counter_vec()?,
            attempts: catalogue::AWS_ATTEMPTS.int_counter_vec()?,
            creator_lookups: catalogue::CREATOR_LOOKUPS.int_counter_vec()?,
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.attempts.clone()))?;
        registry.register(Box::new(metrics.creator_lookups.clone()))?;
        Ok(metrics)
    }

    /// One lookup of a key's creator, by outcome.
    pub(super) fn creator_lookup(&self, outcome: &str) {
        self.creator_lookups.with_label_values(&[outcome]).inc();
    }

    /// Counts AWS requests for the sources.
    pub(super) fn observer(&self) -> Arc<dyn RequestObserver> {
        Arc::new(RequestCounter {
            requests: self.requests.clone(),
            attempts: self.attempts.clone(),
        })
    }
}

/// Counts requests into `iam_exporter_aws_requests_total` and their attempts into
/// `iam_exporter_aws_attempts_total`.
struct RequestCounter {
    requests: IntCounterVec,
    attempts: IntCounterVec,
}

impl RequestObserver for RequestCounter {
    fn observe(&self, operation: &'static str, outcome: &'static str) {
        self.requests.with_label_values(&[operation, outcome]).inc();
    }

    fn attempt(&self, operation: &str, outcome: &'static str) {
        self.attempts.with_label_values(&[operation, outcome]).inc();
    }
}

/// The discovery of the organization's accounts; registered only when discovery is on.
pub(super) struct DiscoveryMetrics {
    success: IntGauge,
    accounts: IntGauge,
    errors: IntCounterVec,
}

impl DiscoveryMetrics {
    /// Built unregistered: [`DiscoveryMetrics::register`] starts exporting them.
    pub(super) fn new() -> prometheus::Result<Self> {
        Ok(DiscoveryMetrics {
            success: catalogue::DISCOVERY_SUCCESS.int_gauge()?,
            accounts: catalogue::DISCOVERY_ACCOUNTS.int_gauge()?,
            errors: catalogue::DISCOVERY_ERRORS.int_counter_vec()?,
        })
    }

    pub(super) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for kind in ErrorKind::REFRESH_KINDS {
            self.errors.with_label_values(&[kind.as_str()]);
        }
        registry.register(Box::new(self.success.clone()))?;
        registry.register(Box::new(self.accounts.clone()))?;
        registry.register(Box::new(self.errors.clone()))
    }

    pub(super) fn succeeded(&self, accounts: usize) {
        self.success.set(1);
        self.accounts.set(accounts as i64);
    }

    pub(super) fn failed(&self, kind: ErrorKind) {
        self.success.set(0);
        self.errors.with_label_values(&[kind.as_str()]).inc();
    }
}

/// `iam_account_info`: each watched account's name and OU path.
pub(super) struct AccountInfo {
    gauge: GaugeVec,
    /// The labels each account's info series has now, to remove it when they change.
    labels: Mutex<BTreeMap<String, (String, String)>>,
}

impl AccountInfo {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let gauge = catalogue::ACCOUNT_INFO.gauge_vec()?;
        registry.register(Box::new(gauge.clone()))?;
        Ok(AccountInfo {
            gauge,
            labels: Mutex::default(),
        })
    }

    pub(super) fn set(&self, account_id: &str, name: &str, ou_path: &str) {
        let mut labels = self.labels.lock().unwrap_or_else(|e| e.into_inner());
        let new = (name.to_owned(), ou_path.to_owned());
        if let Some(old) = labels.insert(account_id.to_owned(), new) {
            let _ = self
                .gauge
                .remove_label_values(&[account_id, &old.0, &old.1]);
        }
        self.gauge
            .with_label_values(&[account_id, name, ou_path])
            .set(1.0);
    }

    pub(super) fn forget(&self, account_id: &str) {
        let old = self
            .labels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_id);
        if let Some((name, path)) = old {
            let _ = self.gauge.remove_label_values(&[account_id, &name, &path]);
        }
    }
}

/// The events consumer's metrics.
#[derive(Clone)]
pub(crate) struct EventMetrics {
    events: IntCounterVec,
    bursts: IntCounter,
    rereads: IntCounter,
    lag: Histogram,
    poll_success: IntGauge,
    backlog: IntGauge,
}

impl EventMetrics {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = EventMetrics {
            events: catalogue::EVENTS.int_counter_vec()?,
            lag: catalogue::EVENT_LAG.histogram(vec![
                0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ])?,
            bursts: catalogue::EVENT_BURSTS.int_counter()?,
            rereads: catalogue::EVENT_REREADS.int_counter()?,
            poll_success: catalogue::EVENTS_POLL_SUCCESS.int_gauge()?,
            backlog: catalogue::EVENTS_QUEUE_MESSAGES.int_gauge()?,
        };
        registry.register(Box::new(metrics.events.clone()))?;
        registry.register(Box::new(metrics.lag.clone()))?;
        registry.register(Box::new(metrics.bursts.clone()))?;
        registry.register(Box::new(metrics.rereads.clone()))?;
        registry.register(Box::new(metrics.poll_success.clone()))?;
        registry.register(Box::new(metrics.backlog.clone()))?;
        Ok(metrics)
    }

    /// One event, by name and outcome.
    pub(crate) fn event(&self, name: &str, outcome: &str) {
        self.events.with_label_values(&[name, outcome]).inc();
    }

    /// A burst of messages handled together, naming `users` users (each read again once).
    pub(crate) fn burst(&self, users: usize) {
        self.bursts.inc();
        self.rereads.inc_by(users as u64);
    }

    /// The time from an event to the body that shows it.
    pub(crate) fn lag(&self, seconds: f64) {
        self.lag.observe(seconds.max(0.0));
    }

    /// Whether the last poll succeeded.
    pub(crate) fn polled(&self, ok: bool) {
        self.poll_success.set(i64::from(ok));
    }

    /// Messages waiting in the queue.
    pub(crate) fn backlog(&self, messages: u64) {
        self.backlog.set(messages.min(i64::MAX as u64) as i64);
    }
}
