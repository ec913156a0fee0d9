//! Configuration: layered sources in, one validated [`Config`] out.
//!
//! Two stages, so that what the user typed stays apart from what the program uses:
//!
//! 1. figment merges built-in defaults < the config file (`--config.file`, TOML or YAML by
//!    extension) < environment variables (`IAM_KEY_EXPORTER_`, `__` between levels) < flags
//!    into a [`RawConfig`] that rejects unknown keys. Every scalar is kept as the text the user
//!    wrote, whatever its type in the source, so that a bad value can be quoted back.
//! 2. [`RawConfig`] is validated into [`Config`], whose fields have real types (`SocketAddr`,
//!    `Duration`, enums). Every problem is reported at once, each naming the key, where it came
//!    from, what was given and what is allowed.
//!
//! Nothing here binds a port or talks to AWS: a bad configuration fails before anything starts.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer};

/// Prefix of every environment variable the exporter reads.
pub const ENV_PREFIX: &str = "IAM_KEY_EXPORTER_";

/// The environment variable naming the config file (the `--config.file` flag's).
pub const CONFIG_FILE_ENV: &str = "IAM_KEY_EXPORTER_CONFIG_FILE";

/// The default port, from the range the Prometheus wiki keeps for exporters above 10000.
pub const DEFAULT_PORT: u16 = 10027;

/// Where IAM data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `ListUsers`, then `ListAccessKeys` per user: exact and current, one request per user.
    Api,
    /// The account's credential report: a handful of requests, but up to four hours old.
    CredentialReport,
}

impl SourceKind {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Api => "api",
            SourceKind::CredentialReport => "credential-report",
        }
    }
}

/// Log verbosity, the levels Prometheus' own flags accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything, including each AWS request.
    Debug,
    /// One line per refresh and the start-up summary.
    Info,
    /// Only problems.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// The matching `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs, as Prometheus and its exporters write them.
    Logfmt,
    /// One JSON object per line, for log pipelines that parse JSON.
    Json,
}

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
    /// The accounts to watch; never empty (the default is the account of the default
    /// credentials).
    pub accounts: Vec<AccountConfig>,
}

/// The HTTP server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// Where to listen; `:10027` means every IPv4 interface.
    pub listen_address: SocketAddr,
    /// Path of the metrics page.
    pub telemetry_path: String,
    /// How long a client may take to send its request headers; slow clients cannot hold
    /// connections open forever.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

/// The background refresh's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshConfig {
    /// Time between the starts of two refreshes.
    pub interval: Duration,
    /// A refresh that takes longer is abandoned and counted as a `timeout` error.
    pub timeout: Duration,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Verbosity.
    pub level: LogLevel,
    /// Line format.
    pub format: LogFormat,
}

/// How the AWS SDK is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsConfig {
    /// Region for signing; `None` takes the SDK's default chain, then `us-east-1`.
    pub region: Option<String>,
    /// Endpoint override; `None` keeps `AWS_ENDPOINT_URL` or the real endpoint.
    pub endpoint_url: Option<String>,
    /// Named profile of the shared config files; `None` keeps `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Attempts per request, the first included; throttling is retried with back-off.
    pub max_attempts: u32,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of one request.
    pub attempt_timeout: Duration,
}

/// What is collected.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Where the data comes from.
    pub source: SourceKind,
    /// API mode: users whose keys are listed at the same time.
    pub concurrency: usize,
    /// API mode: whether to ask `GetAccessKeyLastUsed` for every key (one request per key).
    pub last_used: bool,
    /// Show only the last four characters of access key IDs in labels and output.
    pub mask_access_key_ids: bool,
    /// Credential-report mode: a report older than this is generated anew (AWS allows one
    /// every four hours).
    pub report_max_age: Duration,
    /// Credential-report mode: how long to wait for a report that is being generated.
    pub report_wait: Duration,
    /// Credential-report mode: confirm the users the report flags with `ListAccessKeys` (real
    /// key IDs, current statuses; one request per flagged user).
    pub confirm_report_offenders: bool,
}

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
}

/// Flags that override configuration keys; `None` leaves the lower layers alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config.file`.
    pub config_file: Option<PathBuf>,
    /// `--web.listen-address`.
    pub listen_address: Option<String>,
    /// `--web.telemetry-path`.
    pub telemetry_path: Option<String>,
    /// `--refresh.interval`.
    pub refresh_interval: Option<String>,
    /// `--log.level`.
    pub log_level: Option<String>,
    /// `--log.format`.
    pub log_format: Option<String>,
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
    #[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<KeyError>),
}

/// One problem with one configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// Dotted key, e.g. `refresh.interval`.
    pub key: String,
    /// Where the value came from, e.g. "environment variable `IAM_KEY_EXPORTER_...`".
    pub origin: Option<String>,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`", self.key)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A scalar exactly as the user wrote it, whatever type the source gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

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

/// The configuration as the layers give it: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[web]`.
    pub web: RawWeb,
    /// `[refresh]`.
    pub refresh: RawRefresh,
    /// `[log]`.
    pub log: RawLog,
    /// `[aws]`.
    pub aws: RawAws,
    /// `[collector]`.
    pub collector: RawCollector,
    /// `[[accounts]]`.
    pub accounts: Vec<RawAccount>,
}

/// `[web]` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawWeb {
    pub listen_address: Option<Text>,
    pub telemetry_path: Option<Text>,
    pub header_read_timeout: Option<Text>,
    pub max_connections: Option<Text>,
}

/// `[refresh]` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawRefresh {
    pub interval: Option<Text>,
    pub timeout: Option<Text>,
}

/// `[log]` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawLog {
    pub level: Option<Text>,
    pub format: Option<Text>,
}

/// `[aws]` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawAws {
    pub region: Option<Text>,
    pub endpoint_url: Option<Text>,
    pub profile: Option<Text>,
    pub max_attempts: Option<Text>,
    pub connect_timeout: Option<Text>,
    pub attempt_timeout: Option<Text>,
}

/// `[collector]` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawCollector {
    pub source: Option<Text>,
    pub concurrency: Option<Text>,
    pub last_used: Option<Text>,
    pub mask_access_key_ids: Option<Text>,
    pub report_max_age: Option<Text>,
    pub report_wait: Option<Text>,
    pub confirm_report_offenders: Option<Text>,
}

/// One `[[accounts]]` entry as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RawAccount {
    pub role_arn: Option<Text>,
    pub external_id: Option<Text>,
    pub account_id: Option<Text>,
}

/// One setting from a flag or an environment variable, as a figment provider of its own, so
/// that an error names the exact flag or variable the bad value came from.
struct Setting {
    /// Dotted key, e.g. `web.listen_address`.
    key: String,
    /// "flag `--web.listen-address`" or "environment variable `IAM_KEY_EXPORTER_...`".
    origin: String,
    value: String,
}

impl Provider for Setting {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(&self.key, Value::from(self.value.clone()));
        Ok(Profile::Default.collect(nested.into_dict().unwrap_or_default()))
    }
}

impl Config {
    /// Loads and validates the configuration from every layer, reading the process
    /// environment.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(overrides, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given (tests pass a fixed one).
    pub fn load_from(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let figment = figment(overrides, env)?;
        let raw: RawConfig = figment
            .extract()
            .map_err(|err| ConfigError::Invalid(key_errors(&figment, err)))?;
        validate(&figment, raw)
    }
}

/// Builds the layered figment: defaults live in [`validate`], so the layers here are the file,
/// the environment and the flags.
fn figment(
    overrides: &Overrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Figment, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = &overrides.config_file {
        figment = figment.merge(file_provider(path)?);
    }
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name != CONFIG_FILE_ENV)
        .collect();
    env.sort();
    for (name, value) in env {
        let key = name[ENV_PREFIX.len()..]
            .to_ascii_lowercase()
            .replace("__", ".");
        if !key.is_empty() {
            figment = figment.merge(Setting {
                key,
                origin: format!("environment variable `{name}`"),
                value,
            });
        }
    }
    let flags = [
        (
            "web.listen_address",
            "--web.listen-address",
            &overrides.listen_address,
        ),
        (
            "web.telemetry_path",
            "--web.telemetry-path",
            &overrides.telemetry_path,
        ),
        (
            "refresh.interval",
            "--refresh.interval",
            &overrides.refresh_interval,
        ),
        ("log.level", "--log.level", &overrides.log_level),
        ("log.format", "--log.format", &overrides.log_format),
    ];
    for (key, flag, value) in flags {
        if let Some(value) = value {
            figment = figment.merge(Setting {
                key: key.to_owned(),
                origin: format!("flag `{flag}`"),
                value: value.clone(),
            });
        }
    }
    Ok(figment)
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

/// Chooses the parser by extension; a missing or unreadable file is an error (figment alone
/// would silently skip it).
fn file_provider(path: &Path) -> Result<FileProvider, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    std::fs::File::open(path).map_err(|err| file_error(format!("cannot be read: {err}")))?;
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("toml") => Ok(FileProvider::Toml(Toml::file_exact(path))),
        Some("yaml" | "yml") => Ok(FileProvider::Yaml(Yaml::file_exact(path))),
        _ => Err(file_error(
            "unknown format; the file name must end in `.toml`, `.yaml` or `.yml`".to_owned(),
        )),
    }
}

/// Describes where a key's value came from, for error messages.
fn origin(figment: &Figment, key: &str) -> Option<String> {
    figment.find_metadata(key).map(describe)
}

fn describe(metadata: &Metadata) -> String {
    let name = metadata.name.as_ref();
    if let Some(source) = &metadata.source {
        format!("{name} `{source}`")
    } else {
        name.to_owned()
    }
}

/// Turns figment's extraction errors (unknown keys, wrong shapes) into key errors.
fn key_errors(figment: &Figment, err: figment::Error) -> Vec<KeyError> {
    err.into_iter()
        .map(|err| {
            let mut path = err.path.clone();
            let message = match &err.kind {
                figment::error::Kind::UnknownField(field, allowed) => {
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    if allowed.is_empty() {
                        "unknown key; this section takes no keys".to_owned()
                    } else {
                        format!("unknown key; allowed here: {}", allowed.join(", "))
                    }
                }
                figment::error::Kind::InvalidType(actual, expected) => {
                    format!("expected {expected}, got {actual}")
                }
                other => other.to_string(),
            };
            let key = path.join(".");
            let origin = err
                .metadata
                .as_ref()
                .map(describe)
                .or_else(|| origin(figment, &key));
            KeyError {
                key,
                origin,
                message,
            }
        })
        .collect()
}

/// Collects every problem while validating, so the user sees them all at once.
struct Validator<'a> {
    figment: &'a Figment,
    errors: Vec<KeyError>,
}

impl Validator<'_> {
    fn fail(&mut self, key: &str, given: &str, expected: &str) {
        self.errors.push(KeyError {
            key: key.to_owned(),
            origin: origin(self.figment, key),
            message: format!("expected {expected}, got `{given}`"),
        });
    }

    /// Parses `value` (or `default` when unset) with `parse`; on failure records the error and
    /// returns the parsed default so validation can go on.
    fn field<T>(
        &mut self,
        key: &str,
        value: &Option<Text>,
        default: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> T {
        let fallback = || parse(default).expect("built-in defaults are valid");
        match value {
            None => fallback(),
            Some(Text(given)) => match parse(given.trim()) {
                Some(parsed) => parsed,
                None => {
                    self.fail(key, given, expected);
                    fallback()
                }
            },
        }
    }

    fn optional_string(&mut self, value: &Option<Text>) -> Option<String> {
        value
            .as_ref()
            .map(|Text(text)| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }
}

const DURATION: &str = "a duration like `30s`, `5m` or `1h`, greater than zero and at most 30 days";

/// No setting needs longer; a bound keeps deadline arithmetic from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
const BOOLEAN: &str = "`true` or `false`";

fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text)
        .ok()
        .filter(|duration| !duration.is_zero() && *duration <= MAX_DURATION)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_in_range(text: &str, min: u64, max: u64) -> Option<u64> {
    text.parse::<u64>()
        .ok()
        .filter(|value| (min..=max).contains(value))
}

/// Accepts `:PORT` (every IPv4 interface), `HOST:PORT` and `[V6]:PORT`.
pub fn parse_listen_address(text: &str) -> Option<SocketAddr> {
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().ok()?;
        return Some(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    // A host name such as `localhost:10027`; resolved once, at start-up.
    text.to_socket_addrs().ok()?.next()
}

fn parse_telemetry_path(text: &str) -> Option<String> {
    let reserved = ["/", "/-/healthy", "/-/ready"];
    let valid =
        text.starts_with('/') && !reserved.contains(&text) && !text.contains(['?', '#', ' ']);
    valid.then(|| text.to_owned())
}

fn parse_account_id(text: &str) -> Option<String> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.to_owned())
}

/// `arn:aws:iam::123456789012:role/name` (any partition) → `123456789012`.
pub fn account_id_from_role_arn(arn: &str) -> Option<String> {
    let (account, resource) = crate::aws::split_iam_arn(arn)?;
    resource
        .starts_with("role/")
        .then(|| parse_account_id(account))
        .flatten()
}

fn validate(figment: &Figment, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut v = Validator {
        figment,
        errors: Vec::new(),
    };

    let web = WebConfig {
        listen_address: v.field(
            "web.listen_address",
            &raw.web.listen_address,
            ":10027",
            "an address like `:10027`, `127.0.0.1:10027` or `[::]:10027`",
            parse_listen_address,
        ),
        telemetry_path: v.field(
            "web.telemetry_path",
            &raw.web.telemetry_path,
            "/metrics",
            "a path like `/metrics` (starting with `/`, not `/`, `/-/healthy` or `/-/ready`)",
            parse_telemetry_path,
        ),
        header_read_timeout: v.field(
            "web.header_read_timeout",
            &raw.web.header_read_timeout,
            "10s",
            DURATION,
            parse_duration,
        ),
        max_connections: v.field(
            "web.max_connections",
            &raw.web.max_connections,
            "64",
            "a whole number from 1 to 10000",
            |text| parse_in_range(text, 1, 10_000).map(|n| n as usize),
        ),
    };

    let interval = v.field(
        "refresh.interval",
        &raw.refresh.interval,
        "5m",
        DURATION,
        parse_duration,
    );
    let refresh = RefreshConfig {
        interval,
        timeout: v.field(
            "refresh.timeout",
            &raw.refresh.timeout,
            "10m",
            DURATION,
            parse_duration,
        ),
    };

    let log = LogConfig {
        level: v.field(
            "log.level",
            &raw.log.level,
            "info",
            "one of `debug`, `info`, `warn`, `error`",
            |text| match text.to_ascii_lowercase().as_str() {
                "debug" => Some(LogLevel::Debug),
                "info" => Some(LogLevel::Info),
                "warn" => Some(LogLevel::Warn),
                "error" => Some(LogLevel::Error),
                _ => None,
            },
        ),
        format: v.field(
            "log.format",
            &raw.log.format,
            "logfmt",
            "`logfmt` or `json`",
            |text| match text.to_ascii_lowercase().as_str() {
                "logfmt" => Some(LogFormat::Logfmt),
                "json" => Some(LogFormat::Json),
                _ => None,
            },
        ),
    };

    let endpoint_url = v.optional_string(&raw.aws.endpoint_url);
    if let Some(url) = &endpoint_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            v.fail(
                "aws.endpoint_url",
                url,
                "a URL starting with `http://` or `https://`",
            );
        }
    }
    let aws = AwsConfig {
        region: v.optional_string(&raw.aws.region),
        endpoint_url,
        profile: v.optional_string(&raw.aws.profile),
        max_attempts: v.field(
            "aws.max_attempts",
            &raw.aws.max_attempts,
            "8",
            "a whole number from 1 to 20",
            |text| parse_in_range(text, 1, 20).map(|n| n as u32),
        ),
        connect_timeout: v.field(
            "aws.connect_timeout",
            &raw.aws.connect_timeout,
            "5s",
            DURATION,
            parse_duration,
        ),
        attempt_timeout: v.field(
            "aws.attempt_timeout",
            &raw.aws.attempt_timeout,
            "30s",
            DURATION,
            parse_duration,
        ),
    };

    let collector = CollectorConfig {
        source: v.field(
            "collector.source",
            &raw.collector.source,
            "api",
            "`api` or `credential-report`",
            |text| match text.to_ascii_lowercase().as_str() {
                "api" => Some(SourceKind::Api),
                "credential-report" | "credential_report" => Some(SourceKind::CredentialReport),
                _ => None,
            },
        ),
        concurrency: v.field(
            "collector.concurrency",
            &raw.collector.concurrency,
            "4",
            "a whole number from 1 to 64",
            |text| parse_in_range(text, 1, 64).map(|n| n as usize),
        ),
        last_used: v.field(
            "collector.last_used",
            &raw.collector.last_used,
            "true",
            BOOLEAN,
            parse_bool,
        ),
        mask_access_key_ids: v.field(
            "collector.mask_access_key_ids",
            &raw.collector.mask_access_key_ids,
            "false",
            BOOLEAN,
            parse_bool,
        ),
        report_max_age: v.field(
            "collector.report_max_age",
            &raw.collector.report_max_age,
            "4h",
            DURATION,
            parse_duration,
        ),
        report_wait: v.field(
            "collector.report_wait",
            &raw.collector.report_wait,
            "2m",
            DURATION,
            parse_duration,
        ),
        confirm_report_offenders: v.field(
            "collector.confirm_report_offenders",
            &raw.collector.confirm_report_offenders,
            "true",
            BOOLEAN,
            parse_bool,
        ),
    };

    let mut accounts = Vec::new();
    for (index, account) in raw.accounts.iter().enumerate() {
        let role_arn = v.optional_string(&account.role_arn);
        if let Some(arn) = &role_arn {
            if account_id_from_role_arn(arn).is_none() {
                v.fail(
                    &format!("accounts.{index}.role_arn"),
                    arn,
                    "a role ARN like `arn:aws:iam::123456789012:role/iam-key-exporter`",
                );
            }
        }
        let account_id = match v.optional_string(&account.account_id) {
            Some(id) => {
                if parse_account_id(&id).is_none() {
                    v.fail(
                        &format!("accounts.{index}.account_id"),
                        &id,
                        "a 12-digit AWS account ID",
                    );
                }
                Some(id)
            }
            None => role_arn.as_deref().and_then(account_id_from_role_arn),
        };
        accounts.push(AccountConfig {
            role_arn,
            external_id: v.optional_string(&account.external_id),
            account_id,
        });
    }
    if accounts.is_empty() {
        accounts.push(AccountConfig {
            role_arn: None,
            external_id: None,
            account_id: None,
        });
    }
    let mut seen = std::collections::HashSet::new();
    for (index, account) in accounts.iter().enumerate() {
        if let Some(id) = &account.account_id {
            if !seen.insert(id.clone()) {
                v.errors.push(KeyError {
                    key: format!("accounts.{index}"),
                    origin: None,
                    message: format!(
                        "account `{id}` is listed twice; each account may appear only once"
                    ),
                });
            }
        }
    }

    if v.errors.is_empty() {
        Ok(Config {
            web,
            refresh,
            log,
            aws,
            collector,
            accounts,
        })
    } else {
        Err(ConfigError::Invalid(v.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(extension: &str, contents: &str) -> tempfile_lite::TempFile {
        tempfile_lite::TempFile::new(extension, contents)
    }

    /// A tiny self-deleting temporary file, to keep test dependencies down.
    mod tempfile_lite {
        use super::*;
        pub struct TempFile(pub PathBuf);
        impl TempFile {
            pub fn new(extension: &str, contents: &str) -> Self {
                static COUNTER: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!(
                    "iam-key-exporter-config-test-{}-{n}.{extension}",
                    std::process::id()
                ));
                let mut file = std::fs::File::create(&path).unwrap();
                file.write_all(contents.as_bytes()).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn load(overrides: &Overrides, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load_from(overrides, vars)
    }

    fn errors(result: Result<Config, ConfigError>) -> Vec<KeyError> {
        match result {
            Err(ConfigError::Invalid(errors)) => errors,
            other => panic!("expected invalid configuration, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let config = load(&Overrides::default(), &[]).unwrap();
        assert_eq!(
            config.web.listen_address,
            SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))
        );
        assert_eq!(config.web.telemetry_path, "/metrics");
        assert_eq!(config.refresh.interval, Duration::from_secs(300));
        assert_eq!(config.collector.source, SourceKind::Api);
        assert_eq!(config.collector.concurrency, 4);
        assert!(config.collector.last_used);
        assert_eq!(config.log.format, LogFormat::Logfmt);
        assert_eq!(config.accounts.len(), 1);
        assert_eq!(config.accounts[0].role_arn, None);
    }

    /// The documented examples in `config/` load, and say exactly the defaults.
    #[test]
    fn the_example_files_are_valid_and_match_the_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let defaults = load(&Overrides::default(), &[]).unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let overrides = Overrides {
                config_file: Some(path.clone()),
                ..Overrides::default()
            };
            let config = load(&overrides, &[])
                .unwrap_or_else(|err| panic!("{} is invalid: {err}", path.display()));
            if path
                .file_stem()
                .is_some_and(|stem| stem == "iam-key-exporter")
            {
                assert_eq!(config, defaults, "{} says the defaults", path.display());
                seen += 1;
            }
        }
        assert_eq!(seen, 2, "the TOML and the YAML example");
    }

    #[test]
    fn file_overrides_defaults_env_overrides_file_and_flags_override_env() {
        let toml = file(
            "toml",
            "[refresh]\ninterval = \"10m\"\n[web]\ntelemetry_path = \"/file\"\nlisten_address = \"127.0.0.1:1\"\n[log]\nlevel = \"warn\"\n",
        );
        let overrides = Overrides {
            config_file: Some(toml.0.clone()),
            listen_address: Some("127.0.0.1:3".to_owned()),
            ..Overrides::default()
        };
        let config = load(
            &overrides,
            &[
                ("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", "/env"),
                ("IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS", "127.0.0.1:2"),
            ],
        )
        .unwrap();
        // file only
        assert_eq!(config.refresh.interval, Duration::from_secs(600));
        assert_eq!(config.log.level, LogLevel::Warn);
        // env over file
        assert_eq!(config.web.telemetry_path, "/env");
        // flag over env over file
        assert_eq!(config.web.listen_address, "127.0.0.1:3".parse().unwrap());
    }

    #[test]
    fn yaml_files_are_read_by_extension() {
        let yaml = file(
            "yaml",
            "collector:\n  concurrency: 8\n  last_used: false\naccounts:\n  - role_arn: arn:aws:iam::111111111111:role/audit\n",
        );
        let overrides = Overrides {
            config_file: Some(yaml.0.clone()),
            ..Overrides::default()
        };
        let config = load(&overrides, &[]).unwrap();
        assert_eq!(config.collector.concurrency, 8);
        assert!(!config.collector.last_used);
        assert_eq!(
            config.accounts[0].account_id.as_deref(),
            Some("111111111111")
        );
    }

    #[test]
    fn numbers_from_the_environment_are_accepted_where_text_is_expected() {
        let config = load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "16")],
        )
        .unwrap();
        assert_eq!(config.collector.concurrency, 16);
    }

    #[test]
    fn a_bad_duration_names_the_key_the_value_and_what_is_allowed() {
        let errors = errors(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "-3")],
        ));
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(message.contains("`refresh.interval`"), "{message}");
        assert!(message.contains("`-3`"), "{message}");
        assert!(message.contains("`5m`"), "{message}");
        assert!(
            message.contains("IAM_KEY_EXPORTER_REFRESH__INTERVAL"),
            "{message}"
        );
    }

    #[test]
    fn absurd_durations_are_refused_instead_of_overflowing_later() {
        let errors = errors(load(
            &Overrides::default(),
            &[
                ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1000000years"),
                ("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "0s"),
            ],
        ));
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].to_string().contains("at most 30 days"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_bad_flag_is_named_as_the_origin() {
        let overrides = Overrides {
            log_format: Some("xml".to_owned()),
            ..Overrides::default()
        };
        let message = errors(load(&overrides, &[]))[0].to_string();
        assert!(message.contains("`log.format`"), "{message}");
        assert!(message.contains("--log.format"), "{message}");
        assert!(message.contains("`xml`"), "{message}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_allowed_ones() {
        let toml = file("toml", "[web]\nlisten_adress = \":1\"\n");
        let overrides = Overrides {
            config_file: Some(toml.0.clone()),
            ..Overrides::default()
        };
        let message = errors(load(&overrides, &[]))[0].to_string();
        assert!(message.contains("`web.listen_adress`"), "{message}");
        assert!(message.contains("listen_address"), "{message}");
    }

    #[test]
    fn unknown_environment_variables_with_the_prefix_are_rejected() {
        let message = errors(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_REFRESH__INTERVALL", "5m")],
        ))[0]
            .to_string();
        assert!(message.contains("refresh.intervall"), "{message}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = errors(load(
            &Overrides::default(),
            &[
                ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "0"),
                ("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", "metrics"),
                ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "yes"),
            ],
        ));
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "web.telemetry_path",
                "collector.concurrency",
                "collector.last_used"
            ]
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error_not_silence() {
        let overrides = Overrides {
            config_file: Some(PathBuf::from("/nonexistent/iam-key-exporter.toml")),
            ..Overrides::default()
        };
        let err = load(&overrides, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }

    #[test]
    fn an_unknown_file_extension_says_which_are_allowed() {
        let ini = file("ini", "x=1");
        let overrides = Overrides {
            config_file: Some(ini.0.clone()),
            ..Overrides::default()
        };
        let err = load(&overrides, &[]).unwrap_err().to_string();
        assert!(err.contains(".toml"), "{err}");
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_format() {
        let toml = file("toml", "[web\n");
        let overrides = Overrides {
            config_file: Some(toml.0.clone()),
            ..Overrides::default()
        };
        let err = load(&overrides, &[]).unwrap_err().to_string();
        assert!(err.contains("TOML"), "{err}");
    }

    #[test]
    fn listen_addresses_in_the_exporter_toolkit_forms_are_understood() {
        assert_eq!(
            parse_listen_address(":10027"),
            Some(SocketAddr::from(([0, 0, 0, 0], 10027)))
        );
        assert_eq!(
            parse_listen_address("[::1]:9"),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(parse_listen_address("10027"), None);
        assert_eq!(parse_listen_address(":99999"), None);
    }

    #[test]
    fn role_arns_give_the_account_id() {
        assert_eq!(
            account_id_from_role_arn("arn:aws:iam::123456789012:role/path/audit").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            account_id_from_role_arn("arn:aws-cn:iam::123456789012:role/a").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_id_from_role_arn("arn:aws:iam::123:role/a"), None);
        assert_eq!(
            account_id_from_role_arn("arn:aws:iam::123456789012:user/a"),
            None
        );
    }

    #[test]
    fn the_same_account_twice_is_rejected() {
        let toml = file(
            "toml",
            "[[accounts]]\nrole_arn = \"arn:aws:iam::111111111111:role/a\"\n[[accounts]]\naccount_id = \"111111111111\"\nrole_arn = \"arn:aws:iam::111111111111:role/b\"\n",
        );
        let overrides = Overrides {
            config_file: Some(toml.0.clone()),
            ..Overrides::default()
        };
        let message = errors(load(&overrides, &[]))[0].to_string();
        assert!(message.contains("listed twice"), "{message}");
    }
}
