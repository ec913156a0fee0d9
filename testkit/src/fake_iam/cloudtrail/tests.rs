//! `LookupEvents` over HTTP, as a client sees it, against the documented answers in
//! tests/fixtures/cloudtrail/lookup-events.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::super::{now, FakeIam, FaultKind, State};
use super::*;

const DAY: i64 = 86_400;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cloudtrail")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

/// Record 03: role session `Admin/jdoe` creates alice's key `AKIA3T2LPTCWKEXAMPLE`.
const ASSUMED_ROLE: &str = "03-createaccesskey-assumedrole-unusual-ip.json";
/// Record 02: bob creates his own key `AKIA2UU5CGGEXEXAMPLE`.
const SELF_SERVICE: &str = "02-createaccesskey-iamuser-self-service.json";

/// The `Authorization` header of a request signed for `region` with `key`.
fn signed(key: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261203/{region}/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=fake"
    )
}

/// One `LookupEvents` request signed with `authorization` (unsigned: `None`): the status and
/// the body.
async fn lookup_as(fake: &FakeIam, authorization: Option<&str>, body: Value) -> (u16, Value) {
    let mut headers = vec![
        ("X-Amz-Target", LOOKUP_EVENTS_TARGET),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];
    if let Some(authorization) = authorization {
        headers.push(("Authorization", authorization));
    }
    let response = crate::http::send(
        fake.addr,
        "POST",
        "/",
        &headers,
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(
        response.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let text = response.text();
    let value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    (response.status, value)
}

async fn lookup(fake: &FakeIam, body: Value) -> (u16, Value) {
    lookup_as(fake, None, body).await
}

fn by_name(name: &str) -> Value {
    json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": name}]})
}

fn ids(page: &Value) -> Vec<String> {
    page["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventId"].as_str().unwrap().to_owned())
        .collect()
}

/// A fake without CloudTrail's rate limit, for tests about something else.
async fn unlimited_fake(seed: impl FnOnce(&mut State)) -> FakeIam {
    let mut state = State {
        lookup_rate_limit: None,
        ..State::default()
    };
    seed(&mut state);
    FakeIam::start(state).await
}

/// `actual` has the keys of `documented` (and, when `all`, no others), each with the same JSON
/// type, all the way down; `CloudTrailEvent` strings are records on both sides.
fn same_shape(documented: &Value, actual: &Value, all: bool, path: &str) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(kind(documented), kind(actual), "{path}: {actual}");
    match (documented, actual) {
        (Value::Object(doc), Value::Object(act)) => {
            for (key, value) in doc {
                let act = act
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} missing"));
                same_shape(value, act, all, &format!("{path}.{key}"));
            }
            if all {
                let extra: Vec<_> = act.keys().filter(|k| !doc.contains_key(*k)).collect();
                assert!(extra.is_empty(), "{path}: undocumented {extra:?}");
            }
        }
        (Value::Array(doc), Value::Array(act)) => {
            if let (Some(doc), Some(act)) = (doc.first(), act.first()) {
                same_shape(doc, act, all, &format!("{path}[0]"));
            }
        }
        (Value::String(doc), Value::String(act)) if path.ends_with("CloudTrailEvent") => {
            let doc: Value = serde_json::from_str(doc).unwrap();
            let act: Value = serde_json::from_str(act).unwrap();
            assert!(doc.is_object() && act.is_object(), "{path}");
        }
        _ => {}
    }
}

/// The fake's answer for record 03 looked up by its key has exactly the keys and JSON types of
/// the documented Response Syntax (fixture 02), and the keys the CLI's example shows (fixture
/// 01); its values are what the record says.
#[tokio::test]
async fn the_answer_has_the_documented_shape() {
    let at = now() - DAY;
    let fake = unlimited_fake(|s| {
        s.add_trail_record(&fixture(ASSUMED_ROLE)).at(at);
        s.add_trail_record(&fixture(ASSUMED_ROLE))
            .at(now() - 2 * DAY);
    })
    .await;
    let mut body = by_name("AKIA3T2LPTCWKEXAMPLE");
    body["MaxResults"] = json!(1);
    let (status, page) = lookup(&fake, body).await;
    assert_eq!(status, 200, "{page}");

    let syntax: Value = serde_json::from_str(&fixture(
        "lookup-events/02-createaccesskey-assumed-role.json",
    ))
    .unwrap();
    same_shape(&syntax, &page, true, "");
    let example: Value =
        serde_json::from_str(&fixture("lookup-events/01-consolelogin-cli-example.json")).unwrap();
    same_shape(&example, &page, false, "");

    let (documented, event) = (&syntax["Events"][0], &page["Events"][0]);
    for field in [
        "EventName",
        "ReadOnly",
        "AccessKeyId",
        "EventSource",
        "Username",
    ] {
        assert_eq!(event[field], documented[field], "{field}");
    }
    assert_eq!(event["Resources"], documented["Resources"]);
    assert_eq!(event["EventTime"], json!(at));
    let record: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(record["eventTime"], json!(super::iso8601(at)));
    assert_eq!(
        record["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/Admin/jdoe"
    );
    assert_eq!(record["sourceIPAddress"], "203.0.113.77");
    assert_eq!(fake.requests("LookupEvents"), 1);
}

/// Only the events naming the key asked for come back, and the other attributes filter as
/// their names say.
#[tokio::test]
async fn a_lookup_by_key_id_finds_only_that_key() {
    let fake = unlimited_fake(|s| {
        s.add_trail_record(&fixture(ASSUMED_ROLE)).at(now() - DAY);
        s.add_trail_record(&fixture(SELF_SERVICE)).at(now() - DAY);
        s.add_trail_record(&fixture(ASSUMED_ROLE))
            .at(now() - 3 * DAY)
            .for_key("carol", "AKIAFAKE000000000101");
    })
    .await;
    let (_, page) = lookup(&fake, by_name("AKIA2UU5CGGEXEXAMPLE")).await;
    let events = page["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["Username"], "bob");
    assert!(page.get("NextToken").is_none());

    let (_, page) = lookup(&fake, by_name("AKIAFAKE000000000101")).await;
    let event = &page["Events"][0];
    assert_eq!(ids(&page).len(), 1);
    assert_eq!(
        event["Resources"],
        json!([
            {"ResourceType": "AWS::IAM::AccessKey", "ResourceName": "AKIAFAKE000000000101"},
            {"ResourceType": "AWS::IAM::User", "ResourceName": "carol"}
        ])
    );
    let record: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(
        record["responseElements"]["accessKey"]["accessKeyId"],
        "AKIAFAKE000000000101"
    );
    assert_eq!(record["requestParameters"]["userName"], "carol");

    let (_, none) = lookup(&fake, by_name("AKIANOSUCHKEYEXAMPLE")).await;
    assert_eq!(none, json!({"Events": []}));
    // The caller's key is `AccessKeyId`, not a resource.
    let attribute = |key: &str, value: &str| json!({"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]});
    let (_, page) = lookup(&fake, attribute("AccessKeyId", "ASIAV72SWR5D3EXAMPLE")).await;
    assert_eq!(ids(&page).len(), 2);
    let (_, page) = lookup(&fake, attribute("Username", "bob")).await;
    assert_eq!(ids(&page).len(), 1);
    let (_, page) = lookup(&fake, attribute("EventName", "CreateAccessKey")).await;
    assert_eq!(ids(&page).len(), 3);
    let (_, page) = lookup(&fake, attribute("ReadOnly", "true")).await;
    assert_eq!(ids(&page).len(), 0);

    let (status, error) = lookup(&fake, attribute("SourceIPAddress", "203.0.113.77")).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidLookupAttributesException"))
    );
    let two = json!({"LookupAttributes": [
        {"AttributeKey": "Username", "AttributeValue": "bob"},
        {"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}
    ]});
    let (status, error) = lookup(&fake, two).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidLookupAttributesException"))
    );
    for bad in [0, 51] {
        let (status, error) = lookup(&fake, json!({"MaxResults": bad})).await;
        assert_eq!(
            (status, error["__type"].as_str()),
            (400, Some("InvalidMaxResultsException"))
        );
    }
}

/// Seven events in pages of three: newest first, each once, the token good only for the same
/// lookup; `MaxResults` pages too, up to its cap of 50.
#[tokio::test]
async fn next_token_pages_through_the_events_newest_first() {
    let t = now();
    let fake = unlimited_fake(|s| {
        for age in [5, 1, 7, 3, 2, 6, 4] {
            s.add_trail_record(&fixture(ASSUMED_ROLE)).at(t - age * DAY);
        }
        s.add_trail_record(&fixture(SELF_SERVICE)).at(now() - DAY);
        s.lookup_page_size = Some(3);
    })
    .await;
    let key = "AKIA3T2LPTCWKEXAMPLE";
    let mut seen = Vec::new();
    let mut times = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = by_name(key);
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let (status, page) = lookup(&fake, body).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(ids(&page));
        times.extend(
            page["Events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["EventTime"].as_i64().unwrap()),
        );
        match page.get("NextToken") {
            Some(next) => token = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "each event once: {seen:?}");
    let expected: Vec<i64> = (1..=7).map(|age| t - age * DAY).collect();
    assert_eq!(times, expected, "newest first");

    // A token is only good with the lookup it was given for.
    let (_, first) = lookup(&fake, by_name(key)).await;
    let token = first["NextToken"].as_str().unwrap().to_owned();
    let mut other = by_name("AKIA2UU5CGGEXEXAMPLE");
    other["NextToken"] = json!(token);
    let (status, error) = lookup(&fake, other).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidNextTokenException"))
    );
    let mut garbage = by_name(key);
    garbage["NextToken"] = json!("not-a-token");
    let (status, error) = lookup(&fake, garbage).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidNextTokenException"))
    );

    // MaxResults pages too; the forced page size is only a ceiling.
    fake.with(|s| s.lookup_page_size = None);
    let mut body = by_name(key);
    body["MaxResults"] = json!(4);
    let (_, page) = lookup(&fake, body).await;
    assert_eq!(ids(&page).len(), 4);
    assert!(page.get("NextToken").is_some());
    let (_, all) = lookup(&fake, by_name(key)).await;
    assert_eq!(ids(&all).len(), 7);
    assert!(all.get("NextToken").is_none());

    // 60 events: 50 on the first page when MaxResults is absent.
    fake.with(|s| {
        for age in 0..60 {
            s.add_trail_record(&fixture(SELF_SERVICE))
                .at(now() - 10 * DAY - age);
        }
    });
    let (_, page) = lookup(&fake, by_name("AKIA2UU5CGGEXEXAMPLE")).await;
    assert_eq!(ids(&page).len(), LOOKUP_MAX_RESULTS);
    let mut body = by_name("AKIA2UU5CGGEXEXAMPLE");
    body["NextToken"] = page["NextToken"].clone();
    let (_, rest) = lookup(&fake, body).await;
    assert_eq!(ids(&rest).len(), 11);
    assert!(rest.get("NextToken").is_none());
}

/// Only the last 90 days are there, whatever `StartTime` asks; `StartTime` and `EndTime`
/// narrow them, and a start after the end is refused.
#[tokio::test]
async fn only_the_last_ninety_days_are_looked_up() {
    let fake = unlimited_fake(|s| {
        for age in [1, 30, 89, 91, 400] {
            s.add_trail_record(&fixture(ASSUMED_ROLE))
                .at(now() - age * DAY)
                .with_event_id(&format!("event-{age}"));
        }
    })
    .await;
    let key = "AKIA3T2LPTCWKEXAMPLE";
    let (_, page) = lookup(&fake, by_name(key)).await;
    assert_eq!(ids(&page), ["event-1", "event-30", "event-89"]);

    let mut body = by_name(key);
    body["StartTime"] = json!(now() - 1000 * DAY);
    let (_, page) = lookup(&fake, body).await;
    assert_eq!(ids(&page), ["event-1", "event-30", "event-89"]);

    let mut body = by_name(key);
    body["StartTime"] = json!((now() - 31 * DAY) as f64 + 0.5);
    body["EndTime"] = json!(now() - 2 * DAY);
    let (_, page) = lookup(&fake, body).await;
    assert_eq!(ids(&page), ["event-30"]);

    let mut body = by_name(key);
    body["StartTime"] = json!(now() - DAY);
    body["EndTime"] = json!(now() - 2 * DAY);
    let (status, error) = lookup(&fake, body).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidTimeRangeException"))
    );
}

/// Without `cloudtrail:LookupEvents` every lookup is an `AccessDeniedException`, counted like
/// any request.
#[tokio::test]
async fn a_denied_lookup_is_an_access_denied_exception() {
    let fake = unlimited_fake(|s| {
        s.add_trail_record(&fixture(ASSUMED_ROLE)).at(now() - DAY);
        s.lookup_denied = true;
    })
    .await;
    let (status, error) = lookup(&fake, by_name("AKIA3T2LPTCWKEXAMPLE")).await;
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "AccessDeniedException");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("cloudtrail:LookupEvents"));
    assert_eq!(fake.requests("LookupEvents"), 1);
    fake.with(|s| s.lookup_denied = false);
    let (status, _) = lookup(&fake, by_name("AKIA3T2LPTCWKEXAMPLE")).await;
    assert_eq!(status, 200);
}

/// Two lookups a second per account and region: a third in the same second is throttled; the
/// second after, or another region, or another account, is not.
#[tokio::test]
async fn a_third_lookup_within_a_second_is_throttled() {
    let fake = FakeIam::start(State::default()).await;
    fake.add_member(State {
        account_id: "444455556666".to_owned(),
        ..State::default()
    });
    let home = signed("AKIDEXAMPLE", "us-east-1");
    let body = by_name("AKIA3T2LPTCWKEXAMPLE");
    // Back to back, with nothing between them: far within one second.
    let first = lookup_as(&fake, Some(&home), body.clone()).await;
    let second = lookup_as(&fake, Some(&home), body.clone()).await;
    let third = lookup_as(&fake, Some(&home), body.clone()).await;
    assert_eq!((first.0, second.0), (200, 200));
    assert_eq!(third.0, 400);
    assert_eq!(
        third.1,
        json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
    );
    assert_eq!(fake.requests("LookupEvents"), 3);
    let outcomes: Vec<String> =
        fake.with(|s| s.lookups.iter().map(|l| l.outcome.clone()).collect());
    assert_eq!(outcomes, ["ok", "ok", "ThrottlingException"]);

    // Another region's history, another account: limits of their own.
    let (status, _) = lookup_as(
        &fake,
        Some(&signed("AKIDEXAMPLE", "eu-west-1")),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let member = signed("ASIAFAKE444455556666", "us-east-1");
    for _ in 0..2 {
        let (status, _) = lookup_as(&fake, Some(&member), body.clone()).await;
        assert_eq!(status, 200);
    }
    assert_eq!(fake.with_member("444455556666", |s| s.lookups.len()), 2);

    // A second later (the earlier lookups moved back one second, not slept through), the
    // account's rate is there again.
    fake.with(|s| {
        for l in &mut s.lookups {
            l.at -= Duration::from_millis(1001);
        }
    });
    let (status, _) = lookup_as(&fake, Some(&home), body.clone()).await;
    assert_eq!(status, 200);

    // With no limit, any number pass.
    fake.with(|s| s.lookup_rate_limit = None);
    for _ in 0..5 {
        let (status, _) = lookup_as(&fake, Some(&home), body.clone()).await;
        assert_eq!(status, 200);
    }
}

/// IAM's events are in US East (N. Virginia)'s history: a lookup signed for another region
/// finds none of them, and each lookup's region is logged.
#[tokio::test]
async fn iam_events_are_in_the_home_regions_history_only() {
    let fake = unlimited_fake(|s| {
        s.add_trail_record(&fixture(ASSUMED_ROLE)).at(now() - DAY);
    })
    .await;
    let body = by_name("AKIA3T2LPTCWKEXAMPLE");
    let (_, home) = lookup_as(
        &fake,
        Some(&signed("AKIDEXAMPLE", "us-east-1")),
        body.clone(),
    )
    .await;
    assert_eq!(ids(&home).len(), 1);
    let (_, away) = lookup_as(&fake, Some(&signed("AKIDEXAMPLE", "eu-west-1")), body).await;
    assert_eq!(away, json!({"Events": []}));
    let logged: Vec<(String, Option<(String, String)>)> = fake.with(|s| {
        s.lookups
            .iter()
            .map(|l| (l.region.clone(), l.attribute.clone()))
            .collect()
    });
    let attribute = Some(("ResourceName".to_owned(), "AKIA3T2LPTCWKEXAMPLE".to_owned()));
    assert_eq!(
        logged,
        [
            ("us-east-1".to_owned(), attribute.clone()),
            ("eu-west-1".to_owned(), attribute)
        ]
    );
}

/// Faults injected by action name answer in CloudTrail's JSON, and are counted.
#[tokio::test]
async fn injected_faults_answer_in_json() {
    let fake = unlimited_fake(|s| {
        s.add_trail_record(&fixture(ASSUMED_ROLE)).at(now() - DAY);
    })
    .await;
    fake.inject(Some("LookupEvents"), FaultKind::Throttle, Some(1));
    fake.inject(Some("LookupEvents"), FaultKind::ServerError, Some(1));
    let body = by_name("AKIA3T2LPTCWKEXAMPLE");
    let (status, error) = lookup(&fake, body.clone()).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("ThrottlingException"))
    );
    let (status, error) = lookup(&fake, body.clone()).await;
    assert_eq!(
        (status, error["__type"].as_str()),
        (500, Some("InternalFailure"))
    );
    let (status, page) = lookup(&fake, body.clone()).await;
    assert_eq!((status, ids(&page).len()), (200, 1));
    assert_eq!(fake.requests("LookupEvents"), 3);
    // An IAM action's fault leaves lookups alone.
    fake.inject(Some("ListUsers"), FaultKind::Throttle, None);
    let (status, _) = lookup(&fake, body.clone()).await;
    assert_eq!(status, 200);

    fake.inject(Some("LookupEvents"), FaultKind::MarkerCycle, Some(2));
    let (_, first) = lookup(&fake, body.clone()).await;
    let mut again = body.clone();
    again["NextToken"] = first["NextToken"].clone();
    let (_, second) = lookup(&fake, again).await;
    assert_eq!(
        (first["NextToken"].as_str(), second["NextToken"].as_str()),
        (Some("m0"), Some("m1"))
    );
    assert_eq!(ids(&first), ids(&second));

    fake.inject(
        Some("LookupEvents"),
        FaultKind::Rewrite(|text| text.replace("\"EventTime\":", "\"EventTime\":\"x\",\"Was\":")),
        Some(1),
    );
    let (status, page) = lookup(&fake, body.clone()).await;
    assert_eq!(
        (status, page["Events"][0]["EventTime"].as_str()),
        (200, Some("x"))
    );

    fake.inject(Some("LookupEvents"), FaultKind::Malformed, Some(1));
    let response = crate::http::send(
        fake.addr,
        "POST",
        "/",
        &[("X-Amz-Target", LOOKUP_EVENTS_TARGET)],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(serde_json::from_slice::<Value>(&response.body).is_err());
    let injected = fake.with(|s| s.lookups.iter().filter(|l| l.outcome == "injected").count());
    assert_eq!(injected, 6);
}

/// The API Reference's own target name is served too; an unknown operation is refused.
#[tokio::test]
async fn both_target_spellings_are_served() {
    let fake = unlimited_fake(|_| {}).await;
    for (target, status) in [
        (
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            200,
        ),
        ("CloudTrail_20131101.DescribeTrails", 400),
    ] {
        let response =
            crate::http::send(fake.addr, "POST", "/", &[("X-Amz-Target", target)], b"{}").await;
        assert_eq!(response.status, status, "{target}: {}", response.text());
    }
    assert_eq!(fake.requests("LookupEvents"), 1);
}

/// What a record says is read as `LookupEvents` shows it, for each kind of caller in the
/// fixtures; times survive the round trip.
#[test]
fn records_are_read_as_the_event_history_shows_them() {
    for (file, username, key, user) in [
        (
            "01-createaccesskey-iamuser-for-other.json",
            Some("admin"),
            "AKIAWDIHCXANKEXAMPLE",
            "alice",
        ),
        (ASSUMED_ROLE, Some("jdoe"), "AKIA3T2LPTCWKEXAMPLE", "alice"),
        (
            "04-createaccesskey-root-for-user.json",
            Some("root"),
            "AKIAU7HSGLBLREXAMPLE",
            "carol",
        ),
        (
            "06-createaccesskey-cloudformation.json",
            Some("AWSCloudFormation"),
            "AKIAV7YBCTKRMEXAMPLE",
            "svc-deploy",
        ),
        (
            "07-createaccesskey-federateduser-console.json",
            Some("dave"),
            "AKIAVCRX4WR2VEXAMPLE",
            "dave",
        ),
    ] {
        let record = TrailRecord::parse(&fixture(file)).unwrap();
        assert_eq!(record.username.as_deref(), username, "{file}");
        assert_eq!(record.event_name, "CreateAccessKey");
        assert_eq!(
            record.resources,
            [
                TrailResource {
                    resource_type: "AWS::IAM::AccessKey".to_owned(),
                    name: key.to_owned()
                },
                TrailResource {
                    resource_type: "AWS::IAM::User".to_owned(),
                    name: user.to_owned()
                },
            ],
            "{file}"
        );
    }
    let record = TrailRecord::parse(&fixture(ASSUMED_ROLE)).unwrap();
    assert_eq!(record.event_time, 1_795_146_432);
    assert_eq!(
        parse_iso8601(&super::iso8601(1_795_146_432)),
        Some(1_795_146_432)
    );
    assert_eq!(java_date(1_795_146_432), "Nov 20, 2026 3:47:12 AM");
    assert_eq!(java_date(1_795_176_000), "Nov 20, 2026 12:00:00 PM");
    assert_eq!(java_date(1_795_132_800), "Nov 20, 2026 12:00:00 AM");
    assert!(TrailRecord::parse(&fixture("18-cloudtrail-log-file-records.json")).is_err());
    let tokens = encode_token("ResourceName=AKIA", 17, "e-1");
    assert_eq!(
        decode_token(&tokens),
        Some(("ResourceName=AKIA".to_owned(), 17, "e-1".to_owned()))
    );
}
