//! Who created the offenders' keys (`collector.key_creators`): each account's own task, beside
//! its refreshes and never in their way, looks up the creator of every active key of a user
//! with more than one (CloudTrail's `LookupEvents`, once per key while the process lives), and
//! republishes the account with what it found. A key whose `CreateAccessKey` came with an IAM
//! change event already has its creator from the event's record and is never looked up.
//!
//! CloudTrail allows `LookupEvents` two requests a second per account: lookups are spaced by
//! [`LOOKUP_SPACING`], and a pass takes at most [`PER_PASS`] of them (the rest wait for the next
//! pass, right after), so that a burst of offenders cannot hold the budget.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Refresher, Target};
use crate::shutdown::Shutdown;
use crate::snapshot::{AccessKey, AccountSnapshot, KeyStatus};
use crate::source::{look_up_creator, Lookup, UnknownCreator, LOOKUP_SPACING};

/// The most lookups of one pass.
const PER_PASS: usize = 20;

/// What the refresher knows of the creators: whether to look them up, and who rotates keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreatorSettings {
    /// `collector.key_creators`.
    pub(crate) enabled: bool,
    /// `collector.rotation_principals`.
    pub(crate) rotation: Vec<String>,
}

/// The account's task: a pass each time a snapshot with offenders is published.
pub(super) async fn run(
    this: Arc<Refresher>,
    target: Arc<Target>,
    refreshed: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    if !this.creators.enabled {
        return;
    }
    let mut next = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            () = target.creators_wanted.notified() => {}
        }
        let Some(account) = target.source.account_id() else {
            continue;
        };
        let Some(latest) = this.metrics.latest(&account) else {
            continue;
        };
        let wanted = {
            let known = target.creators.lock().unwrap_or_else(|e| e.into_inner());
            // One more than a pass takes, to know whether another pass must follow.
            wanted(&latest, &known, PER_PASS + 1)
        };
        let mut found = false;
        for (user, key) in wanted.iter().take(PER_PASS) {
            if target.creators_denied.load(Ordering::SeqCst) {
                break;
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                () = tokio::time::sleep_until(next) => {}
            }
            let now = crate::clock::now();
            let lookup = look_up_creator(
                target.source.account().iam(),
                user,
                key,
                &this.creators.rotation,
                now,
            )
            .await;
            if !matches!(lookup, Lookup::Unknown(UnknownCreator::TooOld)) {
                next = Instant::now() + LOOKUP_SPACING;
            }
            this.metrics.creator_lookup(lookup.outcome());
            if lookup == Lookup::Unknown(UnknownCreator::Denied) {
                target.creators_denied.store(true, Ordering::SeqCst);
                tracing::warn!(
                    account_id = %account,
                    "cloudtrail:LookupEvents is not allowed; who created the account's keys is not looked up (deploy/iam/)"
                );
            }
            found |= matches!(lookup, Lookup::Found(_));
            target
                .creators
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.id.clone(), lookup);
        }
        if found {
            republish(&this, &target, &account).await;
            refreshed.notify_one();
        }
        if wanted.len() > PER_PASS && !target.creators_denied.load(Ordering::SeqCst) {
            target.creators_wanted.notify_one();
        }
    }
}

/// The first `most` active keys of the snapshot's offenders whose creators are not known yet,
/// with their users: what a pass looks up (never a copy of every offender's keys: an account
/// of 100,000 users can have tens of thousands).
fn wanted(
    snapshot: &AccountSnapshot,
    known: &BTreeMap<String, Lookup>,
    most: usize,
) -> Vec<(String, AccessKey)> {
    snapshot
        .users
        .iter()
        .filter(|user| user.is_offender())
        .flat_map(|user| {
            user.access_keys
                .iter()
                .filter(|key| key.status == KeyStatus::Active && !known.contains_key(&key.id))
                .map(|key| (user.name.clone(), key.clone()))
        })
        .take(most)
        .collect()
}

/// Forgets what is known of keys that are gone from the account (deleted keys never come
/// back), so that what is remembered stays bounded by the keys there are.
pub(super) fn forget_gone(known: &mut BTreeMap<String, Lookup>, snapshot: &AccountSnapshot) {
    let keys: std::collections::HashSet<&str> = snapshot
        .users
        .iter()
        .flat_map(|user| user.access_keys.iter().map(|key| key.id.as_str()))
        .collect();
    known.retain(|id, _| keys.contains(id.as_str()));
}

/// Puts the creators known into the offenders of `snapshot`; the others have none.
pub(super) fn attach(snapshot: &mut AccountSnapshot, known: &BTreeMap<String, Lookup>) {
    for user in &mut snapshot.users {
        user.creators.clear();
        if !user.is_offender() {
            continue;
        }
        for key in user
            .access_keys
            .iter()
            .filter(|key| key.status == KeyStatus::Active)
        {
            if let Some(Lookup::Found(creator)) = known.get(&key.id) {
                user.creators.insert(key.id.clone(), creator.clone());
            }
        }
    }
}

/// Publishes the account's latest snapshot again with the creators known now.
async fn republish(this: &Refresher, target: &Target, account: &str) {
    let _publishing = target.publishing.lock().await;
    if target.forgotten.load(Ordering::SeqCst) {
        return;
    }
    let Some(latest) = this.metrics.latest(account) else {
        return;
    };
    let mut snapshot = (*latest).clone();
    attach(
        &mut snapshot,
        &target.creators.lock().unwrap_or_else(|e| e.into_inner()),
    );
    this.metrics.replace_snapshot(Arc::new(snapshot));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Creator, CreatorRelation, User};

    fn key(id: &str, status: KeyStatus) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status,
            created: 0,
            last_used: None,
        }
    }

    fn snapshot() -> AccountSnapshot {
        let user = |name: &str, keys: Vec<AccessKey>| User {
            name: name.to_owned(),
            path: "/".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        AccountSnapshot {
            account_id: "111111111111".to_owned(),
            data_timestamp: std::time::UNIX_EPOCH,
            users: vec![
                user(
                    "alice",
                    vec![
                        key("AKIAALICE1", KeyStatus::Active),
                        key("AKIAALICE2", KeyStatus::Active),
                    ],
                ),
                user("bob", vec![key("AKIABOB1", KeyStatus::Active)]),
                user(
                    "carol",
                    vec![
                        key("AKIACAROL1", KeyStatus::Active),
                        key("AKIACAROL2", KeyStatus::Inactive),
                    ],
                ),
            ],
            root_access_keys_present: None,
            last_used_from: Default::default(),
            report_fallback: None,
        }
    }

    fn creator() -> Creator {
        Creator {
            arn: "arn:aws:sts::111111111111:assumed-role/Admin/mallory".to_owned(),
            identity_type: "AssumedRole".to_owned(),
            relation: CreatorRelation::Other,
            source_ip: "203.0.113.7".to_owned(),
            user_agent: "aws-cli".to_owned(),
            time: 0,
        }
    }

    /// Only offenders' active keys are looked up, and none twice.
    #[test]
    fn only_the_offenders_active_keys_not_yet_known_are_wanted() {
        let mut known = BTreeMap::new();
        let ids = |wanted: Vec<(String, AccessKey)>| -> Vec<String> {
            wanted.into_iter().map(|(_, key)| key.id).collect()
        };
        assert_eq!(
            ids(wanted(&snapshot(), &known, 10)),
            ["AKIAALICE1", "AKIAALICE2"]
        );
        assert_eq!(ids(wanted(&snapshot(), &known, 1)), ["AKIAALICE1"]);
        known.insert("AKIAALICE1".to_owned(), Lookup::Found(creator()));
        known.insert(
            "AKIAALICE2".to_owned(),
            Lookup::Unknown(UnknownCreator::NotFound),
        );
        assert!(wanted(&snapshot(), &known, 10).is_empty());
    }

    #[test]
    fn what_is_known_of_deleted_keys_is_forgotten() {
        let mut known: BTreeMap<String, Lookup> = [
            ("AKIAALICE1".to_owned(), Lookup::Found(creator())),
            ("AKIAGONE01".to_owned(), Lookup::Found(creator())),
            (
                "AKIABOB1".to_owned(),
                Lookup::Unknown(UnknownCreator::NotFound),
            ),
        ]
        .into_iter()
        .collect();
        forget_gone(&mut known, &snapshot());
        let ids: Vec<&str> = known.keys().map(String::as_str).collect();
        assert_eq!(ids, ["AKIAALICE1", "AKIABOB1"]);
    }

    #[test]
    fn creators_are_attached_to_offenders_only() {
        let known: BTreeMap<String, Lookup> = [
            ("AKIAALICE1".to_owned(), Lookup::Found(creator())),
            ("AKIABOB1".to_owned(), Lookup::Found(creator())),
        ]
        .into_iter()
        .collect();
        let mut snapshot = snapshot();
        attach(&mut snapshot, &known);
        let with: Vec<(&str, usize)> = snapshot
            .users
            .iter()
            .map(|user| (user.name.as_str(), user.creators.len()))
            .collect();
        assert_eq!(with, [("alice", 1), ("bob", 0), ("carol", 0)]);
    }
}
