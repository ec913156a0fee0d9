//! The layers: config file < environment < flags, merged by figment and flattened into dotted
//! keys with the text the user wrote. Unknown keys and wrong shapes become [`KeyError`]s here;
//! whether a value is valid is [`super::validate`]'s business.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use figment::providers::{Format, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer};

use crate::diagnostics::Shape;

use super::accounts;
use super::exemptions;
use super::settings;
use super::{ConfigError, KeyError, Overrides, CONFIG_FILE_ENV, ENV_PREFIX};

/// The configuration as the layers give it, flattened: every scalar by dotted key, as text.
#[derive(Debug, Default)]
pub(super) struct Raw {
    /// `section.key` -> the value as written.
    pub values: BTreeMap<String, String>,
    /// One map per `[[accounts]]` entry.
    pub accounts: Vec<BTreeMap<String, String>>,
    /// One map per `[[exemptions]]` entry.
    pub exemptions: Vec<BTreeMap<String, String>>,
}

impl Raw {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// The merged layers, kept so that errors can say where a value came from.
pub(super) struct Layered {
    figment: Figment,
    /// Problems found while layering (malformed environment variable names).
    errors: Vec<KeyError>,
}

impl Layered {
    /// Merges the file, the environment (only `IAM_KEY_EXPORTER_` variables) and the flags.
    pub fn new(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        let mut errors = Vec::new();
        if let Some(path) = &overrides.config_file {
            let file = file_provider(path)?;
            // Parsed here once, so that a syntax error names the file, its line and column,
            // not a key (figment reports it with an empty path).
            if let Err(err) = file.data() {
                return Err(ConfigError::File {
                    path: path.clone(),
                    reason: syntax_error(&file, &err),
                });
            }
            figment = figment.merge(file);
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name != CONFIG_FILE_ENV)
            .collect();
        env.sort();
        for (name, value) in env {
            match env_layer(name, value) {
                Ok(single) => figment = figment.merge(single),
                Err(problem) => errors.push(problem),
            }
        }
        for (setting, value) in &overrides.flags {
            if value.len() > MAX_VALUE_LEN {
                errors.push(KeyError {
                    key: setting.key.to_owned(),
                    origin: Some(format!("flag `--{}`", setting.flag_name().unwrap_or(""))),
                    message: format!(
                        "the value has {} bytes; at most {MAX_VALUE_LEN} are allowed",
                        value.len()
                    ),
                });
                continue;
            }
            figment = figment.merge(Single {
                key: setting.key.to_owned(),
                origin: format!("flag `--{}`", setting.flag_name().unwrap_or(setting.key)),
                value: value.clone(),
            });
        }
        Ok(Layered { figment, errors })
    }

    /// Where a key's value came from, for error messages. An entry of a list of tables
    /// (`accounts.0.role_arn`) comes from where the list does: figment finds no metadata for
    /// a path through a list.
    pub fn origin(&self, key: &str) -> Option<String> {
        let list = ["accounts", "exemptions"]
            .into_iter()
            .find(|list| key == *list || key.starts_with(&format!("{list}.")));
        self.figment
            .find_metadata(list.unwrap_or(key))
            .map(describe)
    }

    /// Gives each problem without an origin the origin of its key (validation's problems of
    /// `[[accounts]]` and `[[exemptions]]` entries are made without one).
    pub fn fill_origins(&self, problems: &mut [KeyError]) {
        for problem in problems.iter_mut().filter(|p| p.origin.is_none()) {
            problem.origin = self.origin(&problem.key);
        }
    }

    /// Flattens the merged layers into dotted keys. Every unknown key and every value of the
    /// wrong shape is an error; the rest is kept, so validation still reports its own problems.
    pub fn flatten(&self) -> (Raw, Vec<KeyError>) {
        let mut errors = self.errors.clone();
        let mut raw = Raw::default();
        let top: Dict = match self.figment.extract() {
            Ok(top) => top,
            Err(err) => {
                errors.extend(self.extraction_errors(err));
                return (raw, errors);
            }
        };
        let sections = sections();
        for (section, value) in &top {
            if section == "accounts" {
                raw.accounts = self.flatten_entries(section, accounts::KEYS, value, &mut errors);
                continue;
            }
            if section == "exemptions" {
                raw.exemptions =
                    self.flatten_entries(section, exemptions::KEYS, value, &mut errors);
                continue;
            }
            if !sections.contains(&section.as_str()) {
                errors.push(self.error(section, unknown_key(section)));
                continue;
            }
            let Value::Dict(_, entries) = value else {
                errors.push(self.error(
                    section,
                    format!("expected a section of keys, got {}", shape(value)),
                ));
                continue;
            };
            for (name, value) in entries {
                let key = format!("{section}.{name}");
                let Some(setting) = settings::find(&key) else {
                    errors.push(self.error(&key, unknown_key(&key)));
                    continue;
                };
                let is_list = setting.list;
                let value = match value {
                    Value::Array(_, items) if is_list => items
                        .iter()
                        .map(scalar)
                        .collect::<Result<Vec<_>, _>>()
                        .map(|items| {
                            Some(items.into_iter().flatten().collect::<Vec<_>>().join(","))
                        }),
                    other => scalar(other),
                };
                match value {
                    Ok(Some(text)) => {
                        raw.values.insert(key, text);
                    }
                    Ok(None) => {}
                    Err(message) => errors.push(self.error(&key, message)),
                }
            }
        }
        (raw, errors)
    }

    /// A list of tables (`[[accounts]]`, `[[exemptions]]`): one map of keys per entry.
    fn flatten_entries(
        &self,
        section: &str,
        keys: &[(&str, &str)],
        value: &Value,
        errors: &mut Vec<KeyError>,
    ) -> Vec<BTreeMap<String, String>> {
        let Value::Array(_, entries) = value else {
            errors.push(self.error(
                section,
                format!(
                    "expected a list of `[[{section}]]` entries, got {}",
                    shape(value)
                ),
            ));
            return Vec::new();
        };
        let allowed: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
        let mut flattened = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let mut fields = BTreeMap::new();
            match entry {
                Value::Dict(_, keys) => {
                    for (name, value) in keys {
                        let key = format!("{section}.{index}.{name}");
                        if !allowed.contains(&name.as_str()) {
                            errors.push(self.error(
                                &key,
                                format!("unknown key; allowed here: {}", allowed.join(", ")),
                            ));
                            continue;
                        }
                        match scalar(value) {
                            Ok(Some(text)) => {
                                fields.insert(name.clone(), text);
                            }
                            Ok(None) => {}
                            Err(message) => errors.push(self.error(&key, message)),
                        }
                    }
                }
                // `[[accounts]]` with no keys arrives as an empty table, or nothing at all.
                Value::Empty(..) => {}
                other => errors.push(self.error(
                    &format!("{section}.{index}"),
                    format!("expected a table of keys, got {}", shape(other)),
                )),
            }
            flattened.push(fields);
        }
        flattened
    }

    fn error(&self, key: &str, message: String) -> KeyError {
        KeyError {
            key: key.to_owned(),
            origin: self.origin(key),
            message,
        }
    }

    /// figment's own errors (a malformed file, mostly) as key errors.
    fn extraction_errors(&self, err: figment::Error) -> Vec<KeyError> {
        err.into_iter()
            .map(|err| {
                let key = err.path.join(".");
                let message = match &err.kind {
                    figment::error::Kind::InvalidType(actual, expected) => {
                        format!("expected {expected}, got {actual}")
                    }
                    other => other.to_string(),
                };
                let origin = err
                    .metadata
                    .as_ref()
                    .map(describe)
                    .or_else(|| self.origin(&key));
                KeyError {
                    key,
                    origin,
                    message,
                }
            })
            .collect()
    }
}

/// A single value as text; `None` for an empty value (YAML's `key:`), which means unset.
fn scalar(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Empty(..) => Ok(None),
        Value::Dict(..) | Value::Array(..) => Err(format!(
            "expected a single value (string, number or boolean), got {}",
            shape(value)
        )),
        other => other
            .deserialize::<Text>()
            .map(|Text(text)| Some(text))
            .map_err(|err| err.to_string()),
    }
}

fn shape(value: &Value) -> &'static str {
    match value {
        Value::Dict(..) => Shape::Table,
        Value::Array(..) => Shape::List,
        Value::Empty(..) => Shape::Null,
        _ => Shape::Scalar,
    }
    .name()
}

/// A scalar exactly as the user wrote it, whatever type the source gave it.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl serde::de::Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (string, number or boolean)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_char<E>(self, v: char) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// One value from a flag or an environment variable, as a figment provider of its own, so
/// that an error names the exact flag or variable the bad value came from.
struct Single {
    /// Dotted key, e.g. `web.listen_address`.
    key: String,
    /// "flag `--web.listen-address`" or "environment variable `IAM_KEY_EXPORTER_...`".
    origin: String,
    value: String,
}

impl Provider for Single {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(&self.key, Value::from(self.value.clone()));
        Ok(Profile::Default.collect(nested.into_dict().unwrap_or_default()))
    }
}

/// The config file, TOML or YAML by extension.
enum FileProvider {
    Toml(figment::providers::Data<Toml>),
    Yaml(figment::providers::Data<Yaml>),
}

impl Provider for FileProvider {
    fn metadata(&self) -> Metadata {
        match self {
            FileProvider::Toml(data) => data.metadata(),
            FileProvider::Yaml(data) => data.metadata(),
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        match self {
            FileProvider::Toml(data) => data.data(),
            FileProvider::Yaml(data) => data.data(),
        }
    }
}

/// One `IAM_KEY_EXPORTER_` variable as a layer of one key, or why it is refused: a malformed
/// name, an unknown key, a value too long.
fn env_layer(name: String, value: String) -> Result<Single, KeyError> {
    let key = name[ENV_PREFIX.len()..]
        .to_ascii_lowercase()
        .replace("__", ".");
    let well_formed = key.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if !well_formed {
        return Err(KeyError {
            key: name.clone(),
            origin: Some("the environment".to_owned()),
            message: format!(
                "malformed variable name; expected {ENV_PREFIX}<SECTION>__<KEY>, e.g. {}",
                super::refresh::INTERVAL.env_var()
            ),
        });
    }
    // Refused here, not merged: figment merges a provider in time that grows with what
    // is merged already, so thousands of stray variables would take minutes.
    if settings::find(&key).is_none() {
        let mut message = unknown_key(&key);
        if let Some(hint) = env_hint(&key) {
            message = format!("{message}; {hint}");
        }
        return Err(KeyError {
            origin: Some(format!("environment variable `{name}`")),
            message,
            key,
        });
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(KeyError {
            key,
            origin: Some(format!("environment variable `{name}`")),
            message: format!(
                "the value has {} bytes; at most {MAX_VALUE_LEN} are allowed",
                value.len()
            ),
        });
    }
    Ok(Single {
        key,
        origin: format!("environment variable `{name}`"),
        value,
    })
}

/// What an unknown variable's name was likely meant to be: the config file's variable, or a
/// setting's with `_` written for the `__` between section and key
/// (`IAM_KEY_EXPORTER_REFRESH_INTERVAL` for `IAM_KEY_EXPORTER_REFRESH__INTERVAL`).
fn env_hint(key: &str) -> Option<String> {
    if key == "config" || key.starts_with("config.") || key.starts_with("config_") {
        return Some(format!(
            "the config file is named by {CONFIG_FILE_ENV} (or `--config.file`)"
        ));
    }
    let flat = key.replace('.', "_");
    let meant = flat
        .match_indices('_')
        .map(|(at, _)| format!("{}.{}", &flat[..at], &flat[at + 1..]))
        .find_map(|candidate| settings::find(&candidate))?;
    Some(format!("did you mean {}?", meant.env_var()))
}

/// A syntax error of the config file, as one line: the format, the line and column, what the
/// parser expected. The TOML parser's message is `TOML parse error at line L, column C`, the
/// offending line drawn with a caret, then what is wrong.
fn syntax_error(file: &FileProvider, err: &figment::Error) -> String {
    let format = match file {
        FileProvider::Toml(_) => "TOML",
        FileProvider::Yaml(_) => "YAML",
    };
    let text = match &err.kind {
        figment::error::Kind::Message(text) => text.clone(),
        other => other.to_string(),
    };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let at = first
        .strip_prefix(&format!("{format} parse error "))
        .map(|at| format!(" {at}"))
        .unwrap_or_default();
    let drawing = |line: &&str| {
        let line = line.trim_start();
        line.starts_with('|')
            || line
                .split_once(" |")
                .is_some_and(|(n, _)| n.parse::<u64>().is_ok())
    };
    let what: Vec<&str> = lines
        .filter(|line| !drawing(line) && !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let what = if at.is_empty() {
        text.trim().replace('\n', "; ")
    } else {
        what.join(", ")
    };
    format!("is not valid {format}: syntax error{at}: {what}")
}

/// The sections of the settings table, in its order.
fn sections() -> Vec<&'static str> {
    settings::all()
        .filter_map(|s| s.key.split_once('.').map(|(section, _)| section))
        .fold(Vec::new(), |mut seen, section| {
            if !seen.contains(&section) {
                seen.push(section);
            }
            seen
        })
}

/// What to say of an unknown key (`section` or `section.name`): what is allowed there.
fn unknown_key(key: &str) -> String {
    let allowed: Vec<&str> = match key.split_once('.') {
        Some((section, _)) if sections().contains(&section) => settings::all()
            .filter_map(|s| s.key.strip_prefix(&format!("{section}.")))
            .collect(),
        _ => {
            let mut allowed = sections();
            allowed.extend(["accounts", "exemptions"]);
            allowed
        }
    };
    format!("unknown key; allowed here: {}", allowed.join(", "))
}

/// The largest config file read: far above any real one, far below what would hurt.
const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// The longest value a flag or an environment variable may give.
pub(super) const MAX_VALUE_LEN: usize = 64 * 1024;

/// Chooses the parser by extension; a missing, unreadable, oversized or pathological file is
/// an error (figment alone would silently skip a missing one).
fn file_provider(path: &Path) -> Result<FileProvider, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = crate::diagnostics::read_config_text(path, MAX_FILE_SIZE).map_err(|why| {
        file_error(format!(
            "{why} (a config file may have at most {MAX_FILE_SIZE} bytes)"
        ))
    })?;
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("toml") => Ok(FileProvider::Toml(Toml::file_exact(path))),
        Some("yaml" | "yml") => {
            // figment merges YAML mappings into maps, where a repeated key silently wins;
            // TOML refuses repeats, and so does this.
            if let Err(err) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                return Err(file_error(format!("is not valid YAML: {err}")));
            }
            Ok(FileProvider::Yaml(Yaml::file_exact(path)))
        }
        _ => Err(file_error(
            "unknown format; the file name must end in `.toml`, `.yaml` or `.yml`".to_owned(),
        )),
    }
}

fn describe(metadata: &Metadata) -> String {
    let name = metadata.name.as_ref();
    if let Some(source) = &metadata.source {
        format!("{name} `{source}`")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `_` for the `__` between section and key, and the config file's variable without
    /// `_FILE`, are answered with the name meant.
    #[test]
    fn a_near_miss_environment_variable_is_answered_with_the_name_meant() {
        let message = |name: &str| match env_layer(name.to_owned(), "1".to_owned()) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("{name} accepted"),
        };
        for (name, hint) in [
            (
                "REFRESH_INTERVAL",
                "did you mean IAM_KEY_EXPORTER_REFRESH__INTERVAL?",
            ),
            (
                "WEB_LISTEN_ADDRESS",
                "did you mean IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS?",
            ),
            (
                "CONFIG",
                "the config file is named by IAM_KEY_EXPORTER_CONFIG_FILE",
            ),
        ] {
            let message = message(&format!("{ENV_PREFIX}{name}"));
            assert!(message.contains(hint), "{message}");
            assert!(
                message.contains(&format!("`{ENV_PREFIX}{name}`")),
                "{message}"
            );
        }
        let other = message("IAM_KEY_EXPORTER_NOTHING_LIKE_IT");
        assert!(!other.contains("did you mean"), "{other}");
    }
}
