//! Exemptions, from the config file and from users' tags: shown in /metrics and by `check`,
//! honoured until they expire, and read for offenders only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::binary::{aws_env, exporter};
use crate::fake_iam::{FakeIam, FakeKey, FakeUser, FaultKind, State};
use crate::helpers::{spawn_app_with, temp_dir, test_config_with_file};
use crate::moto::{Moto, Seed};

const DAY: u64 = 86_400;

/// `YYYY-MM-DD`, `days` from today.
fn date_in(days: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = UNIX_EPOCH + Duration::from_secs((now + days * DAY as i64) as u64);
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_owned()
}

const EXEMPT_UNTIL: &str = "iam-key-exporter:exempt-until";
const REASON: &str = "iam-key-exporter:exempt-reason";
const OWNER: &str = "iam-key-exporter:exempt-owner";

/// A config file exempting `ci-*` in every account until `expires`.
fn config_exemption(expires: &str) -> String {
    format!(
        "[[exemptions]]\naccount = \"*\"\nuser_pattern = \"ci-*\"\nreason = \"pipeline migration\"\nowner = \"platform\"\nexpires = \"{expires}\"\n"
    )
}

async fn check_json(endpoint: &str, config: &std::path::Path) -> (i32, Value) {
    let mut env = aws_env(endpoint);
    env.push(("IAM_KEY_EXPORTER_CONFIG_FILE", config.display().to_string()));
    let (code, out, err) = exporter(&["check", "--output=json"], &env).await;
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, json)
}

fn users(list: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_when_every_offender_is_exempt_and_fails_once_one_is_not() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("ci-deploy", "/", 2, 0).await;
    seed.user_with_keys("vendor", "/", 2, 0).await;
    seed.tag(
        "vendor",
        &[
            (EXEMPT_UNTIL, &date_in(30)),
            (REASON, "Acme cut-over"),
            (OWNER, "payments"),
        ],
    )
    .await;
    let dir = temp_dir();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_exemption(&date_in(10))).unwrap();

    let (code, json) = check_json(&moto.endpoint(), &config).await;
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["compliant"], true);
    assert_eq!(users(&json["offenders"]), Vec::<&str>::new());
    assert_eq!(users(&json["exempt"]), ["ci-deploy", "vendor"]);
    let vendor = json["exempt"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == "vendor")
        .unwrap();
    assert_eq!(vendor["exemption"]["source"], "tag");
    assert_eq!(vendor["exemption"]["owner"], "payments");
    assert_eq!(vendor["exemption"]["reason"], "Acme cut-over");
    assert_eq!(vendor["exemption"]["expired"], false);

    // The config exemption expired yesterday, the tag one is set beyond the maximum.
    std::fs::write(&config, config_exemption(&date_in(-1))).unwrap();
    seed.tag("vendor", &[(EXEMPT_UNTIL, &date_in(400))]).await;
    let (code, json) = check_json(&moto.endpoint(), &config).await;
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(users(&json["offenders"]), ["ci-deploy", "vendor"]);
    assert_eq!(users(&json["exempt"]), Vec::<&str>::new());
    let not_honoured = |user: &str| {
        json["offenders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user"] == user)
            .unwrap()["exemptions_not_honoured"][0]
            .clone()
    };
    assert_eq!(not_honoured("ci-deploy")["expired"], true);
    assert_eq!(not_honoured("ci-deploy")["source"], "config");
    assert_eq!(not_honoured("vendor")["invalid"], "too_far_ahead");

    // The table says the same to a person.
    let mut env = aws_env(&moto.endpoint());
    env.push(("IAM_KEY_EXPORTER_CONFIG_FILE", config.display().to_string()));
    let (code, out, _) = exporter(&["check"], &env).await;
    assert_eq!(code, 1);
    assert!(out.contains("ci-deploy: config exemption expired"), "{out}");
    assert!(
        out.contains("vendor: tag exemption invalid: too_far_ahead"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemptions_are_series_and_tags_are_read_for_offenders_only() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("ci-build", "/", 2, 0).await;
    seed.user_with_keys("vendor", "/", 2, 0).await;
    seed.user_with_keys("sloppy", "/", 2, 0).await;
    seed.user_with_keys("tagged-but-fine", "/", 1, 0).await;
    let until = date_in(20);
    for user in ["vendor", "tagged-but-fine"] {
        seed.tag(
            user,
            &[
                (EXEMPT_UNTIL, &until),
                (REASON, "cut-over"),
                (OWNER, "payments"),
            ],
        )
        .await;
    }
    seed.tag(
        "sloppy",
        &[(EXEMPT_UNTIL, "next week"), (REASON, "x"), (OWNER, "y")],
    )
    .await;
    let config = test_config_with_file(
        &moto.endpoint(),
        &config_exemption(&date_in(10)),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")],
    );
    let app = spawn_app_with(config).await;
    let scrape = app
        .wait_for("the first refresh", |s| {
            s.value("iam_user_active_access_keys", &[("user", "vendor")]) == Some(2.0)
        })
        .await;
    let expiry = |user: &str, source: &str| {
        scrape.value(
            "iam_user_exemption_expiry_timestamp_seconds",
            &[("user", user), ("source", source)],
        )
    };
    let midnight = |date: &str| {
        humantime::parse_rfc3339(&format!("{date}T00:00:00Z"))
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as f64
    };
    assert_eq!(expiry("ci-build", "config"), Some(midnight(&date_in(10))));
    assert_eq!(expiry("vendor", "tag"), Some(midnight(&until)));
    let vendor = scrape.find(
        "iam_user_exemption_expiry_timestamp_seconds",
        &[("user", "vendor")],
    );
    assert_eq!(vendor.len(), 1);
    assert_eq!(vendor[0].labels["owner"], "payments");
    assert_eq!(vendor[0].labels["reason"], "cut-over");
    assert_eq!(
        scrape.value(
            "iam_user_exemption_invalid",
            &[
                ("user", "sloppy"),
                ("source", "tag"),
                ("problem", "bad_expiry")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        expiry("tagged-but-fine", "tag"),
        None,
        "one active key: no exemption needed, none read"
    );
    // One ListUserTags per offender (three of four users), not per user.
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_requests_total",
            &[("operation", "ListUserTags"), ("outcome", "success")]
        ),
        Some(3.0)
    );
}

/// Credentials without `iam:ListUserTags` lose the tag exemptions only: the refresh still
/// succeeds and the config file's exemptions are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_to_read_tags_config_exemptions_still_hold() {
    let mut state = State::default();
    let now = iam_key_exporter_testkit::fake_iam::now();
    let key = |id: &str| FakeKey {
        id: id.to_owned(),
        active: true,
        created: now - 100 * DAY as i64,
        last_used: None,
    };
    for (name, ids) in [
        ("ci-a", ["AKIACIACIACIACIACIA1", "AKIACIACIACIACIACIA2"]),
        ("tagged", ["AKIATAGTAGTAGTAGTAG1", "AKIATAGTAGTAGTAGTAG2"]),
    ] {
        state.users.insert(
            name.to_owned(),
            FakeUser {
                path: "/".to_owned(),
                keys: ids.iter().map(|id| key(id)).collect(),
                tags: vec![
                    (EXEMPT_UNTIL.to_owned(), date_in(5)),
                    (REASON.to_owned(), "r".to_owned()),
                    (OWNER.to_owned(), "o".to_owned()),
                ],
            },
        );
    }
    let fake = FakeIam::start(state).await;
    fake.inject(Some("ListUserTags"), FaultKind::AccessDenied, None);
    let app = spawn_app_with(test_config_with_file(
        &fake.endpoint(),
        &config_exemption(&date_in(10)),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")],
    ))
    .await;
    let scrape = app
        .wait_for("the first refresh", |s| {
            s.value("iam_exporter_refresh_success", &[]) == Some(1.0)
        })
        .await;
    assert!(fake.requests("ListUserTags") >= 1, "it asked");
    assert!(
        scrape
            .value(
                "iam_user_exemption_expiry_timestamp_seconds",
                &[("user", "ci-a"), ("source", "config")]
            )
            .is_some(),
        "the config exemption is served"
    );
    assert!(
        scrape
            .find(
                "iam_user_exemption_expiry_timestamp_seconds",
                &[("source", "tag")]
            )
            .is_empty(),
        "no tag could be read"
    );
}
