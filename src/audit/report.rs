//! What `remediate` prints: the table for people and the JSON for pipelines, with the commands
//! a person would type for what is planned.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::escape::{cell, deactivate_command, json_text, shell_quote};
use super::remediate::{Outcome, UserPlan, Verdict};
use super::render::{created_by, creator_json, exemption_json, write_columns};
use super::{OutputFormat, Remediation};
use crate::clock::{rfc3339, seconds};
use crate::controls::ONE_ACTIVE_KEY;

/// The commands a person would type for a planned deactivation: each key, then the check.
fn commands(user: &str, others: &[String]) -> Vec<String> {
    let mut commands: Vec<String> = others
        .iter()
        .map(|key| deactivate_command(user, key))
        .collect();
    if let Some(user) = shell_quote(user) {
        commands.push(format!("aws iam list-access-keys --user-name={user}"));
    }
    commands
}

impl Remediation {
    /// How many access keys this run made inactive (and IAM lists so).
    fn applied(&self) -> usize {
        self.users.iter().map(UserPlan::applied).sum()
    }

    /// The report, in the format asked for.
    pub fn render(&self) -> String {
        match self.options.output {
            OutputFormat::Table => self.to_table(),
            OutputFormat::Json => format!("{}\n", json_text(&self.to_json())),
        }
    }

    fn to_json(&self) -> Value {
        let now = seconds(self.checked_at);
        let min_idle = self.options.min_idle.as_str();
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
                            "creator": plan.user.creators.get(&key.id).map(creator_json),
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
            "mode": if self.options.apply { "apply" } else { "dry_run" },
            "min_idle": min_idle,
            "applied": self.applied(),
            "checked_at": rfc3339(now),
            "nothing_left": self.nothing_left(),
            "users": users,
        })
    }

    fn to_table(&self) -> String {
        let mut out = String::new();
        let min_idle = self.options.min_idle.as_str();
        let _ = writeln!(out, "{}", ONE_ACTIVE_KEY.headline());
        let mode = match (self.options.apply, self.applied()) {
            (false, _) => "Dry run (nothing written; --apply to make the changes)".to_owned(),
            (true, 0) => "Nothing applied".to_owned(),
            (true, n) => format!("Applied {n} change(s) (access keys made inactive)"),
        };
        let _ = writeln!(
            out,
            "{mode} at {}; keys used or created within --min-idle {min_idle} are never touched; nothing is deleted.",
            rfc3339(seconds(self.checked_at)),
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
                    plan.action_words().to_owned(),
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
        self.creators_table(&mut out);
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

    /// Who created the keys, where known: the responder's first question.
    fn creators_table(&self, out: &mut String) {
        let rows: Vec<[String; 4]> = self
            .users
            .iter()
            .flat_map(|plan| {
                plan.user.access_keys.iter().filter_map(move |key| {
                    let creator = plan.user.creators.get(&key.id)?;
                    Some([
                        cell(&plan.account_id),
                        cell(&plan.user.name),
                        cell(&key.id),
                        created_by(creator),
                    ])
                })
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nWho created the active keys (CloudTrail):");
        write_columns(
            out,
            &["ACCOUNT", "USER", "ACCESS KEY ID", "CREATED BY"],
            &rows,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::audit::policy::{Human, MinIdle};
    use crate::audit::Options;
    use crate::snapshot::{AccessKey, KeyStatus, User};

    fn key(id: &str, status: KeyStatus) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status,
            created: 1_700_000_000,
            last_used: None,
        }
    }

    /// Bob's plan: keep A, deactivate B; `after` as IAM lists the keys once applied.
    fn bob(outcome: Outcome, after: Vec<AccessKey>) -> UserPlan {
        UserPlan {
            account_id: "123456789012".to_owned(),
            user: User {
                name: "bob".to_owned(),
                access_keys: vec![key("A", KeyStatus::Active), key("B", KeyStatus::Active)],
                ..User::default()
            },
            verdict: Verdict::Deactivate {
                keep: "A".to_owned(),
                others: vec!["B".to_owned()],
            },
            outcome: Some(outcome),
            after,
        }
    }

    fn carol() -> UserPlan {
        UserPlan {
            account_id: "123456789012".to_owned(),
            user: User {
                name: "carol".to_owned(),
                ..User::default()
            },
            verdict: Verdict::NeedsHuman(Human::NoneUsed),
            outcome: None,
            after: Vec::new(),
        }
    }

    fn remediation(users: Vec<UserPlan>, apply: bool, min_idle: MinIdle) -> Remediation {
        Remediation {
            users,
            options: Options {
                apply,
                min_idle,
                output: OutputFormat::Table,
            },
            checked_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    /// `--apply` says how many keys it made inactive, or that nothing was applied; never
    /// "Applied" alone. `--min-idle` is echoed as written, the default as `24h`.
    #[test]
    fn the_header_says_what_was_applied_and_echoes_min_idle_as_written() {
        let done = bob(
            Outcome::Done,
            vec![key("A", KeyStatus::Active), key("B", KeyStatus::Inactive)],
        );
        let table = remediation(vec![done, carol()], true, MinIdle::default()).to_table();
        let header = table.lines().nth(1).unwrap();
        assert!(
            header.starts_with("Applied 1 change(s) (access keys made inactive) at "),
            "{header}"
        );
        assert!(header.contains("within --min-idle 24h "), "{header}");
        let failed = bob(
            Outcome::Failed("deactivating B: denied".to_owned()),
            vec![key("A", KeyStatus::Active), key("B", KeyStatus::Active)],
        );
        let seven = MinIdle::parse("7d").unwrap();
        let remediation = remediation(vec![failed, carol()], true, seven);
        let table = remediation.to_table();
        let header = table.lines().nth(1).unwrap();
        assert!(header.starts_with("Nothing applied at "), "{header}");
        assert!(header.contains("within --min-idle 7d "), "{header}");
        let json = remediation.to_json();
        assert_eq!(json["applied"], 0);
        assert_eq!(json["min_idle"], "7d");
        assert_eq!(json["mode"], "apply");
    }

    /// The verdict is `needs a human` in the table's ACTION column, `needs_a_human` in the JSON.
    #[test]
    fn a_person_s_choice_is_spelt_in_words_in_the_table_and_snake_case_in_the_json() {
        let dry = remediation(vec![carol()], false, MinIdle::default());
        let table = dry.to_table();
        let row = table.lines().find(|l| l.contains("carol")).unwrap();
        assert!(row.contains("  needs a human  "), "{table}");
        let json = dry.to_json();
        assert_eq!(json["users"][0]["action"], "needs_a_human");
        assert_eq!(json["mode"], "dry_run");
        assert_eq!(json["min_idle"], "24h");
    }
}
