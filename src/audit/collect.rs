//! The audit: one collection per account, and the questions asked of what it found.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CheckError, Findings};
use crate::clock::seconds;
use crate::snapshot::{AccessKey, AccountSnapshot, Exemption, KeyStatus, User};
use crate::source::{
    collect_within, look_up_creator, Lookup, Source, UnknownCreator, LOOKUP_SPACING,
};

/// Collects every account once; any failure fails the check (a partial audit is no audit).
/// With `rotation` (`Some`: `collector.key_creators` on), the creators of the offenders' keys
/// are looked up too.
pub(crate) async fn run(
    sources: &[Arc<dyn Source>],
    timeout: Duration,
    rotation: Option<&[String]>,
) -> Result<Findings, CheckError> {
    let checked_at = SystemTime::now();
    let mut snapshots = Vec::with_capacity(sources.len());
    for source in sources {
        let result = collect_within(source.as_ref(), timeout).await;
        match result {
            Ok(mut snapshot) => {
                if let Some(rotation) = rotation {
                    look_up_creators(source.as_ref(), &mut snapshot, rotation).await;
                }
                snapshots.push(snapshot)
            }
            Err(source_err) => {
                return Err(CheckError {
                    account: source
                        .account_id()
                        .unwrap_or_else(|| crate::source::UNKNOWN_ACCOUNT.to_owned()),
                    source: source_err,
                })
            }
        }
    }
    Ok(Findings {
        snapshots,
        checked_at,
    })
}

/// Looks up who created each active key of the snapshot's offenders (one `LookupEvents` each,
/// spaced; none for a key older than CloudTrail's history), and keeps those found. A denied
/// lookup ends the account's lookups.
async fn look_up_creators(
    source: &dyn Source,
    snapshot: &mut AccountSnapshot,
    rotation: &[String],
) {
    let now = crate::clock::now();
    let mut next = tokio::time::Instant::now();
    for user in snapshot.users.iter_mut().filter(|user| user.is_offender()) {
        let active: Vec<AccessKey> = user
            .access_keys
            .iter()
            .filter(|key| key.status == KeyStatus::Active)
            .cloned()
            .collect();
        for key in active {
            tokio::time::sleep_until(next).await;
            let lookup =
                look_up_creator(source.account().iam(), &user.name, &key, rotation, now).await;
            if lookup != Lookup::Unknown(UnknownCreator::TooOld) {
                next = tokio::time::Instant::now() + LOOKUP_SPACING;
            }
            match lookup {
                Lookup::Found(creator) => {
                    user.creators.insert(key.id.clone(), creator);
                }
                Lookup::Unknown(UnknownCreator::Denied) => {
                    tracing::warn!(
                        account_id = %snapshot.account_id,
                        "cloudtrail:LookupEvents is not allowed; who created the keys is not shown (deploy/iam/)"
                    );
                    return;
                }
                Lookup::Unknown(_) => {}
            }
        }
    }
}

impl Findings {
    /// When the check ran, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        seconds(self.checked_at)
    }

    /// Every user with more than one active key, with its account, exempt or not.
    pub(crate) fn all_offenders(&self) -> impl Iterator<Item = (&AccountSnapshot, &User)> {
        self.snapshots
            .iter()
            .flat_map(|s| s.offenders().map(move |user| (s, user)))
    }

    /// The offenders no exemption covers at the time of the check.
    pub(crate) fn violations(&self) -> impl Iterator<Item = (&AccountSnapshot, &User)> {
        let now = self.now();
        self.all_offenders()
            .filter(move |(_, user)| user.exempt_at(now).is_none())
    }

    /// The offenders an exemption covers, each with the exemption that does.
    pub(crate) fn exempt(&self) -> impl Iterator<Item = (&AccountSnapshot, &User, &Exemption)> {
        let now = self.now();
        self.all_offenders()
            .filter_map(move |(s, user)| user.exempt_at(now).map(|e| (s, user, e)))
    }

    /// Whether no user in any account has more than one active key, exemptions aside.
    pub fn compliant(&self) -> bool {
        self.violations().next().is_none()
    }
}
