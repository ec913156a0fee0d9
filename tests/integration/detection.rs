//! The detection matrix: every configuration that changes what is exported, run for real (the
//! exporter against the fake IAM, or against moto with events), its real `/metrics` turned into
//! promtool input, and the shipped rules evaluated on it. Every mode must keep every outcome:
//! a long-lived second key pages after the grace and `for:`; a rotation in progress is silent
//! but noted, and pages once the grace is over; an exempt user is silent until the expiry,
//! then pages; inactive keys never count; a root key pages.
//!
//! One scrape serves every scenario: the timestamps in it are shifted so that promtool's time 0
//! is "the keys are 2 days old" or "the newest key is an hour old". The expected alerts are the
//! whole set firing (`count by (alertname, account_id, user) (ALERTS{alertstate="firing"})`),
//! so an alert for anybody else fails the case as surely as a missing one.

use std::collections::BTreeSet;
use std::path::Path;

use iam_key_exporter_testkit::{FakeIam, FakeKey, FakeUser, Report, Scrape, State};
use serde_json::{json, Value};

use crate::events::{envelope, Queue};
use crate::helpers::{
    project_dir, run, spawn_app_with, temp_dir, test_config_with_file, tool, TestApp,
};
use crate::moto::{Moto, Seed};

const RULES: &str = "deploy/prometheus/iam-key-exporter.rules.yml";
const DAY: i64 = 86_400;
/// Samples every 5 minutes: enough for every `for:` of the rules, few enough for 11 days.
const STEP: i64 = 300;

/// The users every account of the matrix has, and what the rules must say of them.
const LONG_LIVED: &str = "longlived";
const EXEMPT_TAG: &str = "exempt-tag";
const EXEMPT_CONFIG: &str = "exempt-config";
const INACTIVE_SECOND: &str = "inactive-second";
const SINGLE: &str = "single";

/// The exemptions' expiries, in days from today (the tag's is the later one): near, so that
/// promtool has few days to evaluate.
const TAG_EXPIRES_IN: i64 = 4;
const CONFIG_EXPIRES_IN: i64 = 3;

fn now() -> i64 {
    iam_key_exporter_testkit::fake_iam::now()
}

/// `YYYY-MM-DD`, `days` from today.
fn date_in(days: i64) -> String {
    iam_key_exporter_testkit::fake_iam::iso8601(now() + days * DAY)[..10].to_owned()
}

fn config_file(account: &str) -> String {
    format!(
        "[[exemptions]]\naccount = \"{account}\"\nuser = \"{}\"\nreason = \"vendor migration\"\nowner = \"payments\"\nexpires = \"{}\"\n",
        // In another case than IAM's: IAM user names are case-insensitive.
        EXEMPT_CONFIG.to_ascii_uppercase(),
        date_in(CONFIG_EXPIRES_IN)
    )
}

fn tags() -> Vec<(String, String)> {
    [
        ("iam-key-exporter:exempt-until", date_in(TAG_EXPIRES_IN)),
        (
            "iam-key-exporter:exempt-reason",
            "partner integration".to_owned(),
        ),
        ("iam-key-exporter:exempt-owner", "security".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The matrix's world in a fake account: keys made a minute ago (the active ones used since),
/// root with a key, a fresh credential report.
fn fake_world(account: &str) -> State {
    let created = now() - 60;
    let mut state = State {
        account_id: account.to_owned(),
        root_keys_active: true,
        ..State::default()
    };
    let mut serial = 0;
    let mut key = |active: bool| {
        serial += 1;
        FakeKey {
            id: format!("AKIA{}{serial:08}", &account[4..]),
            active,
            created: created + serial,
            last_used: active.then_some(created + 30),
        }
    };
    let mut user = |name: &str, keys: Vec<FakeKey>, tags: Vec<(String, String)>| {
        state.users.insert(
            name.to_owned(),
            FakeUser {
                path: "/".to_owned(),
                keys,
                tags,
            },
        );
    };
    user(LONG_LIVED, vec![key(true), key(true)], vec![]);
    user(EXEMPT_TAG, vec![key(true), key(true)], tags());
    user(EXEMPT_CONFIG, vec![key(true), key(true)], vec![]);
    user(INACTIVE_SECOND, vec![key(true), key(false)], vec![]);
    user(SINGLE, vec![key(true)], vec![]);
    state.report = Report::Complete { generated: now() };
    state.report_csv = iam_key_exporter_testkit::fake_iam::credential_report_csv(&state);
    state
}

/// One firing alert: (alertname, account_id, user or "").
type Firing = (&'static str, String, String);

/// What must be firing, per account, in each scenario.
fn expected(accounts: &[String], which: &[(&'static str, &'static str)]) -> BTreeSet<Firing> {
    let mut set = BTreeSet::new();
    for account in accounts {
        set.insert(("IAMRootAccessKeyPresent", account.clone(), String::new()));
        for (alert, user) in which {
            set.insert((*alert, account.clone(), (*user).to_owned()));
        }
    }
    set
}

/// Renders promtool's tests for one mode's scrapes (one per replica) and runs them.
async fn evaluate(mode: &str, scrapes: &[(String, Scrape)], accounts: &[String]) {
    let t = now() as f64;
    let expiries: Vec<f64> = scrapes
        .iter()
        .flat_map(|(_, s)| s.find("iam_user_exemption_expiry_timestamp_seconds", &[]))
        .map(|s| s.value)
        .collect();
    assert_eq!(
        expiries.len(),
        2 * accounts.len(),
        "{mode}: both exemptions are exported in every account"
    );
    let grid = |seconds: f64| ((seconds / STEP as f64).ceil() as i64) * STEP;

    let old = t + (2 * DAY) as f64;
    let rotation = t + 3600.0;
    // Keys past the grace, and both exemptions (at least two days ahead) still to come.
    let grace_over = t + (25 * 3600) as f64;
    let first_expiry = expiries.iter().copied().fold(f64::MAX, f64::min) - grace_over;
    let last_expiry = expiries.iter().copied().fold(f64::MIN, f64::max) - grace_over;
    assert!(first_expiry > 3600.0, "{mode}: {first_expiry}");
    let before_expiry = grid(first_expiry) - 2 * STEP;
    let after_expiry = grid(last_expiry) + 40 * 60;

    let multiple = "IAMUserMultipleActiveAccessKeys";
    let second = "IAMUserSecondAccessKey";
    let expired = "IAMUserExemptionExpired";
    let cases = [
        (
            "keys 2 days old: the long-lived second key pages after for:, nobody else",
            old,
            3600,
            vec![
                (20 * 60, expected(accounts, &[])),
                (40 * 60, expected(accounts, &[(multiple, LONG_LIVED)])),
            ],
        ),
        (
            "newest key an hour old: a rotation is noted, not paged, until the grace is over",
            rotation,
            25 * 3600 + 3600,
            vec![
                (40 * 60, expected(accounts, &[(second, LONG_LIVED)])),
                (
                    24 * 3600 + 40 * 60,
                    expected(accounts, &[(multiple, LONG_LIVED)]),
                ),
            ],
        ),
        (
            "exemptions hold until their expiry, then the exempt users page",
            grace_over,
            after_expiry + 600,
            vec![
                (before_expiry, expected(accounts, &[(multiple, LONG_LIVED)])),
                (
                    after_expiry,
                    expected(
                        accounts,
                        &[
                            (multiple, LONG_LIVED),
                            (multiple, EXEMPT_TAG),
                            (multiple, EXEMPT_CONFIG),
                            (expired, EXEMPT_TAG),
                            (expired, EXEMPT_CONFIG),
                        ],
                    ),
                ),
            ],
        ),
    ];

    let tests: Vec<Value> = cases
        .iter()
        .map(|(name, shift, until, evals)| {
            json!({
                "name": format!("{mode}: {name}"),
                "interval": format!("{STEP}s"),
                "input_series": input_series(scrapes, *shift, *until),
                "promql_expr_test": evals.iter().map(|(at, firing)| json!({
                    "expr": "count by (alertname, account_id, user) (ALERTS{alertstate=\"firing\"})",
                    "eval_time": format!("{at}s"),
                    "exp_samples": firing.iter().map(|(alert, account, user)| {
                        let user = if user.is_empty() { String::new() } else { format!(",user=\"{user}\"") };
                        json!({"labels": format!("{{alertname=\"{alert}\",account_id=\"{account}\"{user}}}"), "value": 1})
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let file = json!({
        "rule_files": [project_dir().join(RULES)],
        // Every `for:` of the rules is a multiple of it but one (1m, which then takes 5m).
        "evaluation_interval": "5m",
        "tests": tests,
    });
    let dir = temp_dir();
    let path = dir.path().join(format!("{mode}.test.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    promtool_test(mode, &path).await;
}

async fn promtool_test(mode: &str, path: &Path) {
    let promtool = tool("promtool", "PROMTOOL");
    let (code, out, err) = run(
        &promtool,
        &["test", "rules", path.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(
        code,
        0,
        "{mode}: the shipped rules do not give the expected alerts on this mode's /metrics \
         ({}):\n{out}{err}",
        path.display()
    );
}

/// Every sample of the scrapes, with the labels a scrape adds (`job`, `instance`), `up` for
/// each replica, and every `*_timestamp_seconds` value moved back by `shift`; constant until
/// `until` seconds.
fn input_series(scrapes: &[(String, Scrape)], shift: f64, until: i64) -> Vec<Value> {
    let samples = until / STEP + 1;
    let mut series = Vec::new();
    for (instance, scrape) in scrapes {
        series.push(json!({
            "series": format!("up{{job=\"iam-key-exporter\",instance=\"{instance}\"}}"),
            "values": format!("1x{samples}"),
        }));
        for sample in &scrape.samples {
            if sample.name.starts_with("process_") || sample.value.is_nan() {
                continue;
            }
            let value = if sample.name.ends_with("_timestamp_seconds") {
                sample.value - shift
            } else {
                sample.value
            };
            let mut labels = vec![
                format!("job=\"iam-key-exporter\""),
                format!("instance=\"{instance}\""),
            ];
            labels.extend(
                sample
                    .labels
                    .iter()
                    .map(|(name, value)| format!("{name}=\"{}\"", promql_escape(value))),
            );
            series.push(json!({
                "series": format!("{}{{{}}}", sample.name, labels.join(",")),
                "values": format!("{}x{samples}", number(value)),
            }));
        }
    }
    series
}

fn promql_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The exporter on `endpoint` with the matrix's config file and `settings`, once it serves
/// every user of `accounts` accounts.
async fn exporter(
    endpoint: &str,
    toml: &str,
    settings: &[(&str, &str)],
    accounts: usize,
) -> TestApp {
    let app = spawn_app_with(test_config_with_file(endpoint, toml, settings)).await;
    app.wait_for("every account's users and exemptions", |s| {
        s.find("iam_user_active_access_keys", &[]).len() == 5 * accounts
            && s.find("iam_user_exemption_expiry_timestamp_seconds", &[])
                .len()
                == 2 * accounts
    })
    .await;
    app
}

/// The configurations that change what is exported, on the fake IAM (it has root keys and the
/// report's root row, which moto has not).
const FAKE_MODES: &[(&str, &[(&str, &str)])] = &[
    ("api-all", &[]),
    (
        "api-offenders",
        &[("IAM_KEY_EXPORTER_COLLECTOR__KEY_SERIES", "offenders")],
    ),
    (
        "api-none",
        &[("IAM_KEY_EXPORTER_COLLECTOR__KEY_SERIES", "none")],
    ),
    (
        "api-no-last-used",
        &[("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false")],
    ),
    (
        "report-all",
        &[("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report")],
    ),
    (
        "report-none",
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report"),
            ("IAM_KEY_EXPORTER_COLLECTOR__KEY_SERIES", "none"),
        ],
    ),
    (
        "report-unconfirmed",
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report"),
            (
                "IAM_KEY_EXPORTER_COLLECTOR__CONFIRM_REPORT_OFFENDERS",
                "false",
            ),
        ],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_pages_for_a_second_key_and_for_nobody_else() {
    for (mode, settings) in FAKE_MODES {
        let state = fake_world("111122223333");
        let account = state.account_id.clone();
        let fake = FakeIam::start(state).await;
        let app = exporter(&fake.endpoint(), &config_file(&account), settings, 1).await;
        let scrape = app.scrape().await;
        if let Some(level) = mode.strip_prefix("api-") {
            if ["all", "offenders", "none"].contains(&level) {
                per_key_series_are_as_documented(level, &scrape);
            }
        }
        evaluate(mode, &[("replica-0".to_owned(), scrape)], &[account]).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_replicas_page_once_per_finding() {
    let own = "111122223333";
    let members = ["222233334444", "333344445555", "444455556666"];
    let fake = FakeIam::start(fake_world(own)).await;
    let mut toml = config_file("*");
    toml.push_str(&format!("[[accounts]]\naccount_id = \"{own}\"\n"));
    for member in members {
        fake.add_member(fake_world(member));
        toml.push_str(&format!(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::{member}:role/audit\"\n"
        ));
    }
    let mut scrapes = Vec::new();
    let mut watched = Vec::new();
    for index in ["0", "1"] {
        let app = spawn_app_with(test_config_with_file(
            &fake.endpoint(),
            &toml,
            &[
                ("IAM_KEY_EXPORTER_SHARDING__COUNT", "2"),
                ("IAM_KEY_EXPORTER_SHARDING__INDEX", index),
            ],
        ))
        .await;
        let scrape = app
            .wait_for("the replica's accounts", |s| {
                let accounts = s.find("iam_account_users", &[]).len();
                accounts > 0
                    && s.find("iam_user_active_access_keys", &[]).len() == 5 * accounts
                    && s.find("iam_user_exemption_expiry_timestamp_seconds", &[])
                        .len()
                        == 2 * accounts
            })
            .await;
        watched.extend(
            scrape
                .find("iam_account_users", &[])
                .iter()
                .map(|s| s.labels["account_id"].clone()),
        );
        scrapes.push((format!("replica-{index}"), scrape));
        app.stop().await;
    }
    watched.sort();
    let mut all: Vec<String> = members.iter().map(|m| (*m).to_owned()).collect();
    all.push(own.to_owned());
    all.sort();
    assert_eq!(watched, all, "each account on exactly one replica");
    evaluate("sharded", &scrapes, &all).await;
}

/// Events on (moto's IAM and SQS): the long-lived user's second key arrives through an event
/// after the first refresh, and the refresh interval is an hour, so only the event's re-read
/// can give the rules what they need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_events_a_second_key_from_an_event_pages_too() {
    let moto = Moto::start_with_clock().await;
    let account = "123456789012";
    moto.set_root_access_keys(account, true).await;
    let seed = Seed(moto.iam());
    seed.user_with_keys(LONG_LIVED, "/", 1, 0).await;
    seed.user_with_keys(EXEMPT_TAG, "/", 2, 0).await;
    let tags = tags();
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    seed.tag(EXEMPT_TAG, &tags).await;
    seed.user_with_keys(EXEMPT_CONFIG, "/", 2, 0).await;
    seed.user_with_keys(INACTIVE_SECOND, "/", 1, 1).await;
    seed.user_with_keys(SINGLE, "/", 1, 0).await;
    let queue = Queue::create(&moto, "matrix-events").await;
    let app = exporter(
        &moto.endpoint(),
        &config_file(account),
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_EVENTS__SQS_QUEUE_URL", &queue.url),
            ("IAM_KEY_EXPORTER_EVENTS__WAIT_TIME", "1s"),
        ],
        1,
    )
    .await;
    seed.key(LONG_LIVED).await;
    queue
        .send(&envelope(account, "CreateAccessKey", LONG_LIVED))
        .await;
    let scrape = app
        .wait_for("the event's second key", |s| {
            s.value("iam_user_active_access_keys", &[("user", LONG_LIVED)]) == Some(2.0)
        })
        .await;
    assert_eq!(
        scrape.value("iam_exporter_refresh_success", &[("account_id", account)]),
        Some(1.0)
    );
    evaluate(
        "events",
        &[("replica-0".to_owned(), scrape)],
        &[account.to_owned()],
    )
    .await;
    app.stop().await;
}

/// The "Series" table of docs/deployment.md, held to a scrape at `level`: its per-key families,
/// for every key or for offenders' keys only.
fn per_key_series_are_as_documented(level: &str, scrape: &Scrape) {
    let docs = std::fs::read_to_string(project_dir().join("docs/deployment.md")).unwrap();
    let row = docs
        .lines()
        .find(|line| line.starts_with(&format!("| `{level}`")))
        .unwrap_or_else(|| panic!("docs/deployment.md has no Series row for `{level}`"));
    let column = row.split('|').nth(3).unwrap();
    let documented: BTreeSet<&str> = column
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| name.starts_with("iam_access_key_"))
        .collect();
    let exported: BTreeSet<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.name.starts_with("iam_access_key_"))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(exported, documented, "`{level}`: {row}");
    let users: BTreeSet<&str> = scrape
        .find("iam_access_key_created_timestamp_seconds", &[])
        .iter()
        .map(|s| s.labels["user"].as_str())
        .collect();
    let expected: BTreeSet<&str> = match level {
        "all" => [
            LONG_LIVED,
            EXEMPT_TAG,
            EXEMPT_CONFIG,
            INACTIVE_SECOND,
            SINGLE,
        ]
        .into(),
        "offenders" => {
            assert!(
                column.contains("users with more than one active key"),
                "{row}"
            );
            [LONG_LIVED, EXEMPT_TAG, EXEMPT_CONFIG].into()
        }
        _ => BTreeSet::new(),
    };
    assert_eq!(users, expected, "`{level}`: whose keys have series");
    let newest: BTreeSet<&str> = scrape
        .find(
            "iam_user_newest_active_access_key_created_timestamp_seconds",
            &[],
        )
        .iter()
        .map(|s| s.labels["user"].as_str())
        .collect();
    assert_eq!(
        newest,
        [LONG_LIVED, EXEMPT_TAG, EXEMPT_CONFIG].into(),
        "`{level}`: the newest active key's creation of every offender, in every mode"
    );
}
