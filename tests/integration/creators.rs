//! Who created an offender's key (`collector.key_creators`): from the CloudTrail record an IAM
//! change event brings (moto's SQS), else from `LookupEvents` (the fake, which implements it
//! after AWS's API Reference; moto does not). The records are the real-shaped fixtures of
//! tests/fixtures/cloudtrail (AssumedRole admin, IAMUser self-service, Root, a CloudFormation
//! stack's role).

use std::collections::BTreeMap;
use std::time::Duration;

use iam_key_exporter_testkit::fake_iam::now;
use iam_key_exporter_testkit::{FakeIam, FakeKey, FakeUser, Scrape, State};

use crate::helpers::{
    get, project_dir, promtool_check_metrics, spawn_app, spawn_with_fake, TestApp,
};
use crate::moto::{Moto, Seed};

/// The fixtures' account, which is also the fake's.
const TRAIL_ACCOUNT: &str = "111122223333";

/// The body of a fixture of tests/fixtures/cloudtrail.
fn fixture(prefix: &str) -> String {
    let dir = project_dir().join("tests/fixtures/cloudtrail");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no fixture {prefix}"));
    std::fs::read_to_string(file).unwrap()
}

fn key(id: &str, created: i64) -> FakeKey {
    FakeKey {
        id: id.to_owned(),
        active: true,
        created,
        last_used: None,
    }
}

fn user(keys: Vec<FakeKey>) -> FakeUser {
    FakeUser {
        path: "/".to_owned(),
        keys,
        tags: Vec::new(),
    }
}

/// alice: two keys, made by an assumed admin role and by another IAM user; bob: one made by
/// himself, one by a CloudFormation stack's role; carol: one by root, one older than
/// CloudTrail's 90 days; dave: two without records; erin: one key (within the control).
fn trail_state() -> State {
    let t = now() - 3_600;
    let mut state = State::default();
    let keys = [
        ("alice", "AKIAALICE00000000001", t, Some("03")),
        ("alice", "AKIAALICE00000000002", t - 60, Some("01")),
        ("bob", "AKIABOB0000000000001", t - 120, Some("02")),
        ("bob", "AKIABOB0000000000002", t - 180, Some("06")),
        ("carol", "AKIACAROL00000000001", t - 240, Some("04")),
        ("carol", "AKIACAROL00000000002", now() - 100 * 86_400, None),
        ("dave", "AKIADAVE000000000001", t - 300, None),
        ("dave", "AKIADAVE000000000002", t - 360, None),
        ("erin", "AKIAERIN000000000001", t - 420, None),
    ];
    for (name, id, created, record) in keys {
        state
            .users
            .entry(name.to_owned())
            .or_insert_with(|| user(Vec::new()))
            .keys
            .push(key(id, created));
        if let Some(record) = record {
            state
                .add_trail_record(&fixture(record))
                .at(created)
                .for_key(name, id);
        }
    }
    state
}

fn creator<'a>(s: &'a Scrape, key: &str) -> Option<&'a BTreeMap<String, String>> {
    let found = s.find("iam_access_key_creator_info", &[("access_key_id", key)]);
    assert!(found.len() <= 1, "{}", s.text);
    found.first().map(|sample| &sample.labels)
}

fn lookups(s: &Scrape, outcome: &str) -> f64 {
    s.value(
        "iam_exporter_key_creator_lookups_total",
        &[("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

const ON: (&str, &str) = ("IAM_KEY_EXPORTER_COLLECTOR__KEY_CREATORS", "true");

/// The labels a creator series must have: ARN, type, relation, source, tool.
fn assert_creator(s: &Scrape, key: &str, want: [&str; 5]) {
    let labels = creator(s, key).unwrap_or_else(|| panic!("no creator for {key}:\n{}", s.text));
    let got = [
        "creator_arn",
        "creator_type",
        "creator_relation",
        "source_ip",
        "user_agent",
    ]
    .map(|name| labels[name].as_str());
    assert_eq!(got, want, "{key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offenders_key_creators_are_looked_up_once_each_and_served() {
    let (fake, app) = spawn_with_fake(trail_state(), &[ON]).await;
    let s = app
        .wait_for("every lookup done", |s| {
            lookups(s, "found") == 5.0 && lookups(s, "not_found") == 2.0
        })
        .await;
    let s = if creator(&s, "AKIACAROL00000000001").is_some() {
        s
    } else {
        app.wait_for("the creators served", |s| {
            creator(s, "AKIACAROL00000000001").is_some()
        })
        .await
    };
    let sts = |role: &str| format!("arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/{role}");
    assert_creator(
        &s,
        "AKIAALICE00000000001",
        [
            &sts("Admin/jdoe"),
            "AssumedRole",
            "other",
            "203.0.113.77",
            "Boto3",
        ],
    );
    assert_creator(
        &s,
        "AKIAALICE00000000002",
        [
            &format!("arn:aws:iam::{TRAIL_ACCOUNT}:user/admin"),
            "IAMUser",
            "other",
            "198.51.100.23",
            "aws-cli",
        ],
    );
    assert_creator(
        &s,
        "AKIABOB0000000000001",
        [
            &format!("arn:aws:iam::{TRAIL_ACCOUNT}:user/bob"),
            "IAMUser",
            "self",
            "198.51.100.87",
            "aws-cli",
        ],
    );
    assert_creator(
        &s,
        "AKIABOB0000000000002",
        [
            &sts("cfn-deploy/AWSCloudFormation"),
            "AssumedRole",
            "other",
            "cloudformation.amazonaws.com",
            "cloudformation.amazonaws.com",
        ],
    );
    assert_creator(
        &s,
        "AKIACAROL00000000001",
        [
            &format!("arn:aws:iam::{TRAIL_ACCOUNT}:root"),
            "Root",
            "other",
            "192.0.2.15",
            "AWS Internal",
        ],
    );
    for key in [
        "AKIACAROL00000000002",
        "AKIADAVE000000000001",
        "AKIAERIN000000000001",
    ] {
        assert!(creator(&s, key).is_none(), "{key}:\n{}", s.text);
    }
    assert_eq!(lookups(&s, "too_old"), 1.0, "counted, but no request");
    // One request per offender key within the 90 days: 5 found, 2 not found; none for erin.
    assert_eq!(fake.requests("LookupEvents"), 7);
    let listed = fake.requests("ListUsers");
    crate::helpers::eventually("three more refreshes", Duration::from_secs(30), || async {
        fake.requests("ListUsers") >= listed + 3
    })
    .await;
    assert_eq!(fake.requests("LookupEvents"), 7, "not one per refresh");
    fake.with(|state| {
        assert!(
            state.lookups.iter().all(|lookup| lookup.outcome == "ok"),
            "never throttled: {:?}",
            state.lookups
        );
        assert!(state
            .lookups
            .iter()
            .all(|lookup| lookup.region == "us-east-1"));
        let asked: Vec<&str> = state
            .lookups
            .iter()
            .filter_map(|lookup| lookup.attribute.as_ref())
            .map(|(key, _)| key.as_str())
            .collect();
        assert_eq!(asked, ["ResourceName"; 7]);
        for pair in state.lookups.windows(3) {
            assert!(
                pair[2].at - pair[0].at >= Duration::from_secs(1),
                "at most two a second"
            );
        }
    });
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_permission_one_denied_lookup_and_the_refreshes_go_on() {
    let mut state = trail_state();
    state.lookup_denied = true;
    let (fake, app) = spawn_with_fake(state, &[ON]).await;
    let s = app
        .wait_for("the denial counted", |s| lookups(s, "denied") == 1.0)
        .await;
    assert!(s.find("iam_access_key_creator_info", &[]).is_empty());
    let listed = fake.requests("ListUsers");
    crate::helpers::eventually("two more refreshes", Duration::from_secs(30), || async {
        fake.requests("ListUsers") >= listed + 2
    })
    .await;
    let s = app.scrape().await;
    assert_eq!(
        fake.requests("LookupEvents"),
        1,
        "the account is not asked again"
    );
    assert_eq!(
        s.value(
            "iam_exporter_refresh_success",
            &[("account_id", TRAIL_ACCOUNT)]
        ),
        Some(1.0)
    );
    app.stop().await;
}

/// `collector.key_creators = false`: no lookup, no series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_means_no_lookup() {
    let (fake, app) = spawn_with_fake(trail_state(), &[]).await;
    let listed = fake.requests("ListUsers");
    crate::helpers::eventually("three refreshes", Duration::from_secs(30), || async {
        fake.requests("ListUsers") >= listed + 3
    })
    .await;
    let s = app.scrape().await;
    assert_eq!(fake.requests("LookupEvents"), 0);
    assert!(s.find("iam_access_key_creator_info", &[]).is_empty());
    app.stop().await;
}

/// `check` and `remediate` as users run them (the binary, with the default settings).
async fn run_binary(fake: &FakeIam, args: &[&str]) -> String {
    let (code, out, err) =
        crate::binary::exporter(args, &crate::binary::aws_env(&fake.endpoint())).await;
    assert_eq!(code, 1, "offenders found:\n{out}{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_remediate_name_the_creator_in_the_table_and_the_json() {
    let fake = FakeIam::start(trail_state()).await;
    let json: serde_json::Value =
        serde_json::from_str(&run_binary(&fake, &["check", "--output", "json"]).await).unwrap();
    let keys: BTreeMap<String, serde_json::Value> = json["offenders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|user| user["access_keys"].as_array().unwrap().clone())
        .map(|key| (key["access_key_id"].as_str().unwrap().to_owned(), key))
        .collect();
    let admin = &keys["AKIAALICE00000000001"]["creator"];
    assert_eq!(
        admin["arn"],
        format!("arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/Admin/jdoe")
    );
    assert_eq!(admin["type"], "AssumedRole");
    assert_eq!(admin["relation"], "other");
    assert_eq!(admin["source_ip"], "203.0.113.77");
    assert_eq!(admin["user_agent"], "Boto3");
    assert_eq!(keys["AKIABOB0000000000001"]["creator"]["relation"], "self");
    assert!(keys["AKIADAVE000000000001"]["creator"].is_null());
    assert_eq!(fake.requests("LookupEvents"), 7, "one per offender key");

    let table = run_binary(&fake, &["check"]).await;
    assert!(table.contains("CREATED BY"), "{table}");
    let row = |text: &str, key: &str| -> String {
        text.lines()
            .find(|line| line.contains(key) && line.contains(" from "))
            .unwrap_or_else(|| panic!("no row for {key}:\n{text}"))
            .to_owned()
    };
    assert!(
        row(&table, "AKIAALICE00000000001").ends_with(&format!(
            "arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/Admin/jdoe from 203.0.113.77 with Boto3"
        )),
        "{table}"
    );
    assert!(
        row(&table, "AKIABOB0000000000001")
            .ends_with("the user itself from 198.51.100.87 with aws-cli"),
        "{table}"
    );

    let report = run_binary(&fake, &["remediate"]).await;
    assert!(report.contains("Who created the active keys"), "{report}");
    assert!(
        row(&report, "AKIAALICE00000000001").ends_with(&format!(
            "arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/Admin/jdoe from 203.0.113.77 with Boto3"
        )),
        "{report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run_binary(&fake, &["remediate", "--output", "json"]).await).unwrap();
    let alice = json["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["user"] == "alice")
        .unwrap();
    let key = alice["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["access_key_id"] == "AKIAALICE00000000001")
        .unwrap();
    assert_eq!(key["creator"]["type"], "AssumedRole", "{json}");
}

/// The values are the caller's: a session name with quotes, backslashes, braces and markup, a
/// user agent of 300 characters with a forged log line. The page stays valid exposition
/// (promtool), and each value comes back as it was kept: bounded, on one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_creator_values_stay_valid_exposition() {
    let created = now() - 600;
    let mut state = State::default();
    state.users.insert(
        "alice".to_owned(),
        user(vec![
            key("AKIAALICE00000000001", created),
            key("AKIAALICE00000000002", created - 60),
        ]),
    );
    let session = format!("x\"\\{{{{ .Value }}}}<script>{}", "y".repeat(400));
    let mut record: serde_json::Value = serde_json::from_str(&fixture("03"))
        .map(|v: serde_json::Value| v["detail"].clone())
        .unwrap();
    record["userIdentity"]["arn"] =
        format!("arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/Admin/{session}\nlevel=error").into();
    record["userAgent"] = format!("{}\r\nlevel=error msg=\"forged\"", "A".repeat(300)).into();
    record["sourceIPAddress"] = "203.0.113.77\", evil=\"1".into();
    state
        .add_trail_record(&record.to_string())
        .at(created)
        .for_key("alice", "AKIAALICE00000000001");
    let (_fake, app) = spawn_with_fake(state, &[ON]).await;
    let s = app
        .wait_for("the creator served", |s| {
            creator(s, "AKIAALICE00000000001").is_some()
        })
        .await;
    let labels = creator(&s, "AKIAALICE00000000001").unwrap();
    let arn = &labels["creator_arn"];
    assert_eq!(arn.chars().count(), 256);
    assert!(arn.starts_with(&format!(
        "arn:aws:sts::{TRAIL_ACCOUNT}:assumed-role/Admin/x\"\\{{{{ .Value }}}}<script>yyy"
    )));
    assert!(arn.ends_with('…') && !arn.contains('\n'), "{arn}");
    assert_eq!(labels["source_ip"], "203.0.113.77\", evil=\"1");
    assert_eq!(labels["user_agent"].chars().count(), 64);
    assert!(!labels["user_agent"].contains(['\r', '\n', ' ']));
    assert_eq!(labels.len(), 8, "no label smuggled in: {labels:?}");

    let body = get(app.addr, "/metrics", &[]).await.body;
    let (code, output) = promtool_check_metrics(&body).await;
    assert_eq!(code, 0, "promtool check metrics failed:\n{output}");
    app.stop().await;
}

/// A key whose `CreateAccessKey` came as an IAM change event has its creator from the event's
/// record: no `LookupEvents` at all (moto's SQS and IAM, which has no LookupEvents either).
/// The real-shaped records of an assumed admin role, another IAM user, a user's own
/// self-service, root, and a CloudFormation stack's role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_creator_comes_from_its_event_without_a_lookup() {
    const ACCOUNT: &str = "123456789012";
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    // (user, the fixture of each of its two keys, the fixture's own key ID)
    let users = [
        ("alice", ["03", "01"]),
        ("bob", ["02", "02"]),
        ("carol", ["04", "04"]),
        ("svc-deploy", ["06", "06"]),
    ];
    for (user, _) in &users {
        seed.user(user, "/").await;
    }
    let queue = crate::events::Queue::create(&moto, "events-creators").await;
    let app: TestApp = spawn_app(
        &moto.endpoint(),
        &[
            ON,
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ("IAM_KEY_EXPORTER_EVENTS__SQS_QUEUE_URL", &queue.url),
            ("IAM_KEY_EXPORTER_EVENTS__WAIT_TIME", "1s"),
        ],
    )
    .await;
    app.wait_for("the first refresh", |s| {
        s.value("iam_user_active_access_keys", &[("user", "alice")]) == Some(0.0)
    })
    .await;
    // Every key made, then every event in the queue at once: one burst, so each user is
    // published with two keys whose creators are both known.
    let mut keys = Vec::new();
    let mut entries = Vec::new();
    for (user, fixtures) in &users {
        for fixture_name in fixtures {
            let key = seed.key(user).await;
            let record = fixture(fixture_name);
            let own_id = serde_json::from_str::<serde_json::Value>(&record).unwrap()["detail"]
                ["responseElements"]["accessKey"]["accessKeyId"]
                .as_str()
                .unwrap()
                .to_owned();
            let body = record
                .replace(TRAIL_ACCOUNT, ACCOUNT)
                .replace(&own_id, &key);
            entries.push(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{}", entries.len()))
                    .message_body(body)
                    .build()
                    .unwrap(),
            );
            keys.push((*fixture_name, key));
        }
    }
    queue
        .client
        .send_message_batch()
        .queue_url(&queue.url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    let s = app
        .wait_for("every creator served", |s| {
            keys.iter().all(|(_, key)| creator(s, key).is_some())
        })
        .await;
    let sts = |role: &str| format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}");
    let iam = |name: &str| format!("arn:aws:iam::{ACCOUNT}:{name}");
    for (fixture_name, key) in &keys {
        let want: [String; 5] = match *fixture_name {
            "03" => [
                sts("Admin/jdoe"),
                "AssumedRole".into(),
                "other".into(),
                "203.0.113.77".into(),
                "Boto3".into(),
            ],
            "01" => [
                iam("user/admin"),
                "IAMUser".into(),
                "other".into(),
                "198.51.100.23".into(),
                "aws-cli".into(),
            ],
            "02" => [
                iam("user/bob"),
                "IAMUser".into(),
                "self".into(),
                "198.51.100.87".into(),
                "aws-cli".into(),
            ],
            "04" => [
                iam("root"),
                "Root".into(),
                "other".into(),
                "192.0.2.15".into(),
                "AWS Internal".into(),
            ],
            _ => [
                sts("cfn-deploy/AWSCloudFormation"),
                "AssumedRole".into(),
                "other".into(),
                "cloudformation.amazonaws.com".into(),
                "cloudformation.amazonaws.com".into(),
            ],
        };
        assert_creator(&s, key, want.each_ref().map(String::as_str));
    }
    assert!(
        s.find(
            "iam_exporter_aws_requests_total",
            &[("operation", "LookupEvents")]
        )
        .is_empty(),
        "no lookup:\n{}",
        s.text
    );
    app.stop().await;
}
