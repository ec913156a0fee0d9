//! The catalogue held to what is exported and to the README.

use super::*;
use std::path::Path;

#[test]
fn every_family_is_defined_once_with_a_name_prometheus_accepts() {
    let mut names: Vec<&str> = ALL.iter().map(|family| family.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ALL.len(), "a family is defined twice");
    for family in ALL {
        assert!(family.name.starts_with("iam_"), "{}", family.name);
        assert_eq!(
            family.kind == Kind::Counter,
            family.name.ends_with("_total"),
            "{}: counters and only counters end in _total",
            family.name
        );
    }
}

/// A body with a sample of every family: discovery and events on, a user with a key of
/// each kind, a valid and an invalid exemption, last use from a report.
fn everything() -> String {
    use crate::aws::ErrorKind;
    use crate::snapshot::{Exemption, ExemptionSource, Grant, InvalidExemption, KeyStatus};
    use std::time::Duration;

    let metrics =
        super::super::Metrics::new(Duration::from_secs(60), super::super::KeyIdDisplay::Full)
            .unwrap();
    metrics.enable_discovery().unwrap();
    metrics.discovery_succeeded(1);
    metrics.account_info("123456789012", "prod", "/r-1/");
    let mut offender = super::super::tests::user(
        "a",
        &[
            ("AKIA1", KeyStatus::Active, Some(1)),
            ("AKIA2", KeyStatus::Active, None),
        ],
    );
    offender.exemptions = vec![
        Exemption {
            source: ExemptionSource::Config,
            grant: Ok(Grant {
                expires: 2_000_000_000,
                reason: "r".to_owned(),
                owner: "o".to_owned(),
            }),
        },
        Exemption {
            source: ExemptionSource::Tag,
            grant: Err(InvalidExemption::NoOwner),
        },
    ];
    offender.creators.insert(
        "AKIA1".to_owned(),
        crate::snapshot::Creator {
            arn: "arn:aws:sts::123456789012:assumed-role/Admin/x".to_owned(),
            identity_type: "AssumedRole".to_owned(),
            relation: crate::snapshot::CreatorRelation::Other,
            source_ip: "203.0.113.7".to_owned(),
            user_agent: "aws-cli".to_owned(),
            time: 1,
        },
    );
    let mut snapshot = (*super::super::tests::snapshot("123456789012", vec![offender])).clone();
    snapshot.last_used_from = crate::snapshot::LastUsedFrom::Report(1);
    snapshot.report_fallback = Some(crate::snapshot::ReportFallback {
        reason: "throttled",
        served: crate::snapshot::FallbackServed::OlderReport,
    });
    metrics.refresh_succeeded(std::sync::Arc::new(snapshot), Duration::ZERO);
    metrics.refresh_failed("123456789012", ErrorKind::Throttled, Duration::ZERO);
    let observer = metrics.request_observer();
    observer.observe("ListUsers", "success");
    observer.attempt("ListUsers", "success");
    metrics.creator_lookup("found");
    let published = super::super::Published::new(metrics.render().unwrap());
    let events = published.enable_events().unwrap();
    events.event("CreateAccessKey", "applied");
    events.burst(1);
    events.lag(1.0);
    events.polled(true);
    events.backlog(0);
    String::from_utf8(published.scrape(false).concat()).unwrap()
}

/// What the exporter exports is what the catalogue says: every family of a body with a
/// sample of each is there, of its type, with its labels.
#[test]
fn the_body_exports_every_family_of_the_catalogue_as_it_says() {
    let body = everything();
    let mut seen = std::collections::BTreeSet::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, _) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        if name.starts_with("process_") {
            continue;
        }
        let family = ALL
            .iter()
            .find(|f| f.kind != Kind::Histogram && f.name == name)
            .or_else(|| {
                ALL.iter().find(|f| {
                    f.kind == Kind::Histogram
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|end| name == format!("{}{end}", f.name))
                })
            })
            .unwrap_or_else(|| panic!("`{name}` is not in the catalogue"));
        let mut names: Vec<&str> = labels
            .trim_end_matches('}')
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| l.split('=').next().unwrap())
            .filter(|l| *l != "le")
            .collect();
        // The crate's encoder sorts the labels by name; the direct writer keeps their order.
        let mut want = family.labels.to_vec();
        if names != want {
            names.sort_unstable();
            want.sort_unstable();
        }
        assert_eq!(names, want, "labels of `{name}`");
        assert!(
            body.contains(&format!(
                "# TYPE {} {}\n",
                family.name,
                family.kind.as_str()
            )),
            "type of `{}`",
            family.name
        );
        seen.insert(family.name);
    }
    let missing: Vec<&str> = ALL
        .iter()
        .map(|f| f.name)
        .filter(|name| !seen.contains(name))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{body}");
}

/// docs/metrics.md's metrics table is exactly what the catalogue generates.
#[test]
fn the_readme_metrics_table_says_what_the_catalogue_says() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .unwrap();
    let begin = "<!-- BEGIN metrics (generated: see src/exposition/catalogue.rs) -->\n";
    let end = "<!-- END metrics -->";
    let start = readme
        .find(begin)
        .expect("docs/metrics.md has the metrics markers")
        + begin.len();
    let stop = readme[start..].find(end).expect("the end marker") + start;
    assert_eq!(
        &readme[start..stop],
        markdown_table(),
        "docs/metrics.md's metrics table is out of date; replace it with the text above"
    );
}
