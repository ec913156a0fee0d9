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

mod record;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Refresher, Target};
use crate::aws::{Message, Sqs};
use crate::error::error_chain;
use crate::exposition::EventMetrics;
use crate::shutdown::Shutdown;
use crate::snapshot::{AccountSnapshot, User};
use crate::source::{creator_from_record, read_user, Lookup};
use record::label;
pub(crate) use record::{parse, Event, Skip};

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
        if this.creators.enabled {
            for (event, _) in &events {
                remember_creator(this, &target, event);
            }
        }
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
        super::creators::attach(
            &mut snapshot,
            &target.creators.lock().unwrap_or_else(|e| e.into_inner()),
        );
        this.metrics.replace_snapshot(Arc::new(snapshot));
        target.creators_wanted.notify_one();
    }
    Ok(())
}

/// A `CreateAccessKey` record says who created the key: remembered, so that the key is never
/// looked up.
fn remember_creator(this: &Refresher, target: &Target, event: &Event) {
    let Some(record) = &event.record else {
        return;
    };
    let Some((id, creator)) = creator_from_record(record, &event.user, &this.creators.rotation)
    else {
        return;
    };
    target
        .creators
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, Lookup::Found(creator));
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

async fn delete(queue: &Sqs, message: &Message) {
    if let Err(err) = queue.delete(&message.receipt).await {
        tracing::warn!(error = %error_chain(&err), "cannot delete a handled message; it will be handled again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
