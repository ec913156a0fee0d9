//! Resolves the exemptions of a snapshot's offenders: the `[[exemptions]]` entries that name
//! them, and their own `iam-key-exporter:exempt-*` tags. Tags cost one `ListUserTags` per
//! offender, never one per user: only a user with more than one active key needs an exemption.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt, TryStreamExt};

use crate::aws::{AwsError, ErrorKind, Iam};
use crate::clock::now;
use crate::config::exemptions::{
    parse_expiry, within, ExemptionConfig, MAX_TEXT, TAG_EXPIRES, TAG_OWNER, TAG_REASON,
};
use crate::config::CollectorConfig;
use crate::snapshot::{AccountSnapshot, Exemption, ExemptionSource, Grant, InvalidExemption, User};

/// The prefix every exemption tag shares; tags without it are not even copied.
const TAG_PREFIX: &str = "iam-key-exporter:exempt-";

/// A user's exemption tags, `(key, value)`.
type Tags = Vec<(String, String)>;

/// What a source needs to resolve exemptions.
#[derive(Clone)]
pub(crate) struct Exemptions {
    /// The config file's entries.
    config: Arc<[ExemptionConfig]>,
    /// Whether to read tags.
    tags: bool,
    /// The furthest ahead an expiry may be.
    max: Duration,
    /// Tag reads in flight at once.
    concurrency: usize,
}

impl Exemptions {
    /// From the configuration.
    pub(crate) fn new(config: &[ExemptionConfig], collector: &CollectorConfig) -> Self {
        Exemptions {
            config: config.into(),
            tags: collector.exemption_tags,
            max: collector.max_exemption,
            concurrency: collector.concurrency,
        }
    }

    /// Fills in `exemptions` for every offender of `snapshot`. Credentials that may not read
    /// tags cost the tag exemptions only, with a warning; any other failure fails the refresh,
    /// as a half-read set of exemptions would silence or raise alerts at random.
    pub(crate) async fn resolve(
        &self,
        iam: &Iam,
        snapshot: &mut AccountSnapshot,
    ) -> Result<(), AwsError> {
        let now = now();
        let account_id = snapshot.account_id.clone();
        let offenders: Vec<usize> = (0..snapshot.users.len())
            .filter(|&i| snapshot.users[i].is_offender())
            .collect();
        for &i in &offenders {
            let user = &mut snapshot.users[i];
            user.exemptions = self
                .configured(&account_id, &user.name)
                .into_iter()
                .collect();
        }
        if !self.tags || offenders.is_empty() {
            return Ok(());
        }
        let names: Vec<(usize, String)> = offenders
            .iter()
            .map(|&i| (i, snapshot.users[i].name.clone()))
            .collect();
        let read: Result<Vec<(usize, Tags)>, AwsError> = stream::iter(names)
            .map(|(i, name)| async move {
                match iam.list_user_tags(&name, TAG_PREFIX).await {
                    Ok(tags) => Ok((i, tags)),
                    // Deleted since it was listed: it will be gone on the next refresh.
                    Err(err) if err.is_not_found() => Ok((i, Vec::new())),
                    Err(err) => Err(err),
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await;
        match read {
            Ok(tagged) => {
                for (i, tags) in tagged {
                    if let Some(exemption) = from_tags(&tags, now, self.max) {
                        snapshot.users[i].exemptions.push(exemption);
                    }
                }
                Ok(())
            }
            Err(err) if err.kind == ErrorKind::AccessDenied => {
                tracing::warn!(
                    account_id = %account_id,
                    error = %crate::error::error_chain(&err),
                    "cannot read exemption tags; grant iam:ListUserTags, or set \
                     collector.exemption_tags = false to use only [[exemptions]]"
                );
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Fills in one user's exemptions (an event's re-read), with the same rules as
    /// [`Exemptions::resolve`]: only for an offender, tags denied cost the tags only.
    pub(crate) async fn resolve_user(
        &self,
        iam: &Iam,
        account_id: &str,
        user: &mut User,
    ) -> Result<(), AwsError> {
        user.exemptions.clear();
        if !user.is_offender() {
            return Ok(());
        }
        user.exemptions
            .extend(self.configured(account_id, &user.name));
        if !self.tags {
            return Ok(());
        }
        match tag_exemption(iam, &user.name, self.max).await {
            Ok(tagged) => user.exemptions.extend(tagged),
            Err(err) if err.is_not_found() => {}
            Err(err) if err.kind == ErrorKind::AccessDenied => tracing::warn!(
                account_id,
                error = %crate::error::error_chain(&err),
                "cannot read exemption tags; grant iam:ListUserTags"
            ),
            Err(err) => return Err(err),
        }
        Ok(())
    }

    /// The config entry naming the user that lasts longest, if any.
    fn configured(&self, account_id: &str, user: &str) -> Option<Exemption> {
        self.config
            .iter()
            .filter(|entry| entry.matches(account_id, user))
            .max_by_key(|entry| entry.expires)
            .map(|entry| Exemption {
                source: ExemptionSource::Config,
                grant: Ok(Grant {
                    expires: entry.expires,
                    reason: entry.reason.clone(),
                    owner: entry.owner.clone(),
                }),
            })
    }
}

/// Reads one user's exemption tags now and says what they declare; `Ok(None)` without any.
/// Unlike a refresh, a caller about to act on the user cannot do without them, so every error
/// is returned (`remediate`).
pub(crate) async fn tag_exemption(
    iam: &Iam,
    user: &str,
    max: Duration,
) -> Result<Option<Exemption>, AwsError> {
    let tags = iam.list_user_tags(user, TAG_PREFIX).await?;
    Ok(from_tags(&tags, now(), max))
}

/// The exemption a user's tags declare: none without any exemption tag; invalid, and so not
/// honoured, when the expiry is missing, malformed or too far ahead, or the reason or owner is
/// missing.
pub(crate) fn from_tags(tags: &[(String, String)], now: i64, max: Duration) -> Option<Exemption> {
    let tag = |key: &str| {
        tags.iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.trim())
    };
    if [TAG_EXPIRES, TAG_REASON, TAG_OWNER]
        .iter()
        .all(|key| tag(key).is_none())
    {
        return None;
    }
    let text = |value: &str| -> String {
        value
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TEXT)
            .collect()
    };
    let grant = (|| {
        let expires = tag(TAG_EXPIRES)
            .and_then(parse_expiry)
            .ok_or(InvalidExemption::BadExpiry)?;
        if !within(expires, now, max) {
            return Err(InvalidExemption::TooFarAhead);
        }
        let reason = tag(TAG_REASON)
            .filter(|v| !v.is_empty())
            .ok_or(InvalidExemption::NoReason)?;
        let owner = tag(TAG_OWNER)
            .filter(|v| !v.is_empty())
            .ok_or(InvalidExemption::NoOwner)?;
        Ok(Grant {
            expires,
            reason: text(reason),
            owner: text(owner),
        })
    })();
    Some(Exemption {
        source: ExemptionSource::Tag,
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_798_675_200; // 2026-12-31
    const DAY: u64 = 86_400;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn problem(pairs: &[(&str, &str)]) -> Option<InvalidExemption> {
        from_tags(&tags(pairs), NOW, Duration::from_secs(90 * DAY))
            .unwrap()
            .grant
            .err()
    }

    #[test]
    fn well_formed_tags_make_a_grant() {
        let exemption = from_tags(
            &tags(&[
                (TAG_EXPIRES, "2027-01-30"),
                (TAG_REASON, "vendor cut-over"),
                (TAG_OWNER, "payments"),
                ("team", "ignored"),
            ]),
            NOW,
            Duration::from_secs(90 * DAY),
        )
        .unwrap();
        assert_eq!(exemption.source, ExemptionSource::Tag);
        let grant = exemption.grant.unwrap();
        assert_eq!(grant.expires, NOW + 30 * DAY as i64);
        assert_eq!(grant.reason, "vendor cut-over");
        assert_eq!(grant.owner, "payments");
    }

    #[test]
    fn malformed_tags_are_invalid_not_ignored() {
        assert!(from_tags(&tags(&[("team", "x")]), NOW, Duration::ZERO).is_none());
        let reason = (TAG_REASON, "r");
        let owner = (TAG_OWNER, "o");
        assert_eq!(
            problem(&[reason, owner]),
            Some(InvalidExemption::BadExpiry),
            "an exemption without an expiry is no exemption"
        );
        assert_eq!(
            problem(&[(TAG_EXPIRES, "soon"), reason, owner]),
            Some(InvalidExemption::BadExpiry)
        );
        assert_eq!(
            problem(&[(TAG_EXPIRES, "2099-01-01"), reason, owner]),
            Some(InvalidExemption::TooFarAhead)
        );
        assert_eq!(
            problem(&[(TAG_EXPIRES, "2027-01-01"), owner]),
            Some(InvalidExemption::NoReason)
        );
        assert_eq!(
            problem(&[(TAG_EXPIRES, "2027-01-01"), reason, (TAG_OWNER, " ")]),
            Some(InvalidExemption::NoOwner)
        );
        // An expired one is well-formed: it is shown as expired, not as invalid.
        assert_eq!(problem(&[(TAG_EXPIRES, "2020-01-01"), reason, owner]), None);
    }
}
