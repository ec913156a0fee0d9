//! Configuration: layered sources in, one validated [`Config`] out.
//!
//! Every scalar setting is defined once, as one [`settings::Setting`] in the file of its
//! section (`web`, `refresh`, `log`, `aws`, `collector`, `organizations`, `events`,
//! `sharding`), beside the section's type: key, flag, default, help text, what it accepts and
//! the field it sets. The lists of tables have files of their own (`accounts`, `exemptions`).
//! Loading has two stages, so that what the user typed stays apart from what the program uses:
//!
//! 1. [`layers`]: figment merges the config file (`--config.file`, TOML or YAML by extension) <
//!    environment variables (`IAM_KEY_EXPORTER_`, `__` between levels) < flags, and flattens
//!    the result into dotted keys with the text the user wrote. Unknown keys are collected as
//!    errors, not fatal ones, so that they are reported with every other problem.
//! 2. [`validate`]: each setting parses its value into its field (`SocketAddr`, `Duration`,
//!    enums); a key not given takes its default. Then the rules between fields. Every problem
//!    is reported at once, each naming the key, where it came from, what was given and what is
//!    allowed.
//!
//! Nothing here binds a port or talks to AWS: a bad configuration fails before anything starts.

mod accounts;
mod aws;
mod collector;
mod events;
pub(crate) mod exemptions;
mod layers;
mod log;
mod organizations;
mod refresh;
pub(crate) mod settings;
mod sharding;
mod validate;
mod web;

use std::path::PathBuf;

pub use accounts::AccountConfig;
pub use aws::AwsConfig;
pub use collector::{CollectorConfig, KeySeries, SourceKind};
pub use events::EventsConfig;
pub use exemptions::{ExemptionConfig, UserMatch};
pub use log::{LogConfig, LogFormat, LogLevel};
pub use organizations::OrganizationsConfig;
pub use refresh::RefreshConfig;
use settings::Setting;
pub use sharding::ShardingConfig;
pub use web::WebConfig;

/// Prefix of every environment variable the exporter reads.
pub(crate) const ENV_PREFIX: &str = "IAM_KEY_EXPORTER_";

/// The environment variable naming the config file (the `--config.file` flag's).
pub(crate) const CONFIG_FILE_ENV: &str = "IAM_KEY_EXPORTER_CONFIG_FILE";

/// The validated configuration the program runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The HTTP server.
    pub web: WebConfig,
    /// The background refresh.
    pub refresh: RefreshConfig,
    /// Logging.
    pub log: LogConfig,
    /// How the AWS SDK reaches IAM.
    pub aws: AwsConfig,
    /// What is collected and how.
    pub collector: CollectorConfig,
    /// The accounts listed in the configuration; without `[[accounts]]` and without
    /// organizations discovery, the account of the default credentials.
    pub accounts: Vec<AccountConfig>,
    /// Discovery of the accounts of an AWS Organization, when enabled.
    pub organizations: Option<OrganizationsConfig>,
    /// Which share of the accounts this replica watches.
    pub sharding: ShardingConfig,
    /// Users allowed more than one active key until a date (`[[exemptions]]`).
    pub exemptions: Vec<ExemptionConfig>,
    /// IAM change events from an SQS queue, when configured.
    pub events: Option<EventsConfig>,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be used at all.
    #[error("config file `{path}`: {reason}")]
    File {
        /// The path as given.
        path: PathBuf,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// One or more keys are unknown, of the wrong type or out of range.
    #[error("invalid configuration:\n{}", list_problems(.0))]
    Invalid(Vec<KeyError>),
}

/// The most problems listed one by one: enough for any real mistake, and a flood (thousands of
/// stray variables) stays readable.
const MAX_LISTED: usize = 100;

fn list_problems(errors: &[KeyError]) -> String {
    let mut lines: Vec<String> = errors
        .iter()
        .take(MAX_LISTED)
        .map(|e| format!("  - config key {e}"))
        .collect();
    if errors.len() > MAX_LISTED {
        lines.push(format!(
            "  - ... and {} more problems of the same kinds",
            errors.len() - MAX_LISTED
        ));
    }
    lines.join("\n")
}

/// One problem with one configuration key (the crate's one problem type, shared with the web
/// configuration).
pub type KeyError = crate::diagnostics::Problem;

/// What the command line says: the config file and the flags that override keys.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config.file` (or `IAM_KEY_EXPORTER_CONFIG_FILE`).
    pub config_file: Option<PathBuf>,
    /// Flag values, each with the setting it overrides.
    pub(crate) flags: Vec<(&'static Setting, String)>,
}

impl Overrides {
    /// Only a config file (`None`: none), no flags.
    pub fn config_file(path: Option<PathBuf>) -> Self {
        Overrides {
            config_file: path,
            flags: Vec::new(),
        }
    }

    /// Adds a flag's value.
    pub(crate) fn with_flag(mut self, setting: &'static Setting, value: impl Into<String>) -> Self {
        self.flags.push((setting, value.into()));
        self
    }
}

impl Config {
    /// Loads and validates the configuration from every layer, reading the process
    /// environment.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        // `vars()` would panic on a variable that is not UTF-8. Those of others are skipped;
        // one of ours whose value is not UTF-8 is an error, never silently ignored.
        let mut env = Vec::new();
        let mut not_utf8 = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => env.push((name, value)),
                Err(_) if name.starts_with(ENV_PREFIX) => not_utf8.push(KeyError {
                    key: name.clone(),
                    origin: Some(format!("environment variable `{name}`")),
                    message: "the value is not valid UTF-8 text; set it to UTF-8 text, or \
                              unset it"
                        .to_owned(),
                }),
                Err(_) => {}
            }
        }
        match (Self::load_from(overrides, env), not_utf8.is_empty()) {
            (result, true) => result,
            (Ok(_), false) => Err(ConfigError::Invalid(not_utf8)),
            (Err(ConfigError::Invalid(mut errors)), false) => {
                not_utf8.append(&mut errors);
                Err(ConfigError::Invalid(not_utf8))
            }
            (Err(err), false) => Err(err),
        }
    }

    /// Like [`Config::load`], with the environment given (tests pass a fixed one).
    pub fn load_from(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let layered = layers::Layered::new(overrides, env)?;
        let (raw, mut errors) = layered.flatten();
        match validate::validate(&layered, &raw) {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError::Invalid(errors)),
            Err(mut more) => {
                layered.fill_origins(&mut more);
                errors.extend(more);
                Err(ConfigError::Invalid(errors))
            }
        }
    }
}

#[cfg(test)]
mod tests;
