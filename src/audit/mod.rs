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
//! - `escape`: shell quoting of the commands, escaping of what the endpoint sent before it
//!   reaches a terminal.
//! - `policy`: the control's remediation policy: the `plan` for one user (which key to
//!   keep, which to deactivate, or why a person must choose) and the advice per key.
//! - `render`: the table and the JSON of `check`.
//! - `remediate`: the remediation itself: re-read, plan, apply, list the keys again.
//! - `report`: the table and the JSON of `remediate`.
//!
//! One verdict, one spelling per medium: tables say `needs a human` (`check`'s advice,
//! `remediate`'s action); the JSON says `needs_a_human`, as a key and as a value, and spells
//! every value as one snake_case word (`already_inactive`, `dry_run`).
//!
//! This file holds the public items; their behaviour lives in the parts.

use std::time::SystemTime;

use crate::snapshot::AccountSnapshot;
use crate::source::SourceError;

mod collect;
mod escape;
mod policy;
mod remediate;
mod render;
mod report;

pub(crate) use collect::run;
pub use policy::MinIdle;
pub(crate) use policy::MIN_IDLE_TEXT;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Make the planned changes; without it nothing is written.
    pub apply: bool,
    /// A key used or created more recently than this is never deactivated.
    pub min_idle: MinIdle,
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
