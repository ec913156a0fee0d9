//! The exporter against a real moto server: counts, awkward names, changes and outages.

use std::collections::BTreeMap;

use crate::helpers::{get, promtool_check_metrics, run, spawn_app, tool, Scrape};
use crate::moto::{Moto, Seed};

/// 64 characters using every character IAM allows in a user name.
const AWKWARD: &str = "a+b=c,d.e@f_g-h+i=j,k.l@m_n-o+p=q,r.s@t_u-v+w=x,y.z@A_B-C+D=E,FG";
const ACCOUNT: &str = "123456789012";

/// A mix of users: 0, 1 and 2 keys, inactive keys, nested paths, awkward names.
async fn seed_mix(seed: &Seed) {
    assert_eq!(AWKWARD.len(), 64);
    seed.user_with_keys("none", "/", 0, 0).await;
    seed.user_with_keys("one", "/", 1, 0).await;
    seed.user_with_keys("two", "/", 2, 0).await;
    seed.user_with_keys("one-plus-inactive", "/", 1, 1).await;
    seed.user_with_keys("inactive-only", "/", 0, 2).await;
    seed.user_with_keys(AWKWARD, "/division/team/sub-team/", 2, 0)
        .await;
    seed.user_with_keys("svc@example.com", "/service-accounts/", 1, 0)
        .await;
}

fn active_keys(scrape: &Scrape, user: &str) -> Option<f64> {
    scrape.value(
        "iam_user_active_access_keys",
        &[("account_id", ACCOUNT), ("user", user)],
    )
}

/// The control's own audit procedure, run with the real AWS CLI against moto:
/// `aws iam list-users`, then `aws iam list-access-keys --user-name U`, counting `Active`.
async fn cli_audit(moto: &Moto) -> BTreeMap<String, usize> {
    let aws = tool("aws", "AWS_CLI");
    let endpoint = moto.endpoint();
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_PAGER", ""),
    ];
    let (code, out, err) = run(
        &aws,
        &[
            "--endpoint-url",
            &endpoint,
            "iam",
            "list-users",
            "--output",
            "json",
        ],
        &env,
        true,
    )
    .await;
    assert_eq!(code, 0, "aws iam list-users failed: {err}");
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut counts = BTreeMap::new();
    for user in users["Users"].as_array().unwrap() {
        let name = user["UserName"].as_str().unwrap().to_owned();
        let (code, out, err) = run(
            &aws,
            &[
                "--endpoint-url",
                &endpoint,
                "iam",
                "list-access-keys",
                "--user-name",
                &name,
                "--output",
                "json",
            ],
            &env,
            true,
        )
        .await;
        assert_eq!(code, 0, "aws iam list-access-keys {name} failed: {err}");
        let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
        let active = keys["AccessKeyMetadata"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["Status"] == "Active")
            .count();
        counts.insert(name, active);
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_users_count_equals_the_cli_audit_including_awkward_names() {
    let moto = Moto::start().await;
    seed_mix(&Seed(moto.iam())).await;
    let app = spawn_app(&moto.endpoint(), &[]).await;
    let scrape = app
        .wait_for("the first refresh", |s| {
            s.value("iam_account_users", &[("account_id", ACCOUNT)]) == Some(7.0)
        })
        .await;

    let audit = cli_audit(&moto).await;
    assert_eq!(audit.len(), 7, "the CLI sees every seeded user: {audit:?}");
    let exported: BTreeMap<String, usize> = scrape
        .find("iam_user_active_access_keys", &[("account_id", ACCOUNT)])
        .into_iter()
        .map(|s| (s.labels["user"].clone(), s.value as usize))
        .collect();
    assert_eq!(exported, audit);

    assert_eq!(active_keys(&scrape, AWKWARD), Some(2.0));
    assert_eq!(
        scrape.value(
            "iam_user_active_access_keys",
            &[("user", AWKWARD), ("path", "/division/team/sub-team/")]
        ),
        Some(2.0)
    );
    assert_eq!(
        scrape.value(
            "iam_account_users_with_multiple_active_access_keys",
            &[("account_id", ACCOUNT)]
        ),
        Some(2.0)
    );
    assert_eq!(
        scrape.value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)]
        ),
        Some(0.0)
    );
    // One series per key, inactive ones included, with their status.
    assert_eq!(
        scrape
            .find(
                "iam_access_key_created_timestamp_seconds",
                &[("user", "inactive-only")]
            )
            .iter()
            .filter(|s| s.labels["status"] == "Inactive")
            .count(),
        2
    );
    assert_eq!(
        scrape
            .find(
                "iam_access_key_created_timestamp_seconds",
                &[("account_id", ACCOUNT)]
            )
            .len(),
        10
    );
    assert_eq!(
        scrape.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]),
        Some(1.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_between_refreshes_appear_and_removed_series_are_gone() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    let two = seed.user_with_keys("two", "/", 2, 0).await;
    seed.user_with_keys("leaver", "/", 1, 0).await;
    seed.user_with_keys("grower", "/", 1, 0).await;
    let app = spawn_app(&moto.endpoint(), &[]).await;
    app.wait_for("the first refresh", |s| {
        active_keys(s, "leaver") == Some(1.0)
    })
    .await;

    seed.deactivate("two", &two[0]).await;
    seed.delete_user("leaver").await;
    let added = seed.key("grower").await;

    let scrape = app
        .wait_for("the changes", |s| {
            active_keys(s, "two") == Some(1.0)
                && active_keys(s, "grower") == Some(2.0)
                && active_keys(s, "leaver").is_none()
        })
        .await;
    assert!(
        !scrape.text.contains("user=\"leaver\""),
        "no series of a deleted user remains:\n{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(
            "iam_access_key_created_timestamp_seconds",
            &[("access_key_id", two[0].as_str())]
        ),
        scrape.value(
            "iam_access_key_created_timestamp_seconds",
            &[("access_key_id", two[0].as_str()), ("status", "Inactive")]
        ),
        "the deactivated key is reported as Inactive only"
    );
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[("access_key_id", added.as_str()), ("status", "Active")]
        )
        .is_some());
    assert_eq!(
        scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(2.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iam_outage_keeps_the_last_data_and_the_exporter_recovers() {
    let mut moto = Moto::start().await;
    Seed(moto.iam()).user_with_keys("two", "/", 2, 0).await;
    let app = spawn_app(&moto.endpoint(), &[]).await;
    app.wait_for("the first refresh", |s| active_keys(s, "two") == Some(2.0))
        .await;
    assert_eq!(get(app.addr, "/-/ready", &[]).await.status, 200);

    moto.stop();
    let scrape = app
        .wait_for("the failed refresh", |s| {
            s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(0.0)
        })
        .await;
    assert_eq!(
        active_keys(&scrape, "two"),
        Some(2.0),
        "the last data is kept"
    );
    assert!(
        scrape
            .value(
                "iam_exporter_refresh_errors_total",
                &[("account_id", ACCOUNT), ("kind", "network")]
            )
            .unwrap()
            >= 1.0
    );
    assert!(
        !scrape
            .find("iam_exporter_aws_requests_total", &[("outcome", "network")])
            .is_empty(),
        "failed requests are counted by outcome"
    );
    let last_success = scrape
        .value(
            "iam_exporter_last_refresh_success_timestamp_seconds",
            &[("account_id", ACCOUNT)],
        )
        .unwrap();
    assert_eq!(
        get(app.addr, "/-/ready", &[]).await.status,
        200,
        "still ready: the data served is the last good one"
    );

    moto.restart().await;
    Seed(moto.iam()).user_with_keys("back", "/", 1, 0).await;
    // A refresh may land between moto's restart and the seeding, or between the user's
    // creation and its key's: wait for the seeded state, not for the first success.
    let scrape = app
        .wait_for("the recovery with the re-seeded user and key", |s| {
            s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(1.0)
                && active_keys(s, "back") == Some(1.0)
        })
        .await;
    assert_eq!(active_keys(&scrape, "back"), Some(1.0));
    assert_eq!(active_keys(&scrape, "two"), None, "moto came back empty");
    assert!(
        scrape
            .value(
                "iam_exporter_last_refresh_success_timestamp_seconds",
                &[("account_id", ACCOUNT)]
            )
            .unwrap()
            > last_success
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics_page() {
    let moto = Moto::start().await;
    seed_mix(&Seed(moto.iam())).await;
    let app = spawn_app(&moto.endpoint(), &[]).await;
    app.wait_for("the first refresh", |s| {
        s.value("iam_account_users", &[("account_id", ACCOUNT)]) == Some(7.0)
    })
    .await;
    let body = get(app.addr, "/metrics", &[]).await.body;
    let (code, output) = promtool_check_metrics(&body).await;
    assert_eq!(code, 0, "promtool check metrics failed:\n{output}");
    assert_eq!(output.trim(), "", "promtool has no complaint");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_can_be_switched_off_and_key_ids_masked() {
    let moto = Moto::start().await;
    let keys = Seed(moto.iam()).user_with_keys("one", "/", 1, 0).await;
    let app = spawn_app(
        &moto.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
            ("IAM_KEY_EXPORTER_COLLECTOR__MASK_ACCESS_KEY_IDS", "true"),
        ],
    )
    .await;
    let scrape = app
        .wait_for("the first refresh", |s| active_keys(s, "one") == Some(1.0))
        .await;
    assert!(
        !scrape.text.contains(&keys[0]),
        "the full key ID is not shown"
    );
    let masked = format!("****{}", &keys[0][keys[0].len() - 4..]);
    assert!(scrape
        .value(
            "iam_access_key_created_timestamp_seconds",
            &[("access_key_id", masked.as_str())]
        )
        .is_some());
    assert!(scrape
        .find(
            "iam_exporter_aws_requests_total",
            &[("operation", "GetAccessKeyLastUsed")]
        )
        .is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_report_mode_gives_the_same_counts_as_the_api_mode() {
    let moto = Moto::start().await;
    seed_mix(&Seed(moto.iam())).await;
    let api = spawn_app(&moto.endpoint(), &[]).await;
    let report = spawn_app(
        &moto.endpoint(),
        &[("IAM_KEY_EXPORTER_COLLECTOR__SOURCE", "credential-report")],
    )
    .await;
    let users = |s: &Scrape| s.value("iam_account_users", &[("account_id", ACCOUNT)]) == Some(7.0);
    let from_api = api.wait_for("the API refresh", users).await;
    let from_report = report.wait_for("the report refresh", users).await;
    let counts = |s: &Scrape| -> BTreeMap<String, f64> {
        s.find("iam_user_active_access_keys", &[])
            .into_iter()
            .map(|x| (x.labels["user"].clone(), x.value))
            .collect()
    };
    assert_eq!(counts(&from_report), counts(&from_api));
    // Offenders are confirmed with ListAccessKeys: their keys carry real IDs in both modes.
    let ids = |s: &Scrape| -> Vec<String> {
        let mut ids: Vec<String> = s
            .find(
                "iam_access_key_created_timestamp_seconds",
                &[("user", "two")],
            )
            .into_iter()
            .map(|x| x.labels["access_key_id"].clone())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&from_report), ids(&from_api));
    assert!(from_report
        .value(
            "iam_exporter_data_timestamp_seconds",
            &[("account_id", ACCOUNT)]
        )
        .is_some());
    api.stop().await;
    report.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_accounts_are_watched_through_assumed_roles() {
    const MEMBER: &str = "111111111111";
    let moto = Moto::start().await;
    Seed(moto.iam())
        .user_with_keys("home-user", "/", 2, 0)
        .await;

    // moto serves the member account to credentials of a role assumed in it.
    let member_iam = moto.member_iam(MEMBER).await;
    Seed(member_iam)
        .user_with_keys("member-user", "/", 1, 0)
        .await;

    let config = crate::helpers::test_config_with_file(
        &moto.endpoint(),
        &format!(
            "[[accounts]]\n\n[[accounts]]\nrole_arn = \"arn:aws:iam::{MEMBER}:role/audit\"\nexternal_id = \"audit-2026\"\n"
        ),
        &[],
    );
    assert_eq!(config.accounts.len(), 2);
    let app = crate::helpers::spawn_app_with(config).await;
    let scrape = app
        .wait_for("both accounts", |s| {
            s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(1.0)
                && s.value("iam_exporter_refresh_success", &[("account_id", MEMBER)]) == Some(1.0)
        })
        .await;
    assert_eq!(
        scrape.value(
            "iam_user_active_access_keys",
            &[("account_id", ACCOUNT), ("user", "home-user")]
        ),
        Some(2.0)
    );
    assert_eq!(
        scrape.value(
            "iam_user_active_access_keys",
            &[("account_id", MEMBER), ("user", "member-user")]
        ),
        Some(1.0)
    );
    assert!(
        scrape
            .value(
                "iam_user_active_access_keys",
                &[("account_id", MEMBER), ("user", "home-user")]
            )
            .is_none(),
        "each account has only its own users"
    );
    assert_eq!(
        scrape.value(
            "iam_account_users_with_multiple_active_access_keys",
            &[("account_id", MEMBER)]
        ),
        Some(0.0)
    );
    app.stop().await;
}
