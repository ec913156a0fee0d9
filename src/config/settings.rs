//! Every scalar setting, defined once: its key, its flag (if any), its default, its help text
//! and what it accepts. The command line, validation, `--help`, the README's table and the
//! example files in `config/` all come from (or are tested against) this table.

/// Which commands take a setting's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagScope {
    /// Only the daemon (no subcommand): web server and refresh schedule.
    Daemon,
    /// The daemon and every subcommand.
    Global,
}

/// One scalar setting.
#[derive(Debug)]
pub(crate) struct Setting {
    /// Dotted key, e.g. `refresh.interval`; the environment variable is derived from it.
    pub key: &'static str,
    /// The flag, in exporter-toolkit style (`--refresh.interval`), for settings that have one.
    pub flag: Option<(&'static str, FlagScope)>,
    /// The built-in default as a user would write it; `None`: unset unless given.
    pub default: Option<&'static str>,
    /// One sentence for `--help`, the README and the example files.
    pub help: &'static str,
    /// What a valid value looks like, for error messages.
    pub expected: &'static str,
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
        self.flag.map(|(name, _)| name)
    }
}

const DURATION: &str = "a duration like `30s`, `5m` or `1h`, greater than zero and at most 30 days";
const BOOLEAN: &str = "`true` or `false`";

macro_rules! settings {
    ($($name:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        $(pub(crate) const $name: Setting = Setting { $($field: $value),* };)*
        /// Every setting, in the order of the sections of the example files.
        pub(crate) const ALL: &[&Setting] = &[$(&$name),*];
    };
}

settings! {
    LISTEN_ADDRESS {
        key: "web.listen_address",
        flag: Some(("web.listen-address", FlagScope::Daemon)),
        default: Some(":10027"),
        help: "Address to listen on for the metrics page.",
        expected: "an address like `:10027`, `127.0.0.1:10027` or `[::]:10027`",
    }
    TELEMETRY_PATH {
        key: "web.telemetry_path",
        flag: Some(("web.telemetry-path", FlagScope::Daemon)),
        default: Some("/metrics"),
        help: "Path under which to expose metrics.",
        expected: "a path like `/metrics`: ASCII, starting with `/`, without spaces, `?`, `#` or `%`, and not `/`, `/-/healthy` or `/-/ready`",
    }
    WEB_CONFIG_FILE {
        key: "web.config_file",
        flag: Some(("web.config.file", FlagScope::Daemon)),
        default: None,
        help: "Web configuration file that turns on TLS and basic authentication; unset: plain HTTP, no authentication.",
        expected: "the path of a readable web configuration file (YAML, exporter-toolkit format)",
    }
    HEADER_READ_TIMEOUT {
        key: "web.header_read_timeout",
        flag: None,
        default: Some("10s"),
        help: "A client that has not sent its request headers after this long, or a kept-alive connection idle this long, is disconnected.",
        expected: DURATION,
    }
    MAX_CONNECTIONS {
        key: "web.max_connections",
        flag: None,
        default: Some("64"),
        help: "Connections held open at once.",
        expected: "a whole number from 1 to 10000",
    }
    WRITE_TIMEOUT {
        key: "web.write_timeout",
        flag: None,
        default: Some("30s"),
        help: "A client that has not read the answers to its requests after this long is disconnected.",
        expected: DURATION,
    }
    REFRESH_INTERVAL {
        key: "refresh.interval",
        flag: Some(("refresh.interval", FlagScope::Daemon)),
        default: Some("5m"),
        help: "Time between the starts of two refreshes of the IAM data.",
        expected: DURATION,
    }
    REFRESH_TIMEOUT {
        key: "refresh.timeout",
        flag: None,
        default: Some("10m"),
        help: "A refresh (or a check) that takes longer is abandoned and counted as a `timeout` error.",
        expected: DURATION,
    }
    LOG_LEVEL {
        key: "log.level",
        flag: Some(("log.level", FlagScope::Global)),
        default: Some("info"),
        help: "Only log messages with this severity or above: debug, info, warn, error.",
        expected: "one of `debug`, `info`, `warn`, `error`",
    }
    LOG_FORMAT {
        key: "log.format",
        flag: Some(("log.format", FlagScope::Global)),
        default: Some("logfmt"),
        help: "Output format of log messages on standard error: logfmt, json.",
        expected: "`logfmt` or `json`",
    }
    REGION {
        key: "aws.region",
        flag: None,
        default: None,
        help: "Region for request signing; unset: AWS_REGION, then the profile's region, then us-east-1.",
        expected: "a region name like `us-east-1`",
    }
    USE_FIPS {
        key: "aws.use_fips",
        flag: None,
        default: Some("false"),
        help: "Use AWS's FIPS 140 endpoints where the service has them (IAM, STS, Organizations, SQS in the US and GovCloud regions).",
        expected: "`true` or `false`",
    }
    ENDPOINT_URL {
        key: "aws.endpoint_url",
        flag: None,
        default: None,
        help: "Endpoint override, for a local stand-in; unset: AWS_ENDPOINT_URL or the real endpoint.",
        expected: "a URL starting with `http://` or `https://`",
    }
    PROFILE {
        key: "aws.profile",
        flag: None,
        default: None,
        help: "Named profile of the shared AWS config files; unset: AWS_PROFILE or `default`.",
        expected: "a profile name",
    }
    MAX_ATTEMPTS {
        key: "aws.max_attempts",
        flag: None,
        default: Some("8"),
        help: "Attempts per AWS request, the first included; throttling and 5xx are retried with back-off.",
        expected: "a whole number from 1 to 20",
    }
    CONNECT_TIMEOUT {
        key: "aws.connect_timeout",
        flag: None,
        default: Some("5s"),
        help: "Time allowed to open a connection to AWS.",
        expected: DURATION,
    }
    ATTEMPT_TIMEOUT {
        key: "aws.attempt_timeout",
        flag: None,
        default: Some("30s"),
        help: "Time allowed for one attempt of one AWS request.",
        expected: DURATION,
    }
    MAX_RESPONSE_SIZE {
        key: "aws.max_response_size",
        flag: None,
        default: Some("32MiB"),
        help: "The largest AWS response read; a larger one fails its request instead of exhausting memory.",
        expected: "a size like `32MiB` or `64MB`, from 1MiB to 1GiB",
    }
    MAX_REQUESTS_PER_SECOND {
        key: "aws.max_requests_per_second",
        flag: None,
        default: Some("0"),
        help: "Requests per second to one account, retries included; 0: no cap. IAM's limits are per account and shared.",
        expected: "a whole number from 0 (no cap) to 1000",
    }
    SOURCE {
        key: "collector.source",
        flag: None,
        default: Some("api"),
        help: "Where IAM data comes from: `api` (ListUsers, then ListAccessKeys per user) or `credential-report`.",
        expected: "`api` or `credential-report`",
    }
    CONCURRENCY {
        key: "collector.concurrency",
        flag: None,
        default: Some("4"),
        help: "Users whose keys are asked for at once (API mode and report confirmations).",
        expected: "a whole number from 1 to 64",
    }
    MAX_USERS {
        key: "collector.max_users",
        flag: None,
        default: Some("10000"),
        help: "The most users one account's listing may hold; a longer one is a broken or hostile answer (IAM allows 5,000 per account).",
        expected: "a whole number from 1 to 1000000",
    }
    MAX_CONCURRENT_ACCOUNTS {
        key: "collector.max_concurrent_accounts",
        flag: None,
        default: Some("8"),
        help: "Accounts collected at once; each account refreshes on its own schedule.",
        expected: "a whole number from 1 to 256",
    }
    LAST_USED {
        key: "collector.last_used",
        flag: None,
        default: Some("true"),
        help: "API mode: collect each key's last use, from the credential report (GetAccessKeyLastUsed for keys it cannot place, or for every active key without a report).",
        expected: BOOLEAN,
    }
    MASK_ACCESS_KEY_IDS {
        key: "collector.mask_access_key_ids",
        flag: None,
        default: Some("false"),
        help: "Show only the last four characters of access key IDs in labels and output.",
        expected: BOOLEAN,
    }
    KEY_SERIES {
        key: "collector.key_series",
        flag: None,
        default: Some("all"),
        help: "Per-key series for `all` keys, only for `offenders` (users with more than one active key), or `none`.",
        expected: "`all`, `offenders` or `none`",
    }
    REPORT_MAX_AGE {
        key: "collector.report_max_age",
        flag: None,
        default: Some("4h"),
        help: "A credential report older than this is generated anew (credential-report mode, and API mode's last use).",
        expected: DURATION,
    }
    REPORT_WAIT {
        key: "collector.report_wait",
        flag: None,
        default: Some("2m"),
        help: "How long to wait while AWS generates a credential report (credential-report mode, and API mode's last use).",
        expected: DURATION,
    }
    CONFIRM_REPORT_OFFENDERS {
        key: "collector.confirm_report_offenders",
        flag: None,
        default: Some("true"),
        help: "Credential-report mode: confirm the users the report flags with ListAccessKeys.",
        expected: BOOLEAN,
    }
    EXEMPTION_TAGS {
        key: "collector.exemption_tags",
        flag: None,
        default: Some("true"),
        help: "Read the exemption tags of users with more than one active key (ListUserTags, one request per such user).",
        expected: BOOLEAN,
    }
    MAX_EXEMPTION {
        key: "collector.max_exemption",
        flag: None,
        default: Some("90d"),
        help: "The furthest ahead an exemption may expire; a tag beyond it is invalid, a config entry beyond it refused.",
        expected: "a duration like `30d` or `90d`, from one day to 366 days",
    }
    ORGANIZATIONS_ENABLED {
        key: "organizations.enabled",
        flag: None,
        default: Some("false"),
        help: "Watch every active account of the AWS Organization the credentials can list.",
        expected: BOOLEAN,
    }
    ORGANIZATIONS_ROLE_NAME {
        key: "organizations.role_name",
        flag: None,
        default: Some("iam-key-exporter-audit"),
        help: "The role assumed in each member account: arn:aws:iam::ACCOUNT:role/ROLE_NAME.",
        expected: "an IAM role name (letters, digits and `+=,.@_-`, at most 64), optionally with a path like `audit/iam-key-exporter`",
    }
    ORGANIZATIONS_EXTERNAL_ID {
        key: "organizations.external_id",
        flag: None,
        default: None,
        help: "The external ID the member roles' trust policy demands, if any.",
        expected: "an external ID",
    }
    ORGANIZATIONS_INCLUDE_OUS {
        key: "organizations.include_ous",
        flag: None,
        default: None,
        help: "Only the accounts under these OUs (or roots), nested OUs included; unset: every account.",
        expected: "a list of OU or root IDs like `ou-ab12-cdef3456` or `r-ab12`",
    }
    ORGANIZATIONS_EXCLUDE_ACCOUNTS {
        key: "organizations.exclude_accounts",
        flag: None,
        default: None,
        help: "Accounts never watched, the management account included if listed.",
        expected: "a list of 12-digit account IDs",
    }
    ORGANIZATIONS_REFRESH_INTERVAL {
        key: "organizations.refresh_interval",
        flag: None,
        default: Some("1h"),
        help: "Time between two discoveries of the organization's accounts.",
        expected: DURATION,
    }
    EVENTS_SQS_QUEUE_URL {
        key: "events.sqs_queue_url",
        flag: None,
        default: None,
        help: "The SQS queue IAM change events arrive in (EventBridge, deploy/events/); unset: no events, scheduled refreshes only.",
        expected: "a queue URL like `https://sqs.us-east-1.amazonaws.com/111111111111/iam-key-exporter-events`",
    }
    EVENTS_WAIT_TIME {
        key: "events.wait_time",
        flag: None,
        default: Some("20s"),
        help: "How long one poll of the queue waits for a message (SQS long polling).",
        expected: "a duration from `1s` to `20s`, shorter than `aws.attempt_timeout`",
    }
    SHARDING_COUNT {
        key: "sharding.count",
        flag: None,
        default: Some("1"),
        help: "Replicas the watched accounts are spread over, each account watched by exactly one.",
        expected: "a whole number from 1 to 1000",
    }
    SHARDING_INDEX {
        key: "sharding.index",
        flag: None,
        default: Some("0"),
        help: "This replica's place among them, from 0 (in Kubernetes, the pod's ordinal).",
        expected: "a whole number from 0 to `sharding.count` - 1",
    }
}

/// Settings that take a list: a TOML or YAML list, or the items separated by commas.
pub(crate) const LISTS: &[&Setting] =
    &[&ORGANIZATIONS_INCLUDE_OUS, &ORGANIZATIONS_EXCLUDE_ACCOUNTS];

/// The keys of one `[[accounts]]` entry, with their help texts.
pub(crate) const ACCOUNT_KEYS: &[(&str, &str)] = &[
    (
        "role_arn",
        "The role to assume in the account; unset: the default credentials' own account.",
    ),
    (
        "external_id",
        "The external ID the role's trust policy demands, if any.",
    ),
    (
        "account_id",
        "The account's 12-digit ID; taken from role_arn when not given.",
    ),
    (
        "name",
        "A name for the account, shown as `account_name` in `iam_account_info`.",
    ),
];

/// The setting with this key.
pub(crate) fn find(key: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|setting| setting.key == key)
}

/// The settings table in the README's Markdown, generated so that it cannot drift.
#[cfg(test)]
pub(crate) fn markdown_table() -> String {
    let mut out = String::from("| key | flag | default | meaning |\n|---|---|---|---|\n");
    for setting in ALL {
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
    for (key, help) in ACCOUNT_KEYS {
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
    fn every_key_is_defined_once_and_every_flag_once() {
        let mut keys: Vec<_> = ALL.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ALL.len(), "a key is defined twice");
        let mut flags: Vec<_> = ALL.iter().filter_map(|s| s.flag_name()).collect();
        let count = flags.len();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!(flags.len(), count, "a flag is defined twice");
    }

    #[test]
    fn environment_variables_are_derived_from_the_key() {
        assert_eq!(
            REFRESH_INTERVAL.env_var(),
            "IAM_KEY_EXPORTER_REFRESH__INTERVAL"
        );
    }

    /// The README's settings table is exactly what the table above generates.
    #[test]
    fn the_readme_table_says_what_the_settings_say() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let begin = "<!-- BEGIN settings (generated: see src/config/settings.rs) -->\n";
        let end = "<!-- END settings -->";
        let start = readme
            .find(begin)
            .expect("the README has the settings markers")
            + begin.len();
        let stop = readme[start..].find(end).expect("the end marker") + start;
        assert_eq!(
            &readme[start..stop],
            markdown_table(),
            "README.md's settings table is out of date; replace it with the text above"
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
            for setting in ALL {
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
