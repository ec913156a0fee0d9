//! Logging: one `tracing` subscriber writing logfmt or JSON lines to standard error. A JSON line
//! is flat, as Prometheus and its exporters write theirs: `{"time":…,"level":"info","msg":…,
//! "target":…}` then the event's fields (`"account_id":…`), never nested under `fields`.

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
                    .event_format(FlatJson)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// The keys every JSON line starts with; a field of the same name is written `field.NAME`.
const RESERVED: [&str; 4] = ["time", "level", "msg", "target"];

/// One flat JSON object per event: time, level (lower case, as logfmt's), message, target,
/// then the fields in the order the event gives them.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let head = [
            ("time", Value::from(time)),
            (
                "level",
                Value::from(metadata.level().as_str().to_ascii_lowercase()),
            ),
            ("msg", fields.message.take().unwrap_or_default()),
            ("target", Value::from(metadata.target())),
        ];
        let mut line = String::from("{");
        let entries = head
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .chain(fields.rest);
        for (i, (key, value)) in entries.enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// An event's fields as JSON values; `message` apart.
#[derive(Default)]
struct Fields {
    message: Option<Value>,
    rest: Vec<(String, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(value),
            name if RESERVED.contains(&name) => self.rest.push((format!("field.{name}"), value)),
            name => self.rest.push((name.to_owned(), value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A JSON line is one flat object: `time`, `level`, `msg`, `target`, then the fields.
    #[test]
    fn a_json_line_is_flat_with_time_level_and_msg_first() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(FlatJson)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let error = std::io::Error::other("denied");
            tracing::warn!(account_id = "123456789012", users = 3_u64, ok = false, error = %error, level = "x", "refresh failed");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with(r#"{"time":""#), "{text}");
        let line: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = line.keys().map(String::as_str).collect();
        let mut expected = vec![
            "time",
            "level",
            "msg",
            "target",
            "account_id",
            "users",
            "ok",
            "error",
            "field.level",
        ];
        expected.sort();
        assert_eq!(keys, expected, "{text}");
        assert_eq!(line["level"], "warn");
        assert_eq!(line["msg"], "refresh failed");
        assert_eq!(line["account_id"], "123456789012");
        assert_eq!(line["users"], 3);
        assert_eq!(line["ok"], false);
        assert_eq!(line["error"], "denied");
        assert_eq!(line["field.level"], "x");
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{text}");
    }
}
