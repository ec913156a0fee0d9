//! CloudTrail's `LookupEvents` on the fake's endpoint, in CloudTrail's JSON 1.1 protocol: a
//! `POST /` with `X-Amz-Target: CloudTrail_20131101.LookupEvents` (what `aws-sdk-cloudtrail`
//! sends; the longer `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents` of
//! the API Reference is accepted too) and a JSON body, answered from the account's
//! [`State::trail`].
//!
//! What it does, after AWS's API Reference
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>):
//! one lookup attribute at most, of the eight documented keys; `MaxResults` 1 to 50, 50 when
//! absent; `StartTime` and `EndTime` (epoch seconds) honoured, a start after the end refused;
//! only the last 90 days; newest first; a `NextToken` valid only with the same lookup
//! attribute; "two per second, per account, per Region", beyond which it answers
//! `ThrottlingException`. Errors are JSON 1.1 errors (`{"__type": ..., "message": ...}`) with
//! the codes and HTTP status (400) the reference lists for `LookupEvents`, and its common
//! errors (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/CommonErrors.html>:
//! `AccessDeniedException` and `ThrottlingException` are 400, `InternalFailure` 500).
//! IAM's events are global-service events that CloudTrail records in US East (N. Virginia)
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events>):
//! a lookup signed for any region but [`State::trail_region`] finds nothing.
//!
//! The answer's fields follow the `Event` type
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Event.html>): `Username`
//! is the caller as the event history names it (an IAM user's name, a role session's name,
//! `root`), `AccessKeyId` the caller's key, `Resources` what the record names: the access key
//! (`AWS::IAM::AccessKey`) and the user (`AWS::IAM::User`) of an access key call, as real
//! answers show them. tests/fixtures/cloudtrail/lookup-events/README.md cites each shape.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{arrive, huge, iso8601, now, Body, Failure, FaultKind, State};

/// The `X-Amz-Target` of `LookupEvents` as `aws-sdk-cloudtrail` sends it (the Smithy service
/// shape's name and the operation).
pub const LOOKUP_EVENTS_TARGET: &str = "CloudTrail_20131101.LookupEvents";

/// How far back `LookupEvents` sees: "events that occurred in a Region within the last 90
/// days".
pub const LOOKUP_WINDOW_SECONDS: i64 = 90 * 86_400;

/// `MaxResults`' default and cap.
pub const LOOKUP_MAX_RESULTS: usize = 50;

/// CloudTrail's documented rate for `LookupEvents`, per account and region.
pub const LOOKUP_REQUESTS_PER_SECOND: u32 = 2;

/// The attribute keys `LookupAttributes` accepts (the `LookupAttribute` type,
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupAttribute.html>).
const ATTRIBUTE_KEYS: [&str; 8] = [
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

/// One resource a record names: `Resources[]` in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailResource {
    /// `ResourceType`, e.g. `AWS::IAM::AccessKey`, `AWS::IAM::User`.
    pub resource_type: String,
    /// `ResourceName`: the key ID, the user name.
    pub name: String,
}

/// One event in an account's trail: a CloudTrail record and what `LookupEvents` reads from it.
/// Made by [`TrailRecord::parse`] (or [`State::add_trail_record`]); the fields are derived from
/// `record` again by every change made through [`TrailRecord::at`] and
/// [`TrailRecord::for_key`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrailRecord {
    /// The CloudTrail record, compact JSON: the answer's `CloudTrailEvent`.
    pub record: String,
    /// `eventID`.
    pub event_id: String,
    /// `eventName`, e.g. `CreateAccessKey`.
    pub event_name: String,
    /// `eventSource`, e.g. `iam.amazonaws.com`.
    pub event_source: String,
    /// `eventTime`, Unix seconds.
    pub event_time: i64,
    /// `readOnly`.
    pub read_only: bool,
    /// The caller's access key, `userIdentity.accessKeyId`: the answer's `AccessKeyId`.
    pub access_key_id: Option<String>,
    /// The caller as the event history names it: the answer's `Username`.
    pub username: Option<String>,
    /// What the record names: an access key call's key and user, the record's own `resources`.
    pub resources: Vec<TrailResource>,
}

impl TrailRecord {
    /// Reads a CloudTrail record, bare or as the `detail` of an EventBridge envelope (the
    /// files of tests/fixtures/cloudtrail).
    pub fn parse(text: &str) -> Result<TrailRecord, String> {
        let value: Value = serde_json::from_str(text).map_err(|err| err.to_string())?;
        let record = match value.get("detail-type") {
            Some(_) => value.get("detail").cloned().unwrap_or(Value::Null),
            None => value,
        };
        TrailRecord::from_value(record)
    }

    /// Moves the event to `time` (Unix seconds): `eventTime`, and the `createDate` of a
    /// created key, say it.
    pub fn at(&mut self, time: i64) -> &mut TrailRecord {
        self.edit(|record| {
            record["eventTime"] = json!(iso8601(time));
            if let Some(key) = record
                .pointer_mut("/responseElements/accessKey")
                .and_then(Value::as_object_mut)
            {
                if key.contains_key("createDate") {
                    key.insert("createDate".to_owned(), json!(java_date(time)));
                }
            }
        })
    }

    /// Makes the event about `user`'s access key `key_id`: the key and user of
    /// `responseElements.accessKey`, and `requestParameters`' `userName` and `accessKeyId`
    /// where the record has them.
    pub fn for_key(&mut self, user: &str, key_id: &str) -> &mut TrailRecord {
        self.edit(|record| {
            if let Some(key) = record
                .pointer_mut("/responseElements/accessKey")
                .and_then(Value::as_object_mut)
            {
                key.insert("accessKeyId".to_owned(), json!(key_id));
                key.insert("userName".to_owned(), json!(user));
            }
            if let Some(params) = record
                .get_mut("requestParameters")
                .and_then(Value::as_object_mut)
            {
                for (field, value) in [("userName", user), ("accessKeyId", key_id)] {
                    if params.contains_key(field) {
                        params.insert(field.to_owned(), json!(value));
                    }
                }
            }
        })
    }

    /// Sets `eventID`.
    pub fn with_event_id(&mut self, id: &str) -> &mut TrailRecord {
        self.edit(|record| record["eventID"] = json!(id))
    }

    fn edit(&mut self, change: impl FnOnce(&mut Value)) -> &mut TrailRecord {
        let mut record: Value = serde_json::from_str(&self.record).expect("a record made here");
        change(&mut record);
        *self = TrailRecord::from_value(record).expect("an edited record stays a record");
        self
    }

    fn from_value(record: Value) -> Result<TrailRecord, String> {
        if !record.is_object() || record.get("Records").is_some() {
            return Err("not one CloudTrail record".to_owned());
        }
        let text = |pointer: &str| record.pointer(pointer).and_then(Value::as_str);
        let required = |field: &str| {
            text(&format!("/{field}"))
                .map(str::to_owned)
                .ok_or_else(|| format!("the record has no {field}"))
        };
        let time = required("eventTime")?;
        let event_time = parse_iso8601(&time).ok_or_else(|| format!("eventTime {time:?}"))?;
        let read_only = match record.get("readOnly") {
            Some(Value::Bool(read_only)) => *read_only,
            Some(Value::String(read_only)) => read_only == "true",
            _ => false,
        };
        let identity = record.get("userIdentity").cloned().unwrap_or(Value::Null);
        let mut resources = Vec::new();
        let key = text("/responseElements/accessKey/accessKeyId")
            .or_else(|| text("/requestParameters/accessKeyId"));
        let user = text("/requestParameters/userName")
            .or_else(|| text("/responseElements/accessKey/userName"))
            .or_else(|| text("/responseElements/user/userName"));
        for (resource_type, name) in [("AWS::IAM::AccessKey", key), ("AWS::IAM::User", user)] {
            if let Some(name) = name {
                resources.push(TrailResource {
                    resource_type: resource_type.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
        for named in record
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(kind), Some(arn)) = (
                named.get("type").and_then(Value::as_str),
                named.get("ARN").and_then(Value::as_str),
            ) {
                resources.push(TrailResource {
                    resource_type: kind.to_owned(),
                    name: arn.to_owned(),
                });
            }
        }
        Ok(TrailRecord {
            event_id: required("eventID")?,
            event_name: required("eventName")?,
            event_source: required("eventSource")?,
            event_time,
            read_only,
            access_key_id: identity
                .get("accessKeyId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            username: history_username(&identity),
            resources,
            record: record.to_string(),
        })
    }

    /// The event as `LookupEvents` answers it.
    fn to_event(&self) -> Value {
        let mut event = Map::new();
        event.insert("EventId".to_owned(), json!(self.event_id));
        event.insert("EventName".to_owned(), json!(self.event_name));
        event.insert("ReadOnly".to_owned(), json!(self.read_only.to_string()));
        if let Some(key) = &self.access_key_id {
            event.insert("AccessKeyId".to_owned(), json!(key));
        }
        event.insert("EventTime".to_owned(), json!(self.event_time));
        event.insert("EventSource".to_owned(), json!(self.event_source));
        if let Some(name) = &self.username {
            event.insert("Username".to_owned(), json!(name));
        }
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|r| json!({"ResourceType": r.resource_type, "ResourceName": r.name}))
            .collect();
        event.insert("Resources".to_owned(), Value::Array(resources));
        event.insert("CloudTrailEvent".to_owned(), json!(self.record));
        Value::Object(event)
    }

    fn matches(&self, key: &str, value: &str) -> bool {
        match key {
            "EventId" => self.event_id == value,
            "EventName" => self.event_name == value,
            "ReadOnly" => self.read_only.to_string() == value,
            "Username" => self.username.as_deref() == Some(value),
            "ResourceType" => self.resources.iter().any(|r| r.resource_type == value),
            "ResourceName" => self.resources.iter().any(|r| r.name == value),
            "EventSource" => self.event_source == value,
            "AccessKeyId" => self.access_key_id.as_deref() == Some(value),
            _ => false,
        }
    }
}

/// The name the event history shows for a caller: an IAM user's name, the session of an
/// assumed role (as in the AWS CLI's `lookup-events` example, `"Username": "my-session-name"`
/// for an `AssumedRole` caller), a federated user's name, `root`; none for an AWS service.
fn history_username(identity: &Value) -> Option<String> {
    let field = |name: &str| identity.get(name).and_then(Value::as_str);
    let last = || field("arn").and_then(|arn| arn.rsplit('/').next());
    match field("type")? {
        "Root" => Some("root"),
        "AssumedRole" | "FederatedUser" => last(),
        "AWSService" => None,
        _ => field("userName").or_else(last),
    }
    .map(str::to_owned)
}

/// One `LookupEvents` request the fake received, for tests to read.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub at: Instant,
    /// The region its signature names (the trail's region when unsigned).
    pub region: String,
    /// Its lookup attribute, `(AttributeKey, AttributeValue)`.
    pub attribute: Option<(String, String)>,
    /// `StartTime` and `EndTime`, epoch seconds.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub max_results: Option<u64>,
    pub next_token: Option<String>,
    /// How it was answered: `ok`, an error code (`ThrottlingException`...), or `injected`
    /// (a fault answered it).
    pub outcome: String,
}

impl Lookup {
    /// Whether it used up some of the rate: every request the limit let through.
    fn counts(&self) -> bool {
        !matches!(
            self.outcome.as_str(),
            "injected" | "ThrottlingException" | "AccessDeniedException"
        )
    }
}

/// What a lookup asks.
struct Query {
    attribute: Option<(String, String)>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    max_results: Option<u64>,
    next_token: Option<String>,
    event_category: Option<String>,
}

/// The request failed as CloudTrail says: its code, with a message.
struct Refusal(&'static str, String);

/// Answers one CloudTrail request (`target` is its `X-Amz-Target`), faults first.
pub(super) async fn serve(
    state: &std::sync::Mutex<State>,
    target: &str,
    region: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, Failure> {
    let action = target.rsplit('.').next().unwrap_or_default();
    let known = target == LOOKUP_EVENTS_TARGET
        || target == "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    if !known {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("Unknown operation {target}"),
        ));
    }
    let (latency, fault) = arrive(state, action, None);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let region = region.map(str::to_owned);
    let injected = |state: &std::sync::Mutex<State>| {
        let mut state = state.lock().unwrap();
        let region = region.clone().unwrap_or_else(|| state.trail_region.clone());
        record(&mut state, region, parse_query(body).ok(), "injected");
    };
    match fault {
        None | Some(FaultKind::Delay(_)) => {}
        Some(_) => injected(state),
    }
    match fault {
        Some(FaultKind::Reset) => return Err(Failure::Reset),
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::Throttle) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ))
        }
        Some(FaultKind::ServerError) => return Ok(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )),
        Some(FaultKind::AccessDenied) => return Ok(access_denied()),
        Some(FaultKind::Malformed) => {
            return Ok(json_response(
                StatusCode::OK,
                "this is {not json".to_owned(),
            ))
        }
        Some(FaultKind::Huge { bytes, declared }) => {
            return Ok(huge(bytes, declared, "application/x-amz-json-1.1"));
        }
        Some(FaultKind::Rewrite(rewrite)) => {
            let text = {
                let state = state.lock().unwrap();
                let region = region.clone().unwrap_or_else(|| state.trail_region.clone());
                lookup_page(&state, &region, &unlimited(body)).unwrap_or_default()
            };
            let text = rewrite(&text);
            let status = match text.contains("\"__type\"") {
                true => StatusCode::BAD_REQUEST,
                false => StatusCode::OK,
            };
            return Ok(json_response(status, text));
        }
        Some(FaultKind::MarkerCycle) => {
            let query = unlimited(body);
            let next = match query.next_token.as_deref() {
                Some("m0") => "m1",
                _ => "m0",
            };
            let first = Query {
                next_token: None,
                ..query
            };
            let mut page = {
                let state = state.lock().unwrap();
                let region = region.clone().unwrap_or_else(|| state.trail_region.clone());
                lookup_value(&state, &region, &first).unwrap_or_else(|_| json!({"Events": []}))
            };
            page["NextToken"] = json!(next);
            return Ok(json_response(StatusCode::OK, page.to_string()));
        }
        // The rest are IAM's: a LookupEvents request has no user, marker or key to change.
        _ => {}
    }
    let mut state = state.lock().unwrap();
    let region = region.unwrap_or_else(|| state.trail_region.clone());
    Ok(lookup_events(&mut state, region, body))
}

/// The query of a fault's rewritten answer: the body's, or everything when it has none.
fn unlimited(body: &[u8]) -> Query {
    parse_query(body).unwrap_or(Query {
        attribute: None,
        start_time: None,
        end_time: None,
        max_results: None,
        next_token: None,
        event_category: None,
    })
}

/// `LookupEvents`: permission, rate, then the query; every request logged in
/// [`State::lookups`].
fn lookup_events(state: &mut State, region: String, body: &[u8]) -> Response<Body> {
    let query = parse_query(body);
    if state.lookup_denied {
        record(state, region, query.ok(), "AccessDeniedException");
        return access_denied();
    }
    if let Some(limit) = state.lookup_rate_limit {
        let second_ago = Instant::now().checked_sub(Duration::from_secs(1));
        let recent = state
            .lookups
            .iter()
            .filter(|l| l.region == region && l.counts())
            .filter(|l| second_ago.is_none_or(|since| l.at > since))
            .count();
        if recent >= limit as usize {
            record(state, region, query.ok(), "ThrottlingException");
            return error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            );
        }
    }
    let query = match query {
        Ok(query) => query,
        Err(Refusal(code, message)) => {
            record(state, region, None, code);
            return error(StatusCode::BAD_REQUEST, code, &message);
        }
    };
    let answer = lookup_page(state, &region, &query);
    let outcome = match &answer {
        Ok(_) => "ok",
        Err(Refusal(code, _)) => code,
    };
    record(state, region, Some(query), outcome);
    match answer {
        Ok(text) => json_response(StatusCode::OK, text),
        Err(Refusal(code, message)) => error(StatusCode::BAD_REQUEST, code, &message),
    }
}

fn record(state: &mut State, region: String, query: Option<Query>, outcome: &str) {
    let query = query.unwrap_or_else(|| unlimited(b""));
    state.lookups.push(Lookup {
        at: Instant::now(),
        region,
        attribute: query.attribute,
        start_time: query.start_time,
        end_time: query.end_time,
        max_results: query.max_results,
        next_token: query.next_token,
        outcome: outcome.to_owned(),
    });
}

/// The request body, checked as the API Reference says.
fn parse_query(body: &[u8]) -> Result<Query, Refusal> {
    let body: Value = match body.is_empty() {
        true => json!({}),
        false => serde_json::from_slice(body)
            .map_err(|err| Refusal("SerializationException", err.to_string()))?,
    };
    let invalid = |message: &str| Refusal("InvalidLookupAttributesException", message.to_owned());
    let attributes = match body.get("LookupAttributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err(invalid("LookupAttributes must be a list")),
    };
    if attributes.len() > 1 {
        return Err(invalid(
            "The list of lookup attributes can contain only one item.",
        ));
    }
    let attribute = match attributes.first() {
        None => None,
        Some(attribute) => {
            let key = attribute.get("AttributeKey").and_then(Value::as_str);
            let value = attribute.get("AttributeValue").and_then(Value::as_str);
            match (key, value) {
                (Some(key), Some(value)) if ATTRIBUTE_KEYS.contains(&key) => {
                    Some((key.to_owned(), value.to_owned()))
                }
                (Some(key), Some(_)) => {
                    return Err(invalid(&format!("Invalid AttributeKey {key}")));
                }
                _ => return Err(invalid("AttributeKey and AttributeValue are required")),
            }
        }
    };
    let max_results = match body.get("MaxResults") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(n @ 1..=50) => Some(n),
            _ => {
                return Err(Refusal(
                    "InvalidMaxResultsException",
                    format!("MaxResults must be between 1 and 50, not {n}"),
                ))
            }
        },
    };
    let time = |field: &str| match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(t) => t.as_f64().map(Some).ok_or_else(|| {
            Refusal(
                "InvalidTimeRangeException",
                format!("{field} must be a timestamp"),
            )
        }),
    };
    let (start_time, end_time) = (time("StartTime")?, time("EndTime")?);
    if let (Some(start), Some(end)) = (start_time, end_time) {
        if start > end {
            return Err(Refusal(
                "InvalidTimeRangeException",
                "Start time must be before end time.".to_owned(),
            ));
        }
    }
    let event_category = body
        .get("EventCategory")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if event_category.as_deref().is_some_and(|c| c != "insight") {
        return Err(Refusal(
            "InvalidEventCategoryException",
            "EventCategory must be insight".to_owned(),
        ));
    }
    Ok(Query {
        attribute,
        start_time,
        end_time,
        max_results,
        next_token: body
            .get("NextToken")
            .and_then(Value::as_str)
            .map(str::to_owned),
        event_category,
    })
}

/// One page of the answer, as text.
fn lookup_page(state: &State, region: &str, query: &Query) -> Result<String, Refusal> {
    lookup_value(state, region, query).map(|page| page.to_string())
}

/// One page of the answer: the matching events of the last 90 days newest first, from after
/// the token's event, at most `MaxResults` (and [`State::lookup_page_size`]).
fn lookup_value(state: &State, region: &str, query: &Query) -> Result<Value, Refusal> {
    let fingerprint = match &query.attribute {
        Some((key, value)) => format!("{key}={value}"),
        None => String::new(),
    };
    let after = match &query.next_token {
        None => None,
        Some(token) => Some(
            decode_token(token)
                .filter(|(print, _, _)| *print == fingerprint)
                .map(|(_, time, id)| (time, id))
                .ok_or_else(|| {
                    Refusal(
                        "InvalidNextTokenException",
                        "Invalid NextToken: it was not given for this lookup".to_owned(),
                    )
                })?,
        ),
    };
    let now = now();
    let oldest = (now - LOOKUP_WINDOW_SECONDS) as f64;
    let start = query.start_time.map_or(oldest, |start| start.max(oldest));
    let end = query.end_time.unwrap_or(now as f64);
    let mut found: Vec<&TrailRecord> = state
        .trail
        .iter()
        .filter(|_| region == state.trail_region && query.event_category.is_none())
        .filter(|r| (r.event_time as f64) >= start && (r.event_time as f64) <= end)
        .filter(|r| {
            query
                .attribute
                .as_ref()
                .is_none_or(|(key, value)| r.matches(key, value))
        })
        .filter(|r| {
            after
                .as_ref()
                .is_none_or(|(time, id)| (r.event_time, r.event_id.as_str()) < (*time, id.as_str()))
        })
        .collect();
    found.sort_by(|a, b| (b.event_time, &b.event_id).cmp(&(a.event_time, &a.event_id)));
    let page = query
        .max_results
        .map_or(LOOKUP_MAX_RESULTS, |n| n as usize)
        .min(state.lookup_page_size.unwrap_or(LOOKUP_MAX_RESULTS))
        .max(1);
    let events: Vec<Value> = found.iter().take(page).map(|r| r.to_event()).collect();
    let mut answer = json!({ "Events": events });
    if found.len() > page {
        let last = found[page - 1];
        answer["NextToken"] = json!(encode_token(&fingerprint, last.event_time, &last.event_id));
    }
    Ok(answer)
}

/// Tokens are opaque to clients; this one is the lookup attribute and the last event given,
/// hex-encoded.
fn encode_token(fingerprint: &str, time: i64, id: &str) -> String {
    let plain = format!("{fingerprint}\n{time}\n{id}");
    format!(
        "t{}",
        plain
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn decode_token(token: &str) -> Option<(String, i64, String)> {
    let hex = token.strip_prefix('t')?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    let plain = String::from_utf8(bytes?).ok()?;
    let mut parts = plain.splitn(3, '\n');
    let fingerprint = parts.next()?.to_owned();
    let time = parts.next()?.parse().ok()?;
    Some((fingerprint, time, parts.next()?.to_owned()))
}

fn access_denied() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "AccessDeniedException",
        "User is not authorized to perform: cloudtrail:LookupEvents",
    )
}

/// A JSON 1.1 error, as `aws-sdk-cloudtrail` reads it (`__type`, `message`).
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        json!({"__type": code, "message": message}).to_string(),
    )
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    headers.insert("x-amzn-requestid", "fake-0000".parse().unwrap());
    response
}

/// `YYYY-MM-DDTHH:MM:SSZ` (fractions allowed) as Unix seconds.
fn parse_iso8601(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if text.get(10..11) != Some("T") || !text.ends_with('Z') {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The `createDate` CloudTrail logs for a created key: `Nov 20, 2026 3:47:12 AM`.
fn java_date(time: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let iso = iso8601(time);
    let number = |range: std::ops::Range<usize>| iso[range].parse::<usize>().unwrap_or(0);
    let (year, month, day, hour) = (number(0..4), number(5..7), number(8..10), number(11..13));
    let (half, hour12) = match hour {
        0 => ("AM", 12),
        1..=11 => ("AM", hour),
        12 => ("PM", 12),
        _ => ("PM", hour - 12),
    };
    format!(
        "{} {day}, {year} {hour12}:{}:{} {half}",
        MONTHS[month.clamp(1, 12) - 1],
        &iso[14..16],
        &iso[17..19]
    )
}

#[cfg(test)]
mod tests;
