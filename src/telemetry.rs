//! Logging: one `tracing` subscriber writing logfmt or JSON lines to standard error.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Crates (target prefixes) that log freely at `info` and below, and the level they are held to
/// unless the exporter itself logs at `debug`. The AWS SDK's are held to `error`: its warnings
/// repeat, as a multi-line `Debug` dump of some 900 characters, what the exporter's own error
/// already says in one line (a credential provider that failed, on every refresh).
const DEPENDENCIES: &[(&str, &str)] = &[
    ("aws_config", "error"),
    ("aws_credential_types", "error"),
    ("aws_runtime", "error"),
    ("aws_sdk", "error"),
    ("aws_sigv4", "error"),
    ("aws_smithy", "error"),
    ("aws_types", "error"),
    ("h2", "warn"),
    ("hyper", "warn"),
    ("rustls", "warn"),
];

/// Installs the global subscriber.
pub fn init(log: &LogConfig) {
    let level = log.level.as_str();
    let mut directives = level.to_owned();
    for (target, held) in DEPENDENCIES {
        let deps = if level == "debug" { "debug" } else { held };
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
