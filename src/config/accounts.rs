//! `[[accounts]]`: the accounts to watch, each an entry of its own.

use std::collections::{BTreeMap, HashSet};

use crate::arn;
use crate::diagnostics::{Problem, Problems};

/// One account to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// The role to assume in that account; `None` uses the default credentials as they are.
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy demands, if any.
    pub external_id: Option<String>,
    /// The account ID, when known in advance (taken from `role_arn` if not given); otherwise
    /// asked of STS on the first refresh.
    pub account_id: Option<String>,
    /// A name for people (`iam_account_info{account_name}`).
    pub name: Option<String>,
}

/// The keys of one `[[accounts]]` entry, with their help texts.
pub(crate) const KEYS: &[(&str, &str)] = &[
    (
        "role_arn",
        "The role to assume in the account; unset: the default credentials' own account.",
    ),
    (
        "external_id",
        "The external ID the role's trust policy demands, if any.",
    ),
    (
        "account_id",
        "The account's 12-digit ID; taken from role_arn when not given.",
    ),
    (
        "name",
        "A name for the account, shown as `account_name` in `iam_account_info`.",
    ),
];

/// The entries, checked: role ARNs and account IDs well formed, no account twice. Without
/// entries and without discovery, the default credentials' own account.
pub(super) fn validate(
    entries: &[BTreeMap<String, String>],
    discovered: bool,
    problems: &mut Problems,
) -> Vec<AccountConfig> {
    let mut accounts: Vec<AccountConfig> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| account(index, entry, discovered, problems))
        .collect();
    // With discovery, the management account comes from the organization itself.
    if accounts.is_empty() && !discovered {
        accounts.push(AccountConfig {
            role_arn: None,
            external_id: None,
            account_id: None,
            name: None,
        });
    }
    let mut seen = HashSet::new();
    for (index, account) in accounts.iter().enumerate() {
        if let Some(id) = &account.account_id {
            if !seen.insert(id.clone()) {
                problems.push(Problem::new(
                    format!("accounts.{index}"),
                    format!("account `{id}` is listed twice; each account may appear only once"),
                ));
            }
        }
    }
    accounts
}

/// One entry.
fn account(
    index: usize,
    entry: &BTreeMap<String, String>,
    discovered: bool,
    problems: &mut Problems,
) -> AccountConfig {
    let text = |key: &str| {
        entry
            .get(key)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    let role_arn = text("role_arn");
    if discovered && role_arn.is_none() && text("account_id").is_none() {
        problems.push(Problem::new(
            format!("accounts.{index}"),
            "with `organizations.enabled`, the credentials' own account is found by \
             discovery; give this entry a `role_arn` or an `account_id`, or remove it",
        ));
    }
    if let Some(role) = &role_arn {
        if arn::account_id_from_role_arn(role).is_none() {
            problems.expected(
                &format!("accounts.{index}.role_arn"),
                None,
                role,
                "a role ARN like `arn:aws:iam::123456789012:role/iam-key-exporter`",
            );
        }
    }
    let account_id = match text("account_id") {
        Some(id) => {
            if arn::parse_account_id(&id).is_none() {
                problems.expected(
                    &format!("accounts.{index}.account_id"),
                    None,
                    &id,
                    "a 12-digit AWS account ID",
                );
            }
            Some(id)
        }
        None => role_arn.as_deref().and_then(arn::account_id_from_role_arn),
    };
    AccountConfig {
        role_arn,
        external_id: text("external_id"),
        account_id,
        name: text("name"),
    }
}
