//! What `check` prints: the table for people and the JSON for pipelines, with the commands a
//! person would paste; everything the endpoint sent goes through [`super::escape`] first.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::escape::{cell, deactivate_command, json_text};
use super::policy::{advise, Advice, Plan, MIN_IDLE_TEXT, NEEDS_A_HUMAN_JSON, REMEDIATION};
use super::Findings;
use crate::clock::{rfc3339, seconds};
use crate::controls::{ONE_ACTIVE_KEY, RELATED};
use crate::snapshot::{Creator, CreatorRelation, Exemption};

/// What an exemption that is not honoured says, for the offender's row: `tag exemption
/// expired 2026-12-31T00:00:00Z`, `config exemption invalid: too_far_ahead`.
pub(crate) fn unhonoured(exemption: &Exemption) -> String {
    match &exemption.grant {
        Ok(grant) => format!(
            "{} exemption expired {}",
            exemption.source.as_str(),
            rfc3339(grant.expires)
        ),
        Err(problem) => format!(
            "{} exemption invalid: {}",
            exemption.source.as_str(),
            problem.as_str()
        ),
    }
}

/// An exemption as JSON: where it comes from and what it says, or why it is not honoured.
pub(crate) fn exemption_json(exemption: &Exemption, now: i64) -> Value {
    match &exemption.grant {
        Ok(grant) => json!({
            "source": exemption.source.as_str(),
            "expires": rfc3339(grant.expires),
            "expired": now >= grant.expires,
            "reason": grant.reason,
            "owner": grant.owner,
        }),
        Err(problem) => json!({
            "source": exemption.source.as_str(),
            "invalid": problem.as_str(),
        }),
    }
}

impl Findings {
    /// The JSON document of `check --output json`: [`Findings::to_json`] as text, unsafe
    /// characters escaped (`json_text`).
    pub fn to_json_text(&self) -> String {
        json_text(&self.to_json())
    }

    /// The findings as a JSON document.
    pub fn to_json(&self) -> Value {
        let now = self.now();
        let accounts: Vec<Value> = self
            .snapshots
            .iter()
            .map(|s| {
                json!({
                    "account_id": s.account_id,
                    "users": s.users.len(),
                    "users_with_multiple_active_access_keys": s.users_with_multiple_active_keys(),
                    "root_access_keys_present": s.root_access_keys_present,
                    "data_timestamp": rfc3339(seconds(s.data_timestamp)),
                })
            })
            .collect();
        let offenders: Vec<Value> = self
            .violations()
            .map(|(s, user)| {
                let (plan, advice) = advise(user, now);
                let keys: Vec<Value> = advice
                    .into_iter()
                    .map(|(key, advice)| {
                        json!({
                            "access_key_id": key.id,
                            "status": key.status.as_str(),
                            "created": rfc3339(key.created),
                            "age_days": now.saturating_sub(key.created).max(0) / 86_400,
                            "last_used": key.last_used.map(rfc3339),
                            "advice": advice.json_name(),
                            "command": (advice == Advice::Deactivate)
                                .then(|| deactivate_command(&user.name, &key.id)),
                            "creator": user.creators.get(&key.id).map(creator_json),
                        })
                    })
                    .collect();
                json!({
                    "account_id": s.account_id,
                    "user": user.name,
                    "path": user.path,
                    "active_access_keys": user.active_access_keys(),
                    "access_keys": keys,
                    NEEDS_A_HUMAN_JSON: match &plan {
                        Plan::NeedsHuman(human) => Some(human.explain(MIN_IDLE_TEXT)),
                        _ => None,
                    },
                    "exemptions_not_honoured": user
                        .exemptions
                        .iter()
                        .map(|e| exemption_json(e, now))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let exempt: Vec<Value> = self
            .exempt()
            .map(|(s, user, exemption)| {
                json!({
                    "account_id": s.account_id,
                    "user": user.name,
                    "path": user.path,
                    "active_access_keys": user.active_access_keys(),
                    "exemption": exemption_json(exemption, now),
                })
            })
            .collect();
        json!({
            "compliant": self.compliant(),
            "control": ONE_ACTIVE_KEY.to_json(),
            "related_controls": RELATED.map(|control| control.to_json()),
            "checked_at": rfc3339(now),
            "accounts": accounts,
            "offenders": offenders,
            "exempt": exempt,
            "remediation": REMEDIATION,
        })
    }

    /// The text of `check --output table`.
    pub fn to_table(&self) -> String {
        let now = self.now();
        let mut out = String::new();
        let users: usize = self.snapshots.iter().map(|s| s.users.len()).sum();
        let offenders = self.violations().count();
        let _ = writeln!(out, "{}", ONE_ACTIVE_KEY.headline());
        let _ = writeln!(
            out,
            "Checked {users} users in {} account(s) at {}.",
            self.snapshots.len(),
            rfc3339(now)
        );
        if offenders == 0 {
            let _ = writeln!(
                out,
                "PASS: no user has more than one active access key, exemptions aside."
            );
        } else {
            let _ = writeln!(
                out,
                "FAIL: {offenders} user(s) have more than one active access key.\n"
            );
            self.offender_table(&mut out, now);
        }
        let exempt: Vec<[String; 7]> = self
            .exempt()
            .map(|(s, user, exemption)| {
                let grant = exemption.grant.as_ref().ok();
                [
                    cell(&s.account_id),
                    cell(&user.name),
                    user.active_access_keys().to_string(),
                    exemption.source.as_str().to_owned(),
                    grant.map_or_else(String::new, |g| rfc3339(g.expires)),
                    cell(grant.map_or("", |g| g.owner.as_str())),
                    cell(grant.map_or("", |g| g.reason.as_str())),
                ]
            })
            .collect();
        if !exempt.is_empty() {
            let _ = writeln!(
                out,
                "\nEXEMPT: {} user(s) with more than one active access key, until their exemption expires:\n",
                exempt.len()
            );
            let header = [
                "ACCOUNT",
                "USER",
                "ACTIVE KEYS",
                "SOURCE",
                "EXPIRES",
                "OWNER",
                "REASON",
            ];
            write_columns(&mut out, &header, &exempt);
        }
        out
    }

    /// The offenders' keys with advice, the exemptions not honoured, and the commands.
    fn offender_table(&self, out: &mut String, now: i64) {
        let header = [
            "ACCOUNT",
            "USER",
            "PATH",
            "ACCESS KEY ID",
            "STATUS",
            "CREATED",
            "AGE (DAYS)",
            "LAST USED",
            "ADVICE",
        ];
        let mut rows: Vec<[String; 10]> = Vec::new();
        let mut commands = Vec::new();
        let mut unhonoured_lines = Vec::new();
        let mut undecided = Vec::new();
        for (snapshot, user) in self.violations() {
            for exemption in &user.exemptions {
                unhonoured_lines.push(format!(
                    "  {} {}: {}",
                    cell(&snapshot.account_id),
                    cell(&user.name),
                    unhonoured(exemption)
                ));
            }
            let (plan, advice) = advise(user, now);
            if let Plan::NeedsHuman(human) = &plan {
                undecided.push(format!(
                    "  {} {}: {}",
                    cell(&snapshot.account_id),
                    cell(&user.name),
                    human.explain(MIN_IDLE_TEXT)
                ));
            }
            for (key, advice) in advice {
                rows.push([
                    cell(&snapshot.account_id),
                    cell(&user.name),
                    cell(&user.path),
                    cell(&key.id),
                    key.status.as_str().to_owned(),
                    rfc3339(key.created),
                    (now.saturating_sub(key.created).max(0) / 86_400).to_string(),
                    key.last_used.map_or_else(|| "never".to_owned(), rfc3339),
                    advice.as_str().to_owned(),
                    user.creators
                        .get(&key.id)
                        .map_or_else(String::new, created_by),
                ]);
                if advice == Advice::Deactivate {
                    commands.push(deactivate_command(&user.name, &key.id));
                }
            }
        }
        write_offender_rows(out, header, rows);
        if !undecided.is_empty() {
            let _ = writeln!(out, "\nNeeds a human (no key can safely be chosen yet):");
            for line in undecided {
                let _ = writeln!(out, "{line}");
            }
        }
        if !unhonoured_lines.is_empty() {
            let _ = writeln!(out, "\nExemptions not honoured:");
            for line in unhonoured_lines {
                let _ = writeln!(out, "{line}");
            }
        }
        write_commands(out, &commands);
    }
}

/// The remediation and the commands of `check`'s table; when every offender is a person's to
/// decide, says so instead of ending on a list with nothing in it.
fn write_commands(out: &mut String, commands: &[String]) {
    let _ = writeln!(out, "\nRemediation: {REMEDIATION}");
    if commands.is_empty() {
        let _ = writeln!(
            out,
            "No command can be given yet: no key can safely be chosen for any offender \
                 (see above); run the check again once a person has decided."
        );
        return;
    }
    let _ = writeln!(
            out,
            "Once the kept key is confirmed in use, deactivate the others (or run `iam-key-exporter remediate`):"
        );
    for command in commands {
        let _ = writeln!(out, "  {command}");
    }
}

/// The offenders' rows, with the creators' column only when one is known: who made a key is
/// the responder's first question, but most audits have nothing to say there.
fn write_offender_rows(out: &mut String, header: [&str; 9], rows: Vec<[String; 10]>) {
    if rows.iter().any(|row| !row[9].is_empty()) {
        let mut with_creators = header.to_vec();
        with_creators.push("CREATED BY");
        let with_creators: [&str; 10] = with_creators.try_into().expect("ten columns");
        write_columns(out, &with_creators, &rows);
    } else {
        let rows: Vec<[String; 9]> = rows
            .into_iter()
            .map(|[a, b, c, d, e, f, g, h, i, _]| [a, b, c, d, e, f, g, h, i])
            .collect();
        write_columns(out, &header, &rows);
    }
}

/// A key's creator in a table cell: who, what to the user, from where, with which tool.
pub(crate) fn created_by(creator: &Creator) -> String {
    let who = match creator.relation {
        CreatorRelation::OwnKey => "the user itself".to_owned(),
        CreatorRelation::Rotation => format!("{} (rotation)", cell(&creator.arn)),
        CreatorRelation::Other => cell(&creator.arn),
    };
    format!(
        "{who} from {} with {}",
        cell(&creator.source_ip),
        cell(&creator.user_agent)
    )
}

/// A key's creator in the JSON.
pub(crate) fn creator_json(creator: &Creator) -> Value {
    json!({
        "arn": creator.arn,
        "type": creator.identity_type,
        "relation": creator.relation.as_str(),
        "source_ip": creator.source_ip,
        "user_agent": creator.user_agent,
        "created": rfc3339(creator.time),
    })
}

/// Aligned columns under a header, two spaces apart, no trailing blanks.
pub(crate) fn write_columns<const N: usize>(
    out: &mut String,
    header: &[&str; N],
    rows: &[[String; N]],
) {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::snapshot::{AccessKey, AccountSnapshot, KeyStatus, User};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn key(id: &str, status: KeyStatus, age_days: i64, last_used: Option<i64>) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status,
            created: NOW - age_days * DAY,
            last_used,
        }
    }

    #[test]
    fn absurd_timestamps_are_printed_not_fatal() {
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
    }

    fn findings(keys: Vec<AccessKey>) -> Findings {
        Findings {
            snapshots: vec![AccountSnapshot {
                account_id: "123456789012".to_owned(),
                data_timestamp: std::time::UNIX_EPOCH,
                users: vec![User {
                    name: "bob".to_owned(),
                    path: "/".to_owned(),
                    access_keys: keys,
                    ..User::default()
                }],
                root_access_keys_present: Some(false),
                last_used_from: Default::default(),
                report_fallback: None,
            }],
            checked_at: std::time::UNIX_EPOCH + Duration::from_secs(NOW as u64),
        }
    }

    /// When no offender's key can be chosen, the table says that no command can be given,
    /// instead of ending on "deactivate the others:" and nothing after it; the verdict is
    /// `needs a human` in the table and `needs_a_human` in the JSON, as key and value.
    #[test]
    fn a_table_where_every_offender_needs_a_human_ends_on_no_command_not_a_colon() {
        let findings = findings(vec![
            key("AKIAONE", KeyStatus::Active, 200, None),
            key("AKIATWO", KeyStatus::Active, 100, None),
            key("AKIAOFF", KeyStatus::Inactive, 300, None),
        ]);
        let table = findings.to_table();
        let last = table.lines().last().unwrap();
        assert!(!last.trim_end().ends_with(':'), "{table}");
        assert!(last.starts_with("No command can be given yet"), "{table}");
        assert!(!table.contains("Once the kept key is confirmed"), "{table}");
        assert!(table.contains("needs a human"), "{table}");
        assert!(!table.contains("needs_a_human"), "{table}");
        let json = findings.to_json();
        let advice: Vec<&str> = json["offenders"][0]["access_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["advice"].as_str().unwrap())
            .collect();
        assert_eq!(
            advice,
            ["needs_a_human", "needs_a_human", "already_inactive"]
        );
        let why = json["offenders"][0]["needs_a_human"].as_str().unwrap();
        assert!(why.contains("no active key has ever been used"), "{why}");
    }

    #[test]
    fn the_table_lists_offenders_and_the_commands_to_fix_them() {
        let findings = Findings {
            snapshots: vec![AccountSnapshot {
                account_id: "123456789012".to_owned(),
                data_timestamp: std::time::UNIX_EPOCH,
                users: vec![User {
                    name: "bob".to_owned(),
                    path: "/".to_owned(),
                    access_keys: vec![
                        key("AKIAOLD", KeyStatus::Active, 200, None),
                        key("AKIANEW", KeyStatus::Active, 1, Some(NOW)),
                    ],
                    ..User::default()
                }],
                root_access_keys_present: Some(false),
                last_used_from: Default::default(),
                report_fallback: None,
            }],
            checked_at: std::time::UNIX_EPOCH + Duration::from_secs(NOW as u64),
        };
        assert!(!findings.compliant());
        let table = findings.to_table();
        assert!(table.contains("FAIL: 1 user(s)"), "{table}");
        assert!(
            table.contains("--access-key-id=AKIAOLD --status Inactive"),
            "{table}"
        );
        assert!(!table.contains("--access-key-id=AKIANEW"), "{table}");
        let json = findings.to_json();
        assert_eq!(json["compliant"], false);
        assert_eq!(json["offenders"][0]["user"], "bob");
        assert_eq!(json["offenders"][0]["active_access_keys"], 2);
        assert_eq!(json["offenders"][0]["access_keys"][0]["age_days"], 200);
        assert_eq!(json["offenders"][0]["access_keys"][1]["advice"], "keep");
    }
}
