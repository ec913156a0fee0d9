//! `iam-key-exporter`: a Prometheus exporter for the CIS AWS Foundations control "only one
//! active access key per IAM user" (1.13 in v1.4-v3.0, 1.12 in v5).
//!
//! It recomputes in the background, for every IAM user of one or many accounts, how many
//! access keys are active, and serves the counts as gauges on `/metrics`; `check` runs the
//! same audit once and exits with the verdict.
//!
//! # Layout
//!
//! The modules follow the data:
//!
//! - [`config`]: flags, environment and file layered into one validated [`config::Config`].
//! - [`aws`]: SDK set-up and the IAM/STS calls, each counted and its errors classified.
//! - [`source`]: turns one account's IAM state into a snapshot (API mode or credential report).
//! - [`snapshot`]: the plain data a refresh produces; no AWS or Prometheus types.
//! - [`metrics`]: the registry, health metrics and rendering of snapshots into the body.
//! - [`server`]: the HTTP server that hands out the pre-rendered body.
//! - [`refresh`]: the loop that ties sources to metrics and server.
//! - [`check`]: the one-shot audit.
//! - [`app`]: builds all of the above from a config and runs it until shutdown.
//! - [`cli`] and [`telemetry`]: the command line and logging.

pub mod app;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod refresh;
pub mod server;
pub mod snapshot;
pub mod source;
pub mod telemetry;
