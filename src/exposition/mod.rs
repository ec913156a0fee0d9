//! Exposition: the exporter's own registry and health metrics, the rendering of published
//! snapshots into the `/metrics` body ([`snapshots`]), and [`Published`], where the refresh
//! loop leaves the body for the server. Every family's name, HELP text, type and labels are
//! defined once, in the [`catalogue`], which the README's metrics table is generated from.
//!
//! No global registry: [`Metrics`] owns one and registers the exporter's health metrics in
//! [`Metrics::new`]. The per-user and per-key series are not kept as metric vectors: they are
//! written straight from the latest snapshot of each account into the body, in the same text
//! format the crate's encoder writes (a test holds the two to the same output), so a user or
//! key that disappears from IAM disappears from the next body with nothing to clean up, and a
//! 100,000-user account costs no per-series objects. The body is rendered (and gzipped) once
//! per refresh, not per scrape: a scrape only copies a reference to bytes already made.

mod catalogue;
mod snapshots;

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use prometheus::{
    Encoder, GaugeVec, Histogram, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

use crate::aws::{ErrorKind, RequestObserver};
use crate::clock::seconds_f64;
use crate::snapshot::{AccountSnapshot, FallbackServed};
use snapshots::SnapshotFamilies;

/// What the server sends: the body the refresh loop rendered last, after the exporter's own
/// process metrics and the events consumer's, which are read at each scrape (memory and CPU,
/// polls and messages must be current, not as of the last refresh).
pub(crate) struct Published {
    body: RwLock<Arc<Rendered>>,
    /// `process_*` (the prometheus crate's process collector) and the events consumer's metrics.
    live: Registry,
}

impl Published {
    /// Serves `initial` until the first refresh publishes.
    pub(crate) fn new(initial: Rendered) -> Self {
        let live = Registry::new();
        #[cfg(target_os = "linux")]
        if let Err(err) = live.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::warn!(error = %err, "cannot export the process metrics");
        }
        Published {
            body: RwLock::new(Arc::new(initial)),
            live,
        }
    }

    /// Starts exporting the events consumer's metrics (only when `[events]` is configured),
    /// read at each scrape like the process metrics: a poll or an ignored message shows at
    /// once, not at the next render.
    pub(crate) fn enable_events(&self) -> Result<EventMetrics, prometheus::Error> {
        let events = catalogue::EVENTS.int_counter_vec()?;
        let lag = catalogue::EVENT_LAG.histogram(vec![
            0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ])?;
        let bursts = catalogue::EVENT_BURSTS.int_counter()?;
        let rereads = catalogue::EVENT_REREADS.int_counter()?;
        let poll_success = catalogue::EVENTS_POLL_SUCCESS.int_gauge()?;
        let backlog = catalogue::EVENTS_QUEUE_MESSAGES.int_gauge()?;
        self.live.register(Box::new(events.clone()))?;
        self.live.register(Box::new(lag.clone()))?;
        self.live.register(Box::new(bursts.clone()))?;
        self.live.register(Box::new(rereads.clone()))?;
        self.live.register(Box::new(poll_success.clone()))?;
        self.live.register(Box::new(backlog.clone()))?;
        Ok(EventMetrics {
            events,
            bursts,
            rereads,
            lag,
            poll_success,
            backlog,
        })
    }

    /// Replaces the served body.
    pub(crate) fn publish(&self, rendered: Rendered) {
        *self.body.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rendered);
    }

    /// The body to send, in parts to send back to back: plain text, or one gzip stream when
    /// `gzip`. The large pre-rendered part is shared, never copied.
    pub(crate) fn scrape(&self, gzip: bool) -> Vec<Bytes> {
        let rendered = self.body.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut live = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.live.gather(), &mut live) {
            tracing::warn!(error = %err, "cannot encode the process metrics");
            live.clear();
        }
        if gzip {
            rendered.gzip_after(&live)
        } else {
            vec![Bytes::from(live), rendered.plain.clone()]
        }
    }
}

/// A rendered `/metrics` body: the text, and the same compressed once, kept as a raw deflate
/// stream with its CRC so that a scrape can put a small live part in front of it and still
/// send one gzip stream (an RFC 1952 member: header, deflate blocks, CRC-32 and length).
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The text exposition format.
    pub(crate) plain: Bytes,
    /// `plain` as raw deflate, ending with the final block.
    deflate: Bytes,
    /// CRC-32 of `plain`.
    crc: u32,
}

/// The fixed gzip header: deflate, no name, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl Rendered {
    /// Compresses `plain` once.
    fn new(plain: Vec<u8>) -> std::io::Result<Self> {
        let mut encoder = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(plain.len() / 8),
            flate2::Compression::default(),
        );
        encoder.write_all(&plain)?;
        let deflate = encoder.finish()?;
        Ok(Rendered {
            crc: crc32fast::hash(&plain),
            plain: Bytes::from(plain),
            deflate: Bytes::from(deflate),
        })
    }

    /// One gzip stream of `live` followed by this body: `live` is deflated and flushed to a
    /// byte boundary without ending the stream, the stored deflate stream follows (it refers
    /// to nothing before it), and the trailer carries the CRC of both, combined.
    fn gzip_after(&self, live: &[u8]) -> Vec<Bytes> {
        let mut head = GZIP_HEADER.to_vec();
        let mut compress = flate2::Compress::new(flate2::Compression::fast(), false);
        head.reserve(live.len() + 64);
        let mut input = live;
        loop {
            let before = (compress.total_in(), compress.total_out());
            let status = compress.compress_vec(input, &mut head, flate2::FlushCompress::Sync);
            let consumed = (compress.total_in() - before.0) as usize;
            input = &input[consumed..];
            let produced = compress.total_out() - before.1;
            match status {
                Ok(_) if input.is_empty() && head.capacity() > head.len() => break,
                Ok(_) if consumed == 0 && produced == 0 => head.reserve(head.capacity().max(64)),
                Ok(_) => head.reserve(64),
                Err(_) => break,
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(live);
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            self.crc,
            self.plain.len() as u64,
        ));
        let length = (live.len() as u64 + self.plain.len() as u64) as u32;
        let mut trailer = crc.finalize().to_le_bytes().to_vec();
        trailer.extend_from_slice(&length.to_le_bytes());
        vec![
            Bytes::from(head),
            self.deflate.clone(),
            Bytes::from(trailer),
        ]
    }
}

/// How access key IDs appear in labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyIdDisplay {
    /// As IAM gives them.
    Full,
    /// Only the last four characters, prefixed with `****`.
    LastFour,
}

impl KeyIdDisplay {
    /// The label value for `id`; borrowed when shown in full, as it is on every render.
    pub(crate) fn show(self, id: &str) -> Cow<'_, str> {
        match self {
            KeyIdDisplay::Full => Cow::Borrowed(id),
            KeyIdDisplay::LastFour => {
                let start = id.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
                Cow::Owned(format!("****{}", &id[start..]))
            }
        }
    }
}

/// The events consumer's metrics.
#[derive(Clone)]
pub(crate) struct EventMetrics {
    events: IntCounterVec,
    bursts: prometheus::IntCounter,
    rereads: prometheus::IntCounter,
    lag: Histogram,
    poll_success: IntGauge,
    backlog: IntGauge,
}

impl EventMetrics {
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

/// The exporter's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    refresh_success: IntGaugeVec,
    last_refresh_success: GaugeVec,
    refresh_duration: GaugeVec,
    refresh_errors: IntCounterVec,
    report_fallbacks: IntCounterVec,
    aws_requests: IntCounterVec,
    aws_attempts: IntCounterVec,
    discovery_success: IntGauge,
    discovery_accounts: IntGauge,
    discovery_errors: IntCounterVec,
    account_info: GaugeVec,
    /// The labels each account's info series has now, to remove it when they change.
    info_labels: std::sync::Mutex<std::collections::BTreeMap<String, (String, String)>>,
    snapshots: SnapshotFamilies,
}

impl Metrics {
    /// Builds the registry; `interval` goes into the HELP texts, so readers know the values
    /// are refreshed in the background and how often.
    pub(crate) fn new(
        interval: Duration,
        key_ids: KeyIdDisplay,
    ) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let every = humantime::format_duration(interval).to_string();

        let build_info = catalogue::BUILD_INFO.int_gauge_vec()?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("BUILD_GIT_REVISION").unwrap_or("unknown"),
                option_env!("BUILD_RUSTC_VERSION").unwrap_or("unknown"),
            ])
            .set(1);
        let interval_gauge = catalogue::REFRESH_INTERVAL.int_gauge()?;
        interval_gauge.set(interval.as_secs() as i64);
        let refresh_success = catalogue::REFRESH_SUCCESS.int_gauge_vec()?;
        let last_refresh_success = catalogue::LAST_REFRESH_SUCCESS.gauge_vec()?;
        let refresh_duration = catalogue::REFRESH_DURATION.gauge_vec()?;
        let refresh_errors = catalogue::REFRESH_ERRORS.int_counter_vec()?;
        let report_fallbacks = catalogue::REPORT_FALLBACKS.int_counter_vec()?;
        let aws_requests = catalogue::AWS_REQUESTS.int_counter_vec()?;
        let aws_attempts = catalogue::AWS_ATTEMPTS.int_counter_vec()?;
        let discovery_success = catalogue::DISCOVERY_SUCCESS.int_gauge()?;
        let discovery_accounts = catalogue::DISCOVERY_ACCOUNTS.int_gauge()?;
        let discovery_errors = catalogue::DISCOVERY_ERRORS.int_counter_vec()?;
        let account_info = catalogue::ACCOUNT_INFO.gauge_vec()?;
        let snapshots = SnapshotFamilies::new(&every, key_ids);

        registry.register(Box::new(build_info))?;
        registry.register(Box::new(interval_gauge))?;
        registry.register(Box::new(refresh_success.clone()))?;
        registry.register(Box::new(last_refresh_success.clone()))?;
        registry.register(Box::new(refresh_duration.clone()))?;
        registry.register(Box::new(refresh_errors.clone()))?;
        registry.register(Box::new(report_fallbacks.clone()))?;
        registry.register(Box::new(aws_requests.clone()))?;
        registry.register(Box::new(aws_attempts.clone()))?;
        registry.register(Box::new(account_info.clone()))?;

        Ok(Metrics {
            registry,
            refresh_success,
            last_refresh_success,
            refresh_duration,
            refresh_errors,
            report_fallbacks,
            aws_requests,
            aws_attempts,
            discovery_success,
            discovery_accounts,
            discovery_errors,
            account_info,
            info_labels: Default::default(),
            snapshots,
        })
    }

    /// Makes every error kind of an account visible at zero, so that `rate()` and alerts see
    /// the first failure as an increase.
    pub(crate) fn init_account(&self, account_id: &str) {
        for kind in ErrorKind::REFRESH_KINDS {
            self.refresh_errors
                .with_label_values(&[account_id, kind.as_str()]);
        }
    }

    /// Records a successful refresh and publishes its snapshot, replacing the account's last
    /// one whole: what is no longer in IAM is no longer served.
    /// Which keys get series of their own.
    pub(crate) fn with_key_series(mut self, level: crate::config::KeySeries) -> Self {
        self.snapshots.key_series = level;
        self
    }

    /// Starts exporting the discovery's own metrics (only when discovery is on).
    pub(crate) fn enable_discovery(&self) -> Result<(), prometheus::Error> {
        for kind in ErrorKind::REFRESH_KINDS {
            self.discovery_errors.with_label_values(&[kind.as_str()]);
        }
        self.registry
            .register(Box::new(self.discovery_success.clone()))?;
        self.registry
            .register(Box::new(self.discovery_accounts.clone()))?;
        self.registry
            .register(Box::new(self.discovery_errors.clone()))
    }

    /// The account's latest published snapshot.
    pub(crate) fn latest(&self, account_id: &str) -> Option<Arc<AccountSnapshot>> {
        self.snapshots.latest(account_id)
    }

    /// Replaces the account's snapshot without a refresh (an event changed one user).
    pub(crate) fn replace_snapshot(&self, snapshot: Arc<AccountSnapshot>) {
        self.snapshots.publish(snapshot);
    }

    /// A discovery found `accounts` accounts to watch.
    pub(crate) fn discovery_succeeded(&self, accounts: usize) {
        self.discovery_success.set(1);
        self.discovery_accounts.set(accounts as i64);
    }

    /// A discovery failed; the last good list is kept.
    pub(crate) fn discovery_failed(&self, kind: ErrorKind) {
        self.discovery_success.set(0);
        self.discovery_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Names the account for people: `iam_account_info`.
    pub(crate) fn account_info(&self, account_id: &str, name: &str, ou_path: &str) {
        let mut labels = self.info_labels.lock().unwrap_or_else(|e| e.into_inner());
        let new = (name.to_owned(), ou_path.to_owned());
        if let Some(old) = labels.insert(account_id.to_owned(), new) {
            let _ = self
                .account_info
                .remove_label_values(&[account_id, &old.0, &old.1]);
        }
        self.account_info
            .with_label_values(&[account_id, name, ou_path])
            .set(1.0);
    }

    /// Stops exporting anything about an account that is no longer watched (closed, removed
    /// from the organization, excluded): its data and its health series disappear.
    pub(crate) fn forget_account(&self, account_id: &str) {
        self.snapshots.forget(account_id);
        let _ = self.refresh_success.remove_label_values(&[account_id]);
        let _ = self.last_refresh_success.remove_label_values(&[account_id]);
        let _ = self.refresh_duration.remove_label_values(&[account_id]);
        for kind in ErrorKind::REFRESH_KINDS {
            let _ = self
                .refresh_errors
                .remove_label_values(&[account_id, kind.as_str()]);
            for served in FallbackServed::ALL {
                let _ = self.report_fallbacks.remove_label_values(&[
                    account_id,
                    kind.as_str(),
                    served.as_str(),
                ]);
            }
        }
        let old = self
            .info_labels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_id);
        if let Some((name, path)) = old {
            let _ = self
                .account_info
                .remove_label_values(&[account_id, &name, &path]);
        }
    }

    pub(crate) fn refresh_succeeded(&self, snapshot: Arc<AccountSnapshot>, took: Duration) {
        let account = snapshot.account_id.as_str();
        self.init_account(account);
        self.refresh_success.with_label_values(&[account]).set(1);
        self.last_refresh_success
            .with_label_values(&[account])
            .set(seconds_f64(SystemTime::now()));
        self.refresh_duration
            .with_label_values(&[account])
            .set(took.as_secs_f64());
        if let Some(fallback) = snapshot.report_fallback {
            self.report_fallbacks
                .with_label_values(&[account, fallback.reason, fallback.served.as_str()])
                .inc();
        }
        self.snapshots.publish(snapshot);
    }

    /// Records a failed refresh; the account's last snapshot stays published.
    pub(crate) fn refresh_failed(&self, account_id: &str, kind: ErrorKind, took: Duration) {
        self.init_account(account_id);
        self.refresh_success.with_label_values(&[account_id]).set(0);
        self.refresh_duration
            .with_label_values(&[account_id])
            .set(took.as_secs_f64());
        self.refresh_errors
            .with_label_values(&[account_id, kind.as_str()])
            .inc();
    }

    /// Counts AWS requests for the sources.
    pub(crate) fn request_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::new(RequestCounter {
            requests: self.aws_requests.clone(),
            attempts: self.aws_attempts.clone(),
        })
    }

    /// Renders the health metrics and the snapshots to the text format, and compresses it.
    pub(crate) fn render(&self) -> Result<Rendered, prometheus::Error> {
        let mut plain = Vec::with_capacity(self.snapshots.size_hint());
        TextEncoder::new().encode(&self.registry.gather(), &mut plain)?;
        self.snapshots.write_text(&mut plain);
        self.snapshots.remember_size(plain.len());
        Ok(Rendered::new(plain)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{AccessKey, KeyStatus, User};

    /// An account's snapshot at a fixed time; shared with `snapshots`' tests.
    pub(super) fn snapshot(account: &str, users: Vec<User>) -> Arc<AccountSnapshot> {
        Arc::new(AccountSnapshot {
            account_id: account.to_owned(),
            data_timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            users,
            root_access_keys_present: Some(false),
            last_used_from: crate::snapshot::LastUsedFrom::PerKey,
            report_fallback: None,
        })
    }

    /// A user with keys `(id, status, last use)`, all created at the same time.
    pub(super) fn user(name: &str, keys: &[(&str, KeyStatus, Option<i64>)]) -> User {
        User {
            name: name.to_owned(),
            path: "/".to_owned(),
            access_keys: keys
                .iter()
                .map(|(id, status, last_used)| AccessKey {
                    id: (*id).to_owned(),
                    status: *status,
                    created: 1_600_000_000,
                    last_used: *last_used,
                })
                .collect(),
            ..User::default()
        }
    }

    fn body(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render().unwrap().plain.to_vec()).unwrap()
    }

    #[test]
    fn a_snapshot_becomes_series_per_user_key_and_account() {
        let metrics = Metrics::new(Duration::from_secs(300), KeyIdDisplay::Full).unwrap();
        metrics.refresh_succeeded(
            snapshot(
                "123456789012",
                vec![user(
                    "alice",
                    &[
                        (
                            "AKIAAAAAAAAAAAAAAAA1",
                            KeyStatus::Active,
                            Some(1_650_000_000),
                        ),
                        ("AKIAAAAAAAAAAAAAAAA2", KeyStatus::Active, None),
                    ],
                )],
            ),
            Duration::from_millis(1500),
        );
        let text = body(&metrics);
        assert!(text.contains(
            "iam_user_active_access_keys{account_id=\"123456789012\",user=\"alice\",path=\"/\"} 2\n"
        ), "{text}");
        assert!(text.contains("iam_access_key_created_timestamp_seconds{account_id=\"123456789012\",user=\"alice\",access_key_id=\"AKIAAAAAAAAAAAAAAAA1\",status=\"Active\"} 1600000000\n"), "{text}");
        assert!(text.contains("iam_access_key_last_used_timestamp_seconds{account_id=\"123456789012\",user=\"alice\",access_key_id=\"AKIAAAAAAAAAAAAAAAA1\"} 1650000000\n"), "{text}");
        assert!(!text.contains("last_used_timestamp_seconds{account_id=\"123456789012\",user=\"alice\",access_key_id=\"AKIAAAAAAAAAAAAAAAA2\""), "{text}");
        assert!(text.contains("iam_account_users_with_multiple_active_access_keys{account_id=\"123456789012\"} 1\n"), "{text}");
        assert!(
            text.contains("iam_exporter_refresh_success{account_id=\"123456789012\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "iam_exporter_refresh_duration_seconds{account_id=\"123456789012\"} 1.5\n"
            ),
            "{text}"
        );
        assert!(text.contains("# HELP iam_user_active_access_keys Number of active access keys of the IAM user; the CIS control allows at most 1. Refreshed in the background every 5m, not at scrape time.\n"), "{text}");
    }

    #[test]
    fn a_new_snapshot_replaces_the_old_one_whole() {
        let metrics = Metrics::new(Duration::from_secs(60), KeyIdDisplay::Full).unwrap();
        metrics.refresh_succeeded(
            snapshot(
                "123456789012",
                vec![
                    user("gone", &[("AKIAGONE", KeyStatus::Active, None)]),
                    user("stays", &[]),
                ],
            ),
            Duration::ZERO,
        );
        metrics.refresh_succeeded(
            snapshot("123456789012", vec![user("stays", &[])]),
            Duration::ZERO,
        );
        let text = body(&metrics);
        assert!(!text.contains("gone"), "{text}");
        assert!(!text.contains("AKIAGONE"), "{text}");
        assert!(text.contains("user=\"stays\""), "{text}");
    }

    #[test]
    fn a_failed_refresh_keeps_the_data_and_counts_the_error() {
        let metrics = Metrics::new(Duration::from_secs(60), KeyIdDisplay::Full).unwrap();
        metrics.refresh_succeeded(
            snapshot("123456789012", vec![user("kept", &[])]),
            Duration::ZERO,
        );
        metrics.refresh_failed("123456789012", ErrorKind::Throttled, Duration::from_secs(2));
        let text = body(&metrics);
        assert!(text.contains("user=\"kept\""), "{text}");
        assert!(
            text.contains("iam_exporter_refresh_success{account_id=\"123456789012\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("iam_exporter_refresh_errors_total{account_id=\"123456789012\",kind=\"throttled\"} 1\n"), "{text}");
        assert!(text.contains("iam_exporter_refresh_errors_total{account_id=\"123456789012\",kind=\"network\"} 0\n"), "{text}");
    }

    #[test]
    fn masked_key_ids_show_only_the_last_four_characters() {
        assert_eq!(
            KeyIdDisplay::LastFour.show("AKIAIOSFODNN7EXAMPLE"),
            "****MPLE"
        );
        assert_eq!(KeyIdDisplay::LastFour.show("AB"), "****AB");
        let metrics = Metrics::new(Duration::from_secs(60), KeyIdDisplay::LastFour).unwrap();
        metrics.refresh_succeeded(
            snapshot(
                "123456789012",
                vec![user(
                    "a",
                    &[("AKIAIOSFODNN7EXAMPLE", KeyStatus::Active, Some(1))],
                )],
            ),
            Duration::ZERO,
        );
        let text = body(&metrics);
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert!(text.contains("access_key_id=\"****MPLE\""), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new(Duration::from_secs(60), KeyIdDisplay::Full).unwrap();
        let mut odd = user("a\"b\\c", &[]);
        odd.path = "/x\ny/".to_owned();
        metrics.refresh_succeeded(snapshot("123456789012", vec![odd]), Duration::ZERO);
        let text = body(&metrics);
        assert!(text.contains(r#"user="a\"b\\c",path="/x\ny/""#), "{text}");
    }

    #[test]
    fn the_gzip_body_inflates_to_the_plain_one() {
        use std::io::Read;
        let metrics = Metrics::new(Duration::from_secs(60), KeyIdDisplay::Full).unwrap();
        metrics.refresh_succeeded(
            snapshot(
                "123456789012",
                vec![user("a", &[("AKIA1", KeyStatus::Active, None)])],
            ),
            Duration::ZERO,
        );
        let published = Published::new(metrics.render().unwrap());
        let gzip: Vec<u8> = published.scrape(true).concat();
        // One gzip member, read by a reader that stops after the first: nothing is lost.
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut inflated)
            .unwrap();
        let plain: Vec<u8> = published.scrape(false).concat();
        let text = String::from_utf8_lossy(&inflated);
        assert!(text.contains("iam_exporter_build_info{"));
        assert!(text.contains("iam_user_active_access_keys{"));
        // The live process part differs between two scrapes only in its values.
        let names = |t: &str| -> Vec<String> {
            t.lines()
                .map(|l| l.split([' ', '{']).next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&text), names(&String::from_utf8_lossy(&plain)));
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }
}
