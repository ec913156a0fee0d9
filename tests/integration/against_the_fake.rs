//! What moto cannot do: real pagination, injected faults, credential report states.

use std::time::Duration;

use crate::fake_iam::{FakeIam, FakeKey, FakeUser, FaultKind, Report, State};
use crate::helpers::{populated, spawn_app, spawn_with_fake, Scrape};

const ACCOUNT: &str = "111122223333";

fn refreshed(s: &Scrape) -> bool {
    s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(1.0)
}

fn failed(s: &Scrape) -> bool {
    s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(0.0)
}

fn errors(s: &Scrape, kind: &str) -> f64 {
    s.value(
        "iam_exporter_refresh_errors_total",
        &[("account_id", ACCOUNT), ("kind", kind)],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_across_pages_by_marker() {
    let (fake, app) = spawn_with_fake(
        populated(2_500),
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "16"),
        ],
    )
    .await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(
        scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(2_500.0)
    );
    assert_eq!(scrape.find("iam_user_active_access_keys", &[]).len(), 2_500);
    // user i has i % 3 active keys: 833 users have two.
    assert_eq!(
        scrape.value(
            "iam_account_users_with_multiple_active_access_keys",
            &[("account_id", ACCOUNT)]
        ),
        Some(833.0)
    );
    assert_eq!(
        scrape.value("iam_user_active_access_keys", &[("user", "user-002498")]),
        Some(2.0),
        "the last user of the last page is there"
    );
    // 2,500 users at MaxItems=1000: three pages, each asked with MaxItems=1000.
    let max_items = fake.with(|s| s.list_users_max_items.clone());
    assert_eq!(max_items, [Some(1000), Some(1000), Some(1000)]);
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_requests_total",
            &[("operation", "ListUsers"), ("outcome", "success")]
        ),
        Some(3.0)
    );
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_requests_total",
            &[("operation", "ListAccessKeys"), ("outcome", "success")]
        ),
        Some(2_500.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_during_the_refresh_is_skipped_not_a_failure() {
    let fake = FakeIam::start(populated(10)).await;
    // Listed by ListUsers, gone by the time its keys are asked for.
    fake.with(|s| {
        s.faults.push(crate::fake_iam::Fault {
            action: Some("ListAccessKeys".to_owned()),
            user: Some("user-000004".to_owned()),
            kind: FaultKind::NoSuchEntity,
            remaining: None,
        })
    });
    let app = spawn_app(&fake.endpoint(), &[]).await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(
        scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(9.0)
    );
    assert!(scrape
        .value("iam_user_active_access_keys", &[("user", "user-000004")])
        .is_none());
    assert_eq!(errors(&scrape, "other") + errors(&scrape, "service"), 0.0);
    app.stop().await;
}

/// Each injected fault fails the refresh with its kind, keeps the old data, then recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_counted_with_its_kind_and_the_data_is_kept() {
    let (fake, app) = spawn_with_fake(
        populated(30),
        &[("IAM_KEY_EXPORTER_AWS__ATTEMPT_TIMEOUT", "300ms")],
    )
    .await;
    app.wait_for("the first refresh", refreshed).await;

    let cases = [
        (FaultKind::Throttle, "throttled"),
        (FaultKind::ServerError, "service"),
        (FaultKind::Malformed, "service"),
        (FaultKind::Reset, "network"),
        (FaultKind::AccessDenied, "access_denied"),
        (FaultKind::Delay(Duration::from_secs(2)), "timeout"),
    ];
    for (fault, kind) in cases {
        let before = errors(&app.scrape().await, kind);
        fake.with(|s| s.faults.clear());
        fake.inject(Some("ListUsers"), fault.clone(), None);
        let scrape = app
            .wait_for(&format!("a {kind} failure from {fault:?}"), |s| {
                failed(s) && errors(s, kind) > before
            })
            .await;
        assert_eq!(
            scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
            Some(30.0),
            "the last good data is still served during {fault:?}"
        );
        fake.with(|s| s.faults.clear());
        app.wait_for("the recovery", refreshed).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_back_off_within_one_refresh() {
    let fake = FakeIam::start(populated(5)).await;
    fake.inject(Some("ListUsers"), FaultKind::Throttle, Some(2));
    let app = spawn_app(
        &fake.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "3"),
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
        ],
    )
    .await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(errors(&scrape, "throttled"), 0.0);
    assert_eq!(
        fake.requests("ListUsers"),
        3,
        "two throttled attempts, then success"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_for_the_account_summary_root_is_unknown_but_users_are_served() {
    let fake = FakeIam::start(populated(3)).await;
    fake.inject(Some("GetAccountSummary"), FaultKind::AccessDenied, None);
    // Without last use there is no report, whose root row would answer instead.
    let app = spawn_app(
        &fake.endpoint(),
        &[("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false")],
    )
    .await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert!(scrape
        .value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)]
        )
        .is_none());
    assert!(fake.requests("GetAccountSummary") >= 1, "it was asked");
    assert_eq!(
        scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(3.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_never_calls_aws() {
    let (fake, app) = spawn_with_fake(
        populated(20),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")],
    )
    .await;
    app.wait_for("the first refresh", refreshed).await;
    let before = fake.with(|s| s.total_requests());
    for _ in 0..50 {
        app.scrape().await;
    }
    assert_eq!(fake.with(|s| s.total_requests()), before);
    app.stop().await;
}

fn report_app_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report"),
        ("IAM_KEY_EXPORTER_COLLECTOR__REPORT_WAIT", "20s"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_report_mode_generates_a_report_once_and_reuses_it() {
    let mut state = populated(300);
    state.root_keys_active = true;
    state.report = Report::Absent;
    state.report_polls = 2;
    let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(
        scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(300.0)
    );
    assert_eq!(
        scrape.value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)]
        ),
        Some(1.0),
        "the <root_account> row gives the root key"
    );
    // STARTED, INPROGRESS x2, COMPLETE.
    assert_eq!(fake.requests("GenerateCredentialReport"), 4);

    // Later refreshes reuse the fresh report: one GetCredentialReport each, plus one
    // ListAccessKeys per flagged user (100 of them).
    let gets = fake.requests("GetCredentialReport");
    app.wait_for("more refreshes", |_| {
        fake.requests("GetCredentialReport") >= gets + 2
    })
    .await;
    assert_eq!(
        fake.requests("GenerateCredentialReport"),
        4,
        "no new generation"
    );
    assert_eq!(fake.requests("ListUsers"), 0);
    let scrape = app.scrape().await;
    let offenders = scrape.value(
        "iam_account_users_with_multiple_active_access_keys",
        &[("account_id", ACCOUNT)],
    );
    assert_eq!(offenders, Some(100.0));
    // The offenders' keys carry real IDs and last use carried over from the report.
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[
                ("user", "user-000002"),
                ("access_key_id", "AKIAFAKE000000000200")
            ]
        )
        .is_some());
    assert!(scrape
        .value(
            "iam_access_key_last_used_timestamp_seconds",
            &[
                ("user", "user-000002"),
                ("access_key_id", "AKIAFAKE000000000200")
            ]
        )
        .is_some());
    // Users the report does not flag are named by their report slot.
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[("user", "user-000001"), ("access_key_id", "access_key_1")]
        )
        .is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_report_mode_confirms_flagged_users_so_a_finished_rotation_is_not_reported() {
    let mut state = State::default();
    state.users.insert(
        "rotated".to_owned(),
        FakeUser {
            path: "/".to_owned(),
            keys: vec![
                FakeKey {
                    id: "AKIAOLDOLDOLDOLDOLD1".to_owned(),
                    active: true,
                    created: 1_600_000_000,
                    last_used: None,
                },
                FakeKey {
                    id: "AKIANEWNEWNEWNEWNEW2".to_owned(),
                    active: true,
                    created: 1_700_000_000,
                    last_used: None,
                },
            ],
            tags: Vec::new(),
        },
    );
    state.report = Report::Absent;
    let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(
        scrape.value("iam_user_active_access_keys", &[("user", "rotated")]),
        Some(2.0)
    );
    // The report is cached by AWS; the rotation finishes after it was generated.
    fake.with(|s| s.users.get_mut("rotated").unwrap().keys[0].active = false);
    let scrape = app
        .wait_for("the confirmation", |s| {
            s.value("iam_user_active_access_keys", &[("user", "rotated")]) == Some(1.0)
        })
        .await;
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[
                ("access_key_id", "AKIAOLDOLDOLDOLDOLD1"),
                ("status", "Inactive")
            ]
        )
        .is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_old_or_in_progress_report_is_waited_for_or_generated_anew() {
    for initial in [
        Report::Expired,
        // Someone else started a generation: GetCredentialReport says ReportInProgress.
        Report::InProgress { polls_left: 1 },
        Report::Complete {
            generated: crate::fake_iam::now() - 5 * 3600,
        },
    ] {
        let mut state = State::default();
        state.populate(3);
        state.report = initial.clone();
        state.report_csv = crate::fake_iam::credential_report_csv(&state);
        state.report_polls = 0;
        let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
        let scrape = app.wait_for("the first refresh", refreshed).await;
        assert!(
            fake.requests("GenerateCredentialReport") >= 1,
            "{initial:?} makes or waits for a new report"
        );
        let data_time = scrape
            .value(
                "iam_exporter_data_timestamp_seconds",
                &[("account_id", ACCOUNT)],
            )
            .unwrap();
        assert!(
            data_time > (crate::fake_iam::now() - 60) as f64,
            "the data's time is the new report's"
        );
        app.stop().await;
    }
}

fn fallbacks(s: &Scrape, reason: &str, served: &str) -> f64 {
    s.value(
        "iam_exporter_credential_report_fallbacks_total",
        &[
            ("account_id", ACCOUNT),
            ("reason", reason),
            ("served", served),
        ],
    )
    .unwrap_or(0.0)
}

/// Every user's true count, as the fake holds it, is what the scrape serves.
fn true_counts_served(fake: &FakeIam, scrape: &Scrape) {
    let expected: Vec<(String, f64)> = fake.with(|state| {
        state
            .users
            .iter()
            .map(|(name, user)| {
                (
                    name.clone(),
                    user.keys.iter().filter(|k| k.active).count() as f64,
                )
            })
            .collect()
    });
    for (user, active) in &expected {
        assert_eq!(
            scrape.value("iam_user_active_access_keys", &[("user", user)]),
            Some(*active),
            "{user}"
        );
    }
    assert_eq!(
        scrape.find("iam_user_active_access_keys", &[]).len(),
        expected.len()
    );
}

// Before: a report that never completed failed the refresh (kind `timeout`) and the account had
// no data. Now the users are read through the API for that refresh, and the fallback is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_never_completes_is_replaced_by_api_reads_for_that_refresh() {
    let mut state = populated(30);
    state.report = Report::Absent;
    state.report_polls = u32::MAX;
    let (fake, app) = spawn_with_fake(
        state,
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report"),
            ("IAM_KEY_EXPORTER_COLLECTOR__REPORT_WAIT", "1s"),
        ],
    )
    .await;
    let scrape = app
        .wait_for("a refresh served through the API", |s| {
            refreshed(s) && fallbacks(s, "timeout", "api") >= 1.0
        })
        .await;
    true_counts_served(&fake, &scrape);
    assert!(fake.requests("ListUsers") >= 1 && fake.requests("ListAccessKeys") >= 30);
    let data_time = scrape
        .value(
            "iam_exporter_data_timestamp_seconds",
            &[("account_id", ACCOUNT)],
        )
        .unwrap();
    assert!(data_time > (crate::fake_iam::now() - 60) as f64, "read now");
    assert_eq!(errors(&scrape, "timeout"), 0.0, "the refresh did not fail");
    app.stop().await;
}

/// Every GenerateCredentialReport answered with 409 `LimitExceeded`.
fn refuse_generation(state: &mut State) {
    state.faults.push(iam_key_exporter_testkit::Fault {
        action: Some("GenerateCredentialReport".to_owned()),
        user: None,
        kind: FaultKind::LimitExceeded,
        remaining: None,
    });
}

/// A report generated six hours ago, older than `collector.report_max_age`; its time.
fn six_hour_old_report(state: &mut State) -> i64 {
    let generated = crate::fake_iam::now() - 6 * 3600;
    state.report = Report::Complete { generated };
    state.report_csv = crate::fake_iam::credential_report_csv(state);
    generated
}

/// GenerateCredentialReport answered with 409 `LimitExceeded` (as the IAM API Reference
/// documents it, and as scanners meet it when several generate reports in one account).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_exceeded_serves_the_older_report_counted_as_throttled_and_backs_off() {
    let mut state = populated(30);
    let generated = six_hour_old_report(&mut state);
    refuse_generation(&mut state);
    let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
    let first = app
        .wait_for("a refresh served from the older report", |s| {
            refreshed(s) && fallbacks(s, "throttled", "older_report") >= 1.0
        })
        .await;
    true_counts_served(&fake, &first);
    assert_eq!(
        first.value(
            "iam_exporter_data_timestamp_seconds",
            &[("account_id", ACCOUNT)]
        ),
        Some(generated as f64),
        "the data's age is the older report's"
    );
    let refused = fake.requests("GenerateCredentialReport");
    assert_eq!(refused, 1);
    // Two more refreshes: still served from the older report, and no generation asked while
    // backing off.
    let later = app
        .wait_for("two more refreshes", |s| {
            fallbacks(s, "throttled", "older_report") >= 3.0
        })
        .await;
    true_counts_served(&fake, &later);
    assert_eq!(
        fake.requests("GenerateCredentialReport"),
        refused,
        "backing off"
    );
    assert_eq!(errors(&later, "throttled"), 0.0, "no refresh failed");
    app.stop().await;
}

/// With no report at all, `LimitExceeded` leaves the API: every user's count is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_exceeded_without_any_report_reads_the_users_through_the_api() {
    let mut state = populated(30);
    state.report = Report::Absent;
    refuse_generation(&mut state);
    let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
    let scrape = app
        .wait_for("a refresh served through the API", |s| {
            refreshed(s) && fallbacks(s, "throttled", "api") >= 1.0
        })
        .await;
    true_counts_served(&fake, &scrape);
    app.stop().await;
}

/// A report whose content is empty or cut off mid-row cannot be read: the users are read
/// through the API for that refresh, never served as an emptied account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_truncated_report_is_replaced_by_api_reads() {
    for content in ["", "cut"] {
        let mut state = populated(30);
        state.report = Report::Complete {
            generated: crate::fake_iam::now() - 60,
        };
        let full = crate::fake_iam::credential_report_csv(&state);
        state.report_csv = match content {
            "" => String::new(),
            // The header, the root row, and half of the first user's row.
            _ => {
                let cut = full.match_indices('\n').nth(1).unwrap().0 + 40;
                full[..cut].to_owned()
            }
        };
        let (fake, app) = spawn_with_fake(state, &report_app_settings()).await;
        let scrape = app
            .wait_for("a refresh served through the API", |s| {
                refreshed(s) && fallbacks(s, "service", "api") >= 1.0
            })
            .await;
        true_counts_served(&fake, &scrape);
        app.stop().await;
    }
}

/// API mode's last use: an older report still gives it (the age is exported), no key is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_api_mode_limit_exceeded_keeps_last_use_from_the_older_report() {
    let mut state = populated(30);
    let generated = six_hour_old_report(&mut state);
    refuse_generation(&mut state);
    let (fake, app) = spawn_with_fake(state, &[]).await;
    let scrape = app
        .wait_for("a refresh with last use from the older report", |s| {
            refreshed(s) && fallbacks(s, "throttled", "older_report") >= 1.0
        })
        .await;
    true_counts_served(&fake, &scrape);
    assert_eq!(
        scrape.value(
            "iam_exporter_last_used_report_timestamp_seconds",
            &[("account_id", ACCOUNT)]
        ),
        Some(generated as f64)
    );
    assert_eq!(fake.requests("GetAccessKeyLastUsed"), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_confirmation_a_fresh_report_costs_one_request_per_refresh() {
    let mut state = populated(300);
    state.report = Report::Complete {
        generated: crate::fake_iam::now() - 60,
    };
    state.report_csv = crate::fake_iam::credential_report_csv(&state);
    let fake = FakeIam::start(state).await;
    let mut settings = report_app_settings();
    settings.push((
        "IAM_KEY_EXPORTER_COLLECTOR__CONFIRM_REPORT_OFFENDERS",
        "false",
    ));
    // Exemption tags cost one request per offender in every mode; off, the report is all.
    settings.push(("IAM_KEY_EXPORTER_COLLECTOR__EXEMPTION_TAGS", "false"));
    let app = spawn_app(&fake.endpoint(), &settings).await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    assert_eq!(
        scrape.value(
            "iam_account_users_with_multiple_active_access_keys",
            &[("account_id", ACCOUNT)]
        ),
        Some(100.0),
        "offenders are counted from the report"
    );
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[("user", "user-000002"), ("access_key_id", "access_key_2")]
        )
        .is_some());
    let before = fake.with(|s| s.total_requests());
    let gets = fake.requests("GetCredentialReport");
    app.wait_for("three more refreshes", |_| {
        fake.requests("GetCredentialReport") >= gets + 3
    })
    .await;
    let after = fake.with(|s| s.total_requests());
    let refreshes = fake.requests("GetCredentialReport") - gets;
    assert_eq!(
        after - before,
        refreshes,
        "each refresh is one GetCredentialReport and nothing else"
    );
    assert_eq!(fake.requests("ListAccessKeys"), 0);
    assert_eq!(
        fake.requests("GenerateCredentialReport"),
        0,
        "the fresh report is reused"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fakes_latency_is_felt_by_every_request() {
    let mut state = populated(3);
    state.latency = Duration::from_millis(250);
    let (_fake, app) = spawn_with_fake(
        state,
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
        ],
    )
    .await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    // In sequence: GetCallerIdentity, ListUsers, the users' ListAccessKeys (concurrently),
    // GetAccountSummary: at least four latencies. Only a lower bound, never a timing upper one.
    let took = scrape
        .value(
            "iam_exporter_refresh_duration_seconds",
            &[("account_id", ACCOUNT)],
        )
        .unwrap();
    assert!(
        took >= 1.0,
        "a refresh of 4 sequential 250ms answers took {took}s"
    );
    app.stop().await;
}

/// A 200 MB answer, declared in `Content-Length` or streamed without one, fails the refresh
/// with a clear error and never grows the exporter past 128 MiB. The exporter runs as its own
/// process so that its peak resident memory (`VmHWM`) is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_answer_is_refused_without_the_memory_it_would_take() {
    use tokio::io::AsyncBufReadExt;

    let fake = FakeIam::start(populated(10)).await;
    let port = crate::helpers::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iam-key-exporter"))
        .args([
            "--web.listen-address",
            &addr.to_string(),
            "--refresh.interval",
            "500ms",
        ])
        .env("AWS_ENDPOINT_URL", fake.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let collected = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut logs = collected.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    let service_errors = || async {
        let Ok(response) =
            iam_key_exporter_testkit::try_request(addr, "GET", "/metrics", &[]).await
        else {
            return -1.0;
        };
        Scrape::parse(&response.text())
            .value(
                "iam_exporter_refresh_errors_total",
                &[("account_id", ACCOUNT), ("kind", "service")],
            )
            .unwrap_or(0.0)
    };
    crate::helpers::eventually("the first refresh", Duration::from_secs(30), || async {
        matches!(
            iam_key_exporter_testkit::try_request(addr, "GET", "/-/ready", &[]).await,
            Ok(response) if response.status == 200
        )
    })
    .await;

    for (round, declared) in [(1.0, true), (2.0, false)] {
        fake.with(|s| s.faults.clear());
        fake.inject(
            Some("ListUsers"),
            FaultKind::Huge {
                bytes: 200 * 1024 * 1024,
                declared,
            },
            None,
        );
        crate::helpers::eventually(
            &format!("a refused 200 MB answer (Content-Length declared: {declared})"),
            Duration::from_secs(60),
            || async { service_errors().await >= round },
        )
        .await;
    }
    fake.with(|s| s.faults.clear());

    let pid = child.id().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("peak RSS with two 200 MB answers: {} MiB", peak_kib / 1024);
    assert!(
        peak_kib < 128 * 1024,
        "peak RSS {} MiB is not under 128 MiB",
        peak_kib / 1024
    );
    let logs = logs.lock().unwrap().clone();
    assert!(logs.contains("aws.max_response_size"), "says why: {logs}");
    let _ = child.kill().await;
}

/// Every attempt is counted, the throttled ones the SDK retried included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_counted_including_the_retried_throttles() {
    let fake = FakeIam::start(populated(5)).await;
    fake.inject(Some("ListUsers"), FaultKind::Throttle, Some(2));
    let app = spawn_app(
        &fake.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "3"),
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
        ],
    )
    .await;
    let scrape = app.wait_for("the first refresh", refreshed).await;
    let attempts = |outcome: &str| {
        scrape.value(
            "iam_exporter_aws_attempts_total",
            &[("operation", "ListUsers"), ("outcome", outcome)],
        )
    };
    assert_eq!(attempts("throttled"), Some(2.0), "{}", scrape.text);
    assert_eq!(attempts("success"), Some(1.0));
    // The request itself succeeded once, after its retries.
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_requests_total",
            &[("operation", "ListUsers"), ("outcome", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        scrape.value(
            "iam_exporter_aws_attempts_total",
            &[("operation", "ListAccessKeys"), ("outcome", "success")]
        ),
        Some(5.0)
    );
    app.stop().await;
}

/// When `refresh.timeout` ends a refresh whose requests keep failing, the failure is counted
/// by its real kind and the log says what it was, not only "timeout".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_timeout_keeps_the_real_cause() {
    let fake = FakeIam::start(populated(5)).await;
    let app = spawn_app(
        &fake.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "20"),
            ("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "1500ms"),
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "200ms"),
        ],
    )
    .await;
    app.wait_for("the first refresh", refreshed).await;
    fake.inject(Some("ListUsers"), FaultKind::Reset, None);
    let scrape = app
        .wait_for("a refresh abandoned while connections were reset", |s| {
            errors(s, "network") >= 1.0
        })
        .await;
    assert_eq!(errors(&scrape, "timeout"), 0.0, "counted by its cause");
    let took = scrape
        .value(
            "iam_exporter_refresh_duration_seconds",
            &[("account_id", ACCOUNT)],
        )
        .unwrap();
    assert!(
        took >= 1.4,
        "the refresh was abandoned at refresh.timeout, not ended by the SDK: {took}s"
    );
    assert!(
        scrape
            .value(
                "iam_exporter_aws_attempts_total",
                &[("operation", "ListUsers"), ("outcome", "network")]
            )
            .unwrap_or(0.0)
            >= 2.0,
        "the SDK retried: {}",
        scrape.text
    );
    app.stop().await;
}
