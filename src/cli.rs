//! Command-line arguments as typed, in the Prometheus exporter-toolkit style
//! (`--web.listen-address`). They are raw: [`crate::config`] validates them with the other
//! layers.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::OutputFormat;
use crate::config::{Overrides, CONFIG_FILE_ENV};

/// Prometheus exporter for the CIS AWS control "only one active access key per IAM user".
#[derive(Debug, Parser)]
#[command(name = "iam-key-exporter", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file, TOML or YAML by extension.
    #[arg(long = "config.file", env = CONFIG_FILE_ENV, value_name = "PATH", global = true)]
    pub config_file: Option<PathBuf>,
    /// Address to listen on for the metrics page [default: :10027].
    #[arg(long = "web.listen-address", value_name = "ADDRESS", global = true)]
    pub listen_address: Option<String>,
    /// Path under which to expose metrics [default: /metrics].
    #[arg(long = "web.telemetry-path", value_name = "PATH", global = true)]
    pub telemetry_path: Option<String>,
    /// Time between two refreshes of the IAM data [default: 5m].
    #[arg(long = "refresh.interval", value_name = "DURATION", global = true)]
    pub refresh_interval: Option<String>,
    /// Only log messages with the given severity or above: debug, info, warn, error
    /// [default: info].
    #[arg(long = "log.level", value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Output format of log messages: logfmt, json [default: logfmt].
    #[arg(long = "log.format", value_name = "FORMAT", global = true)]
    pub log_format: Option<String>,
    /// What to do; without a command, run the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit once and exit: 0 when every user has at most one active key, 1 when some user
    /// has more, 2 on error.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// `check --output`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// Aligned columns, for people.
    Table,
    /// One JSON document, for pipelines.
    Json,
}

impl From<Output> for OutputFormat {
    fn from(output: Output) -> Self {
        match output {
            Output::Table => OutputFormat::Table,
            Output::Json => OutputFormat::Json,
        }
    }
}

impl Cli {
    /// The flags that override configuration keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config_file.clone(),
            listen_address: self.listen_address.clone(),
            telemetry_path: self.telemetry_path.clone(),
            refresh_interval: self.refresh_interval.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
        }
    }
}
