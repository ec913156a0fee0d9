//! Exposition: the exporter's own registry and health metrics, the rendering of published
//! snapshots into the `/metrics` body ([`snapshots`]), and [`Published`], where the refresh
//! loop leaves the body for the server. Every family's name, HELP text, type and labels are
//! defined once, in the [`catalogue`], which docs/metrics.md's metrics table is generated from.
//!
//! No global registry: [`Metrics`] owns one, and each of its parts ([`health_metrics`], one
//! per concern) registers its own families in it. The per-user and per-key series are not kept as metric vectors: they are
//! written straight from the latest snapshot of each account into the body, in the same text
//! format the crate's encoder writes (a test holds the two to the same output), so a user or
//! key that disappears from IAM disappears from the next body with nothing to clean up, and a
//! 100,000-user account costs no per-series objects. The body is rendered (and gzipped) once
//! per refresh, not per scrape: a scrape only copies a reference to bytes already made.

mod catalogue;
mod health_metrics;
#[cfg(target_os = "linux")]
mod process;
mod snapshots;

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::aws::{ErrorKind, RequestObserver};
use crate::snapshot::AccountSnapshot;
pub(crate) use health_metrics::EventMetrics;
use health_metrics::{AccountInfo, AwsMetrics, DiscoveryMetrics, RefreshMetrics};
use snapshots::SnapshotFamilies;

/// What the server sends: the body the refresh loop rendered last, after the exporter's own
/// process metrics and the events consumer's, which are read at each scrape (memory and CPU,
/// polls and messages must be current, not as of the last refresh).
pub(crate) struct Published {
    body: RwLock<Arc<Rendered>>,
    /// `process_*` (the prometheus crate's process collector, its CPU time precise: [`process`])
    /// and the events consumer's metrics.
    live: Registry,
}

impl Published {
    /// Serves `initial` until the first refresh publishes.
    pub(crate) fn new(initial: Rendered) -> Self {
        let live = Registry::new();
        #[cfg(target_os = "linux")]
        if let Err(err) = live.register(Box::new(process::ProcessMetrics::for_self())) {
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
        EventMetrics::register(&self.live)
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

/// The exporter's metrics: the health metrics, one part per concern, each registering its
/// own families in the registry, and the snapshots' families, written at each render.
pub(crate) struct Metrics {
    registry: Registry,
    refresh: RefreshMetrics,
    aws: AwsMetrics,
    /// Registered only when discovery is on ([`Metrics::enable_discovery`]).
    discovery: DiscoveryMetrics,
    account_info: AccountInfo,
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
        health_metrics::register_build_info(&registry)?;
        Ok(Metrics {
            refresh: RefreshMetrics::register(&registry, interval)?,
            aws: AwsMetrics::register(&registry)?,
            discovery: DiscoveryMetrics::new()?,
            account_info: AccountInfo::register(&registry)?,
            snapshots: SnapshotFamilies::new(&every, key_ids),
            registry,
        })
    }

    /// Makes every error kind of an account visible at zero, so that `rate()` and alerts see
    /// the first failure as an increase.
    pub(crate) fn init_account(&self, account_id: &str) {
        self.refresh.init_account(account_id);
    }

    /// Which keys get series of their own.
    pub(crate) fn with_key_series(mut self, level: crate::config::KeySeries) -> Self {
        self.snapshots.key_series = level;
        self
    }

    /// Starts exporting the discovery's own metrics (only when discovery is on).
    pub(crate) fn enable_discovery(&self) -> Result<(), prometheus::Error> {
        self.discovery.register(&self.registry)
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
        self.discovery.succeeded(accounts);
    }

    /// A discovery failed; the last good list is kept.
    pub(crate) fn discovery_failed(&self, kind: ErrorKind) {
        self.discovery.failed(kind);
    }

    /// Names the account for people: `iam_account_info`.
    pub(crate) fn account_info(&self, account_id: &str, name: &str, ou_path: &str) {
        self.account_info.set(account_id, name, ou_path);
    }

    /// Stops exporting anything about an account that is no longer watched (closed, removed
    /// from the organization, excluded): its data and its health series disappear.
    pub(crate) fn forget_account(&self, account_id: &str) {
        self.snapshots.forget(account_id);
        self.refresh.forget(account_id);
        self.account_info.forget(account_id);
    }

    /// Records a successful refresh and publishes its snapshot, replacing the account's last
    /// one whole: what is no longer in IAM is no longer served.
    pub(crate) fn refresh_succeeded(&self, snapshot: Arc<AccountSnapshot>, took: Duration) {
        self.refresh.succeeded(&snapshot, took);
        self.snapshots.publish(snapshot);
    }

    /// Records a failed refresh; the account's last snapshot stays published.
    pub(crate) fn refresh_failed(&self, account_id: &str, kind: ErrorKind, took: Duration) {
        self.refresh.failed(account_id, kind, took);
    }

    /// One lookup of a key's creator, by outcome.
    pub(crate) fn creator_lookup(&self, outcome: &str) {
        self.aws.creator_lookup(outcome);
    }

    /// Counts AWS requests for the sources.
    pub(crate) fn request_observer(&self) -> Arc<dyn RequestObserver> {
        self.aws.observer()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{AccessKey, KeyStatus, User};
    use std::time::SystemTime;

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
