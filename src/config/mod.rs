//! Configuration: layered sources in, one validated [`Config`] out.
//!
//! Every scalar setting is defined once, in [`settings`]: key, flag, default, help text and
//! what it accepts. Loading has two stages, so that what the user typed stays apart from what
//! the program uses:
//!
//! 1. [`layers`]: figment merges the config file (`--config.file`, TOML or YAML by extension) <
//!    environment variables (`IAM_KEY_EXPORTER_`, `__` between levels) < flags, and flattens
//!    the result into dotted keys with the text the user wrote. Unknown keys are collected as
//!    errors, not fatal ones, so that they are reported with every other problem.
//! 2. [`validate`]: each key is parsed into its real type (`SocketAddr`, `Duration`, enums);
//!    a key not given takes its default from the table. Every problem is reported at once,
//!    each naming the key, where it came from, what was given and what is allowed.
//!
//! Nothing here binds a port or talks to AWS: a bad configuration fails before anything starts.

pub(crate) mod exemptions;
mod layers;
pub(crate) mod settings;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use exemptions::{ExemptionConfig, UserMatch};
use settings::Setting;

/// Prefix of every environment variable the exporter reads.
pub(crate) const ENV_PREFIX: &str = "IAM_KEY_EXPORTER_";

/// The environment variable naming the config file (the `--config.file` flag's).
pub(crate) const CONFIG_FILE_ENV: &str = "IAM_KEY_EXPORTER_CONFIG_FILE";

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

/// IAM change events (`[events]`): a queue that EventBridge fills with IAM's CloudTrail events.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// The queue's URL.
    pub sqs_queue_url: String,
    /// How long one poll waits for a message.
    pub wait_time: Duration,
}

/// The accounts are spread over `count` replicas by rendezvous hashing of their IDs, so that
/// changing the count moves few accounts; this replica watches those of `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardingConfig {
    /// Replicas in all.
    pub count: u32,
    /// This one, from 0.
    pub index: u32,
}

/// How the accounts of an AWS Organization are found and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationsConfig {
    /// The role assumed in each member account (name, with its path if any).
    pub role_name: String,
    /// The external ID the member roles demand.
    pub external_id: Option<String>,
    /// Only the accounts under these OUs or roots; empty: every account.
    pub include_ous: Vec<String>,
    /// Accounts never watched.
    pub exclude_accounts: Vec<String>,
    /// Time between two discoveries.
    pub refresh_interval: Duration,
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
    /// Connections held open at once; at the cap a new connection closes the oldest, so no
    /// set of clients can hold every slot.
    pub max_connections: usize,
    /// How long a client may take to read the answers to what it asked (pipelined requests
    /// included), from the last request it sent.
    pub write_timeout: Duration,
    /// The exporter-toolkit web configuration file (TLS, basic authentication); `None`: plain
    /// HTTP without authentication. Checked here to exist; read by the server, which re-reads
    /// it when it changes.
    pub config_file: Option<PathBuf>,
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
    /// FIPS endpoints (`aws.use_fips`), for workloads that must use FIPS 140 validated
    /// cryptography (FedRAMP, GovCloud).
    pub use_fips: bool,
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
    /// The largest response read, in bytes (the credential report of 5,000 users is some
    /// 1.5 MB; 100,000 users some 40 MB).
    pub max_response_size: usize,
    /// Requests per second to one account, every attempt counted; `None`: no cap.
    pub max_requests_per_second: Option<u32>,
}

/// What is collected.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Where the data comes from.
    pub source: SourceKind,
    /// API mode: users whose keys are listed at the same time.
    pub concurrency: usize,
    /// The most users one account's listing may hold (`collector.max_users`): memory stays
    /// bounded whatever an endpoint sends.
    pub max_users: usize,
    /// Accounts collected at the same time, so that many accounts share one request budget.
    pub max_concurrent_accounts: usize,
    /// API mode: whether to ask `GetAccessKeyLastUsed` for every key (one request per key).
    pub last_used: bool,
    /// Show only the last four characters of access key IDs in labels and output.
    pub mask_access_key_ids: bool,
    /// Which keys get series of their own.
    pub key_series: KeySeries,
    /// Credential-report mode: a report older than this is generated anew (AWS allows one
    /// every four hours).
    pub report_max_age: Duration,
    /// Credential-report mode: how long to wait for a report that is being generated.
    pub report_wait: Duration,
    /// Credential-report mode: confirm the users the report flags with `ListAccessKeys` (real
    /// key IDs, current statuses; one request per flagged user).
    pub confirm_report_offenders: bool,
    /// Read the exemption tags of users with more than one active key (`ListUserTags`).
    pub exemption_tags: bool,
    /// The furthest ahead an exemption may expire.
    pub max_exemption: Duration,
}

/// Which keys get series of their own (`iam_access_key_*`); the per-user and per-account
/// gauges are always there. An organization of 1,000 accounts of 1,000 users has some 4M
/// per-key series: more than one Prometheus holds comfortably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySeries {
    /// Every key: key age and last use for everyone (the age and unused-key alerts need it).
    All,
    /// Only the keys of users with more than one active key: what the multiple-keys alert
    /// and the dashboard's offender table need.
    Offenders,
    /// None: counts only.
    None,
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
    /// A name for people (`iam_account_info{account_name}`).
    pub name: Option<String>,
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
            Err(more) => {
                errors.extend(more);
                Err(ConfigError::Invalid(errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The exporter's port, from the range the Prometheus wiki keeps for exporters.
    const DEFAULT_PORT: u16 = 10027;

    use crate::arn::account_id_from_role_arn;
    use settings::LOG_FORMAT;
    use std::net::SocketAddr;
    use std::path::Path;
    use validate::parse_listen_address;

    /// A config file that lives as long as the value: its path is `.0.path()`.
    struct TempFile(tempfile::TempPath);

    fn file(extension: &str, contents: &str) -> TempFile {
        let mut named = tempfile::Builder::new()
            .suffix(&format!(".{extension}"))
            .tempfile()
            .unwrap();
        named.write_all(contents.as_bytes()).unwrap();
        TempFile(named.into_temp_path())
    }

    impl TempFile {
        fn overrides(&self) -> Overrides {
            Overrides {
                config_file: Some(self.0.to_path_buf()),
                ..Overrides::default()
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
        let overrides = toml
            .overrides()
            .with_flag(&settings::LISTEN_ADDRESS, "127.0.0.1:3");
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
        let overrides = yaml.overrides();
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
        let overrides = Overrides::default().with_flag(&LOG_FORMAT, "xml");
        let message = errors(load(&overrides, &[]))[0].to_string();
        assert!(message.contains("`log.format`"), "{message}");
        assert!(message.contains("--log.format"), "{message}");
        assert!(message.contains("`xml`"), "{message}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_allowed_ones() {
        let toml = file("toml", "[web]\nlisten_adress = \":1\"\n");
        let overrides = toml.overrides();
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
        let overrides = ini.overrides();
        let err = load(&overrides, &[]).unwrap_err().to_string();
        assert!(err.contains(".toml"), "{err}");
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_format() {
        let toml = file("toml", "[web\n");
        let overrides = toml.overrides();
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
    fn an_unknown_key_does_not_hide_the_other_problems_of_the_file() {
        let toml = file(
            "toml",
            "[web]\nlisten_adress = \":1\"\n[refresh]\ninterval = \"-3\"\n[nope]\nx = 1\n",
        );
        let keys: Vec<String> = errors(load(
            &toml.overrides(),
            &[("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "0")],
        ))
        .into_iter()
        .map(|e| e.key)
        .collect();
        assert_eq!(
            keys,
            [
                "nope",
                "web.listen_adress",
                "refresh.interval",
                "collector.concurrency"
            ]
        );
    }

    #[test]
    fn a_malformed_environment_variable_name_is_an_error_not_silence() {
        for name in [
            "IAM_KEY_EXPORTER_WEB__",
            "IAM_KEY_EXPORTER_",
            "IAM_KEY_EXPORTER_WEB____X",
        ] {
            let errors = errors(load(&Overrides::default(), &[(name, "1")]));
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            let message = errors[0].to_string();
            assert!(message.contains(name), "{message}");
            assert!(
                message.contains("IAM_KEY_EXPORTER_REFRESH__INTERVAL"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_section_given_as_a_value_and_a_list_given_as_a_value_are_refused() {
        let toml = file("toml", "web = 5\n[refresh]\ninterval = [1, 2]\n");
        let messages: Vec<String> = errors(load(&toml.overrides(), &[]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages
            .iter()
            .any(|m| m.contains("`web`") && m.contains("section")));
        assert!(messages
            .iter()
            .any(|m| m.contains("`refresh.interval`") && m.contains("a list")));
    }

    #[test]
    fn a_yaml_key_given_twice_is_refused_as_toml_refuses_it() {
        let yaml = file("yaml", "refresh:\n  interval: 1m\n  interval: 2m\n");
        let err = load(&yaml.overrides(), &[]).unwrap_err().to_string();
        assert!(err.contains("duplicate"), "{err}");
        let toml = file("toml", "[refresh]\ninterval = \"1m\"\ninterval = \"2m\"\n");
        assert!(load(&toml.overrides(), &[]).is_err());
    }

    #[test]
    fn deeply_nested_brackets_are_refused_at_once_not_parsed() {
        let deep = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let yaml = file("yaml", &deep);
        let started = std::time::Instant::now();
        let err = load(&yaml.overrides(), &[]).unwrap_err().to_string();
        assert!(err.contains("levels deep"), "{err}");
        // Not a timing test: the scan is linear; this only says it did not hand the text on.
        assert!(started.elapsed() < Duration::from_secs(5));
        // Brackets inside strings and comments do not count.
        let fine = file("yaml", "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nweb:\n  telemetry_path: \"/[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n");
        assert!(load(&fine.overrides(), &[]).is_ok());
    }

    #[test]
    fn oversized_files_and_values_are_refused_before_they_are_parsed() {
        let big = file("toml", &format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
        let err = load(&big.overrides(), &[]).unwrap_err().to_string();
        assert!(err.contains("at most 1048576 bytes"), "{err}");
        let long = "1".repeat(100_000);
        let errors = errors(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", long.as_str())],
        ));
        assert!(
            errors[0].to_string().contains("at most 65536"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_role_arn_without_a_role_name_is_refused() {
        for arn in [
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/path/",
            "arn:aws:iam::123456789012:role/bad name",
        ] {
            assert_eq!(account_id_from_role_arn(arn), None, "{arn}");
        }
    }

    #[test]
    fn a_telemetry_path_must_be_one_a_client_can_ask_for_as_written() {
        for path in ["/métriques", "/a b", "/50%", "/m?x"] {
            let errors = errors(load(
                &Overrides::default(),
                &[("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", path)],
            ));
            assert_eq!(errors[0].key, "web.telemetry_path", "{path}");
        }
        let config = load(
            &Overrides::default(),
            &[(
                "IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH",
                "/iam-key-exporter/metrics",
            )],
        )
        .unwrap();
        assert_eq!(config.web.telemetry_path, "/iam-key-exporter/metrics");
    }

    #[test]
    fn a_rate_cap_that_would_time_out_queued_requests_is_refused() {
        let errors = errors(load(
            &Overrides::default(),
            &[
                ("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "1"),
                ("IAM_KEY_EXPORTER_AWS__ATTEMPT_TIMEOUT", "5s"),
                ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "8"),
            ],
        ));
        assert_eq!(errors[0].key, "collector.concurrency");
        assert!(errors[0].to_string().contains("at most 5"), "{}", errors[0]);
        assert!(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "1")],
        )
        .is_ok());
    }

    #[test]
    fn with_discovery_an_entry_for_the_own_account_is_refused_as_a_duplicate() {
        let toml = file(
            "toml",
            "[organizations]\nenabled = true\n[[accounts]]\n[[accounts]]\naccount_id = \"222222222222\"\n",
        );
        let errors = errors(load(&toml.overrides(), &[]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "accounts.0");
        let toml = file("toml", "[organizations]\nenabled = true\n");
        let config = load(&toml.overrides(), &[]).unwrap();
        assert!(
            config.accounts.is_empty(),
            "the organization brings its accounts"
        );
    }

    #[test]
    fn the_same_account_twice_is_rejected() {
        let toml = file(
            "toml",
            "[[accounts]]\nrole_arn = \"arn:aws:iam::111111111111:role/a\"\n[[accounts]]\naccount_id = \"111111111111\"\nrole_arn = \"arn:aws:iam::111111111111:role/b\"\n",
        );
        let overrides = toml.overrides();
        let message = errors(load(&overrides, &[]))[0].to_string();
        assert!(message.contains("listed twice"), "{message}");
    }

    #[test]
    fn exemptions_load_with_every_field_and_expired_ones_are_kept() {
        let toml = file(
            "toml",
            r#"
[[exemptions]]
account = "111111111111"
user = "vendor-acme"
reason = "cut-over"
owner = "payments"
expires = "2020-01-01"

[[exemptions]]
account = "*"
user_pattern = "ci-*"
reason = "migration"
owner = "platform"
expires = "2020-01-01T12:00:00Z"
"#,
        );
        let config = load(&toml.overrides(), &[]).unwrap();
        assert_eq!(config.exemptions.len(), 2);
        assert_eq!(
            config.exemptions[0].account.as_deref(),
            Some("111111111111")
        );
        assert_eq!(
            config.exemptions[0].user,
            UserMatch::Name("vendor-acme".to_owned())
        );
        assert_eq!(config.exemptions[0].expires, 1_577_836_800);
        assert_eq!(config.exemptions[1].account, None);
        assert_eq!(
            config.exemptions[1].user,
            UserMatch::Pattern("ci-*".to_owned())
        );
        assert_eq!(config.exemptions[1].expires, 1_577_880_000);
    }

    /// Each broken entry names its key, what was given and what would be right.
    #[test]
    fn a_broken_exemption_is_refused_with_what_is_wrong() {
        let toml = file(
            "toml",
            r#"
[[exemptions]]
account = "12345"
user = "a"
user_pattern = "b*"
reason = "r"
expires = "2099-01-01"
colour = "red"

[[exemptions]]
account = "111111111111"
"#,
        );
        let messages: Vec<String> = errors(load(&toml.overrides(), &[]))
            .iter()
            .map(ToString::to_string)
            .collect();
        let all = messages.join("\n");
        for expected in [
            "`exemptions.0.colour`",
            "`exemptions.0.account`",
            "a 12-digit AWS account ID, or `*`",
            "give `user` or `user_pattern`, not both",
            "`exemptions.0.owner`: missing",
            "`exemptions.0.expires`",
            "at most 90 days from now (`collector.max_exemption`), so no later than 20",
            "`exemptions.1.user`: missing",
            "`exemptions.1.reason`: missing",
            "`exemptions.1.expires`: missing",
        ] {
            assert!(all.contains(expected), "`{expected}` not in:\n{all}");
        }
        // A longer allowance is one setting away.
        let toml = file(
            "toml",
            "[collector]\nmax_exemption = \"366d\"\n[[exemptions]]\naccount = \"*\"\nuser = \"a\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"2020-01-01\"\n",
        );
        assert_eq!(
            load(&toml.overrides(), &[])
                .unwrap()
                .collector
                .max_exemption
                .as_secs(),
            366 * 86_400
        );
    }
}
