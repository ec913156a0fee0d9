//! A setting is one unit: its key, its flag (if any), its default, its help text, what it
//! accepts and how its text becomes its field, all in one [`Setting`] in the file of its section
//! (`web.rs`, `refresh.rs`, ...), with the section's type and the tests of its parsers beside it.
//! This file holds what every section shares: the [`Setting`] type, the [`Draft`] the settings
//! write into, the value parsers, and the table of sections. The command line, validation,
//! `--help`, docs/configuration.md's table and the example files in `config/` all come from (or
//! are tested against) these definitions.
//!
//! Adding a setting: write its `Setting` and its field in its section's file, add it to that
//! file's `SETTINGS`, and state it in the two example files (a test holds them to the table);
//! docs/configuration.md's table is generated (its test prints the new table).

use std::time::Duration;

use super::{
    AwsConfig, CollectorConfig, EventsConfig, LogConfig, OrganizationsConfig, RefreshConfig,
    ShardingConfig, WebConfig,
};

/// The web config file's setting, which the server names in its own errors.
pub(crate) use super::web::CONFIG_FILE as WEB_CONFIG_FILE;

/// Which commands take a setting's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagScope {
    /// Only the daemon (no subcommand): web server and refresh schedule.
    Daemon,
    /// The daemon and every subcommand.
    Global,
}

/// A setting's flag, in exporter-toolkit style (`--refresh.interval`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// The name without dashes.
    pub name: &'static str,
    /// Which commands take it.
    pub scope: FlagScope,
    /// The placeholder in `--help`: `DURATION`, `ADDRESS`, ...
    pub value_name: &'static str,
}

/// One scalar setting.
#[derive(Debug)]
pub(crate) struct Setting {
    /// Dotted key, e.g. `refresh.interval`; the environment variable is derived from it.
    pub key: &'static str,
    /// The flag, for settings that have one.
    pub flag: Option<Flag>,
    /// The built-in default as a user would write it; `None`: unset unless given.
    pub default: Option<&'static str>,
    /// One sentence for `--help`, the README and the example files.
    pub help: &'static str,
    /// What a valid value looks like, for error messages.
    pub expected: &'static str,
    /// Takes a list: a TOML or YAML list, or the items separated by commas.
    pub list: bool,
    /// Parses the value (trimmed) into its field of the draft; on failure the field keeps what
    /// it had (the default's value) and validation goes on.
    pub apply: fn(&str, &mut Draft) -> Result<(), Bad>,
}

impl Setting {
    /// The environment variable that sets this key.
    pub fn env_var(&self) -> String {
        format!(
            "{}{}",
            super::ENV_PREFIX,
            self.key.replace('.', "__").to_ascii_uppercase()
        )
    }

    /// The flag's name without dashes, when the setting has one.
    pub fn flag_name(&self) -> Option<&'static str> {
        self.flag.map(|flag| flag.name)
    }
}

/// Why a value was refused, reported as "expected {`Setting::expected`}, got ..." (or as the
/// message).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// The value as a whole.
    Whole,
    /// These items of a list.
    Items(Vec<String>),
    /// A message of its own, naming what would be right.
    Message(String),
    /// The value as a whole, and the allowed one it was likely meant to be (`jsn`: `json`).
    Near(&'static str),
}

/// What the settings write into: every section, with its fields as the settings' defaults
/// and the given values make them. The cross-field rules ([`super::validate`]) then turn it
/// into a [`super::Config`].
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub web: WebConfig,
    pub refresh: RefreshConfig,
    pub log: LogConfig,
    pub aws: AwsConfig,
    pub collector: CollectorConfig,
    pub organizations: OrganizationsConfig,
    /// `organizations.enabled`: discovery on.
    pub organizations_enabled: bool,
    pub events: EventsConfig,
    /// `events.sqs_queue_url`: events on when given.
    pub events_queue_url: Option<String>,
    pub sharding: ShardingConfig,
}

/// Every section's settings, in the order of the README's table and the example files.
const SECTIONS: &[&[&Setting]] = &[
    super::web::SETTINGS,
    super::refresh::SETTINGS,
    super::log::SETTINGS,
    super::aws::SETTINGS,
    super::collector::SETTINGS,
    super::organizations::SETTINGS,
    super::events::SETTINGS,
    super::sharding::SETTINGS,
];

/// Every setting, in the table's order.
pub(crate) fn all() -> impl Iterator<Item = &'static Setting> {
    SECTIONS.iter().flat_map(|section| section.iter().copied())
}

/// No setting needs longer; a bound keeps deadline arithmetic from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

/// The `expected` of most durations.
pub(crate) const DURATION: &str =
    "a duration like `30s`, `5m` or `1h`, greater than zero and at most 30 days";
/// The `expected` of every boolean.
pub(crate) const BOOLEAN: &str = "`true` or `false`";

/// A duration greater than zero and at most 30 days.
pub(crate) fn duration(text: &str) -> Result<Duration, Bad> {
    humantime::parse_duration(text)
        .ok()
        .filter(|duration| !duration.is_zero() && *duration <= MAX_DURATION)
        .ok_or(Bad::Whole)
}

/// A duration of `min` to `max` seconds.
pub(crate) fn duration_within(text: &str, min: u64, max: u64) -> Result<Duration, Bad> {
    humantime::parse_duration(text)
        .ok()
        .filter(|d| (min..=max).contains(&d.as_secs()))
        .ok_or(Bad::Whole)
}

/// `true` or `false`, in any case.
pub(crate) fn boolean(text: &str) -> Result<bool, Bad> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Bad::Whole),
    }
}

/// A whole number from `min` to `max`.
pub(crate) fn whole(text: &str, min: u64, max: u64) -> Result<u64, Bad> {
    text.parse::<u64>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or(Bad::Whole)
}

/// `32MiB`, `64MB`, `1GiB`, `500KiB` or a number of bytes; from 1 MiB to 1 GiB.
pub(crate) fn size(text: &str) -> Result<usize, Bad> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| Bad::Whole)?;
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(Bad::Whole),
    };
    let bytes = number.checked_mul(unit).ok_or(Bad::Whole)?;
    ((1 << 20)..=(1 << 30))
        .contains(&bytes)
        .then_some(bytes as usize)
        .ok_or(Bad::Whole)
}

/// A setting without a default: `None` when blank.
pub(crate) fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A list's comma-separated items, each checked with `valid`; every invalid item is reported.
pub(crate) fn list(text: &str, valid: impl Fn(&str) -> bool) -> Result<Vec<String>, Bad> {
    let items: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    let invalid: Vec<String> = items.iter().filter(|item| !valid(item)).cloned().collect();
    if invalid.is_empty() {
        Ok(items)
    } else {
        Err(Bad::Items(invalid))
    }
}

/// One of the named values, in any case; refused with the closest name, if one is close.
pub(crate) fn one_of<T: Copy>(text: &str, values: &[(&'static str, T)]) -> Result<T, Bad> {
    values
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, value)| *value)
        .ok_or_else(
            || match closest(text, values.iter().map(|(name, _)| *name)) {
                Some(name) => Bad::Near(name),
                None => Bad::Whole,
            },
        )
}

/// The candidate closest to `given` (case aside), if a typo away: at most two edits, and
/// fewer than half of its letters.
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let given: Vec<char> = given.to_lowercase().chars().collect();
    candidates
        .map(|candidate| (edits(&given, candidate), candidate))
        .filter(|(edits, candidate)| *edits <= 2 && *edits * 2 < candidate.chars().count())
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between `a` and `b`.
fn edits(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A URL starting with `http://` or `https://`.
pub(crate) fn url(text: String) -> Result<String, Bad> {
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(text)
    } else {
        Err(Bad::Whole)
    }
}

/// The setting with this key.
pub(crate) fn find(key: &str) -> Option<&'static Setting> {
    all().find(|setting| setting.key == key)
}

/// The settings table of docs/configuration.md, generated so that it cannot drift.
#[cfg(test)]
pub(crate) fn markdown_table() -> String {
    let mut out = String::from("| key | flag | default | meaning |\n|---|---|---|---|\n");
    for setting in all() {
        let flag = setting
            .flag_name()
            .map_or(String::new(), |name| format!("`--{name}`"));
        let default = setting
            .default
            .map_or("unset".to_owned(), |value| format!("`{value}`"));
        out.push_str(&format!(
            "| `{}` | {flag} | {default} | {} |\n",
            setting.key,
            setting.help.replace('|', "\\|")
        ));
    }
    for (key, help) in super::accounts::KEYS {
        out.push_str(&format!("| `[[accounts]]` `{key}` | | unset | {help} |\n"));
    }
    for (key, help) in super::exemptions::KEYS {
        out.push_str(&format!(
            "| `[[exemptions]]` `{key}` | | unset | {help} |\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_default_is_valid_for_its_own_parser() {
        for setting in all() {
            if let Some(default) = setting.default {
                let mut draft = Draft::default();
                assert_eq!(
                    (setting.apply)(default, &mut draft),
                    Ok(()),
                    "{}",
                    setting.key
                );
            }
        }
    }

    #[test]
    fn lists_report_every_invalid_item() {
        assert_eq!(
            list("a, b ,,c", |item| item != "b" && item != "c"),
            Err(Bad::Items(vec!["b".to_owned(), "c".to_owned()]))
        );
        assert_eq!(
            list(" a , b ", |_| true),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn sizes_take_binary_and_decimal_units_within_bounds() {
        assert_eq!(size("32MiB"), Ok(32 << 20));
        assert_eq!(size("64MB"), Ok(64_000_000));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("2GiB"), Err(Bad::Whole));
        assert_eq!(size("512KiB"), Err(Bad::Whole));
        assert_eq!(size("12 parsecs"), Err(Bad::Whole));
    }

    #[test]
    fn every_key_is_defined_once_and_every_flag_once() {
        let mut keys: Vec<_> = all().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all().count(), "a key is defined twice");
        let mut flags: Vec<_> = all().filter_map(|s| s.flag_name()).collect();
        let count = flags.len();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!(flags.len(), count, "a flag is defined twice");
    }

    #[test]
    fn environment_variables_are_derived_from_the_key() {
        assert_eq!(
            super::super::refresh::INTERVAL.env_var(),
            "IAM_KEY_EXPORTER_REFRESH__INTERVAL"
        );
    }

    /// docs/configuration.md's settings table is exactly what the table above generates.
    #[test]
    fn the_readme_table_says_what_the_settings_say() {
        let readme = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
        )
        .unwrap();
        let begin = "<!-- BEGIN settings (generated: see src/config/settings.rs) -->\n";
        let end = "<!-- END settings -->";
        let start = readme
            .find(begin)
            .expect("docs/configuration.md has the settings markers")
            + begin.len();
        let stop = readme[start..].find(end).expect("the end marker") + start;
        assert_eq!(
            &readme[start..stop],
            markdown_table(),
            "docs/configuration.md's settings table is out of date; replace it with the text above"
        );
    }

    /// `key = ...` or `# key = ...` (or `key: ...` in YAML).
    fn is_key_line(line: &str, assign: &str) -> bool {
        let line = line.trim_start_matches('#').trim_start();
        let name_end = line
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(line.len());
        name_end > 0 && line[name_end..].starts_with(assign)
    }

    /// Each example file states every setting with its default (commented out where the
    /// default is "unset"), right under a comment that starts with its help text.
    #[test]
    fn the_example_files_state_every_default_under_its_help_text() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for (file, assign) in [
            ("iam-key-exporter.toml", " = "),
            ("iam-key-exporter.yaml", ": "),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for setting in all() {
                let name = setting.key.rsplit('.').next().unwrap();
                let value_line = match setting.default {
                    Some(_) => lines
                        .iter()
                        .position(|l| l.starts_with(&format!("{name}{assign}"))),
                    None => lines
                        .iter()
                        .position(|l| l.starts_with(&format!("# {name}{assign}"))),
                };
                let at = value_line.unwrap_or_else(|| {
                    panic!(
                        "{file}: no line for `{}` (default {:?})",
                        setting.key, setting.default
                    )
                });
                if let Some(default) = setting.default {
                    let written = lines[at][name.len() + assign.len()..].trim_matches('"');
                    assert_eq!(
                        written, default,
                        "{file}: `{}` says {written}, the default is {default}",
                        setting.key
                    );
                }
                let comments: Vec<&str> = lines[..at]
                    .iter()
                    .rev()
                    .take_while(|l| l.starts_with('#') && !is_key_line(l, assign))
                    .copied()
                    .collect();
                let first = comments.last().copied().unwrap_or("");
                assert_eq!(
                    first,
                    format!("# {}", setting.help),
                    "{file}: the comment over `{}` must start with its help text",
                    setting.key
                );
            }
        }
    }
}
