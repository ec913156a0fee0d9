//! `audit`: the one-shot audit of the control (`check`) and its remediation (`remediate`).
//!
//! `check` collects every account once, then lists the offenders (users with more than one
//! active key) with their keys and what to do about them, as a table for people or JSON for
//! pipelines; exempt users are listed apart. The exit code says whether the control holds: it
//! does when every offender is exempt. `remediate` starts from the same findings, reads each
//! offender again and, when asked, makes the keys the control's remediation names inactive.
//!
//! The parts, each importing only the ones before it:
//!
//! - `collect`: the audit (one collection per account) and the questions asked of its
//!   [`Findings`] (offenders, violations, exemptions, the verdict).
//! - `policy`: the control's remediation policy: the `plan` for one user (which key to
//!   keep, which to deactivate, or why a person must choose) and the advice per key.
//! - `render`: the table and the JSON of `check`, shell quoting of the commands, escaping of
//!   what the endpoint sent before it reaches a terminal.
//! - `remediate`: the remediation itself: re-read, plan, apply, list the keys again, report.
//!
//! This file holds the public items; their behaviour lives in the parts.

use std::time::{Duration, SystemTime};

use crate::snapshot::AccountSnapshot;
use crate::source::SourceError;

mod collect;
mod policy;
mod remediate;
mod render;

pub(crate) use collect::run;
pub(crate) use policy::MIN_IDLE;
pub(crate) use remediate::run as remediate;

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

/// What `remediate` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Make the planned changes; without it nothing is written.
    pub apply: bool,
    /// A key used or created more recently than this is never deactivated.
    pub min_idle: Duration,
    /// Table or JSON.
    pub output: OutputFormat,
}

/// The whole run of `remediate`.
#[derive(Debug)]
pub struct Remediation {
    users: Vec<remediate::UserPlan>,
    options: Options,
    checked_at: SystemTime,
}
