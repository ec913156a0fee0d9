//! Every attempt of every request, the SDK's own retries included, seen by an SDK interceptor:
//! counted by operation and outcome (`iam_exporter_aws_attempts_total`, so that throttling shows
//! before it fails a refresh), and the last failure kept per account, so that a refresh
//! abandoned at `refresh.timeout` can still say what went wrong (connection refused, say).

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::error::{ErrorKind, ACCESS_DENIED_CODES, THROTTLING_CODES};
use super::RequestObserver;
use crate::error::error_chain;

/// The last failed attempt of an account's requests: its kind and what it said.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastFailure(Arc<Mutex<Option<(ErrorKind, String)>>>);

impl LastFailure {
    /// The last failure since the previous call, and forgets it.
    pub(crate) fn take(&self) -> Option<(ErrorKind, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn set(&self, kind: ErrorKind, text: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((kind, text));
    }
}

/// The interceptor.
#[derive(Clone)]
pub(crate) struct Attempts {
    pub observer: Arc<dyn RequestObserver>,
    pub last_failure: LastFailure,
}

impl std::fmt::Debug for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attempts")
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "iam-key-exporter attempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or("unknown", |metadata| metadata.name());
        let kind = match context.output_or_error() {
            Some(Ok(_)) => None,
            Some(Err(err)) if err.is_timeout_error() => Some(ErrorKind::Timeout),
            Some(Err(err)) if err.is_connector_error() => Some(ErrorKind::Network),
            Some(Err(_)) | None => {
                let response = context.response();
                let status = response.map_or(0, |r| r.status().as_u16());
                let body = response
                    .and_then(|r| r.body().bytes())
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let code = |codes: &[&str]| {
                    codes
                        .iter()
                        .any(|code| body.contains(&format!("<Code>{code}</Code>")))
                };
                Some(if status == 429 || code(THROTTLING_CODES) {
                    ErrorKind::Throttled
                } else if status == 403 || code(ACCESS_DENIED_CODES) {
                    ErrorKind::AccessDenied
                } else if code(&["NoSuchEntity"]) {
                    ErrorKind::NotFound
                } else if status >= 500 || (200..300).contains(&status) {
                    ErrorKind::Service
                } else {
                    ErrorKind::Other
                })
            }
        };
        self.observer
            .attempt(operation, kind.map_or("success", ErrorKind::as_str));
        if let (Some(kind), Some(Err(err))) = (kind, context.output_or_error()) {
            if kind != ErrorKind::NotFound {
                // Where it went, as the request itself says (the path and query left out).
                let sent_to = context
                    .request()
                    .map(|request| origin(request.uri()))
                    .map_or(String::new(), |origin| format!(" to {origin}"));
                self.last_failure
                    .set(kind, format!("{operation}{sent_to}: {}", error_chain(err)));
            }
        }
        Ok(())
    }
}

/// The scheme and authority of a request's URI: `https://iam.amazonaws.com`.
fn origin(uri: &str) -> &str {
    let start = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[start..]
        .find(['/', '?'])
        .map_or(uri.len(), |i| start + i);
    &uri[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_requests_origin_leaves_out_the_path_and_query() {
        assert_eq!(
            super::origin("https://iam.amazonaws.com/?Action=ListUsers"),
            "https://iam.amazonaws.com"
        );
        assert_eq!(
            super::origin("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            super::origin("https://sqs.eu-west-1.amazonaws.com/1/q"),
            "https://sqs.eu-west-1.amazonaws.com"
        );
    }
}
