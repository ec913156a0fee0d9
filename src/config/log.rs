//! `[log]`: the log lines' severity and format.

use super::settings::{one_of, Flag, FlagScope, Setting};

/// Logging settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogConfig {
    /// Verbosity.
    pub level: LogLevel,
    /// Line format.
    pub format: LogFormat,
}

/// Log verbosity, the levels Prometheus' own flags accept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything, including each AWS request.
    Debug,
    /// One line per refresh and the start-up summary.
    #[default]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs, as Prometheus and its exporters write them.
    #[default]
    Logfmt,
    /// One JSON object per line, for log pipelines that parse JSON.
    Json,
}

pub(crate) const LEVEL: Setting = Setting {
    key: "log.level",
    flag: Some(Flag {
        name: "log.level",
        scope: FlagScope::Global,
        value_name: "LEVEL",
    }),
    default: Some("info"),
    help: "Only log messages with this severity or above: debug, info, warn, error.",
    expected: "one of `debug`, `info`, `warn`, `error`",
    list: false,
    apply: |text, d| {
        d.log.level = one_of(text, LogLevel::NAMES)?;
        Ok(())
    },
};

pub(crate) const FORMAT: Setting = Setting {
    key: "log.format",
    flag: Some(Flag {
        name: "log.format",
        scope: FlagScope::Global,
        value_name: "FORMAT",
    }),
    default: Some("logfmt"),
    help: "Output format of log messages on standard error: logfmt, json.",
    expected: "`logfmt` or `json`",
    list: false,
    apply: |text, d| {
        d.log.format = one_of(text, LogFormat::NAMES)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[&LEVEL, &FORMAT];

impl LogLevel {
    /// The configuration spellings.
    const NAMES: &'static [(&'static str, LogLevel)] = &[
        ("debug", LogLevel::Debug),
        ("info", LogLevel::Info),
        ("warn", LogLevel::Warn),
        ("error", LogLevel::Error),
    ];
}

impl LogFormat {
    /// The configuration spellings.
    const NAMES: &'static [(&'static str, LogFormat)] =
        &[("logfmt", LogFormat::Logfmt), ("json", LogFormat::Json)];
}
