//! AWS failures: the fixed set of [`ErrorKind`]s (metric label values) and [`AwsError`], which
//! every SDK error becomes, classified once here.

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::endpoint::Tried;

/// The fixed set of failure kinds, used as the `kind` and `outcome` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorKind {
    /// AWS said to slow down (`Throttling`, HTTP 429).
    Throttled,
    /// The credentials may not make the call, or are invalid or expired.
    AccessDenied,
    /// A request or the whole refresh ran out of time.
    Timeout,
    /// The endpoint could not be reached (refused, reset, DNS).
    Network,
    /// AWS failed (HTTP 5xx) or answered something malformed.
    Service,
    /// The entity asked about no longer exists; skipped by the sources, so never a refresh error.
    NotFound,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kinds a refresh can fail with, in label order; pre-initialised so that rates work
    /// from the first scrape.
    pub(crate) const REFRESH_KINDS: [ErrorKind; 6] = [
        ErrorKind::Throttled,
        ErrorKind::AccessDenied,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::Service,
        ErrorKind::Other,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::Service => "service",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Other => "other",
        }
    }
}

/// A failed AWS request, classified.
#[derive(Debug)]
pub(crate) struct AwsError {
    /// The API operation, e.g. `ListUsers`.
    pub(crate) operation: &'static str,
    /// What kind of failure, for metrics and retry decisions.
    pub(crate) kind: ErrorKind,
    /// AWS's error code, when the service answered with one (e.g. `Throttling`).
    pub(crate) code: Option<String>,
    /// What to say before the SDK's own chain, when the kind alone would mislead.
    note: Option<&'static str>,
    /// Where the request was sent: the endpoint and the region.
    tried: Option<Tried>,
    source: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} request failed ({})",
            self.operation,
            self.kind.as_str()
        )?;
        if let Some(tried) = &self.tried {
            write!(f, " at {tried}")?;
        }
        match self.note {
            Some(note) => write!(f, ": {note}"),
            None => Ok(()),
        }
    }
}

impl StdError for AwsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

impl AwsError {
    /// Classifies an SDK error of `operation`.
    pub(crate) fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let (mut kind, code) = classify(&err);
        // GenerateCredentialReport's 409 `LimitExceeded` is AWS's way of saying that too many
        // reports are being generated at once (other scanners, Config, a second replica): a
        // throttle, to back off from, not a failure to page on (the IAM API Reference lists it
        // as that call's capacity error).
        if operation == "GenerateCredentialReport" && code.as_deref() == Some("LimitExceeded") {
            kind = ErrorKind::Throttled;
        }
        let credentials = credentials_problem(&err).or_else(|| too_large(&err));
        AwsError {
            operation,
            kind: credentials.map_or(kind, |(kind, _)| kind),
            code,
            note: credentials.map(|(_, note)| note),
            tried: None,
            source: Box::new(err),
        }
    }

    /// The same failure, naming where the request was sent.
    pub(crate) fn at(mut self, tried: &Tried) -> Self {
        self.tried = Some(tried.clone());
        self
    }

    /// Whether the entity asked about no longer exists (deleted during the refresh).
    pub(crate) fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// The same failure, of another kind.
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// A malformed or unexpected answer that the SDK itself accepted.
    pub(crate) fn malformed(operation: &'static str, what: impl Into<String>) -> Self {
        AwsError {
            operation,
            kind: ErrorKind::Service,
            code: None,
            note: None,
            tried: None,
            source: what.into().into(),
        }
    }
}

/// When the request never left because no credentials could be had, the SDK reports a
/// dispatch failure, which alone reads as a network problem: find the credential provider's
/// error in the chain and say what it is. The innermost one says what went wrong first: an
/// assumed role's own failure, or the base credentials behind it.
fn credentials_problem(err: &(dyn StdError + 'static)) -> Option<(ErrorKind, &'static str)> {
    type AssumeRoleFailed = SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>;
    let mut found: Option<&CredentialsError> = None;
    let mut assuming = false;
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(credentials) = current.downcast_ref::<CredentialsError>() {
            found = Some(credentials);
            assuming = false;
        }
        assuming |= current.is::<AssumeRoleFailed>() && found.is_some();
        cause = current.source();
    }
    Some(match found? {
        CredentialsError::InvalidConfiguration(_) => (
            ErrorKind::AccessDenied,
            "the AWS credential configuration is invalid",
        ),
        CredentialsError::ProviderTimedOut(_) => (
            ErrorKind::Timeout,
            "the AWS credential provider timed out (no credentials in time from the \
             environment, the profile, a web identity, the container endpoint or the EC2 \
             instance metadata)",
        ),
        // The base credentials were had, and STS refused (or could not be reached) to assume
        // the account's role: the chain's text says which.
        _ if assuming => (
            ErrorKind::AccessDenied,
            "the account's role could not be assumed (sts:AssumeRole)",
        ),
        _ => (ErrorKind::AccessDenied, NO_CREDENTIALS),
    })
}

/// The note of every case in which no credentials could be had (nothing configured, or an
/// instance-metadata address that answers but refuses, as off EC2 behind a proxy): where the
/// default chain looks, and so how to give them.
const NO_CREDENTIALS: &str = "no AWS credentials found (looked for: AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, the profile aws.profile or AWS_PROFILE in ~/.aws, a web identity \
     (IRSA), the container endpoint (ECS, EKS Pod Identity), the EC2 instance metadata; set one \
     of them)";

/// An answer over `aws.max_response_size` is the service's fault, however it surfaced.
fn too_large(err: &(dyn StdError + 'static)) -> Option<(ErrorKind, &'static str)> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if current.is::<super::capped::TooLarge>() {
            return Some((ErrorKind::Service, "the answer was too large"));
        }
        cause = current.source();
    }
    None
}

/// Error codes AWS uses for throttling across services.
pub(super) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// Error codes that mean the credentials may not do what was asked.
pub(super) const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
];

fn classify<E>(err: &SdkError<E, HttpResponse>) -> (ErrorKind, Option<String>)
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, None),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => (ErrorKind::Timeout, None),
        SdkError::DispatchFailure(failure) if failure.is_io() => (ErrorKind::Network, None),
        SdkError::DispatchFailure(_) => (ErrorKind::Network, None),
        SdkError::ResponseError(_) => (ErrorKind::Service, None),
        SdkError::ServiceError(service) => {
            let code = service.err().code().map(str::to_owned);
            let status = service.raw().status().as_u16();
            let kind = match code.as_deref() {
                Some(code) if THROTTLING_CODES.contains(&code) => ErrorKind::Throttled,
                Some(code) if ACCESS_DENIED_CODES.contains(&code) => ErrorKind::AccessDenied,
                Some("NoSuchEntity") => ErrorKind::NotFound,
                _ if status == 429 => ErrorKind::Throttled,
                _ if status == 403 => ErrorKind::AccessDenied,
                _ if status >= 500 => ErrorKind::Service,
                // A 2xx the SDK could not read: the service answered something malformed.
                None if (200..300).contains(&status) => ErrorKind::Service,
                _ => ErrorKind::Other,
            };
            (kind, code)
        }
        _ => (ErrorKind::Other, None),
    }
}
