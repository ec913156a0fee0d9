//! `[refresh]`: the background refresh's schedule.

use std::time::Duration;

use super::settings::{duration, Flag, FlagScope, Setting, DURATION};

/// The background refresh's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefreshConfig {
    /// Time between the starts of two refreshes.
    pub interval: Duration,
    /// A refresh that takes longer is abandoned and counted as a `timeout` error.
    pub timeout: Duration,
}

pub(crate) const INTERVAL: Setting = Setting {
    key: "refresh.interval",
    flag: Some(Flag {
        name: "refresh.interval",
        scope: FlagScope::Daemon,
        value_name: "DURATION",
    }),
    default: Some("5m"),
    help: "Time between the starts of two refreshes of the IAM data.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.refresh.interval = duration(text)?;
        Ok(())
    },
};

pub(crate) const TIMEOUT: Setting = Setting {
    key: "refresh.timeout",
    flag: None,
    default: Some("10m"),
    help: "A refresh (or a check) that takes longer is abandoned and counted as a `timeout` error.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.refresh.timeout = duration(text)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[&INTERVAL, &TIMEOUT];
