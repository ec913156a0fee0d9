//! Several accounts at once, against the fake (whose member accounts are reached through
//! `AssumeRole`, as in AWS): each account refreshes on its own, so one hanging or refusing
//! account never holds back another; and each account's request rate stays under its cap.

use std::time::Duration;

use crate::fake_iam::{FakeIam, Fault, FaultKind, State};
use crate::helpers::{populated, spawn_app_with, test_config_with_file, Scrape};

const HEALTHY: &str = "210000000001";
const HANGING: &str = "210000000002";
const REFUSING: &str = "210000000003";

fn member(account: &str, users: usize) -> State {
    let mut state = populated(users);
    state.account_id = account.to_owned();
    state
}

fn accounts_toml(accounts: &[&str]) -> String {
    accounts
        .iter()
        .map(|a| format!("[[accounts]]\nrole_arn = \"arn:aws:iam::{a}:role/audit\"\n"))
        .collect()
}

fn users(s: &Scrape, account: &str) -> Option<f64> {
    s.value("iam_account_users", &[("account_id", account)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_refusing_account_never_holds_back_the_others() {
    let fake = FakeIam::start(populated(2)).await;
    fake.add_member(member(HEALTHY, 3));
    fake.add_member(member(HANGING, 4));
    fake.add_member(member(REFUSING, 5));
    // One account answers nothing for an hour (longer than refresh.timeout below allows the
    // test to run), one refuses the exporter's role.
    fake.with_member(HANGING, |s| {
        s.faults.push(Fault {
            action: Some("ListUsers".to_owned()),
            user: None,
            kind: FaultKind::Delay(Duration::from_secs(3600)),
            remaining: None,
        })
    });
    fake.with_member(REFUSING, |s| s.assume_role_denied = true);
    let config = test_config_with_file(
        &fake.endpoint(),
        &accounts_toml(&[HEALTHY, HANGING, REFUSING]),
        &[("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "1h")],
    );
    let app = spawn_app_with(config).await;

    let scrape = app
        .wait_for(
            "the healthy account's data and the refusing one's failure",
            |s| {
                users(s, HEALTHY) == Some(3.0)
                    && s.value("iam_exporter_refresh_success", &[("account_id", REFUSING)])
                        == Some(0.0)
            },
        )
        .await;
    assert_eq!(
        users(&scrape, HANGING),
        None,
        "the hanging account has no data yet"
    );
    assert!(
        scrape
            .value(
                "iam_exporter_refresh_errors_total",
                &[("account_id", REFUSING), ("kind", "access_denied")]
            )
            .unwrap_or(0.0)
            >= 1.0,
        "the refused role is reported by kind: {}",
        scrape.text
    );

    // The healthy account keeps refreshing while the other still hangs.
    fake.with_member(HEALTHY, |s| s.populate(6));
    app.wait_for("the healthy account's next refresh", |s| {
        users(s, HEALTHY) == Some(6.0)
    })
    .await;
    app.stop().await;
}

/// `aws.max_requests_per_second` holds for each account: however many users, no second sees
/// more requests than the bucket's burst plus one second of the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_accounts_request_rate_stays_under_its_cap() {
    const RATE: usize = 40;
    let fake = FakeIam::start(populated(2)).await;
    fake.add_member(member(HEALTHY, 150));
    let config = test_config_with_file(
        &fake.endpoint(),
        &accounts_toml(&[HEALTHY]),
        &[
            ("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "40"),
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
            ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "16"),
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
        ],
    );
    let app = spawn_app_with(config).await;
    app.wait_for("the member's first refresh", |s| {
        users(s, HEALTHY) == Some(150.0)
    })
    .await;
    let arrivals = fake.with_member(HEALTHY, |s| s.arrivals.clone());
    assert!(
        arrivals.len() >= 152,
        "ListUsers, 150 ListAccessKeys, ...: {}",
        arrivals.len()
    );
    let busiest = arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && t.duration_since(*start) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= 2 * RATE + 2,
        "{busiest} requests within one second under a cap of {RATE}/s"
    );
    app.stop().await;
}
