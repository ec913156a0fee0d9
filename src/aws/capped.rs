//! Bounded requests: at most `aws.max_requests_per_second` attempts per account (when set,
//! through [`super::rate`]), and, whatever the endpoint sends, at most `aws.max_response_size`
//! bytes of a response read. A larger answer fails its request with an error saying so, instead of
//! growing the process until the kernel (or the pod's memory limit) ends it.
//!
//! It wraps the SDK's HTTP client: a declared `Content-Length` over the cap fails before the
//! body is read, and any body is cut off at the cap while it streams in.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use super::rate::TokenBucket;
use http_body_util::BodyExt;
use std::sync::Arc;

/// The SDK's HTTP client, reading at most `max` bytes of any response, and sending requests
/// no faster than `rate` allows.
#[derive(Debug)]
pub(crate) struct Capped {
    inner: SharedHttpClient,
    max: usize,
    rate: Option<Arc<TokenBucket>>,
}

impl Capped {
    pub(crate) fn shared(
        inner: SharedHttpClient,
        max: usize,
        rate: Option<Arc<TokenBucket>>,
    ) -> SharedHttpClient {
        SharedHttpClient::new(Capped { inner, max, rate })
    }
}

impl HttpClient for Capped {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CappedConnector {
            inner: self.inner.http_connector(settings, components),
            max: self.max,
            rate: self.rate.clone(),
        })
    }
}

#[derive(Debug)]
struct CappedConnector {
    inner: SharedHttpConnector,
    max: usize,
    rate: Option<Arc<TokenBucket>>,
}

/// A response was larger than the cap.
#[derive(Debug, thiserror::Error)]
#[error(
    "the response is larger than {max} bytes (`aws.max_response_size`); raise it only if the \
     account really has that much IAM data"
)]
pub(crate) struct TooLarge {
    max: usize,
}

fn too_large(max: usize) -> aws_smithy_types::body::Error {
    Box::new(TooLarge { max })
}

/// The most of an error answer read: AWS's are well under a kilobyte.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The first `max` bytes of `body`; the rest is never read.
async fn read_prefix(mut body: SdkBody, max: usize) -> Vec<u8> {
    let mut prefix = Vec::new();
    while prefix.len() < max {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = max - prefix.len();
                    prefix.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    prefix
}

/// Too large answers are not retried: the endpoint would send the same again, and each
/// attempt reads up to `aws.max_response_size`.
#[derive(Debug)]
pub(crate) struct NoRetryWhenTooLarge;

impl ClassifyRetry for NoRetryWhenTooLarge {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = cause {
            if current.is::<TooLarge>() {
                return RetryAction::RetryForbidden;
            }
            cause = current.source();
        }
        RetryAction::NoActionIndicated
    }

    fn name(&self) -> &'static str {
        "no retry of too large answers"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let max = self.max;
        let rate = self.rate.clone();
        HttpConnectorFuture::new(async move {
            if let Some(rate) = rate {
                rate.acquire().await;
            }
            let mut response = inner.call(request).await?;
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|value| value.parse::<u64>().ok());
            if declared.is_some_and(|length| length > max as u64) {
                return Err(ConnectorError::other(too_large(max), None));
            }
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            if !response.status().is_success() {
                // An error says what it is in its first bytes (code, a sentence); the rest of
                // a 30 MB message is not worth memory or a log line. Cut, not failed, so the
                // error keeps its status and code.
                let prefix = read_prefix(body, MAX_ERROR_BODY).await;
                *response.body_mut() = SdkBody::from(prefix);
                return Ok(response);
            }
            let limited = http_body_util::Limited::new(body, max).map_err(move |err| {
                if err.is::<http_body_util::LengthLimitError>() {
                    too_large(max)
                } else {
                    err
                }
            });
            *response.body_mut() = SdkBody::from_body_1_x(limited);
            Ok(response)
        })
    }
}
