//! IAM change events through a real moto SQS queue: the changed user is read again and served
//! within seconds, without a refresh; anything else in the queue is counted and drained.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use iam_key_exporter_testkit::Scrape;

use crate::helpers::{eventually, spawn_app, TestApp};
use crate::moto::{Moto, Seed};

const ACCOUNT: &str = "123456789012";

/// An EventBridge envelope of a CloudTrail IAM event, as AWS delivers it to SQS.
pub fn envelope(account: &str, event: &str, user: &str) -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    format!(
        r#"{{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"{account}","time":"{now}","region":"us-east-1","resources":[],"detail":{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","accountId":"{account}","userName":"admin"}},"eventTime":"{now}","eventSource":"iam.amazonaws.com","eventName":"{event}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"aws-cli/2","requestParameters":{{"userName":"{user}"}},"responseElements":null,"requestID":"b8f5d7c2","eventID":"e1d0a3c4","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{account}","eventCategory":"Management"}}}}"#
    )
}

/// A queue on moto and a client for it.
pub struct Queue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl Queue {
    pub async fn create(moto: &Moto, name: &str) -> Queue {
        let client = moto.sqs();
        let url = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        Queue { client, url }
    }

    pub async fn send(&self, body: &str) {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages waiting or in flight.
    pub async fn depth(&self) -> u64 {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let count = |name: QueueAttributeName| -> u64 {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }
}

/// The exporter on moto with events on and a refresh interval of an hour: after the first
/// refresh, only events change what it serves.
pub async fn exporter_with_events(moto: &Moto, queue: &Queue) -> TestApp {
    spawn_app(
        &moto.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_EVENTS__SQS_QUEUE_URL", &queue.url),
            ("IAM_KEY_EXPORTER_EVENTS__WAIT_TIME", "1s"),
        ],
    )
    .await
}

fn active(s: &Scrape, user: &str) -> Option<f64> {
    s.value("iam_user_active_access_keys", &[("user", user)])
}

fn requests(s: &Scrape, operation: &str) -> f64 {
    s.value(
        "iam_exporter_aws_requests_total",
        &[("operation", operation), ("outcome", "success")],
    )
    .unwrap_or(0.0)
}

fn events(s: &Scrape, event: &str, outcome: &str) -> f64 {
    s.value(
        "iam_exporter_events_total",
        &[("event", event), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_changes_are_served_within_seconds_without_a_refresh() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    let first = seed.user_with_keys("bob", "/", 1, 0).await;
    seed.user_with_keys("carol", "/", 1, 0).await;
    let queue = Queue::create(&moto, "iam-events").await;
    let app = exporter_with_events(&moto, &queue).await;
    let start = app
        .wait_for("the first refresh", |s| active(s, "bob") == Some(1.0))
        .await;
    let listed = requests(&start, "ListUsers");

    // A second key.
    let second = seed.key("bob").await;
    queue
        .send(&envelope(ACCOUNT, "CreateAccessKey", "bob"))
        .await;
    let s = app
        .wait_for("the second key", |s| active(s, "bob") == Some(2.0))
        .await;
    assert_eq!(events(&s, "CreateAccessKey", "applied"), 1.0);
    assert_eq!(requests(&s, "ListUsers"), listed, "no refresh ran");

    // Deactivated.
    seed.deactivate("bob", &first[0]).await;
    queue
        .send(&envelope(ACCOUNT, "UpdateAccessKey", "bob"))
        .await;
    app.wait_for("the deactivation", |s| active(s, "bob") == Some(1.0))
        .await;

    // Deleted.
    seed.0
        .delete_access_key()
        .user_name("bob")
        .access_key_id(&first[0])
        .send()
        .await
        .unwrap();
    queue
        .send(&envelope(ACCOUNT, "DeleteAccessKey", "bob"))
        .await;
    app.wait_for("the deleted key to go", |s| {
        s.find(
            "iam_access_key_created_timestamp_seconds",
            &[("access_key_id", first[0].as_str())],
        )
        .is_empty()
            && s.find(
                "iam_access_key_created_timestamp_seconds",
                &[("access_key_id", second.as_str())],
            )
            .len()
                == 1
    })
    .await;

    // A new user, then a deleted one.
    seed.user_with_keys("dave", "/new/", 2, 0).await;
    // CreateUser names the path in its request; the exporter takes it from there.
    let created = envelope(ACCOUNT, "CreateUser", "dave").replace(
        r#""requestParameters":{"userName":"dave"}"#,
        r#""requestParameters":{"userName":"dave","path":"/new/"}"#,
    );
    assert!(created.contains(r#""path":"/new/""#));
    queue.send(&created).await;
    app.wait_for("the new user", |s| {
        s.value(
            "iam_user_active_access_keys",
            &[("user", "dave"), ("path", "/new/")],
        ) == Some(2.0)
    })
    .await;
    seed.delete_user("carol").await;
    queue.send(&envelope(ACCOUNT, "DeleteUser", "carol")).await;
    let s = app
        .wait_for("the deleted user to go", |s| active(s, "carol").is_none())
        .await;
    assert_eq!(requests(&s, "ListUsers"), listed, "still no refresh");
    // Each event's lag is observed once its body is served, so it shows in a later one.
    assert!(
        s.value("iam_exporter_event_lag_seconds_count", &[])
            .is_some_and(|n| n >= 3.0),
        "{}",
        s.text
    );
    assert_eq!(
        s.value("iam_account_users", &[("account_id", ACCOUNT)]),
        Some(2.0),
        "bob and dave"
    );
    eventually("the queue to drain", Duration::from_secs(10), || async {
        queue.depth().await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_else_in_the_queue_is_counted_and_drained() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("bob", "/", 1, 0).await;
    let queue = Queue::create(&moto, "iam-events").await;
    let app = exporter_with_events(&moto, &queue).await;
    app.wait_for("the first refresh", |s| active(s, "bob") == Some(1.0))
        .await;
    let good = envelope(ACCOUNT, "CreateAccessKey", "bob");
    for body in [
        "not json at all".to_owned(),
        good[..good.len() / 2].to_owned(),
        r#"{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#.to_owned(),
        r#"[1,2,3]"#.to_owned(),
        envelope(ACCOUNT, "UploadSSHPublicKey", "bob"),
        envelope("999999999999", "CreateAccessKey", "bob"),
        envelope(ACCOUNT, "CreateAccessKey", "nobody-by-this-name"),
    ] {
        queue.send(&body).await;
    }
    let s = app
        .wait_for("every message handled", |s| {
            events(s, "unknown", "malformed") >= 3.0
                && events(s, "UploadSSHPublicKey", "ignored") >= 1.0
                && events(s, "CreateAccessKey", "unwatched") >= 1.0
                && events(s, "CreateAccessKey", "applied") >= 1.0
        })
        .await;
    assert_eq!(
        events(&s, "unknown", "malformed"),
        4.0,
        "not JSON, truncated, no detail.eventName, not an object"
    );
    assert_eq!(active(&s, "bob"), Some(1.0), "nothing changed for bob");
    assert_eq!(active(&s, "nobody-by-this-name"), None, "no such user");
    assert_eq!(s.value("iam_exporter_events_poll_success", &[]), Some(1.0));
    eventually("the queue to drain", Duration::from_secs(10), || async {
        queue.depth().await == 0
    })
    .await;
    assert!(
        app.scrape()
            .await
            .text
            .contains("iam_user_active_access_keys"),
        "still serving"
    );
}

/// A change made while the first refresh runs (listing the user before the change, perhaps):
/// what is served afterwards is what IAM says, whichever finished first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_first_refresh_runs_is_served_after_it() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("aaa-first-listed", "/", 1, 0).await;
    for i in 0..20 {
        seed.user_with_keys(&format!("user-{i:02}"), "/", 1, 0)
            .await;
    }
    let queue = Queue::create(&moto, "iam-events").await;
    // Two requests a second: the first refresh takes about ten seconds, and the change may land
    // before or after it lists the user; either way the result must be IAM's.
    let app = spawn_app(
        &moto.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_EVENTS__SQS_QUEUE_URL", &queue.url),
            ("IAM_KEY_EXPORTER_EVENTS__WAIT_TIME", "1s"),
            ("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "2"),
            ("IAM_KEY_EXPORTER_AWS__ATTEMPT_TIMEOUT", "20s"),
            ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "1"),
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
        ],
    )
    .await;
    seed.key("aaa-first-listed").await;
    queue
        .send(&envelope(ACCOUNT, "CreateAccessKey", "aaa-first-listed"))
        .await;
    let deadline = Duration::from_secs(120);
    let deadline_at = tokio::time::Instant::now() + deadline;
    loop {
        let s = app.scrape().await;
        let refreshed =
            s.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]) == Some(1.0);
        if refreshed && events(&s, "CreateAccessKey", "applied") >= 1.0 {
            // The events counters are live; the series follow them by a render. A refresh
            // that overwrote the event's read would leave 1 here for good.
            let s = app
                .wait_for("the change served", |s| {
                    active(s, "aaa-first-listed") == Some(2.0)
                })
                .await;
            assert_eq!(active(&s, "aaa-first-listed"), Some(2.0), "{}", s.text);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline_at,
            "the refresh and the event within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The CloudFormation templates (the events' central and member parts, the audit role) pass
/// `cfn-lint`, and the central one grants the exporter exactly what its policy file lists.
#[test]
fn the_cloudformation_templates_pass_cfn_lint() {
    let root = crate::helpers::project_dir();
    let templates = [
        "deploy/events/central.yaml",
        "deploy/events/member.yaml",
        "deploy/iam/cloudformation.yaml",
    ];
    let lint = crate::helpers::tool("cfn-lint", "CFN_LINT");
    // In each partition's IAM home region: commercial, AWS GovCloud (US), China.
    let output = std::process::Command::new(&lint)
        .args([
            "--regions",
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "--",
        ])
        .args(templates.iter().map(|t| root.join(t)))
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", lint.display()));
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for template in templates {
        let text = std::fs::read_to_string(root.join(template)).unwrap();
        assert!(
            !text.contains("arn:aws:"),
            "{template}: ARNs take ${{AWS::Partition}}"
        );
        if template.starts_with("deploy/events/") {
            // cfn-lint cannot evaluate Rules: hold the assertion to the three home regions.
            for (partition, region) in [
                ("aws", "us-east-1"),
                ("aws-us-gov", "us-gov-west-1"),
                ("aws-cn", "cn-north-1"),
            ] {
                let pair = format!(
                    "!And [!Equals [!Ref AWS::Partition, {partition}], !Equals [!Ref AWS::Region, {region}]]"
                );
                assert!(text.contains(&pair), "{template}: {pair}");
            }
        }
    }
    let central = std::fs::read_to_string(root.join("deploy/events/central.yaml")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/iam/iam-key-exporter-events-policy.json"))
            .unwrap(),
    )
    .unwrap();
    // The exporter's managed policy, from its resource to the outputs.
    let granted = &central[central.find("  ExporterQueuePolicy:").unwrap()..];
    let granted = &granted[..granted.find("\nOutputs:").unwrap()];
    let listed: Vec<&str> = granted
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- sqs:"))
        .collect();
    let expected: Vec<String> = policy["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().trim_start_matches("sqs:").to_owned())
        .collect();
    assert_eq!(
        listed, expected,
        "central.yaml grants the exporter what its policy file lists"
    );
}

/// The fixtures of tests/fixtures/cloudtrail (after AWS's published record examples), moved into
/// moto's account: `(file, outcome, event)`, and the body.
fn fixtures() -> Vec<((String, String, String), String)> {
    let dir = crate::helpers::project_dir().join("tests/fixtures/cloudtrail");
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
    cases
        .lines()
        .skip(1)
        .map(|row| {
            let fields: Vec<&str> = row.split('\t').collect();
            let body = std::fs::read_to_string(dir.join(fields[0]))
                .unwrap()
                .replace("111122223333", ACCOUNT);
            (
                (
                    fields[0].to_owned(),
                    fields[1].to_owned(),
                    fields[2].to_owned(),
                ),
                body,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_and_malformed_messages_alone_show_within_one_poll() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("alice", "/", 1, 0).await;
    let queue = Queue::create(&moto, "events-health").await;
    let app = exporter_with_events(&moto, &queue).await;
    app.wait_for("the first poll", |s| {
        s.value("iam_exporter_events_poll_success", &[]) == Some(1.0)
    })
    .await;
    let mut expected: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for ((_, outcome, event), body) in fixtures() {
        if outcome == "ignored" || outcome == "malformed" {
            queue.send(&body).await;
            *expected.entry((event, outcome)).or_default() += 1.0;
        }
    }
    assert!(expected.values().sum::<f64>() >= 6.0);
    let scrape = app
        .wait_for("every ignored and malformed message counted", |s| {
            expected
                .iter()
                .all(|((event, outcome), n)| events(s, event, outcome) == *n)
        })
        .await;
    assert_eq!(
        scrape.value("iam_exporter_events_poll_success", &[]),
        Some(1.0)
    );
    assert_eq!(
        events(&scrape, "CreateAccessKey", "applied"),
        0.0,
        "no applied event"
    );
    eventually("the queue drained", Duration::from_secs(30), || async {
        queue.depth().await == 0
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_shaped_records_are_applied_and_roots_own_key_shows() {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    for user in ["alice", "bob", "carol", "svc-deploy", "dave", "frank"] {
        seed.user_with_keys(user, "/", 1, 0).await;
    }
    let queue = Queue::create(&moto, "events-records").await;
    let app = exporter_with_events(&moto, &queue).await;
    app.wait_for("the first refresh", |s| active(s, "alice") == Some(1.0))
        .await;
    assert_eq!(
        app.scrape().await.value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)]
        ),
        Some(0.0)
    );
    // What the records say happened, done to moto's IAM.
    seed.key("alice").await;
    seed.key("carol").await;
    seed.delete_user("frank").await;
    moto.set_root_access_keys(ACCOUNT, true).await;
    let mut applied: std::collections::BTreeMap<String, f64> = Default::default();
    for ((file, outcome, event), body) in fixtures() {
        if outcome == "applied" || outcome == "root" {
            queue.send(&body).await;
            *applied.entry(event).or_default() += 1.0;
        } else {
            assert!(
                ["ignored", "malformed"].contains(&outcome.as_str()),
                "{file}"
            );
        }
    }
    let scrape = app
        .wait_for("every record applied", |s| {
            applied
                .iter()
                .all(|(event, n)| events(s, event, "applied") == *n)
        })
        .await;
    // The events counters are read at each scrape; the body with the changes follows them by a
    // render: wait for that body.
    let root = |s: &Scrape| {
        s.value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)],
        )
    };
    let served = |s: &Scrape| {
        active(s, "carol") == Some(2.0)
            && active(s, "alice") == Some(2.0)
            && active(s, "frank").is_none()
            && root(s) == Some(1.0)
    };
    let scrape = if served(&scrape) {
        scrape
    } else {
        app.wait_for("the changes served", served).await
    };
    assert_eq!(active(&scrape, "alice"), Some(2.0));
    assert_eq!(active(&scrape, "frank"), None, "deleted");
    assert_eq!(
        scrape.value(
            "iam_account_root_access_keys_present",
            &[("account_id", ACCOUNT)]
        ),
        Some(1.0),
        "root's own CreateAccessKey asks GetAccountSummary again"
    );
    assert_eq!(requests(&scrape, "ListUsers"), 1.0, "no refresh ran");
    app.stop().await;
}

/// CloudTrail records the user name as the caller typed it; IAM's names are case-insensitive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_naming_a_user_in_another_case_land_on_one_series() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("alice", "/", 1, 0).await;
    let queue = Queue::create(&moto, "events-case").await;
    let app = exporter_with_events(&moto, &queue).await;
    app.wait_for("the first refresh", |s| active(s, "alice") == Some(1.0))
        .await;
    seed.key("alice").await;
    for spelling in ["ALICE", "Alice"] {
        queue
            .send(&envelope(ACCOUNT, "CreateAccessKey", spelling))
            .await;
    }
    let scrape = app
        // The events counters are live; the series follow them by a render.
        .wait_for("both events applied and served", |s| {
            events(s, "CreateAccessKey", "applied") == 2.0 && active(s, "alice") == Some(2.0)
        })
        .await;
    assert_eq!(active(&scrape, "alice"), Some(2.0));
    assert_eq!(
        scrape.find("iam_user_active_access_keys", &[]).len(),
        1,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(
            "iam_account_users_with_multiple_active_access_keys",
            &[("account_id", ACCOUNT)]
        ),
        Some(1.0)
    );
    app.stop().await;
}

/// A burst of 1,000 events for 10 users (all in the queue before the consumer polls): each user
/// is read again once for all of its events, not once per event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_costs_one_read_per_user() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    let users: Vec<String> = (0..10).map(|i| format!("burst-{i}")).collect();
    for user in &users {
        seed.user_with_keys(user, "/", 1, 0).await;
    }
    let queue = Queue::create(&moto, "events-burst").await;
    for batch in 0..100 {
        let entries: Vec<aws_sdk_sqs::types::SendMessageBatchRequestEntry> = (0..10)
            .map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(envelope(
                        ACCOUNT,
                        "UpdateAccessKey",
                        &users[(batch * 10 + i) % users.len()],
                    ))
                    .build()
                    .unwrap()
            })
            .collect();
        queue
            .client
            .send_message_batch()
            .queue_url(&queue.url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    let app = exporter_with_events(&moto, &queue).await;
    // moto's SQS takes about half a second per receive with a thousand messages waiting.
    let scrape = app
        .wait_for_within("all 1,000 events applied", Duration::from_secs(180), |s| {
            // The request counts are in the rendered body, which follows the live events
            // counters by a render.
            events(s, "UpdateAccessKey", "applied") == 1000.0
                && s.value("iam_exporter_event_rereads_total", &[])
                    .is_some_and(|rereads| requests(s, "ListAccessKeys") >= rereads + 10.0)
        })
        .await;
    let reads = requests(&scrape, "ListAccessKeys");
    let value = |name: &str| scrape.value(name, &[]).unwrap();
    let (bursts, rereads) = (
        value("iam_exporter_event_bursts_total"),
        value("iam_exporter_event_rereads_total"),
    );
    eprintln!(
        "1,000 events for 10 users: {bursts} bursts, {rereads} re-reads ({reads} ListAccessKeys \
         with the first refresh's 10)"
    );
    assert_eq!(
        reads,
        rereads + users.len() as f64,
        "one ListAccessKeys per re-read"
    );
    assert!(
        rereads <= bursts * users.len() as f64,
        "at most one re-read per user and burst: {rereads} in {bursts} bursts"
    );
    assert!(
        rereads < 1000.0 / 2.0,
        "{rereads} re-reads for 1,000 events"
    );
    eventually("the queue drained", Duration::from_secs(30), || async {
        queue.depth().await == 0
    })
    .await;
    app.stop().await;
}
