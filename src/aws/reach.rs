//! Failing fast at an endpoint never reached: until one of an account's clients has had an
//! answer (any HTTP response) from AWS, a request that gets none (refused, a name that does
//! not resolve, a connect timeout, a connection closed before any answer) is not retried. Such
//! a failure is nearly always a wrong region, endpoint or network set-up, and the SDK's retries
//! (`aws.max_attempts`, with back-off up to 20 s) would only hide it for half a minute; the
//! refresh loop tries again soon anyway while an account has no data. Once an answer has come,
//! the endpoint is known to work, and a failed connection is a blip, retried as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Whether an account's endpoints ever answered; an interceptor (which sees the answers) and a
/// retry classifier (which forbids the retries until then) in one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reach(Arc<AtomicBool>);

impl Intercept for Reach {
    fn name(&self) -> &'static str {
        "iam-key-exporter endpoint reached"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some() {
            self.0.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl ClassifyRetry for Reach {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        // Refused, unresolvable, timed out, or hung up on before an answer: no response.
        let unreachable = ctx.response().is_none() && err.is_connector_error();
        if unreachable && !self.0.load(Ordering::Relaxed) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "no retry of an endpoint never reached"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}
