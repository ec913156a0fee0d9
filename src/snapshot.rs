//! The snapshot: what one refresh learned about one AWS account, as plain data.
//!
//! Nothing here knows about the AWS SDK or Prometheus, so the collection side and the
//! rendering side can each be tested alone. A snapshot is built whole by a source and only
//! then published; a half-finished refresh never becomes visible.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// The status of an access key, as IAM reports it. Any other value in an answer makes the answer
/// malformed: a key whose status is not known can neither be counted nor left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum KeyStatus {
    /// Usable for requests; the only status the control counts.
    Active,
    /// Deactivated: kept for a rollback, but rejected by AWS.
    Inactive,
}

impl KeyStatus {
    /// The label value, spelled as IAM spells it so that it matches what the CLI shows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// One access key's metadata. The secret never reaches this process: IAM does not return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessKey {
    /// The access key ID (`AKIA...`): an identifier, not a secret.
    pub(crate) id: String,
    /// Whether the key is active.
    pub(crate) status: KeyStatus,
    /// Creation time, Unix seconds.
    pub(crate) created: i64,
    /// Last use, Unix seconds; `None` when the key was never used or last use was not collected.
    pub(crate) last_used: Option<i64>,
}

/// One IAM user and its access keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct User {
    /// The user name (up to 64 characters of `[\w+=,.@-]`).
    pub(crate) name: String,
    /// The IAM path, `/` unless the user was created under one.
    pub(crate) path: String,
    /// All of the user's access keys, active or not (IAM allows two).
    pub(crate) access_keys: Vec<AccessKey>,
    /// The exemptions that name this user, at most one per source; resolved only for
    /// offenders, the only users an exemption changes anything for.
    pub(crate) exemptions: Vec<Exemption>,
    /// Who created the user's active keys, by key ID, where known; only for offenders.
    pub(crate) creators: BTreeMap<String, Creator>,
}

/// Who created an access key: the caller of its `CreateAccessKey`, from CloudTrail (an IAM
/// change event's record, or `LookupEvents`). Every text is the caller's to choose (the user
/// agent above all): bounded and stripped of control characters where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Creator {
    /// The caller's ARN; an assumed role's session ARN (`arn:aws:sts::ACCOUNT:assumed-role/
    /// ROLE/SESSION`) names the role and the session, an AWS service is named by its host.
    pub(crate) arn: String,
    /// CloudTrail's `userIdentity.type`: `IAMUser`, `AssumedRole`, `Root`, `AWSService`,
    /// `FederatedUser`, ...
    pub(crate) identity_type: String,
    /// Whether the caller was the user, the rotation automation, or someone else.
    pub(crate) relation: CreatorRelation,
    /// Where the call came from: an IP address, or an AWS service's name.
    pub(crate) source_ip: String,
    /// The tool's name from the user agent (`aws-cli`, `Boto3`, `Terraform`, ...).
    pub(crate) user_agent: String,
    /// When the key was created (the record's time), Unix seconds.
    pub(crate) time: i64,
}

/// Who a key's creator was to the key's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreatorRelation {
    /// The user made its own key (a rotation by hand).
    OwnKey,
    /// A principal of `collector.rotation_principals`: the rotation automation.
    Rotation,
    /// Anyone else: an administrator, a role, root, a service.
    Other,
}

impl CreatorRelation {
    /// The `creator_relation` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CreatorRelation::OwnKey => "self",
            CreatorRelation::Rotation => "rotation",
            CreatorRelation::Other => "other",
        }
    }
}

/// Where an exemption was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ExemptionSource {
    /// An `[[exemptions]]` entry of the configuration file.
    Config,
    /// The user's own `iam-key-exporter:exempt-*` tags.
    Tag,
}

impl ExemptionSource {
    /// The `source` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExemptionSource::Config => "config",
            ExemptionSource::Tag => "tag",
        }
    }
}

/// One exemption of a user from the control, as declared; whether it still holds depends on
/// the time it is asked ([`Exemption::holds_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exemption {
    /// Where it was declared.
    pub(crate) source: ExemptionSource,
    /// What was declared: the grant, or why it is not one.
    pub(crate) grant: Result<Grant, InvalidExemption>,
}

/// A well-formed exemption: until when, why, and who answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// When it ends, Unix seconds.
    pub(crate) expires: i64,
    /// Why the user may hold more than one active key.
    pub(crate) reason: String,
    /// Who answers for it (a team, a person, a ticket queue).
    pub(crate) owner: String,
}

/// Why a declared exemption is not honoured; a fixed set, as it becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidExemption {
    /// The expiry is not a date (`YYYY-MM-DD`) or an RFC 3339 time.
    BadExpiry,
    /// The expiry is further ahead than `collector.max_exemption` allows.
    TooFarAhead,
    /// The reason is missing or empty.
    NoReason,
    /// The owner is missing or empty.
    NoOwner,
}

impl InvalidExemption {
    /// The `problem` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InvalidExemption::BadExpiry => "bad_expiry",
            InvalidExemption::TooFarAhead => "too_far_ahead",
            InvalidExemption::NoReason => "no_reason",
            InvalidExemption::NoOwner => "no_owner",
        }
    }
}

impl Exemption {
    /// Whether it exempts the user at `now` (Unix seconds): well-formed and not yet expired.
    pub(crate) fn holds_at(&self, now: i64) -> bool {
        self.grant.as_ref().is_ok_and(|grant| now < grant.expires)
    }
}

impl User {
    /// How many of the user's keys are active; the number the control limits to one.
    pub(crate) fn active_access_keys(&self) -> usize {
        self.access_keys
            .iter()
            .filter(|key| key.status == KeyStatus::Active)
            .count()
    }

    /// When the newest of the user's active keys was created; `None` without an active key.
    pub(crate) fn newest_active_key_created(&self) -> Option<i64> {
        self.access_keys
            .iter()
            .filter(|key| key.status == KeyStatus::Active)
            .map(|key| key.created)
            .max()
    }

    /// Whether the user breaks the control.
    pub(crate) fn is_offender(&self) -> bool {
        self.active_access_keys() > 1
    }

    /// The exemption that holds at `now`, the one that lasts longest when several do.
    pub(crate) fn exempt_at(&self, now: i64) -> Option<&Exemption> {
        self.exemptions
            .iter()
            .filter(|exemption| exemption.holds_at(now))
            .max_by_key(|exemption| exemption.grant.as_ref().map_or(0, |grant| grant.expires))
    }
}

/// Everything one refresh learned about one account.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccountSnapshot {
    /// The 12-digit account ID, the `account_id` label of every series.
    pub(crate) account_id: String,
    /// When the data was produced: the refresh time in API mode, the report's generation time
    /// in credential-report mode (which can be hours older).
    pub(crate) data_timestamp: SystemTime,
    /// Every user of the account, sorted by name.
    pub(crate) users: Vec<User>,
    /// Whether the root user has an access key; `None` when the source could not tell.
    pub(crate) root_access_keys_present: Option<bool>,
    /// Where the keys' last use came from.
    pub(crate) last_used_from: LastUsedFrom,
    /// When the credential report wanted could not be had: why, and what was served instead.
    pub(crate) report_fallback: Option<ReportFallback>,
}

/// A refresh that could not have the credential report it wanted (generation refused with
/// `LimitExceeded` or throttled, not finished within `collector.report_wait`, or a report that
/// could not be read) and served something else rather than nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportFallback {
    /// The failure kind's label (`throttled`, `timeout`, `service`, ...).
    pub(crate) reason: &'static str,
    /// What was served instead.
    pub(crate) served: FallbackServed,
}

/// What a refresh served without the report it wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FallbackServed {
    /// The older report AWS still hands out; its generation time is the data's time.
    OlderReport,
    /// Credential-report mode read the users through the API for this refresh.
    Api,
    /// API mode asked each active key's last use (`GetAccessKeyLastUsed`).
    PerKey,
}

impl FallbackServed {
    /// Every value, for removing an account's series.
    pub(crate) const ALL: [FallbackServed; 3] = [
        FallbackServed::OlderReport,
        FallbackServed::Api,
        FallbackServed::PerKey,
    ];

    /// The `served` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FallbackServed::OlderReport => "older_report",
            FallbackServed::Api => "api",
            FallbackServed::PerKey => "per_key",
        }
    }
}

/// Where an account's last-use dates came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum LastUsedFrom {
    /// Not collected (`collector.last_used = false`).
    #[default]
    Nowhere,
    /// `GetAccessKeyLastUsed`, one request per key: current, and costly.
    PerKey,
    /// The credential report generated at this time (Unix seconds); keys created since were
    /// asked per key.
    Report(i64),
}

impl AccountSnapshot {
    /// The users that break the control, in name order.
    pub(crate) fn offenders(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|user| user.is_offender())
    }

    /// How many users break the control.
    pub(crate) fn users_with_multiple_active_keys(&self) -> usize {
        self.offenders().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, status: KeyStatus) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status,
            created: 1_700_000_000,
            last_used: None,
        }
    }

    fn user(name: &str, keys: Vec<AccessKey>) -> User {
        User {
            name: name.to_owned(),
            path: "/".to_owned(),
            access_keys: keys,
            ..User::default()
        }
    }

    #[test]
    fn only_active_keys_are_counted() {
        let alice = user(
            "alice",
            vec![key("A1", KeyStatus::Active), key("A2", KeyStatus::Inactive)],
        );
        assert_eq!(alice.active_access_keys(), 1);
        assert!(!alice.is_offender());
    }

    #[test]
    fn two_active_keys_make_an_offender() {
        let bob = user(
            "bob",
            vec![key("B1", KeyStatus::Active), key("B2", KeyStatus::Active)],
        );
        assert_eq!(bob.active_access_keys(), 2);
        assert!(bob.is_offender());
    }

    #[test]
    fn offenders_are_listed_and_counted() {
        let snapshot = AccountSnapshot {
            account_id: "123456789012".to_owned(),
            data_timestamp: SystemTime::UNIX_EPOCH,
            users: vec![
                user("a", vec![]),
                user(
                    "b",
                    vec![key("1", KeyStatus::Active), key("2", KeyStatus::Active)],
                ),
                user("c", vec![key("3", KeyStatus::Active)]),
            ],
            root_access_keys_present: Some(false),
            last_used_from: LastUsedFrom::Nowhere,
            report_fallback: None,
        };
        let names: Vec<_> = snapshot.offenders().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(snapshot.users_with_multiple_active_keys(), 1);
    }

    #[test]
    fn an_exemption_holds_until_it_expires_and_never_when_invalid() {
        let grant = |expires| Exemption {
            source: ExemptionSource::Config,
            grant: Ok(Grant {
                expires,
                reason: "migration".to_owned(),
                owner: "team".to_owned(),
            }),
        };
        let mut bob = user("bob", vec![]);
        bob.exemptions = vec![
            grant(100),
            grant(200),
            Exemption {
                source: ExemptionSource::Tag,
                grant: Err(InvalidExemption::BadExpiry),
            },
        ];
        assert_eq!(
            bob.exempt_at(50)
                .and_then(|e| e.grant.as_ref().ok())
                .map(|g| g.expires),
            Some(200)
        );
        assert_eq!(
            bob.exempt_at(150)
                .and_then(|e| e.grant.as_ref().ok())
                .map(|g| g.expires),
            Some(200)
        );
        assert!(bob.exempt_at(200).is_none(), "expired at its expiry");
    }
}
