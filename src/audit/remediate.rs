//! `remediate`: the control's own remediation, and nothing bolder. For each user with more than
//! one active key that no exemption covers:
//!
//! 1. Re-read the user's keys and each active key's last use from IAM (the audit's data may be
//!    minutes or, from a credential report, hours old).
//! 2. Choose the key to keep: the active key used most recently, provided it is younger than
//!    90 days. Everything else active is to be made inactive.
//! 3. Refuse, and say why (`needs a human`; `needs_a_human` in the JSON), when the choice is not safe: no active key was
//!    ever used, two were last used at the same time, the key in use is older than 90 days
//!    (rotate first), or a key to deactivate was used within `--min-idle` (a workload may
//!    still depend on it).
//! 4. Dry run (the default): print the plan and the exact commands. `--apply`: make each key
//!    inactive (`UpdateAccessKey --status Inactive`; never a deletion, so any key can be turned
//!    back on), then list the user's keys again, as the control's last step says, and report
//!    whether IAM now shows what was planned.
//!
//! The daemon never remediates; only this command holds a write call, and only a role with
//! `deploy/iam/iam-key-exporter-remediation-policy.json` may make it.

use std::sync::Arc;
use std::time::Duration;

use super::policy::{plan, Human, Plan, NEEDS_A_HUMAN, NEEDS_A_HUMAN_JSON};
use super::render::unhonoured;
use super::{Findings, Options, Remediation};
use crate::aws::{AwsError, Iam};
use crate::clock::rfc3339;
use crate::error::error_chain;
use crate::snapshot::{AccessKey, Exemption, ExemptionSource, KeyStatus, User};
use crate::source::{tag_exemption, Source};

/// What to do about one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing: the user has at most one active key now (or no longer exists).
    Nothing,
    /// Exempt until the exemption ends.
    Exempt(Exemption),
    /// Keep one key, make the others inactive.
    Deactivate { keep: String, others: Vec<String> },
    /// Left to a person, and why.
    NeedsHuman(Human),
    /// The user could not be read again (keys, last use or exemption tags): nothing was done.
    Unreadable(String),
}

impl From<Plan> for Verdict {
    fn from(plan: Plan) -> Self {
        match plan {
            Plan::Nothing => Verdict::Nothing,
            Plan::Deactivate { keep, others } => Verdict::Deactivate { keep, others },
            Plan::NeedsHuman(human) => Verdict::NeedsHuman(human),
        }
    }
}

/// What happened to a planned deactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Dry run: nothing was written.
    Planned,
    /// Applied, and IAM lists the planned state.
    Done,
    /// A request failed, and IAM does not list the planned state.
    Failed(String),
    /// Applied, but IAM lists something else (another change raced this one).
    Mismatch(String),
}

/// One offender and what became of it.
#[derive(Debug)]
pub(crate) struct UserPlan {
    pub(super) account_id: String,
    /// The user as re-read just before planning.
    pub(super) user: User,
    pub(super) verdict: Verdict,
    pub(super) outcome: Option<Outcome>,
    /// The keys as listed after applying.
    pub(super) after: Vec<AccessKey>,
}

/// Re-reads one user's keys, with the last use of each active key; `None` when the user is gone.
async fn reread(
    iam: &Iam,
    name: &str,
    last_used: bool,
) -> Result<Option<Vec<AccessKey>>, AwsError> {
    let Some(mut keys) = iam.list_access_keys(name).await? else {
        return Ok(None);
    };
    if last_used {
        for key in keys
            .iter_mut()
            .filter(|key| key.status == KeyStatus::Active)
        {
            key.last_used = iam.access_key_last_used(&key.id).await?;
        }
    }
    Ok(Some(keys))
}

/// The user as IAM has it now: keys, their last use, and exemptions (the config file's as the
/// audit found them, the tags read again). Any failure is the user's, and stops nothing else.
async fn current(
    iam: &Iam,
    audited: &User,
    max_exemption: Duration,
) -> Result<Option<User>, AwsError> {
    let Some(keys) = reread(iam, &audited.name, true).await? else {
        return Ok(None);
    };
    let mut user = audited.clone();
    user.access_keys = keys;
    user.exemptions
        .retain(|exemption| exemption.source == ExemptionSource::Config);
    if let Some(tagged) = tag_exemption(iam, &user.name, max_exemption).await? {
        user.exemptions.push(tagged);
    }
    Ok(Some(user))
}

/// Plans (and with `apply`, carries out) the remediation of every offender the audit found.
/// Every user is read again first (keys, last use, exemption tags): what was true at the audit
/// may not be now. A user that cannot be read again, or whose change fails, is reported as such
/// and the run goes on.
pub(crate) async fn run(
    sources: &[Arc<dyn Source>],
    findings: &Findings,
    options: Options,
    max_exemption: Duration,
) -> Remediation {
    let now = findings.now();
    let mut users = Vec::new();
    for (snapshot, audited) in findings.all_offenders() {
        let mut entry = UserPlan {
            account_id: snapshot.account_id.clone(),
            user: audited.clone(),
            verdict: Verdict::Nothing,
            outcome: None,
            after: Vec::new(),
        };
        let source = sources
            .iter()
            .find(|source| source.account_id().as_deref() == Some(&snapshot.account_id));
        let (verdict, iam) = match (audited.exempt_at(now), source) {
            (Some(exemption), _) => (Verdict::Exempt(exemption.clone()), None),
            (None, None) => (
                Verdict::Unreadable("no credentials for the account".to_owned()),
                None,
            ),
            (None, Some(source)) => {
                let iam = source.account().iam();
                let verdict = match current(iam, audited, max_exemption).await {
                    Ok(Some(mut user)) => {
                        // Who made the keys, as the audit found it (a re-read asks only IAM).
                        user.creators = audited.creators.clone();
                        let verdict = match user.exempt_at(now) {
                            Some(exemption) => Verdict::Exempt(exemption.clone()),
                            None => plan(&user, now, options.min_idle.duration()).into(),
                        };
                        entry.user = user;
                        verdict
                    }
                    Ok(None) => Verdict::Nothing,
                    Err(err) => Verdict::Unreadable(format!(
                        "cannot read the user again, so nothing was changed: {}",
                        error_chain(&err)
                    )),
                };
                (verdict, Some(iam))
            }
        };
        entry.verdict = verdict;
        if let (Verdict::Deactivate { keep, others }, Some(iam)) = (&entry.verdict, iam) {
            entry.outcome = Some(if options.apply {
                let (outcome, after) = apply(iam, &entry.user.name, keep, others).await;
                entry.after = after;
                outcome
            } else {
                Outcome::Planned
            });
        }
        users.push(entry);
    }
    Remediation {
        users,
        options,
        checked_at: findings.checked_at,
    }
}

/// Deactivates `others`, then lists the user's keys again and compares with the plan: `keep`
/// active, every one of `others` inactive (or gone), at most one key active. A request that
/// failed but took effect (a time-out after IAM acted) counts by what IAM lists.
///
/// The tool never cuts a workload off by its own hand: right before each deactivation the keys
/// are listed again, and nothing more is changed once `keep` is no longer active (someone else
/// changed the user meanwhile); and if the confirming list still shows no active key (a racing
/// writer deactivated `keep` between that list and the update), the keys this run deactivated
/// are made active again, and the report says so.
async fn apply(iam: &Iam, user: &str, keep: &str, others: &[String]) -> (Outcome, Vec<AccessKey>) {
    let (mut failure, deactivated) = deactivate(iam, user, keep, others).await;
    let mut after = match reread(iam, user, false).await {
        Ok(keys) => keys.unwrap_or_default(),
        Err(err) => {
            let read = format!("listing the keys again: {}", error_chain(&err));
            return (
                Outcome::Failed(failure.map_or(read.clone(), |f| format!("{f}; {read}"))),
                Vec::new(),
            );
        }
    };
    let none_active = !after.iter().any(|key| key.status == KeyStatus::Active);
    if none_active && !deactivated.is_empty() {
        let undone = reactivate(iam, user, &deactivated).await;
        if let Ok(Some(keys)) = reread(iam, user, false).await {
            after = keys;
        }
        failure = Some(format!(
            "someone else deactivated {keep} meanwhile; no active key was left, so this run's \
             change was undone ({} made active again)",
            if undone.is_empty() {
                "none could be".to_owned()
            } else {
                undone.join(", ")
            }
        ));
    }
    let outcome = compare(&after, keep, others, failure);
    (outcome, after)
}

/// Makes each of `others` inactive in turn, listing the keys right before each to see that
/// `keep` is still active; stops at the first problem. Returns that problem, if any, and the
/// keys this run deactivated.
async fn deactivate(
    iam: &Iam,
    user: &str,
    keep: &str,
    others: &[String],
) -> (Option<String>, Vec<String>) {
    let mut deactivated = Vec::new();
    for key in others {
        let stop = match reread(iam, user, false).await {
            Ok(Some(keys))
                if keys
                    .iter()
                    .any(|k| k.id == keep && k.status == KeyStatus::Active) =>
            {
                None
            }
            Ok(_) => Some(format!(
                "{keep}, the key to keep, is no longer active: someone else changed the \
                 user, so {key} was left as it is"
            )),
            Err(err) => Some(format!(
                "listing the keys before {key}: {}",
                error_chain(&err)
            )),
        };
        if stop.is_some() {
            return (stop, deactivated);
        }
        if let Err(err) = iam.deactivate_access_key(user, key).await {
            let stop = format!("deactivating {key}: {}", error_chain(&err));
            return (Some(stop), deactivated);
        }
        deactivated.push(key.clone());
        tracing::info!(user, access_key_id = %key, "access key deactivated");
    }
    (None, deactivated)
}

/// Makes `deactivated` active again, when a racing writer left the user with no active key;
/// returns the keys that were.
async fn reactivate(iam: &Iam, user: &str, deactivated: &[String]) -> Vec<String> {
    let mut undone = Vec::new();
    for key in deactivated {
        match iam.reactivate_access_key(user, key).await {
            Ok(()) => {
                tracing::warn!(user, access_key_id = %key, "no active key was left after \
                    this run's change (someone else deactivated the key to keep): the key \
                    was made active again");
                undone.push(key.clone());
            }
            Err(err) => {
                tracing::error!(user, access_key_id = %key, error = %error_chain(&err),
                    "no active key is left, and the key this run deactivated could not be \
                     made active again: reactivate it by hand")
            }
        }
    }
    undone
}

/// What the keys IAM lists `after` applying say of the plan: `keep` active, every one of
/// `others` inactive (or gone), at most one key active. Otherwise the `failure` met on the way,
/// or, with none, a mismatch naming what IAM lists.
fn compare(after: &[AccessKey], keep: &str, others: &[String], failure: Option<String>) -> Outcome {
    let status = |id: &str| after.iter().find(|key| key.id == id).map(|key| key.status);
    let active = after
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .count();
    let planned = status(keep) == Some(KeyStatus::Active)
        && active == 1
        && others
            .iter()
            .all(|id| matches!(status(id), Some(KeyStatus::Inactive) | None));
    let listed = || {
        after
            .iter()
            .map(|key| format!("{} {}", key.id, key.status.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (planned, failure) {
        (true, _) => Outcome::Done,
        (false, Some(failure)) => Outcome::Failed(failure),
        (false, None) => Outcome::Mismatch(format!("IAM now lists {}", listed())),
    }
}

impl UserPlan {
    /// The action's value in the JSON: one snake_case word (`needs_a_human`).
    pub(super) fn action(&self) -> &'static str {
        match &self.verdict {
            Verdict::Nothing => "nothing",
            Verdict::Exempt(_) => "exempt",
            Verdict::Deactivate { .. } => "deactivate",
            Verdict::NeedsHuman(_) => NEEDS_A_HUMAN_JSON,
            Verdict::Unreadable(_) => "unreadable",
        }
    }

    /// The action in the table, in words (`needs a human`), as `check`'s table says it.
    pub(super) fn action_words(&self) -> &'static str {
        match &self.verdict {
            Verdict::NeedsHuman(_) => NEEDS_A_HUMAN,
            _ => self.action(),
        }
    }

    /// How many keys this run made inactive and IAM now lists so (none in a dry run, none
    /// that a racing writer's undo made active again).
    pub(super) fn applied(&self) -> usize {
        let Verdict::Deactivate { others, .. } = &self.verdict else {
            return 0;
        };
        others
            .iter()
            .filter(|id| {
                self.after
                    .iter()
                    .any(|key| key.id == **id && key.status == KeyStatus::Inactive)
            })
            .count()
    }

    /// What became of it.
    pub(super) fn result(&self) -> &'static str {
        match (&self.verdict, &self.outcome) {
            (_, Some(Outcome::Planned)) => "planned",
            (_, Some(Outcome::Done)) => "done",
            (_, Some(Outcome::Failed(_))) => "failed",
            (_, Some(Outcome::Mismatch(_))) => "mismatch",
            (Verdict::NeedsHuman(_), None) => "left",
            (Verdict::Unreadable(_), None) => "failed",
            _ => "ok",
        }
    }

    /// Why, in one line; `min_idle` as the user wrote it.
    pub(super) fn detail(&self, min_idle: &str) -> String {
        let mut detail = match &self.verdict {
            Verdict::Nothing => "at most one active key now".to_owned(),
            Verdict::Exempt(exemption) => match &exemption.grant {
                Ok(grant) => format!(
                    "{} exemption until {}, owner {}: {}",
                    exemption.source.as_str(),
                    rfc3339(grant.expires),
                    grant.owner,
                    grant.reason
                ),
                Err(_) => unhonoured(exemption),
            },
            Verdict::Deactivate { keep, others } => {
                format!("keep {keep}; deactivate {}", others.join(", "))
            }
            Verdict::NeedsHuman(human) => human.explain(min_idle),
            Verdict::Unreadable(why) => why.clone(),
        };
        if let Some(Outcome::Failed(why) | Outcome::Mismatch(why)) = &self.outcome {
            detail.push_str(&format!(" ({why})"));
        }
        if !matches!(self.verdict, Verdict::Exempt(_)) {
            for exemption in &self.user.exemptions {
                detail.push_str(&format!("; {}", unhonoured(exemption)));
            }
        }
        detail
    }

    /// Whether this user still needs anything: a planned, failed or refused change.
    pub(super) fn pending(&self) -> bool {
        !matches!(self.result(), "done" | "ok")
    }
}

impl Remediation {
    /// Whether nothing is left to do: every offender was fixed, is exempt, or no longer one.
    pub fn nothing_left(&self) -> bool {
        !self.users.iter().any(UserPlan::pending)
    }
}
