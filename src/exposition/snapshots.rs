//! The per-account, per-user and per-key series, written straight from the latest snapshot of
//! each account into the body, in the text format the prometheus crate's encoder writes (a
//! test holds the two to the same output).
//!
//! The families are a table: each names its entry of the [`super::catalogue`] (name, HELP text,
//! type, labels) and which rows of a snapshot give its samples (one per account, user or key). One writer walks the table, so adding a family
//! is one entry, not one more copy of the loop.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::{catalogue, KeyIdDisplay};
use crate::clock::seconds_f64;
use crate::config::KeySeries;
use crate::snapshot::{AccessKey, AccountSnapshot, LastUsedFrom, User};

/// Which rows of a snapshot give a family's samples, and their values (`None`: no sample).
/// The label values are given in the catalogue's label order; a family whose catalogue entry
/// names fewer labels takes the first ones.
enum Rows {
    /// One per account: `account_id`.
    Account(fn(&AccountSnapshot) -> Option<f64>),
    /// One per user: `account_id`, `user`, `path`.
    User(fn(&User) -> Option<f64>),
    /// One per key: `account_id`, `user`, `access_key_id`, `status`.
    Key(fn(&AccessKey) -> Option<f64>),
    /// One per well-formed exemption (value: its expiry; `account_id`, `user`, `source`,
    /// `reason`, `owner`), or per invalid one (value 1; `account_id`, `user`, `source`,
    /// `problem`).
    Exemption { valid: bool },
}

/// A family written from snapshots: its catalogue entry, HELP text and rows.
struct Family {
    entry: &'static catalogue::Family,
    help: String,
    rows: Rows,
}

impl Family {
    fn new(entry: &'static catalogue::Family, every: &str, rows: Rows) -> Self {
        Family {
            entry,
            help: entry.help(every),
            rows,
        }
    }

    fn name(&self) -> &'static str {
        self.entry.name
    }

    /// Writes the family's block, header included, if it has at least one sample.
    fn write(
        &self,
        out: &mut Vec<u8>,
        snapshots: &[&AccountSnapshot],
        key_ids: KeyIdDisplay,
        key_series: KeySeries,
    ) {
        let mut block = Block {
            family: self,
            out,
            started: false,
        };
        for s in snapshots {
            match &self.rows {
                Rows::Account(value) => {
                    if let Some(value) = value(s) {
                        block.sample(&[s.account_id.as_str()], value);
                    }
                }
                Rows::User(value) => block.users(s, *value),
                Rows::Exemption { valid } => block.exemptions(s, *valid),
                Rows::Key(value) => block.keys(s, *value, key_ids, key_series),
            }
        }
    }

    fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(self.name().as_bytes());
        out.push(b' ');
        escape_into(out, &self.help, false);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(self.name().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.entry.kind.as_str().as_bytes());
        out.push(b'\n');
    }

    /// One sample; `values` are the labels' values, in the catalogue's label order.
    fn sample(&self, out: &mut Vec<u8>, values: &[&str], value: f64) {
        let labels = self.entry.labels;
        debug_assert!(values.len() >= labels.len(), "{}", self.name());
        out.extend_from_slice(self.name().as_bytes());
        for (i, (name, value)) in labels.iter().zip(values).enumerate() {
            out.push(if i == 0 { b'{' } else { b',' });
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_into(out, value, true);
            out.push(b'"');
        }
        if !labels.is_empty() {
            out.push(b'}');
        }
        // The crate's encoder writes `f64`'s Display; so does this.
        let _ = writeln!(out, " {value}");
    }
}

/// One family's block being written: the header goes out before the first sample, so a
/// family without samples writes nothing.
struct Block<'a> {
    family: &'a Family,
    out: &'a mut Vec<u8>,
    started: bool,
}

impl Block<'_> {
    fn sample(&mut self, values: &[&str], value: f64) {
        if !self.started {
            self.family.header(self.out);
            self.started = true;
        }
        self.family.sample(self.out, values, value);
    }

    fn users(&mut self, s: &AccountSnapshot, value: fn(&User) -> Option<f64>) {
        for user in &s.users {
            if let Some(value) = value(user) {
                let values = [s.account_id.as_str(), &user.name, &user.path];
                self.sample(&values, value);
            }
        }
    }

    fn exemptions(&mut self, s: &AccountSnapshot, valid: bool) {
        for user in &s.users {
            for exemption in &user.exemptions {
                let (account, name) = (s.account_id.as_str(), user.name.as_str());
                let source = exemption.source.as_str();
                match (&exemption.grant, valid) {
                    (Ok(grant), true) => self.sample(
                        &[account, name, source, &grant.reason, &grant.owner],
                        seconds(grant.expires),
                    ),
                    (Err(problem), false) => {
                        self.sample(&[account, name, source, problem.as_str()], 1.0)
                    }
                    _ => {}
                }
            }
        }
    }

    fn keys(
        &mut self,
        s: &AccountSnapshot,
        value: fn(&AccessKey) -> Option<f64>,
        key_ids: KeyIdDisplay,
        key_series: KeySeries,
    ) {
        let keep = |user: &User| match key_series {
            KeySeries::All => true,
            KeySeries::Offenders => user.is_offender(),
            KeySeries::None => false,
        };
        for user in s.users.iter().filter(|user| keep(user)) {
            for key in &user.access_keys {
                let Some(value) = value(key) else { continue };
                let id = key_ids.show(&key.id);
                let values = [
                    s.account_id.as_str(),
                    &user.name,
                    id.as_ref(),
                    key.status.as_str(),
                ];
                self.sample(&values, value);
            }
        }
    }
}

/// Escapes as the text format wants: `\\` and newlines always, `"` in label values.
fn escape_into(out: &mut Vec<u8>, text: &str, quote: bool) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            other => out.push(other),
        }
    }
}

/// The families and the latest snapshot of each account.
pub(super) struct SnapshotFamilies {
    /// In name order, as the crate's encoder writes them.
    families: Vec<Family>,
    key_ids: KeyIdDisplay,
    /// Which keys get series.
    pub(super) key_series: KeySeries,
    /// Latest successful snapshot per account ID.
    latest: RwLock<BTreeMap<String, Arc<AccountSnapshot>>>,
    /// Size of the last body, to allocate the next one in one go.
    last_size: AtomicUsize,
}

fn seconds(time: i64) -> f64 {
    time as f64
}

impl SnapshotFamilies {
    pub(crate) fn new(every: &str, key_ids: KeyIdDisplay) -> Self {
        use catalogue as c;
        let family = |entry, rows| Family::new(entry, every, rows);
        let families = vec![
            family(
                &c::ACCESS_KEY_CREATED,
                Rows::Key(|key| Some(seconds(key.created))),
            ),
            family(
                &c::ACCESS_KEY_LAST_USED,
                Rows::Key(|key| key.last_used.map(seconds)),
            ),
            family(
                &c::ROOT_ACCESS_KEYS,
                Rows::Account(|s| {
                    s.root_access_keys_present
                        .map(|present| if present { 1.0 } else { 0.0 })
                }),
            ),
            family(
                &c::ACCOUNT_USERS,
                Rows::Account(|s| Some(s.users.len() as f64)),
            ),
            family(
                &c::ACCOUNT_OFFENDERS,
                Rows::Account(|s| Some(s.users_with_multiple_active_keys() as f64)),
            ),
            family(
                &c::DATA_TIMESTAMP,
                Rows::Account(|s| Some(seconds_f64(s.data_timestamp))),
            ),
            family(
                &c::LAST_USED_FROM_REPORT,
                Rows::Account(|s| match s.last_used_from {
                    LastUsedFrom::Nowhere => None,
                    LastUsedFrom::PerKey => Some(0.0),
                    LastUsedFrom::Report(_) => Some(1.0),
                }),
            ),
            family(
                &c::LAST_USED_REPORT_TIMESTAMP,
                Rows::Account(|s| match s.last_used_from {
                    LastUsedFrom::Report(generated) => Some(seconds(generated)),
                    _ => None,
                }),
            ),
            family(
                &c::USER_ACTIVE_ACCESS_KEYS,
                Rows::User(|user| Some(user.active_access_keys() as f64)),
            ),
            family(&c::EXEMPTION_EXPIRY, Rows::Exemption { valid: true }),
            family(&c::EXEMPTION_INVALID, Rows::Exemption { valid: false }),
            family(
                &c::NEWEST_ACTIVE_KEY_CREATED,
                Rows::User(|user| {
                    user.is_offender()
                        .then(|| user.newest_active_key_created())
                        .flatten()
                        .map(seconds)
                }),
            ),
        ];
        SnapshotFamilies {
            families,
            key_ids,
            key_series: KeySeries::All,
            latest: RwLock::new(BTreeMap::new()),
            last_size: AtomicUsize::new(0),
        }
    }

    /// Replaces the account's snapshot whole: what is no longer in IAM is no longer served.
    pub(crate) fn publish(&self, snapshot: Arc<AccountSnapshot>) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        latest.insert(snapshot.account_id.clone(), snapshot);
    }

    /// The account's latest snapshot.
    pub(crate) fn latest(&self, account_id: &str) -> Option<Arc<AccountSnapshot>> {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        latest.get(account_id).cloned()
    }

    /// Stops serving an account.
    pub(crate) fn forget(&self, account_id: &str) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        latest.remove(account_id);
    }

    pub(crate) fn size_hint(&self) -> usize {
        self.last_size.load(Ordering::Relaxed) + 4096
    }

    pub(crate) fn remember_size(&self, size: usize) {
        self.last_size.store(size, Ordering::Relaxed);
    }

    /// Appends every family with at least one sample, each family's samples together (the
    /// format wants one block per family), accounts in ID order, users in name order.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        let snapshots: Vec<&AccountSnapshot> = latest.values().map(Arc::as_ref).collect();
        for family in &self.families {
            family.write(out, &snapshots, self.key_ids, self.key_series);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{snapshot, user};
    use super::*;
    use crate::snapshot::{Exemption, ExemptionSource, Grant, InvalidExemption, KeyStatus};
    use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

    impl SnapshotFamilies {
        fn family(&self, name: &str) -> &Family {
            self.families.iter().find(|f| f.name() == name).unwrap()
        }
    }

    #[test]
    fn key_series_levels_keep_what_they_say() {
        let users: Vec<User> = (0..1_000)
            .map(|i| {
                let mut keys: Vec<(String, KeyStatus, Option<i64>)> = (0..i % 3)
                    .map(|k| (format!("AKIA{i:06}{k}"), KeyStatus::Active, Some(1)))
                    .collect();
                if i % 10 == 9 && keys.len() < 2 {
                    keys.push((format!("AKIA{i:06}9"), KeyStatus::Inactive, None));
                }
                let keys: Vec<(&str, KeyStatus, Option<i64>)> = keys
                    .iter()
                    .map(|(id, s, u)| (id.as_str(), *s, *u))
                    .collect();
                user(&format!("user-{i:04}"), &keys)
            })
            .collect();
        let snapshot = snapshot("123456789012", users);
        let mut counts = Vec::new();
        for level in [KeySeries::All, KeySeries::Offenders, KeySeries::None] {
            let mut families = SnapshotFamilies::new("5m", KeyIdDisplay::Full);
            families.key_series = level;
            families.publish(snapshot.clone());
            let mut out = Vec::new();
            families.write_text(&mut out);
            let text = String::from_utf8(out).unwrap();
            let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
            let per_key = samples
                .iter()
                .filter(|l| l.starts_with("iam_access_key_"))
                .count();
            let per_user = samples
                .iter()
                .filter(|l| l.starts_with("iam_user_active_access_keys{"))
                .count();
            assert_eq!(
                per_user, 1_000,
                "{level:?}: the per-user gauge is always there"
            );
            if level == KeySeries::Offenders {
                for line in samples.iter().filter(|l| l.starts_with("iam_access_key_")) {
                    let user: usize = line.split("user=\"user-").nth(1).unwrap()[..4]
                        .parse()
                        .unwrap();
                    assert_eq!(user % 3, 2, "only offenders' keys: {line}");
                }
            }
            counts.push((level, samples.len(), per_key));
        }
        eprintln!("series per 1,000 users (all, per key): {counts:?}");
        assert_eq!(counts[2].2, 0, "none: no per-key series");
        // 333 offenders, two active keys each, each key with a creation and a last-use series.
        assert_eq!(counts[1].2, 333 * 2 * 2, "{counts:?}");
        assert!(counts[0].2 > counts[1].2, "{counts:?}");
    }

    #[test]
    fn families_are_written_in_name_order() {
        let families = SnapshotFamilies::new("5m", KeyIdDisplay::Full);
        let names: Vec<&str> = families.families.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    /// The same snapshots through the crate's own gauges and encoder: the direct writer must
    /// say exactly the same (label order aside, which the format leaves free).
    #[test]
    fn the_direct_writer_agrees_with_the_crates_encoder() {
        use std::collections::BTreeSet;

        let mut odd = user(
            "x\"y\\z",
            &[
                ("AKIA1", KeyStatus::Active, Some(1_650_000_000)),
                ("AKIA2", KeyStatus::Inactive, None),
            ],
        );
        odd.path = "/a\nb/".to_owned();
        odd.exemptions = vec![
            Exemption {
                source: ExemptionSource::Config,
                grant: Ok(Grant {
                    expires: 1_800_000_000,
                    reason: "cut-over \"acme\"\nticket\\1".to_owned(),
                    owner: "team-a".to_owned(),
                }),
            },
            Exemption {
                source: ExemptionSource::Tag,
                grant: Err(InvalidExemption::TooFarAhead),
            },
        ];
        let first = snapshot("123456789012", vec![odd, user("plain", &[])]);
        let mut second = (*snapshot(
            "210987654321",
            vec![user("b", &[("AKIA3", KeyStatus::Active, None)])],
        ))
        .clone();
        second.root_access_keys_present = None;
        second.last_used_from = LastUsedFrom::Report(1_699_999_000);
        let snapshots = [first, Arc::new(second)];

        let families = SnapshotFamilies::new("5m", KeyIdDisplay::Full);
        for s in &snapshots {
            families.publish(s.clone());
        }
        let mut direct = Vec::new();
        families.write_text(&mut direct);

        let registry = Registry::new();
        let gauge = |family: &Family, labels: &[&str]| {
            let vec = GaugeVec::new(Opts::new(family.name(), family.help.clone()), labels).unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            vec
        };
        let f = &families;
        let created = gauge(
            f.family("iam_access_key_created_timestamp_seconds"),
            &["account_id", "user", "access_key_id", "status"],
        );
        let used = gauge(
            f.family("iam_access_key_last_used_timestamp_seconds"),
            &["account_id", "user", "access_key_id"],
        );
        let root = gauge(
            f.family("iam_account_root_access_keys_present"),
            &["account_id"],
        );
        let users = gauge(f.family("iam_account_users"), &["account_id"]);
        let offenders = gauge(
            f.family("iam_account_users_with_multiple_active_access_keys"),
            &["account_id"],
        );
        let data = gauge(
            f.family("iam_exporter_data_timestamp_seconds"),
            &["account_id"],
        );
        let active = gauge(
            f.family("iam_user_active_access_keys"),
            &["account_id", "user", "path"],
        );
        let from_report = gauge(
            f.family("iam_exporter_last_used_from_report"),
            &["account_id"],
        );
        let report_time = gauge(
            f.family("iam_exporter_last_used_report_timestamp_seconds"),
            &["account_id"],
        );
        let expiry = gauge(
            f.family("iam_user_exemption_expiry_timestamp_seconds"),
            &["account_id", "user", "source", "reason", "owner"],
        );
        let invalid = gauge(
            f.family("iam_user_exemption_invalid"),
            &["account_id", "user", "source", "problem"],
        );
        for s in &snapshots {
            let a = s.account_id.as_str();
            users.with_label_values(&[a]).set(s.users.len() as f64);
            offenders
                .with_label_values(&[a])
                .set(s.users_with_multiple_active_keys() as f64);
            data.with_label_values(&[a])
                .set(seconds_f64(s.data_timestamp));
            match s.last_used_from {
                LastUsedFrom::Nowhere => {}
                LastUsedFrom::PerKey => from_report.with_label_values(&[a]).set(0.0),
                LastUsedFrom::Report(at) => {
                    from_report.with_label_values(&[a]).set(1.0);
                    report_time.with_label_values(&[a]).set(at as f64);
                }
            }
            if let Some(present) = s.root_access_keys_present {
                root.with_label_values(&[a])
                    .set(if present { 1.0 } else { 0.0 });
            }
            for u in &s.users {
                active
                    .with_label_values(&[a, &u.name, &u.path])
                    .set(u.active_access_keys() as f64);
                for e in &u.exemptions {
                    let source = e.source.as_str();
                    match &e.grant {
                        Ok(g) => expiry
                            .with_label_values(&[a, &u.name, source, &g.reason, &g.owner])
                            .set(g.expires as f64),
                        Err(p) => invalid
                            .with_label_values(&[a, &u.name, source, p.as_str()])
                            .set(1.0),
                    }
                }
                for k in &u.access_keys {
                    created
                        .with_label_values(&[a, &u.name, &k.id, k.status.as_str()])
                        .set(k.created as f64);
                    if let Some(t) = k.last_used {
                        used.with_label_values(&[a, &u.name, &k.id]).set(t as f64);
                    }
                }
            }
        }
        let mut reference = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut reference)
            .unwrap();

        // Each line with its labels sorted, so that only label order may differ.
        let normalise = |text: &[u8]| -> BTreeSet<String> {
            String::from_utf8(text.to_vec())
                .unwrap()
                .lines()
                .map(
                    |line| match (line.starts_with('#'), line.find('{'), line.rfind('}')) {
                        (false, Some(open), Some(close)) => {
                            let mut labels: Vec<&str> = split_labels(&line[open + 1..close]);
                            labels.sort_unstable();
                            format!(
                                "{}{{{}}}{}",
                                &line[..open],
                                labels.join(","),
                                &line[close + 1..]
                            )
                        }
                        _ => line.to_owned(),
                    },
                )
                .collect()
        };
        assert_eq!(normalise(&direct), normalise(&reference));
        let text = String::from_utf8(direct.clone()).unwrap();
        assert!(text.contains(r#"problem="too_far_ahead""#), "{text}");
        assert!(
            text.contains("iam_user_exemption_expiry_timestamp_seconds{"),
            "{text}"
        );
        assert!(String::from_utf8(direct)
            .unwrap()
            .contains(r#"user="x\"y\\z""#));
    }

    /// Splits `a="x",b="y,\"z"` at the commas between pairs.
    fn split_labels(text: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        parts
    }
}
