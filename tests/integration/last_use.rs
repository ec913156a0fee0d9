//! Last use in API mode (the default): from the credential report, with `GetAccessKeyLastUsed`
//! only for what the report cannot place, and for everything when there is no report.

use crate::fake_iam::{key_id, now, FakeIam, FakeKey, FaultKind, Report};
use crate::helpers::{populated, spawn_app, Scrape, TestApp};
use crate::moto::{Moto, Seed};

/// The exporter against `endpoint`, refreshing once (for an hour), after its first refresh.
async fn first_refresh(endpoint: &str) -> (TestApp, Scrape) {
    let app = spawn_app(endpoint, &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")]).await;
    let scrape = app
        .wait_for("the first refresh", |s| {
            s.value("iam_exporter_refresh_success", &[]) == Some(1.0)
        })
        .await;
    (app, scrape)
}

/// Against moto, with keys used by signing requests with them: the default configuration
/// exports what `GetAccessKeyLastUsed` says, to the second (the report's precision), and asks
/// IAM at most users + ⌈users / 1,000⌉ + 5 times, exemption tags aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_from_the_report_matches_get_access_key_last_used() {
    // moto's clock moves a second per key: two keys of one user made in the same second, one
    // used and one not, are the case the report cannot tell apart (asked per key, below).
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    let users: usize = 24;
    let mut keys = Vec::new();
    let mut at = now() - 3_600;
    for i in 0..users {
        let name = format!("user-{i:02}");
        seed.user(&name, "/").await;
        for k in 0..(i % 3) {
            at += 1;
            moto.freeze_clock(at).await;
            let (id, secret) = seed.key_with_secret(&name).await;
            if (i + k) % 2 == 0 {
                moto.use_key(&id, &secret).await;
            }
            keys.push((name.clone(), id));
        }
    }
    // One user whose two keys share a second, one of them used: only those two are asked.
    moto.freeze_clock(at + 10).await;
    seed.user("same-second", "/").await;
    let (first, secret) = seed.key_with_secret("same-second").await;
    let (second, _) = seed.key_with_secret("same-second").await;
    moto.use_key(&first, &secret).await;
    moto.set_clock(None).await;
    keys.push(("same-second".to_owned(), first));
    keys.push(("same-second".to_owned(), second));
    let users = users + 1;
    // A report exists before the exporter starts, as in any account with one. (moto dates
    // every report 2015-02-02, so each refresh still regenerates it: 3 report requests.)
    seed.0.generate_credential_report().send().await.unwrap();
    let (_app, scrape) = first_refresh(&moto.endpoint()).await;
    assert_eq!(
        scrape.value("iam_exporter_last_used_from_report", &[]),
        Some(1.0),
        "last use came from the report"
    );
    let mut used = 0;
    for (user, id) in &keys {
        let truth = seed
            .0
            .get_access_key_last_used()
            .access_key_id(id)
            .send()
            .await
            .unwrap()
            .access_key_last_used()
            .and_then(|u| u.last_used_date())
            .map(|date| date.secs() as f64);
        let exported = scrape.value(
            "iam_access_key_last_used_timestamp_seconds",
            &[("user", user.as_str()), ("access_key_id", id.as_str())],
        );
        assert_eq!(exported, truth, "{user} {id}");
        used += usize::from(truth.is_some());
    }
    assert!(used >= 5, "some keys were used: {used}");
    let requests: f64 = scrape
        .find("iam_exporter_aws_requests_total", &[])
        .iter()
        .filter(|s| s.labels["operation"] != "ListUserTags")
        .map(|s| s.value)
        .sum();
    // The two keys of one second are asked per key, on top of the bound.
    let bound = users + users.div_ceil(1000) + 5 + 2;
    assert!(
        requests <= bound as f64,
        "{requests} requests for {users} users (at most {bound}):\n{}",
        scrape
            .find("iam_exporter_aws_requests_total", &[])
            .iter()
            .map(|s| format!("{:?} {}", s.labels, s.value))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_requests_total",
            &[
                ("operation", "GetAccessKeyLastUsed"),
                ("outcome", "success")
            ]
        ),
        Some(2.0),
        "the report placed every key but the two of one second"
    );
}

/// The fake's report is fixed when generated: a key created since is not in it, and only that
/// key (active) is asked per key; an inactive one is never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_created_after_the_report_are_asked_per_key() {
    let mut state = populated(30);
    state.report = Report::Complete {
        generated: now() - 600,
    };
    state.report_csv = crate::fake_iam::credential_report_csv(&state);
    // After the report: user-000000 (no keys in the report) gets an active key, used an hour
    // ago, and an inactive one.
    let user = state.users.get_mut("user-000000").unwrap();
    assert!(user.keys.is_empty());
    user.keys.push(FakeKey {
        id: "AKIANEWNEWNEWNEWNEW1".to_owned(),
        active: true,
        created: now() - 120,
        last_used: Some(now() - 60),
    });
    user.keys.push(FakeKey {
        id: "AKIANEWNEWNEWNEWNEW2".to_owned(),
        active: false,
        created: now() - 100,
        last_used: Some(now() - 90),
    });
    let expected_new = now() - 60;
    let fake = FakeIam::start(state).await;
    let (_app, scrape) = first_refresh(&fake.endpoint()).await;
    assert_eq!(
        fake.requests("GetAccessKeyLastUsed"),
        1,
        "only the new active key"
    );
    assert_eq!(fake.requests("GetCredentialReport"), 1);
    assert_eq!(
        fake.requests("GetAccountSummary"),
        0,
        "root's row answers it"
    );
    let last_used = |id: &str| {
        scrape.value(
            "iam_access_key_last_used_timestamp_seconds",
            &[("access_key_id", id)],
        )
    };
    assert_eq!(last_used("AKIANEWNEWNEWNEWNEW1"), Some(expected_new as f64));
    assert_eq!(last_used("AKIANEWNEWNEWNEWNEW2"), None);
    // Keys the report places carry its dates: user-000001's first key was used at base + 1 day.
    assert_eq!(
        last_used(&key_id(1, 0)),
        Some((1_700_000_000 + 86_400) as f64)
    );
    assert_eq!(last_used(&key_id(2, 1)), None, "never used");
    assert!(scrape
        .value("iam_exporter_last_used_report_timestamp_seconds", &[])
        .is_some_and(|t| t > 0.0));
}

/// Without permission for the report, every active key is asked, as before reports were used,
/// and the metric says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_report_every_active_key_is_asked() {
    let state = populated(30);
    let active = state
        .users
        .values()
        .flat_map(|u| u.keys.iter())
        .filter(|k| k.active)
        .count() as u64;
    let fake = FakeIam::start(state).await;
    fake.inject(Some("GetCredentialReport"), FaultKind::AccessDenied, None);
    fake.inject(
        Some("GenerateCredentialReport"),
        FaultKind::AccessDenied,
        None,
    );
    let (_app, scrape) = first_refresh(&fake.endpoint()).await;
    assert_eq!(
        scrape.value("iam_exporter_last_used_from_report", &[]),
        Some(0.0)
    );
    assert_eq!(fake.requests("GetAccessKeyLastUsed"), active);
    assert_eq!(fake.requests("GetAccountSummary"), 1);
    assert!(scrape
        .value("iam_exporter_last_used_report_timestamp_seconds", &[])
        .is_none());
}
