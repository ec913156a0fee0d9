//! `iam-key-exporter`: a Prometheus exporter for the CIS AWS Foundations control "only one
//! active access key per IAM user" (1.13 in v1.4-v4.0, 1.12 in v5.0, 2.12 in v6.0).
//!
//! It recomputes in the background, for every IAM user of one or many accounts, how many
//! access keys are active, and serves the counts as gauges on `/metrics`; `check` runs the
//! same audit once and exits with the verdict.
//!
//! # Layout
//!
//! The modules follow the data, and each imports only from modules earlier in this list
//! (a test, `tests/integration/layout.rs`, holds the code to it):
//!
//! 1. `clock`: the crate's one clock helper (Unix seconds, RFC 3339, AWS's ISO 8601).
//! 2. Leaves, importing no module but `clock`: `snapshot` (the plain data a refresh produces; no AWS
//!    or Prometheus types), `arn` (IAM ARNs and account IDs), `error` (cause chains),
//!    `health` (the readiness flag), `controls` (the benchmark controls findings map to),
//!    `shutdown` (the stop signal),
//!    `diagnostics` (the one problem type of both configuration paths and the bounded,
//!    nesting-guarded read of the files an operator names).
//! 3. `config`: flags, environment and file layered into one validated [`Config`]; every
//!    setting is defined once, as one unit in the file of its section.
//! 4. `aws`: SDK set-up and the IAM/STS calls, each counted and its errors classified into a
//!    fixed set of kinds.
//! 5. `source`: turns one account's IAM state into a snapshot (API mode or credential report).
//! 6. `accounts`: the set of watched accounts, one source each.
//! 7. `exposition`: the metric catalogue (every family's name, help, type and labels, once),
//!    the health metrics one struct per concern, and the rendering of snapshots into the body.
//! 8. `server`: the HTTP server that hands out the pre-rendered body.
//! 9. `refresh`: the loop that ties sources to the exposition, and the consumer of IAM change
//!    events.
//! 10. `audit`: the one-shot audit of `check` (collect, the remediation policy, the table and
//!     the JSON) and `remediate`, the control's remediation planned from it and, when asked,
//!     applied.
//! 11. `cli` and `telemetry`: the command line and logging.
//! 12. `app`: builds all of the above from a config and runs it; its [`Error`] is the one
//!     type `main` maps to an exit code.

mod accounts;
mod app;
mod arn;
mod audit;
mod aws;
mod cli;
mod clock;
mod config;
mod controls;
mod diagnostics;
mod error;
mod exposition;
mod health;
mod refresh;
mod server;
mod shutdown;
mod snapshot;
mod source;
pub mod telemetry;

pub use app::{audit, remediate, Application, Error};
pub use audit::{Findings, OutputFormat};
pub use audit::{Options as RemediateOptions, Remediation};
pub use cli::{version, Cli, Command};
pub use config::{
    AccountConfig, AwsConfig, CollectorConfig, Config, ConfigError, EventsConfig, ExemptionConfig,
    KeyError, KeySeries, LogConfig, LogFormat, LogLevel, Overrides, RefreshConfig, SourceKind,
    UserMatch, WebConfig,
};
pub use diagnostics::Problem;
