//! `check`: the one-shot audit. One collection per account, then the offenders (users with
//! more than one active key) with their keys and what to do about them, as a table for people
//! or JSON for pipelines; exempt users are listed apart. The exit code says whether the control
//! holds: it does when every offender is exempt.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::clock::{rfc3339, seconds};
use crate::controls::{ONE_ACTIVE_KEY, RELATED};
use crate::snapshot::{AccessKey, AccountSnapshot, Exemption, KeyStatus, User};
use crate::source::{collect_within, Source, SourceError};

/// Keys older than this should be rotated (CIS "access keys are rotated every 90 days").
pub(crate) const MAX_KEY_AGE: Duration = Duration::from_secs(90 * 86_400);

/// The advice the control's remediation gives.
pub(crate) const REMEDIATION: &str =
    "Keep one active access key per user, younger than 90 days and in \
use; make sure the workload uses it; deactivate the others with `aws iam update-access-key \
--status Inactive`; run the check again; delete deactivated keys once nothing breaks.";

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns and shell commands, for people.
    Table,
    /// One JSON document, for pipelines.
    Json,
}

impl OutputFormat {
    /// The names `--output` accepts.
    pub(crate) const NAMES: [&'static str; 2] = ["table", "json"];

    /// The format named `name`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "table" => Some(OutputFormat::Table),
            "json" => Some(OutputFormat::Json),
            _ => None,
        }
    }

    /// The name `--output` takes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
        }
    }
}

/// A collection failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot collect IAM data for account {account}")]
pub struct CheckError {
    /// The account's ID, or `unknown`.
    pub(crate) account: String,
    /// What went wrong.
    #[source]
    pub(crate) source: SourceError,
}

/// What the check found.
#[derive(Debug)]
pub struct Findings {
    /// One snapshot per account.
    pub(crate) snapshots: Vec<AccountSnapshot>,
    /// When the check ran.
    pub(crate) checked_at: SystemTime,
}

/// Collects every account once; any failure fails the check (a partial audit is no audit).
pub(crate) async fn run(
    sources: &[Arc<dyn Source>],
    timeout: Duration,
) -> Result<Findings, CheckError> {
    let checked_at = SystemTime::now();
    let mut snapshots = Vec::with_capacity(sources.len());
    for source in sources {
        let result = collect_within(source.as_ref(), timeout).await;
        match result {
            Ok(snapshot) => snapshots.push(snapshot),
            Err(source_err) => {
                return Err(CheckError {
                    account: source
                        .account_id()
                        .unwrap_or_else(|| crate::source::UNKNOWN_ACCOUNT.to_owned()),
                    source: source_err,
                })
            }
        }
    }
    Ok(Findings {
        snapshots,
        checked_at,
    })
}

/// A key used (or created) more recently than this is never to be deactivated: the default of
/// `remediate --min-idle`, and what `check`'s advice assumes. A day also covers the delay of
/// AWS's last-use data (hours) and matches the alert's rotation grace.
pub(crate) const MIN_IDLE: Duration = Duration::from_secs(86_400);

/// Why a user is left to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Human {
    /// No active key has a recorded use: which one the workload needs is unknown.
    NoneUsed,
    /// Two active keys were last used at the same time.
    Tie(String, String),
    /// The key in use is older than 90 days: rotate (create a key, move the workload) first.
    Rotate { in_use: String },
    /// A key that would be deactivated was used within the idle time.
    RecentlyUsed { key: String, last_used: i64 },
    /// A key that would be deactivated was created within the idle time: a rotation may be
    /// under way, and AWS may not have recorded its first use yet.
    RecentlyCreated { key: String, created: i64 },
}

impl Human {
    /// One sentence, naming `min_idle` where it decided.
    pub(crate) fn explain(&self, min_idle: Duration) -> String {
        let idle = humantime::format_duration(min_idle);
        match self {
            Human::NoneUsed => "no active key has ever been used: cannot tell which one the \
                                workload needs"
                .to_owned(),
            Human::Tie(a, b) => format!("keys {a} and {b} were last used at the same time"),
            Human::Rotate { in_use } => format!(
                "the key in use, {in_use}, is older than 90 days: rotate (create a new key, \
                 move the workload to it), then deactivate the old one"
            ),
            Human::RecentlyUsed { key, last_used } => format!(
                "key {key} was used at {}, within --min-idle {idle}: make sure nothing uses \
                 it any more",
                rfc3339(*last_used)
            ),
            Human::RecentlyCreated { key, created } => format!(
                "key {key} was created at {}, within --min-idle {idle}: a rotation may be under \
                 way (AWS records a first use hours late)",
                rfc3339(*created)
            ),
        }
    }
}

/// What the control's remediation says for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing: at most one active key.
    Nothing,
    /// Keep one key, make the others inactive.
    Deactivate { keep: String, others: Vec<String> },
    /// Left to a person, and why.
    NeedsHuman(Human),
}

/// The control's choice for `user` at `now` (Unix seconds): keep the active key used most
/// recently, provided it is younger than 90 days, and deactivate the other active keys, unless
/// one of them was used or created within `min_idle`. Anything less clear is left to a person:
/// no key ever used, two used at the same time, the key in use too old to keep.
pub(crate) fn plan(user: &User, now: i64, min_idle: Duration) -> Plan {
    let active: Vec<&AccessKey> = user
        .access_keys
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .collect();
    if active.len() < 2 {
        return Plan::Nothing;
    }
    let mut used: Vec<&AccessKey> = active
        .iter()
        .copied()
        .filter(|key| key.last_used.is_some())
        .collect();
    used.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.id.cmp(&b.id)));
    let Some(&keep) = used.first() else {
        return Plan::NeedsHuman(Human::NoneUsed);
    };
    if let Some(second) = used
        .get(1)
        .filter(|second| second.last_used == keep.last_used)
    {
        return Plan::NeedsHuman(Human::Tie(keep.id.clone(), second.id.clone()));
    }
    if now.saturating_sub(keep.created) >= MAX_KEY_AGE.as_secs() as i64 {
        return Plan::NeedsHuman(Human::Rotate {
            in_use: keep.id.clone(),
        });
    }
    let idle_since = now.saturating_sub(min_idle.as_secs() as i64);
    let others: Vec<&AccessKey> = active.into_iter().filter(|key| key.id != keep.id).collect();
    for other in &others {
        if let Some(used) = other.last_used.filter(|&used| used > idle_since) {
            return Plan::NeedsHuman(Human::RecentlyUsed {
                key: other.id.clone(),
                last_used: used,
            });
        }
        if other.created > idle_since {
            return Plan::NeedsHuman(Human::RecentlyCreated {
                key: other.id.clone(),
                created: other.created,
            });
        }
    }
    Plan::Deactivate {
        keep: keep.id.clone(),
        others: others.into_iter().map(|key| key.id.clone()).collect(),
    }
}

/// What to do with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advice {
    /// The active key to keep.
    Keep,
    /// An active key to deactivate.
    Deactivate,
    /// Already inactive; delete it once nothing needs it.
    Inactive,
    /// Active, and the choice is a person's (see the plan's reason).
    Undecided,
}

impl Advice {
    fn as_str(self) -> &'static str {
        match self {
            Advice::Keep => "keep",
            Advice::Deactivate => "deactivate",
            Advice::Inactive => "already inactive",
            Advice::Undecided => "needs a human",
        }
    }
}

/// The user's plan (with the default idle time), and what it means for each key.
pub(crate) fn advise(user: &User, now: i64) -> (Plan, Vec<(&AccessKey, Advice)>) {
    let plan = plan(user, now, MIN_IDLE);
    let advice = user
        .access_keys
        .iter()
        .map(|key| {
            let advice = match &plan {
                _ if key.status != KeyStatus::Active => Advice::Inactive,
                Plan::Deactivate { keep, .. } if *keep == key.id => Advice::Keep,
                Plan::Deactivate { .. } => Advice::Deactivate,
                Plan::Nothing => Advice::Keep,
                Plan::NeedsHuman(_) => Advice::Undecided,
            };
            (key, advice)
        })
        .collect();
    (plan, advice)
}

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
    /// When the check ran, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        seconds(self.checked_at)
    }

    /// Every user with more than one active key, with its account, exempt or not.
    pub(crate) fn all_offenders(&self) -> impl Iterator<Item = (&AccountSnapshot, &User)> {
        self.snapshots
            .iter()
            .flat_map(|s| s.offenders().map(move |user| (s, user)))
    }

    /// The offenders no exemption covers at the time of the check.
    pub(crate) fn violations(&self) -> impl Iterator<Item = (&AccountSnapshot, &User)> {
        let now = self.now();
        self.all_offenders()
            .filter(move |(_, user)| user.exempt_at(now).is_none())
    }

    /// The offenders an exemption covers, each with the exemption that does.
    pub(crate) fn exempt(&self) -> impl Iterator<Item = (&AccountSnapshot, &User, &Exemption)> {
        let now = self.now();
        self.all_offenders()
            .filter_map(move |(s, user)| user.exempt_at(now).map(|e| (s, user, e)))
    }

    /// Whether no user in any account has more than one active key, exemptions aside.
    pub fn compliant(&self) -> bool {
        self.violations().next().is_none()
    }

    /// The JSON document of `check --output json`.
    /// [`Findings::to_json`] as text, unsafe characters escaped ([`json_text`]).
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
        let mut rows: Vec<[String; 9]> = Vec::new();
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
                ]);
                if advice == Advice::Deactivate {
                    commands.push(deactivate_command(&user.name, &key.id));
                }
            }
        }
        write_columns(out, &header, &rows);
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
    use super::*;

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

    fn advice_for(keys: Vec<AccessKey>) -> Vec<(String, Advice)> {
        let user = User {
            name: "u".to_owned(),
            path: "/".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        advise(&user, NOW)
            .1
            .into_iter()
            .map(|(k, a)| (k.id.clone(), a))
            .collect()
    }

    fn plan_for(keys: Vec<AccessKey>) -> Plan {
        let user = User {
            name: "u".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        plan(&user, NOW, MIN_IDLE)
    }

    fn deactivate(keep: &str, other: &str) -> Plan {
        Plan::Deactivate {
            keep: keep.to_owned(),
            others: vec![other.to_owned()],
        }
    }

    fn used(id: &str, age_days: i64, used_days_ago: Option<i64>) -> AccessKey {
        key(
            id,
            KeyStatus::Active,
            age_days,
            used_days_ago.map(|d| NOW - d * DAY),
        )
    }

    #[test]
    fn the_young_key_in_use_is_kept_and_the_idle_one_deactivated() {
        assert_eq!(
            plan_for(vec![used("OLD", 400, Some(30)), used("NEW", 10, Some(2))]),
            deactivate("NEW", "OLD")
        );
        assert_eq!(
            plan_for(vec![used("A", 10, Some(5)), used("B", 20, None)]),
            deactivate("A", "B"),
            "a key never used in 20 days is idle"
        );
        let advice = advice_for(vec![used("OLD", 400, Some(30)), used("NEW", 10, Some(2))]);
        assert_eq!(
            advice,
            [
                ("OLD".to_owned(), Advice::Deactivate),
                ("NEW".to_owned(), Advice::Keep)
            ]
        );
    }

    #[test]
    fn the_most_recently_used_key_is_never_deactivated() {
        // The old key is the one in use: deactivating it would cut the workload off.
        assert_eq!(
            plan_for(vec![used("OLD", 400, Some(3)), used("NEW", 10, Some(30))]),
            Plan::NeedsHuman(Human::Rotate {
                in_use: "OLD".to_owned()
            })
        );
        assert_eq!(
            plan_for(vec![used("A", 200, Some(3)), used("B", 100, Some(30))]),
            Plan::NeedsHuman(Human::Rotate {
                in_use: "A".to_owned()
            }),
            "both older than 90 days"
        );
        let advice = advice_for(vec![used("OLD", 400, Some(3)), used("NEW", 10, None)]);
        assert_eq!(
            advice.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
            [Advice::Undecided, Advice::Undecided],
            "check does not advise turning off the key in use either"
        );
    }

    #[test]
    fn an_unclear_choice_is_left_to_a_person() {
        assert_eq!(
            plan_for(vec![used("A", 10, None), used("B", 20, None)]),
            Plan::NeedsHuman(Human::NoneUsed)
        );
        assert_eq!(
            plan_for(vec![used("A", 10, Some(3)), used("B", 20, Some(3))]),
            Plan::NeedsHuman(Human::Tie("A".to_owned(), "B".to_owned()))
        );
    }

    #[test]
    fn a_key_used_or_created_within_min_idle_is_never_touched() {
        let mut recent = used("OTHER", 20, None);
        recent.last_used = Some(NOW - 3_600);
        let mut keeper = used("KEEP", 10, None);
        keeper.last_used = Some(NOW - 60);
        assert_eq!(
            plan_for(vec![keeper.clone(), recent]),
            Plan::NeedsHuman(Human::RecentlyUsed {
                key: "OTHER".to_owned(),
                last_used: NOW - 3_600
            })
        );
        // A key made an hour ago, not used yet (AWS records use hours late): a rotation may
        // be moving the workload to it right now.
        let mut fresh = used("FRESH", 0, None);
        fresh.created = NOW - 3_600;
        let older = used("OLDER", 30, Some(2));
        assert_eq!(
            plan_for(vec![older, fresh]),
            Plan::NeedsHuman(Human::RecentlyCreated {
                key: "FRESH".to_owned(),
                created: NOW - 3_600
            })
        );
        // Just past the idle time it may go.
        let mut idle = used("IDLE", 0, None);
        idle.created = NOW - 86_400;
        idle.last_used = Some(NOW - 86_400);
        assert_eq!(plan_for(vec![keeper, idle]), deactivate("KEEP", "IDLE"));
    }

    #[test]
    fn inactive_keys_are_never_kept_or_deactivated() {
        let advice = advice_for(vec![
            key("OFF", KeyStatus::Inactive, 1, Some(NOW)),
            key("ON", KeyStatus::Active, 500, None),
        ]);
        assert_eq!(advice[0].1, Advice::Inactive);
        assert_eq!(advice[1].1, Advice::Keep);
        let mut off = used("OFF", 10, Some(1));
        off.status = KeyStatus::Inactive;
        assert_eq!(plan_for(vec![off, used("ON", 10, Some(5))]), Plan::Nothing);
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
