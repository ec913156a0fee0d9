//! The snapshot writer's tests.

use std::collections::BTreeSet;

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

/// Two accounts with every shape the writer tells apart: a user whose name and path need
/// escaping, a valid and an invalid exemption, an inactive key, an unknown root, last use
/// from a report.
fn agreement_snapshots() -> [Arc<AccountSnapshot>; 2] {
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
    [first, Arc::new(second)]
}

/// The reference: the crate's own gauges, one per family (names and HELP from the writer's
/// table, labels written out here), in a registry.
struct Reference {
    registry: Registry,
    created: GaugeVec,
    used: GaugeVec,
    root: GaugeVec,
    users: GaugeVec,
    offenders: GaugeVec,
    data: GaugeVec,
    active: GaugeVec,
    from_report: GaugeVec,
    report_time: GaugeVec,
    expiry: GaugeVec,
    invalid: GaugeVec,
}

impl Reference {
    fn new(f: &SnapshotFamilies) -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, labels: &[&str]| {
            let family = f.family(name);
            let vec = GaugeVec::new(Opts::new(family.name(), family.help.clone()), labels).unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            vec
        };
        let key = ["account_id", "user", "access_key_id", "status"];
        let account = ["account_id"];
        Reference {
            created: gauge("iam_access_key_created_timestamp_seconds", &key),
            used: gauge("iam_access_key_last_used_timestamp_seconds", &key[..3]),
            root: gauge("iam_account_root_access_keys_present", &account),
            users: gauge("iam_account_users", &account),
            offenders: gauge(
                "iam_account_users_with_multiple_active_access_keys",
                &account,
            ),
            data: gauge("iam_exporter_data_timestamp_seconds", &account),
            active: gauge(
                "iam_user_active_access_keys",
                &["account_id", "user", "path"],
            ),
            from_report: gauge("iam_exporter_last_used_from_report", &account),
            report_time: gauge("iam_exporter_last_used_report_timestamp_seconds", &account),
            expiry: gauge(
                "iam_user_exemption_expiry_timestamp_seconds",
                &["account_id", "user", "source", "reason", "owner"],
            ),
            invalid: gauge(
                "iam_user_exemption_invalid",
                &["account_id", "user", "source", "problem"],
            ),
            registry,
        }
    }

    /// The account's per-account gauges.
    fn account(&self, s: &AccountSnapshot) {
        let a = s.account_id.as_str();
        self.users.with_label_values(&[a]).set(s.users.len() as f64);
        self.offenders
            .with_label_values(&[a])
            .set(s.users_with_multiple_active_keys() as f64);
        self.data
            .with_label_values(&[a])
            .set(seconds_f64(s.data_timestamp));
        match s.last_used_from {
            LastUsedFrom::Nowhere => {}
            LastUsedFrom::PerKey => self.from_report.with_label_values(&[a]).set(0.0),
            LastUsedFrom::Report(at) => {
                self.from_report.with_label_values(&[a]).set(1.0);
                self.report_time.with_label_values(&[a]).set(at as f64);
            }
        }
        if let Some(present) = s.root_access_keys_present {
            self.root
                .with_label_values(&[a])
                .set(if present { 1.0 } else { 0.0 });
        }
    }

    /// A user's gauges: its count, its exemptions, its keys.
    fn user(&self, a: &str, u: &User) {
        self.active
            .with_label_values(&[a, &u.name, &u.path])
            .set(u.active_access_keys() as f64);
        for e in &u.exemptions {
            let source = e.source.as_str();
            match &e.grant {
                Ok(g) => self
                    .expiry
                    .with_label_values(&[a, &u.name, source, &g.reason, &g.owner])
                    .set(g.expires as f64),
                Err(p) => self
                    .invalid
                    .with_label_values(&[a, &u.name, source, p.as_str()])
                    .set(1.0),
            }
        }
        for k in &u.access_keys {
            self.created
                .with_label_values(&[a, &u.name, &k.id, k.status.as_str()])
                .set(k.created as f64);
            if let Some(t) = k.last_used {
                self.used
                    .with_label_values(&[a, &u.name, &k.id])
                    .set(t as f64);
            }
        }
    }

    /// The body the crate's encoder writes for `snapshots`.
    fn body(f: &SnapshotFamilies, snapshots: &[Arc<AccountSnapshot>]) -> Vec<u8> {
        let reference = Reference::new(f);
        for s in snapshots {
            reference.account(s);
            for u in &s.users {
                reference.user(&s.account_id, u);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&reference.registry.gather(), &mut out)
            .unwrap();
        out
    }
}

/// Each line with its labels sorted, so that only label order may differ.
fn normalise(text: &[u8]) -> BTreeSet<String> {
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
}

/// The same snapshots through the crate's own gauges and encoder: the direct writer must
/// say exactly the same (label order aside, which the format leaves free).
#[test]
fn the_direct_writer_agrees_with_the_crates_encoder() {
    let snapshots = agreement_snapshots();

    let families = SnapshotFamilies::new("5m", KeyIdDisplay::Full);
    for s in &snapshots {
        families.publish(s.clone());
    }
    let mut direct = Vec::new();
    families.write_text(&mut direct);

    let reference = Reference::body(&families, &snapshots);

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
