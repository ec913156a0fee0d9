//! `[organizations]`: discovery of the accounts of an AWS Organization.

use std::time::Duration;

use super::settings::{boolean, duration, list, optional, Bad, Setting, BOOLEAN, DURATION};
use crate::arn;

/// How the accounts of an AWS Organization are found and read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationsConfig {
    /// The role assumed in each member account (name, with its path if any).
    pub role_name: String,
    /// The external ID the member roles demand.
    pub external_id: Option<String>,
    /// Only the accounts under these OUs or roots; empty: every account.
    pub include_ous: Vec<String>,
    /// Accounts never watched.
    pub exclude_accounts: Vec<String>,
    /// Time between two discoveries.
    pub refresh_interval: Duration,
}

pub(crate) const ENABLED: Setting = Setting {
    key: "organizations.enabled",
    flag: None,
    default: Some("false"),
    help: "Watch every active account of the AWS Organization the credentials can list.",
    expected: BOOLEAN,
    list: false,
    apply: |text, d| {
        d.organizations_enabled = boolean(text)?;
        Ok(())
    },
};

pub(crate) const ROLE_NAME: Setting = Setting {
    key: "organizations.role_name",
    flag: None,
    default: Some("iam-key-exporter-audit"),
    help: "The role assumed in each member account: arn:aws:iam::ACCOUNT:role/ROLE_NAME.",
    expected: "an IAM role name (letters, digits and `+=,.@_-`, at most 64), optionally with a path like `audit/iam-key-exporter`",
    list: false,
    apply: |text, d| {
        d.organizations.role_name = role_name(text).ok_or(Bad::Whole)?;
        Ok(())
    },
};

pub(crate) const EXTERNAL_ID: Setting = Setting {
    key: "organizations.external_id",
    flag: None,
    default: None,
    help: "The external ID the member roles' trust policy demands, if any.",
    expected: "an external ID",
    list: false,
    apply: |text, d| {
        d.organizations.external_id = optional(text);
        Ok(())
    },
};

pub(crate) const INCLUDE_OUS: Setting = Setting {
    key: "organizations.include_ous",
    flag: None,
    default: None,
    help:
        "Only the accounts under these OUs (or roots), nested OUs included; unset: every account.",
    expected: "a list of OU or root IDs like `ou-ab12-cdef3456` or `r-ab12`",
    list: true,
    apply: |text, d| {
        d.organizations.include_ous = list(text, is_ou_or_root)?;
        Ok(())
    },
};

pub(crate) const EXCLUDE_ACCOUNTS: Setting = Setting {
    key: "organizations.exclude_accounts",
    flag: None,
    default: None,
    help: "Accounts never watched, the management account included if listed.",
    expected: "a list of 12-digit account IDs",
    list: true,
    apply: |text, d| {
        d.organizations.exclude_accounts = list(text, |id| arn::parse_account_id(id).is_some())?;
        Ok(())
    },
};

pub(crate) const REFRESH_INTERVAL: Setting = Setting {
    key: "organizations.refresh_interval",
    flag: None,
    default: Some("1h"),
    help: "Time between two discoveries of the organization's accounts.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.organizations.refresh_interval = duration(text)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[
    &ENABLED,
    &ROLE_NAME,
    &EXTERNAL_ID,
    &INCLUDE_OUS,
    &EXCLUDE_ACCOUNTS,
    &REFRESH_INTERVAL,
];

/// A role name (letters, digits and `+=,.@_-`, at most 64), optionally with a path.
fn role_name(text: &str) -> Option<String> {
    let name = text.rsplit('/').next()?;
    let valid = !name.is_empty()
        && text.len() <= 512
        && name.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    valid.then(|| text.trim_matches('/').to_owned())
}

/// `ou-...` or `r-...`: lower-case letters, digits and `-` after the prefix.
fn is_ou_or_root(item: &str) -> bool {
    let shaped = |prefix: &str| {
        item.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
    };
    shaped("ou-") || shaped("r-")
}
