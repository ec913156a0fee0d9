//! Logging: one `tracing` subscriber writing logfmt or JSON lines to standard error.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Crates (target prefixes) that log freely at `info` and below: held to `warn` unless the
/// exporter itself logs at `debug`.
const DEPENDENCIES: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sdk",
    "aws_sigv4",
    "aws_smithy",
    "aws_types",
    "h2",
    "hyper",
    "rustls",
];

/// Installs the global subscriber.
pub fn init(log: &LogConfig) {
    let level = log.level.as_str();
    let deps = if level == "debug" { "debug" } else { "warn" };
    let mut directives = level.to_owned();
    for target in DEPENDENCIES {
        directives.push_str(&format!(",{target}={deps}"));
    }
    let filter = EnvFilter::new(directives);
    let registry = tracing_subscriber::registry().with(filter);
    // A second initialisation (tests building several apps) keeps the first subscriber.
    let _ = match log.format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}
