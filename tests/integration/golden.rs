//! The whole exposition pinned, node_exporter's `e2e-output.txt` way: the exporter's `/metrics`
//! for a fixed fake account, one file per `collector.key_series` level and one for
//! credential-report mode (tests/fixtures/metrics/*.prom), so a renamed series, a changed HELP
//! text or label shows in review. What varies from run to run is normalised: times and
//! durations become `<time>`, the build's revision and toolchain `<build>`, and the process
//! metrics (read from the OS at each scrape) are left out.
//!
//! After an intended change: `UPDATE_GOLDEN=1 scripts/test golden`, then review the diff.

use iam_key_exporter_testkit::{FakeIam, FakeKey, FakeUser, Report, State};

use crate::helpers::spawn_app;

const DIR: &str = "tests/fixtures/metrics";

/// A fixed account: one user per shape the exporter tells apart.
fn account() -> State {
    let created = 1_700_000_000;
    let key = |id: &str, active: bool, used: Option<i64>| FakeKey {
        id: id.to_owned(),
        active,
        created,
        last_used: used,
    };
    let mut state = State {
        root_keys_active: true,
        ..State::default()
    };
    let expires = iam_key_exporter_testkit::fake_iam::iso8601(
        iam_key_exporter_testkit::fake_iam::now() + 10 * 86_400,
    )[..10]
        .to_owned();
    for (name, path, keys, tags) in [
        (
            "alice",
            "/",
            vec![
                key("AKIAGOLDENALICE00001", true, Some(created + 86_400)),
                key("AKIAGOLDENALICE00002", true, None),
            ],
            vec![],
        ),
        (
            "bob",
            "/ci/",
            vec![
                key("AKIAGOLDENBOB0000001", true, Some(created + 3_600)),
                key("AKIAGOLDENBOB0000002", false, None),
            ],
            vec![],
        ),
        ("carol", "/", vec![], vec![]),
        (
            "vendor",
            "/partners/",
            vec![
                key("AKIAGOLDENVENDOR0001", true, None),
                key("AKIAGOLDENVENDOR0002", true, None),
            ],
            vec![
                ("iam-key-exporter:exempt-until".to_owned(), expires),
                (
                    "iam-key-exporter:exempt-reason".to_owned(),
                    "migration".to_owned(),
                ),
                (
                    "iam-key-exporter:exempt-owner".to_owned(),
                    "partners".to_owned(),
                ),
            ],
        ),
    ] {
        state.users.insert(
            name.to_owned(),
            FakeUser {
                path: path.to_owned(),
                keys,
                tags,
            },
        );
    }
    state.report = Report::Complete {
        generated: iam_key_exporter_testkit::fake_iam::now() - 60,
    };
    state.report_csv = iam_key_exporter_testkit::fake_iam::credential_report_csv(&state);
    state
}

/// The exposition with what varies normalised.
fn normalised(text: &str) -> String {
    let mut out = String::new();
    let mut skip_family = false;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
        {
            skip_family = rest.starts_with("process_");
        }
        if skip_family {
            continue;
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let varies = name.ends_with("_timestamp_seconds")
            || name.ends_with("_duration_seconds")
            || name.starts_with("iam_exporter_event_lag_seconds");
        let series = if name == "iam_exporter_build_info" {
            "iam_exporter_build_info{version=\"<build>\",revision=\"<build>\",rustversion=\"<build>\"}"
                .to_owned()
        } else {
            series.to_owned()
        };
        out.push_str(&series);
        out.push(' ');
        out.push_str(if varies { "<time>" } else { value });
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_pinned_by_golden_files() {
    let mut stale = Vec::new();
    for (file, settings) in [
        ("api-all.prom", vec![]),
        (
            "api-offenders.prom",
            vec![("IAM_KEY_EXPORTER_COLLECTOR__KEY_SERIES", "offenders")],
        ),
        (
            "api-none.prom",
            vec![("IAM_KEY_EXPORTER_COLLECTOR__KEY_SERIES", "none")],
        ),
        (
            "credential-report.prom",
            vec![("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report")],
        ),
    ] {
        let fake = FakeIam::start(account()).await;
        let mut all = vec![("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")];
        all.extend(settings);
        let app = spawn_app(&fake.endpoint(), &all).await;
        let scrape = app
            .wait_for("the first refresh", |s| {
                s.value("iam_exporter_refresh_success", &[]) == Some(1.0)
            })
            .await;
        app.stop().await;
        let got = normalised(&scrape.text);
        let path = crate::helpers::project_dir().join(DIR).join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            stale.push(format!(
                "{file}: differs from line {}: got `{}`, the file has `{}`",
                first + 1,
                got.lines().nth(first).unwrap_or("<end>"),
                want.lines().nth(first).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "the exposition changed (if intended: UPDATE_GOLDEN=1 scripts/test golden, and review):\n{}",
        stale.join("\n")
    );
}

/// docs/metrics.md's metrics table, held to the exposition: every family the golden files show is in
/// the table, with exactly the labels it has there.
#[test]
fn the_readme_metrics_table_lists_every_exported_family_with_its_labels() {
    let root = crate::helpers::project_dir();
    let readme = std::fs::read_to_string(root.join("docs/metrics.md")).unwrap();
    let table = &readme[readme.find("<!-- BEGIN metrics").unwrap()..];
    let table = &table[..table.find("<!-- END metrics -->").unwrap()];
    let mut documented = std::collections::BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let names: Vec<&str> = cells[0].trim_start_matches("| ").split(", ").collect();
        let labels: std::collections::BTreeSet<String> = cells[1]
            .split(", ")
            .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
            .collect();
        for name in names {
            documented.insert(
                name.trim_matches('`').to_owned(),
                (names_len(cells[0]), labels.clone()),
            );
        }
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join(DIR)).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, _) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels: std::collections::BTreeSet<String> = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| l.split('=').next().unwrap().to_owned())
                .collect();
            let (shared, want) = documented
                .get(name)
                .unwrap_or_else(|| panic!("docs/metrics.md's metrics table lacks `{name}`"));
            // A row of one family names its labels exactly.
            if *shared == 1 {
                assert_eq!(&labels, want, "docs/metrics.md's labels of `{name}`");
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} samples checked");
}

fn names_len(cell: &str) -> usize {
    cell.split(", ").count()
}
