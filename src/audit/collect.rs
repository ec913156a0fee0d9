//! The audit: one collection per account, and the questions asked of what it found.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CheckError, Findings};
use crate::clock::seconds;
use crate::snapshot::{AccountSnapshot, Exemption, User};
use crate::source::{collect_within, Source};

/// Collects every account once; any failure fails the check (a partial audit is no audit).
pub(crate) async fn run(
    sources: &[Arc<dyn Source>],
    timeout: Duration,
) -> Result<Findings, CheckError> {
    let checked_at = SystemTime::now();
    let mut snapshots = Vec::with_capacity(sources.len());
    for source in sources {
        let result = collect_within(source.as_ref(), timeout).await;
        match result {
            Ok(snapshot) => snapshots.push(snapshot),
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
