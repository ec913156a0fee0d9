//! `[collector]`: what is collected from each account, and how.

use std::time::Duration;

use super::settings::{
    boolean, duration, duration_within, list, one_of, whole, Setting, BOOLEAN, DURATION,
};

/// What is collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorConfig {
    /// Where the data comes from.
    pub source: SourceKind,
    /// API mode: users whose keys are listed at the same time.
    pub concurrency: usize,
    /// The most users one account's listing may hold (`collector.max_users`): memory stays
    /// bounded whatever an endpoint sends.
    pub max_users: usize,
    /// Accounts collected at the same time, so that many accounts share one request budget.
    pub max_concurrent_accounts: usize,
    /// API mode: whether to ask `GetAccessKeyLastUsed` for every key (one request per key).
    pub last_used: bool,
    /// Show only the last four characters of access key IDs in labels and output.
    pub mask_access_key_ids: bool,
    /// Which keys get series of their own.
    pub key_series: KeySeries,
    /// Credential-report mode: a report older than this is generated anew (AWS allows one
    /// every four hours).
    pub report_max_age: Duration,
    /// Credential-report mode: how long to wait for a report that is being generated.
    pub report_wait: Duration,
    /// Credential-report mode: confirm the users the report flags with `ListAccessKeys` (real
    /// key IDs, current statuses; one request per flagged user).
    pub confirm_report_offenders: bool,
    /// Read the exemption tags of users with more than one active key (`ListUserTags`).
    pub exemption_tags: bool,
    /// The furthest ahead an exemption may expire.
    pub max_exemption: Duration,
    /// Look up who created the active keys of users with more than one (CloudTrail's
    /// `LookupEvents`, once per key), for the alerts, the dashboard and `check`.
    pub key_creators: bool,
    /// The principals whose new keys are routine (the rotation automation): role or user ARNs;
    /// a key made by one of them, or by its user, raises no note.
    pub rotation_principals: Vec<String>,
}

/// Where IAM data comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceKind {
    /// `ListUsers`, then `ListAccessKeys` per user: exact and current, one request per user.
    #[default]
    Api,
    /// The account's credential report: a handful of requests, but up to four hours old.
    CredentialReport,
}

impl SourceKind {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Api => "api",
            SourceKind::CredentialReport => "credential-report",
        }
    }
}

/// Which keys get series of their own (`iam_access_key_*`); the per-user and per-account
/// gauges are always there. An organization of 1,000 accounts of 1,000 users has some 4M
/// per-key series: more than one Prometheus holds comfortably.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeySeries {
    /// Every key: key age and last use for everyone (the age and unused-key alerts need it).
    #[default]
    All,
    /// Only the keys of users with more than one active key: what the multiple-keys alert
    /// and the dashboard's offender table need.
    Offenders,
    /// None: counts only.
    None,
}

pub(crate) const SOURCE: Setting = Setting {
    key: "collector.source",
    flag: None,
    default: Some("api"),
    help: "Where IAM data comes from: `api` (ListUsers, then ListAccessKeys per user) or `credential-report`.",
    expected: "`api` or `credential-report`",
    list: false,
    apply: |text, d| {
        d.collector.source = one_of(text, SourceKind::NAMES)?;
        Ok(())
    },
};

pub(crate) const CONCURRENCY: Setting = Setting {
    key: "collector.concurrency",
    flag: None,
    default: Some("4"),
    help: "Users whose keys are asked for at once (API mode and report confirmations).",
    expected: "a whole number from 1 to 64",
    list: false,
    apply: |text, d| {
        d.collector.concurrency = whole(text, 1, 64)? as usize;
        Ok(())
    },
};

pub(crate) const MAX_USERS: Setting = Setting {
    key: "collector.max_users",
    flag: None,
    default: Some("10000"),
    help: "The most users one account's listing may hold; a longer one is a broken or hostile answer (IAM allows 5,000 per account).",
    expected: "a whole number from 1 to 1000000",
    list: false,
    apply: |text, d| {
        d.collector.max_users = whole(text, 1, 1_000_000)? as usize;
        Ok(())
    },
};

pub(crate) const MAX_CONCURRENT_ACCOUNTS: Setting = Setting {
    key: "collector.max_concurrent_accounts",
    flag: None,
    default: Some("8"),
    help: "Accounts collected at once; each account refreshes on its own schedule.",
    expected: "a whole number from 1 to 256",
    list: false,
    apply: |text, d| {
        d.collector.max_concurrent_accounts = whole(text, 1, 256)? as usize;
        Ok(())
    },
};

pub(crate) const LAST_USED: Setting = Setting {
    key: "collector.last_used",
    flag: None,
    default: Some("true"),
    help: "API mode: collect each key's last use, from the credential report (GetAccessKeyLastUsed for keys it cannot place, or for every active key without a report).",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.collector.last_used = boolean(text)?;
        Ok(())
    },
};

pub(crate) const MASK_ACCESS_KEY_IDS: Setting = Setting {
    key: "collector.mask_access_key_ids",
    flag: None,
    default: Some("false"),
    help: "Show only the last four characters of access key IDs in labels and output.",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.collector.mask_access_key_ids = boolean(text)?;
        Ok(())
    },
};

pub(crate) const KEY_SERIES: Setting = Setting {
    key: "collector.key_series",
    flag: None,
    default: Some("all"),
    help: "Per-key series for `all` keys, only for `offenders` (users with more than one active key), or `none`.",
    expected: "`all`, `offenders` or `none`",
    list: false,
    apply: |text, d| {
        d.collector.key_series = one_of(text, KeySeries::NAMES)?;
        Ok(())
    },
};

pub(crate) const REPORT_MAX_AGE: Setting = Setting {
    key: "collector.report_max_age",
    flag: None,
    default: Some("4h"),
    help: "A credential report older than this is generated anew (credential-report mode, and API mode's last use).",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.collector.report_max_age = duration(text)?;
        Ok(())
    },
};

pub(crate) const REPORT_WAIT: Setting = Setting {
    key: "collector.report_wait",
    flag: None,
    default: Some("2m"),
    help: "How long to wait while AWS generates a credential report (credential-report mode, and API mode's last use).",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.collector.report_wait = duration(text)?;
        Ok(())
    },
};

pub(crate) const CONFIRM_REPORT_OFFENDERS: Setting = Setting {
    key: "collector.confirm_report_offenders",
    flag: None,
    default: Some("true"),
    help: "Credential-report mode: confirm the users the report flags with ListAccessKeys.",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.collector.confirm_report_offenders = boolean(text)?;
        Ok(())
    },
};

pub(crate) const EXEMPTION_TAGS: Setting = Setting {
    key: "collector.exemption_tags",
    flag: None,
    default: Some("true"),
    help: "Read the exemption tags of users with more than one active key (ListUserTags, one request per such user).",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.collector.exemption_tags = boolean(text)?;
        Ok(())
    },
};

pub(crate) const MAX_EXEMPTION: Setting = Setting {
    key: "collector.max_exemption",
    flag: None,
    default: Some("90d"),
    help: "The furthest ahead an exemption may expire; a tag beyond it is invalid, a config entry beyond it refused.",
    expected: "a duration like `30d` or `90d`, from one day to 366 days",
    list: false,
    apply: |text, d| {
        d.collector.max_exemption = duration_within(text, 86_400, 366 * 86_400)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const KEY_CREATORS: Setting = Setting {
    key: "collector.key_creators",
    flag: None,
    default: Some("true"),
    help: "Look up who created each active key of a user with more than one (CloudTrail LookupEvents, once per key, at most 2 a second per account); off by itself where the permission is missing.",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.collector.key_creators = boolean(text)?;
        Ok(())
    },
};

pub(crate) const ROTATION_PRINCIPALS: Setting = Setting {
    key: "collector.rotation_principals",
    flag: None,
    default: None,
    help: "The rotation automation: role or user ARNs whose new keys are routine (no `created by someone else` note); unset: only a user's own keys are.",
    expected: "a list of IAM role or user ARNs like `arn:aws:iam::123456789012:role/key-rotation`",
    list: true,
    apply: |text, d| {
        d.collector.rotation_principals = list(text, is_principal_arn)?;
        Ok(())
    },
};

/// An IAM role or user ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`, `...:user/NAME`).
fn is_principal_arn(arn: &str) -> bool {
    crate::arn::split_iam_arn(arn).is_some_and(|(_, resource)| {
        ["role/", "user/"].iter().any(|kind| {
            resource
                .strip_prefix(kind)
                .and_then(|rest| rest.rsplit('/').next())
                .is_some_and(crate::arn::is_user_name)
        })
    })
}

pub(crate) const SETTINGS: &[&Setting] = &[
    &SOURCE,
    &CONCURRENCY,
    &MAX_USERS,
    &MAX_CONCURRENT_ACCOUNTS,
    &LAST_USED,
    &MASK_ACCESS_KEY_IDS,
    &KEY_SERIES,
    &REPORT_MAX_AGE,
    &REPORT_WAIT,
    &CONFIRM_REPORT_OFFENDERS,
    &EXEMPTION_TAGS,
    &MAX_EXEMPTION,
    &KEY_CREATORS,
    &ROTATION_PRINCIPALS,
];

impl SourceKind {
    /// The configuration spellings (the snake-case one too, as TOML keys are written).
    const NAMES: &'static [(&'static str, SourceKind)] = &[
        ("api", SourceKind::Api),
        ("credential-report", SourceKind::CredentialReport),
        ("credential_report", SourceKind::CredentialReport),
    ];
}

impl KeySeries {
    /// The configuration spellings.
    const NAMES: &'static [(&'static str, KeySeries)] = &[
        ("all", KeySeries::All),
        ("offenders", KeySeries::Offenders),
        ("none", KeySeries::None),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_principals_are_role_or_user_arns() {
        for arn in [
            "arn:aws:iam::123456789012:role/key-rotation",
            "arn:aws:iam::123456789012:role/automation/key-rotation",
            "arn:aws-us-gov:iam::123456789012:user/rotator",
        ] {
            assert!(is_principal_arn(arn), "{arn}");
        }
        for arn in [
            "arn:aws:sts::123456789012:assumed-role/key-rotation/session",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::123456789012:role/",
            "key-rotation",
            "arn:aws:iam::123456789012:role/has space",
        ] {
            assert!(!is_principal_arn(arn), "{arn}");
        }
    }
}
