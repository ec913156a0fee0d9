//! What `check` prints: the table for people and the JSON for pipelines, with the commands a
//! person would paste. Everything the endpoint sent is escaped before it reaches a terminal and
//! quoted before it reaches a shell.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::policy::{advise, Advice, Plan, MIN_IDLE, REMEDIATION};
use super::Findings;
use crate::clock::{rfc3339, seconds};
use crate::controls::{ONE_ACTIVE_KEY, RELATED};
use crate::snapshot::{Creator, CreatorRelation, Exemption};

/// The command that deactivates a key, safe to paste into a POSIX shell whatever the endpoint
/// sent: every value is given as `--option=VALUE` (so a name starting with `-` is never taken
/// for an option) and quoted for the shell when it holds anything but plain characters. A name
/// or ID holding a control or bidirectional character (which IAM never sends: such an answer is
/// refused as malformed before it gets here) is not made into a command at all.
pub(crate) fn deactivate_command(user: &str, key_id: &str) -> String {
    match (shell_quote(user), shell_quote(key_id)) {
        (Some(user), Some(key)) => format!(
            "aws iam update-access-key --user-name={user} --access-key-id={key} --status Inactive"
        ),
        _ => format!(
            "# not printed: the user name or key ID holds control or bidirectional characters \
             ({} / {})",
            cell(user),
            cell(key_id)
        ),
    }
}

/// Quotes `text` as one POSIX shell word: as it is when every character is plain (IAM names
/// mostly are), in single quotes otherwise (`'` written as `'\''`); `None` when it holds a
/// character that must never reach a terminal or a shell raw ([`is_unsafe`]).
pub(crate) fn shell_quote(text: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_+=,.@/:-".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return Some(text.to_owned());
    }
    if text.chars().any(is_unsafe) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', r"'\''")))
}

/// Characters never shown raw: controls (C0, DEL, C1), and the invisible ones that reorder or
/// hide text (zero-width, bidirectional overrides and isolates, line and paragraph separators,
/// the byte-order mark), with which a name could be shown reversed or pass for another.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A table cell: unsafe characters ([`is_unsafe`]) escaped, so a name cannot split a row, move
/// the terminal's cursor, or be shown reversed.
pub(crate) fn cell(text: &str) -> String {
    if text.chars().any(is_unsafe) {
        text.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_owned()
    }
}

/// JSON for people and tools alike: pretty, with every unsafe character ([`is_unsafe`]) in
/// strings written as a `\uXXXX` escape (serde_json escapes only C0 controls, quotes and
/// backslashes), so a report shown in a terminal cannot reorder or hide text.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, SafeFormatter(Default::default()));
    if serde::Serialize::serialize(value, &mut serializer).is_err() {
        return format!("{value:#}");
    }
    String::from_utf8(out).unwrap_or_else(|_| format!("{value:#}"))
}

/// serde_json's pretty formatter, escaping unsafe characters in strings.
struct SafeFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if is_unsafe(c) {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            } else {
                let mut bytes = [0u8; 4];
                writer.write_all(c.encode_utf8(&mut bytes).as_bytes())?;
            }
        }
        Ok(())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

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
                            "advice": advice.as_str(),
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
                    "needs_a_human": match &plan {
                        Plan::NeedsHuman(human) => Some(human.explain(MIN_IDLE)),
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
                    human.explain(MIN_IDLE)
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
        let _ = writeln!(out, "\nRemediation: {REMEDIATION}");
        let _ = writeln!(
            out,
            "Once the kept key is confirmed in use, deactivate the others (or run `iam-key-exporter remediate`):"
        );
        for command in commands {
            let _ = writeln!(out, "  {command}");
        }
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

    #[test]
    fn the_command_quotes_the_user_name() {
        assert_eq!(
            deactivate_command("a+b=c,d.e@f_g-h", "AKIA1"),
            "aws iam update-access-key --user-name=a+b=c,d.e@f_g-h --access-key-id=AKIA1 --status Inactive"
        );
        assert_eq!(
            deactivate_command("-rf", "AKIA1"),
            "aws iam update-access-key --user-name=-rf --access-key-id=AKIA1 --status Inactive"
        );
    }

    /// What the endpoint sends is not trusted: quotes, spaces, `$(...)`, newlines and escape
    /// sequences all come out as one inert shell word on one line.
    #[test]
    fn hostile_names_are_quoted_into_one_inert_word() {
        assert_eq!(shell_quote("it's").unwrap(), r"'it'\''s'");
        assert_eq!(shell_quote("$(touch x) y").unwrap(), "'$(touch x) y'");
        assert_eq!(
            shell_quote("a\nb'c\x1b"),
            None,
            "never a raw control character"
        );
        assert_eq!(
            shell_quote("ali\u{202e}ce"),
            None,
            "never a raw right-to-left override"
        );
        assert_eq!(shell_quote("").unwrap(), "''");
        let command = deactivate_command("x'; touch /tmp/pwned; '\n", "AKIA\r");
        assert_eq!(command.lines().count(), 1, "{command}");
        assert!(!command.chars().any(char::is_control), "{command}");
        assert_eq!(cell("a\nb\tc"), r"a\nb\tc");
        assert_eq!(cell("ali\u{202e}ce\u{200b}"), r"ali\u{202e}ce\u{200b}");
        let json = json_text(&serde_json::json!({"user": "a\u{202e}\u{0085}\u{7f}b", "n": [1]}));
        assert!(json.contains(r#""a\u202e\u0085\u007fb""#), "{json}");
        assert!(
            json.contains("\n  \"n\": [\n    1\n  ]"),
            "still pretty: {json}"
        );
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
