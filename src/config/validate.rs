//! Validation: each flattened key parsed into its real type, defaults from the settings
//! table for keys not given, and every problem collected so the user sees them all at once.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::exemptions::{self as e, ExemptionConfig, UserMatch};
use super::layers::{Layered, Raw};
use super::settings::{self as s, Setting};
use super::EventsConfig;
use super::{
    AccountConfig, AwsConfig, CollectorConfig, Config, KeyError, KeySeries, LogConfig, LogFormat,
    LogLevel, OrganizationsConfig, RefreshConfig, ShardingConfig, SourceKind, WebConfig,
};
use crate::arn;

/// Collects every problem while validating.
struct Validator<'a> {
    layered: &'a Layered,
    raw: &'a Raw,
    errors: Vec<KeyError>,
}

impl Validator<'_> {
    fn fail(&mut self, key: &str, given: &str, expected: &str) {
        self.errors.push(KeyError {
            key: key.to_owned(),
            origin: self.layered.origin(key),
            message: format!("expected {expected}, got `{given}`"),
        });
    }

    /// Parses the setting's value (or its default when unset) with `parse`; on failure
    /// records the error and returns the parsed default so validation can go on.
    fn field<T>(&mut self, setting: &Setting, parse: impl Fn(&str) -> Option<T>) -> T {
        let default = setting.default.expect("a setting with a default");
        let fallback = || parse(default).expect("built-in defaults are valid");
        match self.raw.get(setting.key) {
            None => fallback(),
            Some(given) => match parse(given.trim()) {
                Some(parsed) => parsed,
                None => {
                    self.fail(setting.key, given, setting.expected);
                    fallback()
                }
            },
        }
    }

    /// A list setting: its comma-separated items, each checked with `valid`; empty when unset.
    fn list(&mut self, setting: &Setting, valid: impl Fn(&str) -> bool) -> Vec<String> {
        let Some(given) = self.raw.get(setting.key) else {
            return Vec::new();
        };
        let items: Vec<String> = given
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        for item in &items {
            if !valid(item) {
                self.fail(setting.key, item, setting.expected);
            }
        }
        items
    }

    /// A setting without a default: `None` when unset or blank.
    fn optional(&mut self, setting: &Setting) -> Option<String> {
        self.raw
            .get(setting.key)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    }
}

/// No setting needs longer; a bound keeps deadline arithmetic from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text)
        .ok()
        .filter(|duration| !duration.is_zero() && *duration <= MAX_DURATION)
}

/// `32MiB`, `64MB`, `1GiB`, `500KiB` or a number of bytes; from 1 MiB to 1 GiB.
fn parse_size(text: &str) -> Option<usize> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    let bytes = number.checked_mul(unit)?;
    ((1 << 20)..=(1 << 30))
        .contains(&bytes)
        .then_some(bytes as usize)
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
pub(crate) fn parse_listen_address(text: &str) -> Option<SocketAddr> {
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

/// A path the server can match as given: ASCII without spaces, `?`, `#` or `%` (a client would
/// percent-encode anything else, and the request would never match).
fn parse_telemetry_path(text: &str) -> Option<String> {
    let reserved = ["/", "/-/healthy", "/-/ready"];
    let valid = text.starts_with('/')
        && !reserved.contains(&text)
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%'));
    valid.then(|| text.to_owned())
}

pub(super) fn validate(layered: &Layered, raw: &Raw) -> Result<Config, Vec<KeyError>> {
    let mut v = Validator {
        layered,
        raw,
        errors: Vec::new(),
    };

    let web = WebConfig {
        listen_address: v.field(&s::LISTEN_ADDRESS, parse_listen_address),
        telemetry_path: v.field(&s::TELEMETRY_PATH, parse_telemetry_path),
        header_read_timeout: v.field(&s::HEADER_READ_TIMEOUT, parse_duration),
        max_connections: v.field(&s::MAX_CONNECTIONS, |text| {
            parse_in_range(text, 1, 10_000).map(|n| n as usize)
        }),
        write_timeout: v.field(&s::WRITE_TIMEOUT, parse_duration),
        config_file: web_config_file(&mut v),
    };
    let refresh = RefreshConfig {
        interval: v.field(&s::REFRESH_INTERVAL, parse_duration),
        timeout: v.field(&s::REFRESH_TIMEOUT, parse_duration),
    };
    let log = LogConfig {
        level: v.field(&s::LOG_LEVEL, |text| {
            match text.to_ascii_lowercase().as_str() {
                "debug" => Some(LogLevel::Debug),
                "info" => Some(LogLevel::Info),
                "warn" => Some(LogLevel::Warn),
                "error" => Some(LogLevel::Error),
                _ => None,
            }
        }),
        format: v.field(&s::LOG_FORMAT, |text| {
            match text.to_ascii_lowercase().as_str() {
                "logfmt" => Some(LogFormat::Logfmt),
                "json" => Some(LogFormat::Json),
                _ => None,
            }
        }),
    };

    let endpoint_url = v.optional(&s::ENDPOINT_URL);
    if let Some(url) = &endpoint_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            v.fail(s::ENDPOINT_URL.key, url, s::ENDPOINT_URL.expected);
        }
    }
    let aws = AwsConfig {
        region: v.optional(&s::REGION),
        use_fips: v.field(&s::USE_FIPS, parse_bool),
        endpoint_url,
        profile: v.optional(&s::PROFILE),
        max_attempts: v.field(&s::MAX_ATTEMPTS, |text| {
            parse_in_range(text, 1, 20).map(|n| n as u32)
        }),
        connect_timeout: v.field(&s::CONNECT_TIMEOUT, parse_duration),
        attempt_timeout: v.field(&s::ATTEMPT_TIMEOUT, parse_duration),
        max_response_size: v.field(&s::MAX_RESPONSE_SIZE, parse_size),
        max_requests_per_second: v.field(&s::MAX_REQUESTS_PER_SECOND, |text| {
            parse_in_range(text, 0, 1000).map(|n| (n > 0).then_some(n as u32))
        }),
    };

    let collector = CollectorConfig {
        source: v.field(&s::SOURCE, |text| {
            match text.to_ascii_lowercase().as_str() {
                "api" => Some(SourceKind::Api),
                "credential-report" | "credential_report" => Some(SourceKind::CredentialReport),
                _ => None,
            }
        }),
        concurrency: v.field(&s::CONCURRENCY, |text| {
            parse_in_range(text, 1, 64).map(|n| n as usize)
        }),
        max_users: v.field(&s::MAX_USERS, |text| {
            parse_in_range(text, 1, 1_000_000).map(|n| n as usize)
        }),
        max_concurrent_accounts: v.field(&s::MAX_CONCURRENT_ACCOUNTS, |text| {
            parse_in_range(text, 1, 256).map(|n| n as usize)
        }),
        last_used: v.field(&s::LAST_USED, parse_bool),
        mask_access_key_ids: v.field(&s::MASK_ACCESS_KEY_IDS, parse_bool),
        key_series: v.field(&s::KEY_SERIES, |text| {
            match text.to_ascii_lowercase().as_str() {
                "all" => Some(KeySeries::All),
                "offenders" => Some(KeySeries::Offenders),
                "none" => Some(KeySeries::None),
                _ => None,
            }
        }),
        report_max_age: v.field(&s::REPORT_MAX_AGE, parse_duration),
        report_wait: v.field(&s::REPORT_WAIT, parse_duration),
        confirm_report_offenders: v.field(&s::CONFIRM_REPORT_OFFENDERS, parse_bool),
        exemption_tags: v.field(&s::EXEMPTION_TAGS, parse_bool),
        max_exemption: v.field(&s::MAX_EXEMPTION, |text| {
            humantime::parse_duration(text)
                .ok()
                .filter(|d| (86_400..=366 * 86_400).contains(&d.as_secs()))
        }),
    };
    let exemptions = exemptions(&mut v, collector.max_exemption);
    let events = events(&mut v, aws.attempt_timeout);

    let organizations = organizations(&mut v);
    let count = v.field(&s::SHARDING_COUNT, |text| {
        parse_in_range(text, 1, 1000).map(|n| n as u32)
    });
    let index = v.field(&s::SHARDING_INDEX, |text| {
        parse_in_range(text, 0, 999).map(|n| n as u32)
    });
    if index >= count {
        let given = index.to_string();
        let expected = format!(
            "a whole number from 0 to {} (`sharding.count` - 1)",
            count - 1
        );
        v.fail(s::SHARDING_INDEX.key, &given, &expected);
    }
    let sharding = ShardingConfig { count, index };
    let accounts = accounts(&mut v, organizations.is_some());
    if let Some(rate) = aws.max_requests_per_second {
        // A request waits for its turn inside its attempt's time: more requests in flight than
        // the rate lets through in one attempt timeout would time out while queueing.
        let room = u64::from(rate) * aws.attempt_timeout.as_secs().max(1);
        if collector.concurrency as u64 > room {
            let given = collector.concurrency.to_string();
            let expected = format!(
                "at most {room} with `aws.max_requests_per_second` = {rate} and \
                 `aws.attempt_timeout` = {}: raise either, or lower this",
                humantime::format_duration(aws.attempt_timeout)
            );
            v.fail(s::CONCURRENCY.key, &given, &expected);
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
            organizations,
            sharding,
            exemptions,
            events,
        })
    } else {
        Err(v.errors)
    }
}

fn organizations(v: &mut Validator<'_>) -> Option<OrganizationsConfig> {
    let enabled = v.field(&s::ORGANIZATIONS_ENABLED, parse_bool);
    let role_name = v.field(&s::ORGANIZATIONS_ROLE_NAME, |text| {
        let name = text.rsplit('/').next()?;
        let valid = !name.is_empty()
            && text.len() <= 512
            && name.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        valid.then(|| text.trim_matches('/').to_owned())
    });
    let external_id = v.optional(&s::ORGANIZATIONS_EXTERNAL_ID);
    let include_ous = v.list(&s::ORGANIZATIONS_INCLUDE_OUS, |item| {
        let shaped = |prefix: &str| {
            item.strip_prefix(prefix).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
        };
        shaped("ou-") || shaped("r-")
    });
    let exclude_accounts = v.list(&s::ORGANIZATIONS_EXCLUDE_ACCOUNTS, |item| {
        arn::parse_account_id(item).is_some()
    });
    let refresh_interval = v.field(&s::ORGANIZATIONS_REFRESH_INTERVAL, parse_duration);
    enabled.then_some(OrganizationsConfig {
        role_name,
        external_id,
        include_ous,
        exclude_accounts,
        refresh_interval,
    })
}

/// The web config file must be there at start-up; its content is the server's to check (it
/// re-reads the file when it changes), before the port is bound.
fn web_config_file(v: &mut Validator<'_>) -> Option<PathBuf> {
    let path = PathBuf::from(v.optional(&s::WEB_CONFIG_FILE)?);
    let problem = match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => return Some(path),
        Ok(_) => "not a file".to_owned(),
        Err(err) => err.to_string(),
    };
    let key = s::WEB_CONFIG_FILE.key;
    v.errors.push(KeyError {
        key: key.to_owned(),
        origin: v.layered.origin(key),
        message: format!(
            "cannot use `{}`: {problem}; expected {}",
            path.display(),
            s::WEB_CONFIG_FILE.expected
        ),
    });
    None
}

fn accounts(v: &mut Validator<'_>, discovered: bool) -> Vec<AccountConfig> {
    let text = |account: &std::collections::BTreeMap<String, String>, key: &str| {
        account
            .get(key)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    let mut accounts = Vec::new();
    for (index, account) in v.raw.accounts.iter().enumerate() {
        let role_arn = text(account, "role_arn");
        if discovered && role_arn.is_none() && text(account, "account_id").is_none() {
            v.errors.push(KeyError {
                key: format!("accounts.{index}"),
                origin: None,
                message: "with `organizations.enabled`, the credentials' own account is found by \
                          discovery; give this entry a `role_arn` or an `account_id`, or remove it"
                    .to_owned(),
            });
        }
        if let Some(role) = &role_arn {
            if arn::account_id_from_role_arn(role).is_none() {
                v.fail(
                    &format!("accounts.{index}.role_arn"),
                    role,
                    "a role ARN like `arn:aws:iam::123456789012:role/iam-key-exporter`",
                );
            }
        }
        let account_id = match text(account, "account_id") {
            Some(id) => {
                if arn::parse_account_id(&id).is_none() {
                    v.fail(
                        &format!("accounts.{index}.account_id"),
                        &id,
                        "a 12-digit AWS account ID",
                    );
                }
                Some(id)
            }
            None => role_arn.as_deref().and_then(arn::account_id_from_role_arn),
        };
        accounts.push(AccountConfig {
            role_arn,
            external_id: text(account, "external_id"),
            account_id,
            name: text(account, "name"),
        });
    }
    // With discovery, the management account comes from the organization itself.
    if accounts.is_empty() && !discovered {
        accounts.push(AccountConfig {
            role_arn: None,
            external_id: None,
            account_id: None,
            name: None,
        });
    }
    let mut seen = HashSet::new();
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
    accounts
}

/// `[[exemptions]]`: each entry names an account (or `*`), one user or a pattern, a reason, an
/// owner and an expiry no further ahead than `max`. One that has already expired is kept: it
/// is shown as expired, which is what its owner needs to see.
fn exemptions(v: &mut Validator<'_>, max: Duration) -> Vec<ExemptionConfig> {
    let now = crate::clock::now();
    let mut exemptions = Vec::new();
    for (index, entry) in v.raw.exemptions.iter().enumerate() {
        let key = |name: &str| format!("exemptions.{index}.{name}");
        let text = |name: &str| {
            entry
                .get(name)
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
        };
        let missing = |v: &mut Validator<'_>, name: &str, expected: &str| {
            v.errors.push(KeyError {
                key: key(name),
                origin: None,
                message: format!("missing; expected {expected}"),
            });
        };
        let account = match text("account").as_deref() {
            Some("*") => None,
            Some(id) => {
                if arn::parse_account_id(id).is_none() {
                    v.fail(&key("account"), id, "a 12-digit AWS account ID, or `*`");
                }
                Some(id.to_owned())
            }
            None => {
                missing(
                    v,
                    "account",
                    "a 12-digit AWS account ID, or `*` for every account",
                );
                None
            }
        };
        let user = match (text("user"), text("user_pattern")) {
            (Some(name), None) => Some(UserMatch::Name(name)),
            (None, Some(pattern)) => Some(UserMatch::Pattern(pattern)),
            (Some(_), Some(_)) => {
                v.errors.push(KeyError {
                    key: key("user"),
                    origin: None,
                    message: "give `user` or `user_pattern`, not both".to_owned(),
                });
                None
            }
            (None, None) => {
                missing(
                    v,
                    "user",
                    "a user name (or `user_pattern` with `*` and `?`)",
                );
                None
            }
        };
        let described = |v: &mut Validator<'_>, name: &str, what: &str| {
            let Some(text) = text(name) else {
                missing(v, name, what);
                return String::new();
            };
            if text.chars().count() > e::MAX_TEXT || text.chars().any(char::is_control) {
                v.fail(
                    &key(name),
                    &text.chars().take(40).collect::<String>(),
                    &format!("{what}: at most {} characters, on one line", e::MAX_TEXT),
                );
            }
            text
        };
        let reason = described(v, "reason", "why the user may hold a second active key");
        let owner = described(v, "owner", "who answers for the exemption");
        let latest = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(now.max(0) as u64) + max,
        );
        let expected_expiry = format!(
            "a date `YYYY-MM-DD` or a time `YYYY-MM-DDTHH:MM:SSZ`, at most {} days from now \
             (`collector.max_exemption`), so no later than {latest}",
            max.as_secs() / 86_400
        );
        let expires = match text("expires") {
            None => {
                missing(v, "expires", &expected_expiry);
                0
            }
            Some(given) => match e::parse_expiry(&given) {
                Some(expires) if e::within(expires, now, max) => expires,
                _ => {
                    v.fail(&key("expires"), &given, &expected_expiry);
                    0
                }
            },
        };
        if let Some(user) = user {
            exemptions.push(ExemptionConfig {
                account,
                user,
                reason,
                owner,
                expires,
            });
        }
    }
    exemptions
}

/// `[events]`: on when a queue URL is given.
fn events(v: &mut Validator<'_>, attempt_timeout: Duration) -> Option<EventsConfig> {
    let wait_time = v.field(&s::EVENTS_WAIT_TIME, |text| {
        humantime::parse_duration(text)
            .ok()
            .filter(|d| (1..=20).contains(&d.as_secs()) && d.subsec_nanos() == 0)
    });
    let url = v.optional(&s::EVENTS_SQS_QUEUE_URL)?;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        v.fail(
            s::EVENTS_SQS_QUEUE_URL.key,
            &url,
            s::EVENTS_SQS_QUEUE_URL.expected,
        );
    }
    if wait_time >= attempt_timeout {
        let given = humantime::format_duration(wait_time).to_string();
        let expected = format!(
            "shorter than `aws.attempt_timeout` ({}), which would cut every poll short",
            humantime::format_duration(attempt_timeout)
        );
        v.fail(s::EVENTS_WAIT_TIME.key, &given, &expected);
    }
    Some(EventsConfig {
        sqs_queue_url: url,
        wait_time,
    })
}
