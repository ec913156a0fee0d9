//! IAM change events: the consumer of the SQS queue that EventBridge fills with IAM's CloudTrail
//! events (`[events]`), so that a second active key shows within seconds, not at the next
//! refresh.
//!
//! An event is a hint, never the truth: it names an account and a user, and that user alone is
//! read again from IAM (`ListAccessKeys`, through the account's own credentials) and put into
//! the account's snapshot, which is then republished. Duplicates and events out of order are
//! therefore harmless: each read says what IAM says now. A message is deleted once the user was
//! read again, or once the event was judged irrelevant or malformed; when the read fails
//! (throttling), the message stays, and SQS hands it out again after its visibility timeout
//! (to the dead-letter queue after the queue's `maxReceiveCount`).
//!
//! Events for an account this replica does not watch are deleted when it is the only replica;
//! with sharding they are left for the replica that watches the account (and reach the
//! dead-letter queue when none does). The scheduled refresh stays the safety net:
//! EventBridge's delivery is best effort.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Refresher, Target};
use crate::aws::{Message, Sqs};
use crate::error::error_chain;
use crate::exposition::EventMetrics;
use crate::shutdown::Shutdown;
use crate::snapshot::{AccountSnapshot, User};
use crate::source::read_user;

/// The CloudTrail events that can change a user's active key count, its existence, or its
/// exemption tags.
const RELEVANT: [&str; 7] = [
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateUser",
    "DeleteUser",
    "TagUser",
    "UntagUser",
];

/// How often the queue's backlog is read (`GetQueueAttributes`).
const BACKLOG_EVERY: Duration = Duration::from_secs(60);

/// How often the consumer looks whether the watched accounts' IDs are known, before it starts.
const ACCOUNTS_POLL: Duration = Duration::from_millis(100);

/// The longest the consumer waits for the watched accounts' IDs before it starts anyway.
const ACCOUNTS_WAIT: Duration = Duration::from_secs(60);

/// The longest the consumer waits for the body with its changes before polling again.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// After a failed poll, the wait before the next one.
const POLL_RETRY: Duration = Duration::from_secs(5);

/// The most messages taken from the queue before they are applied: a burst is drained (polls
/// that do not wait) up to this many, or for [`DRAIN_FOR`], and every user named in it is read
/// again once.
const BURST: usize = 1_000;

/// The longest a burst is drained before its events are applied: the first event of a burst
/// waits at most this much more for its re-read.
const DRAIN_FOR: Duration = Duration::from_secs(1);

/// What an EventBridge envelope of a CloudTrail event says, as far as the exporter cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// The CloudTrail event name (`CreateAccessKey`, ...).
    pub(crate) name: String,
    /// The account the call was made in.
    pub(crate) account: String,
    /// The user it concerns, as the event spells it (IAM's own spelling may differ in case);
    /// empty for root's own keys.
    pub(crate) user: String,
    /// Root acting on its own keys: no user to read, the account's root key flag to ask again.
    pub(crate) root: bool,
    /// The user's path, when the event carries it (`CreateUser`).
    pub(crate) path: Option<String>,
    /// When the call was made, Unix seconds.
    pub(crate) time: Option<f64>,
}

/// Why a message is not an event to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Not an EventBridge envelope of a CloudTrail IAM event: JSON, but not of that shape, or
    /// not JSON at all.
    Malformed(String),
    /// A well-formed event that changes no key count (another IAM call, or a call that failed);
    /// with its name.
    Irrelevant(String),
}

/// Reads an EventBridge envelope (`detail-type: AWS API Call via CloudTrail`, `source:
/// aws.iam`). The user is `requestParameters.userName`, else the created key's or user's
/// `responseElements`, else the caller itself when an IAM user acted on its own keys.
pub(crate) fn parse(body: &str) -> Result<Event, Skip> {
    let envelope: Value =
        serde_json::from_str(body).map_err(|err| Skip::Malformed(format!("not JSON: {err}")))?;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let detail = &envelope["detail"];
    if !detail.is_object() {
        return Err(Skip::Malformed("no `detail` object".to_owned()));
    }
    let name = text(&detail["eventName"])
        .ok_or_else(|| Skip::Malformed("no `detail.eventName`".to_owned()))?;
    if envelope["source"] != "aws.iam" || detail["eventSource"] != "iam.amazonaws.com" {
        return Err(Skip::Irrelevant(name));
    }
    if !RELEVANT.contains(&name.as_str()) || !detail["errorCode"].is_null() {
        return Err(Skip::Irrelevant(name));
    }
    let account = text(&envelope["account"])
        .or_else(|| text(&detail["recipientAccountId"]))
        .filter(|id| crate::arn::parse_account_id(id).is_some())
        .ok_or_else(|| Skip::Malformed("no 12-digit `account`".to_owned()))?;
    let request = &detail["requestParameters"];
    let response = &detail["responseElements"];
    let identity = &detail["userIdentity"];
    // Root acting on its own keys: no IAM user to read again, but whether root has a key.
    if identity["type"] == "Root" && request["userName"].is_null() {
        if !name.ends_with("AccessKey") {
            return Err(Skip::Irrelevant(name));
        }
        return Ok(Event {
            name,
            account,
            user: String::new(),
            root: true,
            path: None,
            time: event_time(&envelope),
        });
    }
    let user = text(&request["userName"])
        .or_else(|| text(&response["accessKey"]["userName"]))
        .or_else(|| text(&response["user"]["userName"]))
        .or_else(|| {
            (identity["type"] == "IAMUser")
                .then(|| text(&identity["userName"]))
                .flatten()
        })
        .ok_or_else(|| Skip::Malformed(format!("{name} names no user")))?;
    // A record's values are the caller's: only a name and a path of IAM's shapes become labels.
    if !crate::arn::is_user_name(&user) {
        return Err(Skip::Malformed(format!(
            "{name} names a user IAM could not have ({:?})",
            crate::error::bounded(&user, 80)
        )));
    }
    let path = text(&request["path"]).or_else(|| text(&response["user"]["path"]));
    if path
        .as_deref()
        .is_some_and(|path| !crate::arn::is_path(path))
    {
        return Err(Skip::Malformed(format!(
            "{name} carries a path IAM could not have"
        )));
    }
    Ok(Event {
        name,
        account,
        user,
        root: false,
        path,
        time: event_time(&envelope),
    })
}

/// When the call was made: the envelope's time, else the record's; Unix seconds.
fn event_time(envelope: &Value) -> Option<f64> {
    envelope["time"]
        .as_str()
        .or_else(|| envelope["detail"]["eventTime"].as_str())
        .and_then(|time| humantime::parse_rfc3339_weak(time).ok())
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_secs_f64())
}

/// The consumer's loop: poll, apply, delete, until shutdown.
pub(super) async fn consume(
    this: Arc<Refresher>,
    queue: Sqs,
    wait: Duration,
    metrics: EventMetrics,
    refreshed: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    // An event is judged by its account: wait until every watched account's ID is known (the
    // first refresh asks STS), or events of a watched account would look like another's. An
    // account whose ID stays unknown (its credentials fail) holds the others back only so long.
    let known_by = Instant::now() + ACCOUNTS_WAIT;
    while !this.accounts_known() && Instant::now() < known_by {
        tokio::select! {
            _ = shutdown.wait() => return,
            () = tokio::time::sleep(ACCOUNTS_POLL) => {}
        }
    }
    let mut backlog_at = Instant::now();
    loop {
        if Instant::now() >= backlog_at {
            match queue.backlog().await {
                Ok(Some(messages)) => metrics.backlog(messages),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %error_chain(&err), "cannot read the events queue's backlog")
                }
            }
            backlog_at = Instant::now() + BACKLOG_EVERY;
        }
        let received = tokio::select! {
            _ = shutdown.wait() => return,
            received = queue.receive(wait) => received,
        };
        let messages = match received {
            Ok(messages) => {
                metrics.polled(true);
                messages
            }
            Err(err) => {
                metrics.polled(false);
                tracing::error!(error = %error_chain(&err), "cannot poll the events queue");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    () = tokio::time::sleep(POLL_RETRY) => {}
                }
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let messages = drain(&queue, &metrics, messages).await;
        let generation = *this.published.borrow();
        let applied = handle_burst(&this, &queue, &metrics, messages).await;
        if applied.is_empty() {
            continue;
        }
        refreshed.notify_one();
        // The lag ends when a body with the change is served.
        let mut published = this.published.subscribe();
        tokio::select! {
            _ = shutdown.wait() => return,
            // A render that fails keeps the old body; polling goes on regardless.
            _ = tokio::time::timeout(PUBLISH_WAIT, published.wait_for(|g| *g > generation)) => {}
        }
        let now = crate::clock::seconds_f64(SystemTime::now());
        for time in applied.into_iter().flatten() {
            metrics.lag(now - time);
        }
    }
}

/// Takes what else is waiting right now (polls that do not wait), up to [`BURST`] messages:
/// a burst of events for a few users costs one re-read per user, not one per event.
async fn drain(queue: &Sqs, metrics: &EventMetrics, mut messages: Vec<Message>) -> Vec<Message> {
    let until = Instant::now() + DRAIN_FOR;
    while messages.len() < BURST && Instant::now() < until {
        match queue.receive(Duration::ZERO).await {
            Ok(more) if !more.is_empty() => {
                metrics.polled(true);
                messages.extend(more);
            }
            Ok(_) => break,
            Err(err) => {
                metrics.polled(false);
                tracing::warn!(error = %error_chain(&err), "cannot poll the events queue");
                break;
            }
        }
    }
    messages
}

/// Handles a burst of messages: the irrelevant, malformed and unwatched ones at once, then the
/// events by user (the account and the name in any case, or root's keys), each user read again
/// once for all its events. The event times of the events that changed a snapshot.
async fn handle_burst(
    this: &Refresher,
    queue: &Sqs,
    metrics: &EventMetrics,
    messages: Vec<Message>,
) -> Vec<Option<f64>> {
    let mut by_user: BTreeMap<(String, bool, String), Vec<(Event, Message)>> = BTreeMap::new();
    for message in messages {
        let event = match parse(&message.body) {
            Ok(event) => event,
            Err(skip) => {
                let (name, outcome) = match &skip {
                    Skip::Malformed(why) => {
                        tracing::warn!(
                            reason = %crate::error::bounded(why, 256),
                            "malformed message in the events queue; deleted"
                        );
                        ("unknown".to_owned(), "malformed")
                    }
                    Skip::Irrelevant(name) => (name.clone(), "ignored"),
                };
                metrics.event(&label(&name), outcome);
                delete(queue, &message).await;
                continue;
            }
        };
        if this.target_of(&event.account).is_none() {
            metrics.event(&label(&event.name), "unwatched");
            delete(queue, &message).await;
            continue;
        }
        let key = (
            event.account.clone(),
            event.root,
            event.user.to_ascii_lowercase(),
        );
        by_user.entry(key).or_default().push((event, message));
    }
    metrics.burst(by_user.len());
    let mut applied = Vec::new();
    for ((account, _, _), events) in by_user {
        let Some(target) = this.target_of(&account) else {
            continue;
        };
        // One read for all: it says what IAM says now, whatever each event said. A path, when
        // one of them carries it (CreateUser).
        let mut event = events[0].0.clone();
        if event.path.is_none() {
            event.path = events.iter().find_map(|(e, _)| e.path.clone());
        }
        match apply(this, &target, &event).await {
            Ok(()) => {
                for (event, message) in &events {
                    metrics.event(&label(&event.name), "applied");
                    delete(queue, message).await;
                    applied.push(event.time);
                }
            }
            Err(err) => {
                for (event, _) in &events {
                    metrics.event(&label(&event.name), "failed");
                }
                tracing::warn!(
                    account_id = %event.account,
                    user = %event.user,
                    events = events.len(),
                    error = %err,
                    "cannot read the user of IAM change events again; the messages stay in the queue"
                );
            }
        }
    }
    applied
}

/// Reads the event's user again and puts it into the account's snapshot. Before the account's
/// first refresh has finished there is no snapshot yet: the read is kept for that refresh,
/// which may have listed the user before the change.
async fn apply(this: &Refresher, target: &Target, event: &Event) -> Result<(), String> {
    if event.root {
        return apply_root(this, target, event).await;
    }
    let read_at = SystemTime::now();
    let latest = this.metrics.latest(&event.account);
    // IAM user names are case-insensitive, and CloudTrail records the name as the caller typed
    // it: the user is the one IAM lists under any spelling of it, and keeps IAM's spelling.
    let previous = latest.as_ref().and_then(|latest| {
        latest
            .users
            .iter()
            .find(|user| user.name.eq_ignore_ascii_case(&event.user))
    });
    let name = previous.map_or(event.user.as_str(), |user| user.name.as_str());
    let user = read_user(
        target.source.as_ref(),
        &event.account,
        name,
        previous,
        event.path.as_deref(),
    )
    .await
    .map_err(|err| error_chain(&err))?;
    let name = name.to_owned();
    let _publishing = target.publishing.lock().await;
    if target.forgotten.load(Ordering::SeqCst) {
        return Ok(());
    }
    // The latest again: a refresh may have published since the read began, with newer data.
    let latest = this.metrics.latest(&event.account);
    if latest
        .as_ref()
        .is_some_and(|latest| latest.data_timestamp >= read_at)
    {
        return Ok(());
    }
    {
        let mut reads = target.event_reads.lock().unwrap_or_else(|e| e.into_inner());
        reads.retain(|read, _| !read.eq_ignore_ascii_case(&name));
        reads.insert(name.clone(), (read_at, user.clone()));
    }
    if let Some(latest) = latest {
        let mut snapshot = (*latest).clone();
        put_user(&mut snapshot, &name, user);
        this.metrics.replace_snapshot(Arc::new(snapshot));
    }
    Ok(())
}

/// Root acting on its own keys: asks again whether root has an access key (one
/// `GetAccountSummary`) and republishes the account with the answer. The next refresh says what
/// its own source says (in credential-report mode, the report's root row, which can be older).
async fn apply_root(this: &Refresher, target: &Target, event: &Event) -> Result<(), String> {
    let present = target
        .source
        .account()
        .iam()
        .root_access_keys_present()
        .await
        .map_err(|err| error_chain(&err))?;
    let _publishing = target.publishing.lock().await;
    if target.forgotten.load(Ordering::SeqCst) {
        return Ok(());
    }
    if let Some(latest) = this.metrics.latest(&event.account) {
        let mut snapshot = (*latest).clone();
        snapshot.root_access_keys_present = Some(present);
        this.metrics.replace_snapshot(Arc::new(snapshot));
    }
    Ok(())
}

/// Puts `user` (or its absence) into the snapshot, in name order. The user already there under
/// any spelling of the name is the one replaced, and keeps its spelling (IAM's).
pub(super) fn put_user(snapshot: &mut AccountSnapshot, name: &str, user: Option<User>) {
    let at = snapshot
        .users
        .iter()
        .position(|existing| existing.name.eq_ignore_ascii_case(name));
    match (at, user) {
        (Some(index), Some(mut user)) => {
            user.name = snapshot.users[index].name.clone();
            snapshot.users[index] = user;
        }
        (Some(index), None) => {
            snapshot.users.remove(index);
        }
        (None, Some(user)) => {
            let index = snapshot
                .users
                .partition_point(|existing| existing.name < user.name);
            snapshot.users.insert(index, user);
        }
        (None, None) => {}
    }
}

/// Puts the users events read after the snapshot's data time into it (a refresh that began
/// before the read, or a credential report made before it); forgets the reads the snapshot's
/// data has caught up with.
pub(super) fn overlay(
    snapshot: &mut AccountSnapshot,
    reads: &mut BTreeMap<String, (SystemTime, Option<User>)>,
) {
    let data = snapshot.data_timestamp;
    reads.retain(|_, (read_at, _)| *read_at > data);
    for (name, (_, user)) in reads.iter() {
        put_user(snapshot, name, user.clone());
    }
}

/// Event names become label values: IAM's, or `other` for anything unexpected.
fn label(name: &str) -> String {
    let known = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric());
    if known {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

async fn delete(queue: &Sqs, message: &Message) {
    if let Err(err) = queue.delete(&message.receipt).await {
        tracing::warn!(error = %error_chain(&err), "cannot delete a handled message; it will be handled again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(name: &str, detail_extra: &str) -> String {
        format!(
            r#"{{"version":"0","id":"e","detail-type":"AWS API Call via CloudTrail","source":"aws.iam",
            "account":"111111111111","time":"2026-11-23T06:00:00Z","region":"us-east-1","resources":[],
            "detail":{{"eventSource":"iam.amazonaws.com","eventName":"{name}","eventTime":"2026-11-23T06:00:00Z",
            "userIdentity":{{"type":"IAMUser","userName":"caller"}}{detail_extra}}}}}"#
        )
    }

    #[test]
    fn the_user_comes_from_the_request_or_the_response_or_the_caller() {
        let event = parse(&envelope(
            "CreateAccessKey",
            r#","requestParameters":{"userName":"bob"}"#,
        ))
        .unwrap();
        assert_eq!(event.account, "111111111111");
        assert_eq!(event.user, "bob");
        assert_eq!(event.time, Some(1_795_413_600.0));
        let event = parse(&envelope(
            "CreateAccessKey",
            r#","requestParameters":null,"responseElements":{"accessKey":{"userName":"carol"}}"#,
        ))
        .unwrap();
        assert_eq!(event.user, "carol");
        let event = parse(&envelope(
            "UpdateAccessKey",
            r#","requestParameters":{"accessKeyId":"AKIA1"}"#,
        ))
        .unwrap();
        assert_eq!(event.user, "caller", "an IAM user acting on its own keys");
        let event = parse(&envelope(
            "CreateUser",
            r#","requestParameters":{"userName":"dave","path":"/ci/"}"#,
        ))
        .unwrap();
        assert_eq!(event.path.as_deref(), Some("/ci/"));
    }

    #[test]
    fn other_events_and_failed_calls_are_irrelevant() {
        assert_eq!(
            parse(&envelope(
                "UploadSSHPublicKey",
                r#","requestParameters":{"userName":"bob"}"#
            )),
            Err(Skip::Irrelevant("UploadSSHPublicKey".to_owned()))
        );
        assert_eq!(
            parse(&envelope(
                "CreateAccessKey",
                r#","errorCode":"LimitExceeded","requestParameters":{"userName":"bob"}"#
            )),
            Err(Skip::Irrelevant("CreateAccessKey".to_owned()))
        );
    }

    #[test]
    fn root_acting_on_its_own_keys_names_no_user_but_roots_keys() {
        let root = |name: &str| {
            envelope(name, "").replace(
                r#""type":"IAMUser","userName":"caller""#,
                r#""type":"Root""#,
            )
        };
        let event = parse(&root("CreateAccessKey")).unwrap();
        assert!(event.root && event.user.is_empty(), "{event:?}");
        assert!(parse(&root("DeleteAccessKey")).unwrap().root);
        assert_eq!(
            parse(&root("TagUser")),
            Err(Skip::Irrelevant("TagUser".to_owned()))
        );
    }

    /// The records in tests/fixtures/cloudtrail, written after AWS's published examples (each
    /// cited in its README), read as cases.tsv says they must be.
    #[test]
    fn real_shaped_cloudtrail_records_are_read_as_documented() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloudtrail");
        let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
        let mut seen = 0;
        for row in cases.lines().skip(1) {
            let fields: Vec<&str> = row.split('\t').collect();
            let (file, outcome, event, user) = (fields[0], fields[1], fields[2], fields[3]);
            let body = std::fs::read_to_string(dir.join(file)).unwrap();
            let parsed = parse(&body);
            match (outcome, &parsed) {
                ("applied", Ok(read)) => {
                    assert_eq!(
                        (read.name.as_str(), read.user.as_str()),
                        (event, user),
                        "{file}"
                    );
                    assert!(!read.root, "{file}");
                    assert_eq!(read.account, "111122223333", "{file}");
                    assert!(read.time.is_some(), "{file}");
                }
                ("root", Ok(read)) => assert!(read.root && read.name == event, "{file}"),
                ("ignored", Err(Skip::Irrelevant(name))) => assert_eq!(name, event, "{file}"),
                ("malformed", Err(Skip::Malformed(_))) => assert_eq!(event, "unknown"),
                _ => panic!("{file}: expected {outcome}, got {parsed:?}"),
            }
            seen += 1;
        }
        assert!(seen >= 12, "{seen} fixtures");
    }

    #[test]
    fn a_name_in_another_case_lands_on_iams_spelling() {
        let user = |name: &str, keys: usize| User {
            name: name.to_owned(),
            access_keys: (0..keys)
                .map(|i| crate::snapshot::AccessKey {
                    id: format!("AKIA{i}"),
                    status: crate::snapshot::KeyStatus::Active,
                    created: 0,
                    last_used: None,
                })
                .collect(),
            ..User::default()
        };
        let mut snapshot = AccountSnapshot {
            account_id: "111111111111".to_owned(),
            data_timestamp: UNIX_EPOCH,
            users: vec![user("alice", 1), user("bob", 1)],
            root_access_keys_present: None,
            last_used_from: Default::default(),
            report_fallback: None,
        };
        put_user(&mut snapshot, "ALICE", Some(user("ALICE", 2)));
        put_user(&mut snapshot, "Bob", None);
        put_user(&mut snapshot, "Carol", Some(user("Carol", 1)));
        let names: Vec<(&str, usize)> = snapshot
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.active_access_keys()))
            .collect();
        assert_eq!(names, [("Carol", 1), ("alice", 2)]);
    }

    /// A record's values are the caller's to choose: a user name or a path IAM could not have
    /// never becomes a label.
    #[test]
    fn names_and_paths_iam_could_not_have_are_malformed() {
        let long_path = format!(
            r#","requestParameters":{{"userName":"eve","path":"/{}/"}}"#,
            "x".repeat(2009)
        );
        let odd_name = r#","requestParameters":{"userName":"ev\u202ee"}"#;
        let newline = r#","requestParameters":{"userName":"eve\nlevel=error"}"#;
        for detail in [long_path.as_str(), odd_name, newline] {
            assert!(
                matches!(
                    parse(&envelope("CreateUser", detail)),
                    Err(Skip::Malformed(_))
                ),
                "{detail}"
            );
        }
    }

    #[test]
    fn malformed_messages_say_what_is_missing() {
        for (body, why) in [
            ("{not json", "not JSON"),
            ("{}", "no `detail` object"),
            (r#"{"detail":{}}"#, "no `detail.eventName`"),
            (
                r#"{"source":"aws.iam","account":"12","detail":{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","requestParameters":{"userName":"x"}}}"#,
                "no 12-digit `account`",
            ),
            (
                r#"{"source":"aws.iam","account":"111111111111","detail":{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser"}}"#,
                "DeleteUser names no user",
            ),
        ] {
            match parse(body) {
                Err(Skip::Malformed(message)) => assert!(message.contains(why), "{message}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_event_read_after_the_snapshots_data_survives_it() {
        let user = |name: &str, keys: usize| User {
            name: name.to_owned(),
            access_keys: (0..keys)
                .map(|i| crate::snapshot::AccessKey {
                    id: format!("AKIA{name}{i}"),
                    status: crate::snapshot::KeyStatus::Active,
                    created: 0,
                    last_used: None,
                })
                .collect(),
            ..User::default()
        };
        // The snapshot's data is from `started` (a refresh's start, or a report's generation).
        let before = UNIX_EPOCH + Duration::from_secs(1_000);
        let started = before + Duration::from_secs(1);
        let after = started + Duration::from_secs(1);
        let mut snapshot = AccountSnapshot {
            account_id: "111111111111".to_owned(),
            data_timestamp: started,
            users: vec![user("a", 1), user("c", 1)],
            root_access_keys_present: None,
            last_used_from: Default::default(),
            report_fallback: None,
        };
        let mut reads = BTreeMap::from([
            ("a".to_owned(), (after, Some(user("a", 2)))),
            ("b".to_owned(), (after, Some(user("b", 1)))),
            ("c".to_owned(), (after, None)),
            ("old".to_owned(), (before, Some(user("old", 2)))),
        ]);
        overlay(&mut snapshot, &mut reads);
        let names: Vec<(&str, usize)> = snapshot
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.active_access_keys()))
            .collect();
        assert_eq!(names, [("a", 2), ("b", 1)], "c deleted, old not applied");
        assert!(!reads.contains_key("old"), "the refresh caught up with it");
    }
}
