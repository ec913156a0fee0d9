//! `remediate`: the control's own remediation, and nothing bolder. For each user with more than
//! one active key that no exemption covers:
//!
//! 1. Re-read the user's keys and each active key's last use from IAM (the audit's data may be
//!    minutes or, from a credential report, hours old).
//! 2. Choose the key to keep: the active key used most recently, provided it is younger than
//!    90 days. Everything else active is to be made inactive.
//! 3. Refuse, and say why ("needs a human"), when the choice is not safe: no active key was
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

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::aws::{AwsError, Iam};
use crate::check::{
    self, cell, exemption_json, now_seconds, rfc3339, shell_quote, unhonoured, write_columns,
    Findings, OutputFormat, MAX_KEY_AGE,
};
use crate::controls::ONE_ACTIVE_KEY;
use crate::error::error_chain;
use crate::snapshot::{AccessKey, Exemption, KeyStatus, User};
use crate::source::Source;

/// What `remediate` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Make the planned changes; without it nothing is written.
    pub apply: bool,
    /// A key used more recently than this is never deactivated.
    pub min_idle: Duration,
    /// Table or JSON.
    pub output: OutputFormat,
}

/// Why a user is left to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Human {
    /// No active key has a recorded use: which one the workload needs is unknown.
    NoneUsed,
    /// Two active keys were last used at the same time.
    Tie(String, String),
    /// The key in use is older than 90 days: rotate (create a key, move the workload) first.
    Rotate { in_use: String },
    /// A key that would be deactivated was used within `--min-idle`.
    RecentlyUsed { key: String, last_used: i64 },
}

impl Human {
    fn explain(&self, min_idle: Duration) -> String {
        match self {
            Human::NoneUsed => "no active key has ever been used: cannot tell which one the \
                                workload needs"
                .to_owned(),
            Human::Tie(a, b) => format!("keys {a} and {b} were last used at the same time"),
            Human::Rotate { in_use } => format!(
                "the key in use, {in_use}, is older than 90 days: rotate (create a new key, \
                 move the workload to it), then run remediate again"
            ),
            Human::RecentlyUsed { key, last_used } => format!(
                "key {key} was used at {}, within --min-idle {}: make sure nothing uses it \
                 any more",
                rfc3339(*last_used),
                humantime::format_duration(min_idle)
            ),
        }
    }
}

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
}

/// What happened to a planned deactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Dry run: nothing was written.
    Planned,
    /// Applied, and IAM lists the planned state.
    Done,
    /// A request failed; what IAM lists afterwards is in `after`.
    Failed(String),
    /// Applied, but IAM lists something else (another change raced this one).
    Mismatch(String),
}

/// One offender and what became of it.
#[derive(Debug)]
pub(crate) struct UserPlan {
    account_id: String,
    /// The user as re-read just before planning.
    user: User,
    verdict: Verdict,
    outcome: Option<Outcome>,
    /// The keys as listed after applying.
    after: Vec<AccessKey>,
}

/// The whole run.
#[derive(Debug)]
pub struct Remediation {
    users: Vec<UserPlan>,
    options: Options,
    checked_at: SystemTime,
}

/// Chooses what to do about `user` at `now` (Unix seconds), by the rules in the module docs.
pub(crate) fn plan(user: &User, now: i64, min_idle: Duration) -> Verdict {
    let active: Vec<&AccessKey> = user
        .access_keys
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .collect();
    if active.len() < 2 {
        return Verdict::Nothing;
    }
    let mut used: Vec<&AccessKey> = active
        .iter()
        .copied()
        .filter(|key| key.last_used.is_some())
        .collect();
    used.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.id.cmp(&b.id)));
    let Some(&keep) = used.first() else {
        return Verdict::NeedsHuman(Human::NoneUsed);
    };
    if let Some(second) = used
        .get(1)
        .filter(|second| second.last_used == keep.last_used)
    {
        return Verdict::NeedsHuman(Human::Tie(keep.id.clone(), second.id.clone()));
    }
    if now.saturating_sub(keep.created) >= MAX_KEY_AGE.as_secs() as i64 {
        return Verdict::NeedsHuman(Human::Rotate {
            in_use: keep.id.clone(),
        });
    }
    let idle_since = now.saturating_sub(min_idle.as_secs() as i64);
    let others: Vec<&AccessKey> = active.into_iter().filter(|key| key.id != keep.id).collect();
    if let Some(busy) = others
        .iter()
        .find(|key| key.last_used.is_some_and(|used| used > idle_since))
    {
        return Verdict::NeedsHuman(Human::RecentlyUsed {
            key: busy.id.clone(),
            last_used: busy.last_used.unwrap_or_default(),
        });
    }
    Verdict::Deactivate {
        keep: keep.id.clone(),
        others: others.into_iter().map(|key| key.id.clone()).collect(),
    }
}

/// Re-reads one user's keys, with the last use of each active key; `None` when the user is gone.
async fn reread(
    iam: &Iam,
    name: &str,
    last_used: bool,
) -> Result<Option<Vec<AccessKey>>, AwsError> {
    let mut keys = match iam.list_access_keys(name).await {
        Ok(keys) => keys,
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err(err),
    };
    if last_used {
        for key in keys
            .iter_mut()
            .filter(|key| key.status == KeyStatus::Active)
        {
            key.last_used = match iam.access_key_last_used(&key.id).await {
                Ok(used) => used,
                Err(err) if err.is_not_found() => None,
                Err(err) => return Err(err),
            };
        }
    }
    keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    Ok(Some(keys))
}

/// Plans (and with `apply`, carries out) the remediation of every offender the audit found.
/// A failure to re-read a user fails the run (exit code 2); a failed deactivation is reported
/// on its user and the run goes on.
pub(crate) async fn run(
    sources: &[Arc<dyn Source>],
    findings: &Findings,
    options: Options,
) -> Result<Remediation, AwsError> {
    let now = findings.now();
    let mut users = Vec::new();
    for (snapshot, audited) in findings.all_offenders() {
        let Some(source) = sources
            .iter()
            .find(|source| source.account_id().as_deref() == Some(&snapshot.account_id))
        else {
            continue;
        };
        let iam = source.account().iam();
        let mut user = audited.clone();
        if let Some(exemption) = audited.exempt_at(now) {
            users.push(UserPlan {
                account_id: snapshot.account_id.clone(),
                user,
                verdict: Verdict::Exempt(exemption.clone()),
                outcome: None,
                after: Vec::new(),
            });
            continue;
        }
        let verdict = match reread(iam, &user.name, true).await? {
            Some(keys) => {
                user.access_keys = keys;
                plan(&user, now, options.min_idle)
            }
            None => Verdict::Nothing,
        };
        let mut entry = UserPlan {
            account_id: snapshot.account_id.clone(),
            user,
            verdict,
            outcome: None,
            after: Vec::new(),
        };
        if let Verdict::Deactivate { keep, others } = &entry.verdict {
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
    Ok(Remediation {
        users,
        options,
        checked_at: findings.checked_at,
    })
}

/// Deactivates `others`, then lists the user's keys again and compares with the plan: `keep`
/// active, every one of `others` inactive, at most one key active.
async fn apply(iam: &Iam, user: &str, keep: &str, others: &[String]) -> (Outcome, Vec<AccessKey>) {
    let mut failure = None;
    for key in others {
        if let Err(err) = iam.deactivate_access_key(user, key).await {
            failure = Some(format!("deactivating {key}: {}", error_chain(&err)));
            break;
        }
        tracing::info!(user, access_key_id = %key, "access key deactivated");
    }
    let after = match reread(iam, user, false).await {
        Ok(keys) => keys.unwrap_or_default(),
        Err(err) => {
            let read = format!("listing the keys again: {}", error_chain(&err));
            return (
                Outcome::Failed(failure.map_or(read.clone(), |f| format!("{f}; {read}"))),
                Vec::new(),
            );
        }
    };
    if let Some(failure) = failure {
        return (Outcome::Failed(failure), after);
    }
    let status = |id: &str| after.iter().find(|key| key.id == id).map(|key| key.status);
    let active = after
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .count();
    let outcome = if status(keep) == Some(KeyStatus::Active)
        && active == 1
        && others
            .iter()
            .all(|id| matches!(status(id), Some(KeyStatus::Inactive) | None))
    {
        Outcome::Done
    } else {
        Outcome::Mismatch(format!(
            "IAM now lists {}",
            after
                .iter()
                .map(|key| format!("{} {}", key.id, key.status.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    (outcome, after)
}

/// The commands a person would type for a planned deactivation: each key, then the check.
fn commands(user: &str, others: &[String]) -> Vec<String> {
    let mut commands: Vec<String> = others
        .iter()
        .map(|key| check::deactivate_command(user, key))
        .collect();
    commands.push(format!(
        "aws iam list-access-keys --user-name={}",
        shell_quote(user)
    ));
    commands
}

impl UserPlan {
    /// The action's name in the output.
    fn action(&self) -> &'static str {
        match &self.verdict {
            Verdict::Nothing => "nothing",
            Verdict::Exempt(_) => "exempt",
            Verdict::Deactivate { .. } => "deactivate",
            Verdict::NeedsHuman(_) => "needs-human",
        }
    }

    /// What became of it.
    fn result(&self) -> &'static str {
        match (&self.verdict, &self.outcome) {
            (_, Some(Outcome::Planned)) => "planned",
            (_, Some(Outcome::Done)) => "done",
            (_, Some(Outcome::Failed(_))) => "failed",
            (_, Some(Outcome::Mismatch(_))) => "mismatch",
            (Verdict::NeedsHuman(_), None) => "left",
            _ => "ok",
        }
    }

    /// Why, in one line.
    fn detail(&self, min_idle: Duration) -> String {
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
    fn pending(&self) -> bool {
        !matches!(self.result(), "done" | "ok")
    }
}

impl Remediation {
    /// Whether nothing is left to do: every offender was fixed, is exempt, or no longer one.
    pub fn nothing_left(&self) -> bool {
        !self.users.iter().any(UserPlan::pending)
    }

    /// The report, in the format asked for.
    pub fn render(&self) -> String {
        match self.options.output {
            OutputFormat::Table => self.to_table(),
            OutputFormat::Json => format!("{:#}\n", self.to_json()),
        }
    }

    fn to_json(&self) -> Value {
        let now = now_seconds(self.checked_at);
        let min_idle = self.options.min_idle;
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|plan| {
                let keys: Vec<Value> = plan
                    .user
                    .access_keys
                    .iter()
                    .map(|key| {
                        json!({
                            "access_key_id": key.id,
                            "status": key.status.as_str(),
                            "created": rfc3339(key.created),
                            "last_used": key.last_used.map(rfc3339),
                        })
                    })
                    .collect();
                let (keep, others) = match &plan.verdict {
                    Verdict::Deactivate { keep, others } => (Some(keep), others.clone()),
                    _ => (None, Vec::new()),
                };
                json!({
                    "account_id": plan.account_id,
                    "user": plan.user.name,
                    "path": plan.user.path,
                    "action": plan.action(),
                    "result": plan.result(),
                    "detail": plan.detail(min_idle),
                    "keep": keep,
                    "deactivate": others,
                    "access_keys": keys,
                    "commands": keep.map(|_| commands(&plan.user.name, &others)),
                    "exemption": match &plan.verdict {
                        Verdict::Exempt(exemption) => Some(exemption_json(exemption, now)),
                        _ => None,
                    },
                    "after": plan.after.iter().map(|key| json!({
                        "access_key_id": key.id,
                        "status": key.status.as_str(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "control": ONE_ACTIVE_KEY.to_json(),
            "mode": if self.options.apply { "apply" } else { "dry-run" },
            "min_idle": humantime::format_duration(min_idle).to_string(),
            "checked_at": rfc3339(now),
            "nothing_left": self.nothing_left(),
            "users": users,
        })
    }

    fn to_table(&self) -> String {
        let mut out = String::new();
        let min_idle = self.options.min_idle;
        let _ = writeln!(
            out,
            "Control: {} ({})",
            ONE_ACTIVE_KEY.title,
            ONE_ACTIVE_KEY.describe()
        );
        let _ = writeln!(
            out,
            "{} at {}; keys used within --min-idle {} are never touched; nothing is deleted.",
            if self.options.apply {
                "Applied"
            } else {
                "Dry run (nothing written; --apply to make the changes)"
            },
            rfc3339(now_seconds(self.checked_at)),
            humantime::format_duration(min_idle)
        );
        if self.users.is_empty() {
            let _ = writeln!(
                out,
                "Nothing to do: no user has more than one active access key."
            );
            return out;
        }
        let rows: Vec<[String; 5]> = self
            .users
            .iter()
            .map(|plan| {
                [
                    cell(&plan.account_id),
                    cell(&plan.user.name),
                    plan.action().to_owned(),
                    plan.result().to_owned(),
                    cell(&plan.detail(min_idle)),
                ]
            })
            .collect();
        out.push('\n');
        write_columns(
            &mut out,
            &["ACCOUNT", "USER", "ACTION", "RESULT", "DETAIL"],
            &rows,
        );
        let planned: Vec<&UserPlan> = self
            .users
            .iter()
            .filter(|plan| plan.outcome == Some(Outcome::Planned))
            .collect();
        if !planned.is_empty() {
            let _ = writeln!(
                out,
                "\nThe same by hand (in each user's account), or run again with --apply:"
            );
            for plan in planned {
                if let Verdict::Deactivate { others, .. } = &plan.verdict {
                    let _ = writeln!(out, "  # account {}", cell(&plan.account_id));
                    for command in commands(&plan.user.name, others) {
                        let _ = writeln!(out, "  {command}");
                    }
                }
            }
        }
        let left = self.users.iter().filter(|plan| plan.pending()).count();
        let _ = writeln!(
            out,
            "\n{}",
            if left == 0 {
                "Nothing left to do.".to_owned()
            } else {
                format!("{left} user(s) still need something.")
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;
    const MIN_IDLE: Duration = Duration::from_secs(86_400);

    fn key(id: &str, age_days: i64, used_days_ago: Option<i64>) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status: KeyStatus::Active,
            created: NOW - age_days * DAY,
            last_used: used_days_ago.map(|days| NOW - days * DAY),
        }
    }

    fn verdict(keys: Vec<AccessKey>) -> Verdict {
        let user = User {
            name: "u".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        plan(&user, NOW, MIN_IDLE)
    }

    fn deactivate(keep: &str, other: &str) -> Verdict {
        Verdict::Deactivate {
            keep: keep.to_owned(),
            others: vec![other.to_owned()],
        }
    }

    #[test]
    fn the_young_key_in_use_is_kept_and_the_idle_one_deactivated() {
        assert_eq!(
            verdict(vec![key("OLD", 400, Some(30)), key("NEW", 10, Some(2))]),
            deactivate("NEW", "OLD")
        );
        assert_eq!(
            verdict(vec![key("A", 10, Some(5)), key("B", 20, None)]),
            deactivate("A", "B"),
            "a never-used key is idle"
        );
    }

    #[test]
    fn the_most_recently_used_key_is_never_deactivated() {
        // The old key is the one in use: deactivating it would cut the workload off.
        assert_eq!(
            verdict(vec![key("OLD", 400, Some(3)), key("NEW", 10, Some(30))]),
            Verdict::NeedsHuman(Human::Rotate {
                in_use: "OLD".to_owned()
            })
        );
        assert_eq!(
            verdict(vec![key("A", 200, Some(3)), key("B", 100, Some(30))]),
            Verdict::NeedsHuman(Human::Rotate {
                in_use: "A".to_owned()
            }),
            "both older than 90 days"
        );
    }

    #[test]
    fn an_unclear_choice_is_left_to_a_person() {
        assert_eq!(
            verdict(vec![key("A", 10, None), key("B", 20, None)]),
            Verdict::NeedsHuman(Human::NoneUsed)
        );
        assert_eq!(
            verdict(vec![key("A", 10, Some(3)), key("B", 20, Some(3))]),
            Verdict::NeedsHuman(Human::Tie("A".to_owned(), "B".to_owned()))
        );
    }

    #[test]
    fn a_key_used_within_min_idle_is_never_touched() {
        let mut recent = key("OTHER", 20, None);
        recent.last_used = Some(NOW - 3_600);
        let mut keeper = key("KEEP", 10, None);
        keeper.last_used = Some(NOW - 60);
        assert_eq!(
            verdict(vec![keeper, recent]),
            Verdict::NeedsHuman(Human::RecentlyUsed {
                key: "OTHER".to_owned(),
                last_used: NOW - 3_600
            })
        );
    }

    #[test]
    fn inactive_keys_and_single_keys_need_nothing() {
        let mut off = key("OFF", 10, Some(1));
        off.status = KeyStatus::Inactive;
        assert_eq!(verdict(vec![off, key("ON", 10, Some(5))]), Verdict::Nothing);
        assert_eq!(verdict(vec![key("ONLY", 500, None)]), Verdict::Nothing);
    }
}
