//! Logging: one `tracing` subscriber writing logfmt or JSON lines to standard error.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. The AWS SDK and hyper log at `debug` freely; they are held
/// to `warn` unless the exporter itself logs at `debug`.
pub fn init(log: &LogConfig) {
    let level = log.level.as_str();
    let deps = if level == "debug" { "debug" } else { "warn" };
    let filter = EnvFilter::new(format!(
        "{level},aws_config={deps},aws_smithy_runtime={deps},aws_runtime={deps},hyper={deps},hyper_util={deps}"
    ));
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
