//! AWS access: SDK set-up (credential chain, region, endpoint, retries, timeouts) and [`Iam`],
//! a thin wrapper over the IAM and STS calls the sources make (and CloudTrail's lookup of who
//! created a key).
//!
//! The wrapper exists for two reasons: every request is counted by operation and outcome
//! (through a [`RequestObserver`], so this module needs no Prometheus types), and every SDK
//! error is mapped once, in [`error`], to an [`ErrorKind`] and an [`AwsError`] whose message
//! names the operation, so nothing above this module handles SDK error types.

mod attempts;
mod capped;
mod cloudtrail;
mod endpoint;
mod error;
mod organizations;
mod rate;
mod reach;
mod sqs;
mod strict;
mod write;

use std::error::Error as StdError;
use std::sync::Arc;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

pub(crate) use attempts::LastFailure;
use aws_sdk_iam::types::{StatusType, SummaryKeyType};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
pub(crate) use error::{AwsError, ErrorKind};
pub(crate) use organizations::Organizations;
pub(crate) use sqs::{Message, Sqs};

use crate::config::{AccountConfig, AwsConfig};
use crate::snapshot::{AccessKey, KeyStatus};

/// The region IAM signs in when nothing else says; IAM is a global service.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Session name shown in CloudTrail for assumed roles.
const SESSION_NAME: &str = "iam-key-exporter";

/// Builds the SDK configuration from the default chain (environment, profile, web identity,
/// container and instance metadata) with the exporter's retry and timeout settings.
///
/// `credentials` replaces the chain; tests and embedders use it, the binary passes `None`.
pub(crate) async fn sdk_config(
    config: &AwsConfig,
    credentials: Option<aws_sdk_iam::config::SharedCredentialsProvider>,
) -> SdkConfig {
    // Environment, then profile, then us-east-1: the instance metadata service is not asked,
    // since IAM is global and a probe would only slow start-up off EC2.
    let region = match &config.region {
        Some(region) => RegionProviderChain::first_try(Region::new(region.clone())),
        None => {
            let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
            if let Some(name) = &config.profile {
                profile = profile.profile_name(name);
            }
            RegionProviderChain::first_try(
                aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
            )
            .or_else(profile.build())
            .or_else(Region::new(DEFAULT_REGION))
        }
    };
    let retry = RetryConfig::standard().with_max_attempts(config.max_attempts);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.connect_timeout)
        .operation_attempt_timeout(config.attempt_timeout)
        .build();
    let https = capped::Capped::shared(
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https(),
        config.max_response_size,
        None,
    );
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .region(region)
        .retry_config(retry)
        .timeout_config(timeouts)
        // It times every body's throughput, on every request, to catch a transfer that stalls;
        // `aws.attempt_timeout` already ends any attempt that takes too long, and IAM's answers
        // are small. Off, a request costs less CPU (docs/benchmarks.md).
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if config.use_fips {
        loader = loader.use_fips(true);
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// The SDK configuration for one watched account: the base one, or the base one assuming the
/// account's role (credentials are refreshed by the SDK before they expire).
pub(crate) async fn account_sdk_config(
    base: &SdkConfig,
    account: &AccountConfig,
    aws: &AwsConfig,
) -> SdkConfig {
    let mut config = base.to_builder();
    // The account's own request budget: its requests go through a bucket of their own.
    if let (Some(rate), Some(client)) = (aws.max_requests_per_second, base.http_client()) {
        config = config.http_client(capped::Capped::shared(
            client,
            aws.max_response_size,
            Some(Arc::new(rate::TokenBucket::new(rate))),
        ));
    }
    if let Some(role_arn) = &account.role_arn {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
            .session_name(SESSION_NAME)
            .configure(base);
        if let Some(external_id) = &account.external_id {
            builder = builder.external_id(external_id.clone());
        }
        let provider = builder.build().await;
        config = config.credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
            provider,
        ));
    }
    config.build()
}

/// Receives one call per AWS request with its operation and outcome; implemented by the
/// metrics, so this module needs no Prometheus types.
pub(crate) trait RequestObserver: Send + Sync {
    /// One request finished (after the SDK's retries).
    fn observe(&self, operation: &'static str, outcome: &'static str);

    /// One attempt of a request finished (each retry is one more).
    fn attempt(&self, operation: &str, outcome: &'static str);
}

/// An observer that counts nothing, for one-shot commands.
pub(crate) struct Uncounted;

impl RequestObserver for Uncounted {
    fn observe(&self, _operation: &'static str, _outcome: &'static str) {}

    fn attempt(&self, _operation: &str, _outcome: &'static str) {}
}

/// Counts a request by operation and outcome, and classifies its error.
fn record<T, E>(
    observer: &dyn RequestObserver,
    operation: &'static str,
    at: &endpoint::Tried,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<T, AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match result {
        Ok(output) => {
            observer.observe(operation, "success");
            Ok(output)
        }
        Err(err) => {
            let err = AwsError::from_sdk(operation, err).at(at);
            observer.observe(operation, err.kind.as_str());
            Err(err)
        }
    }
}

/// One page of `ListUsers`.
#[derive(Debug)]
pub(crate) struct UsersPage {
    /// `(name, path)` of each user on the page.
    pub(crate) users: Vec<(String, String)>,
    /// Where the next page starts; `None` on the last page.
    pub(crate) next_marker: Option<String>,
}

/// The answer of `GenerateCredentialReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportState {
    /// Generation was started by this call.
    Started,
    /// A report is being generated.
    InProgress,
    /// A report is ready.
    Complete,
}

/// More keys than this for one user is a broken answer: IAM allows two.
const MAX_KEYS_PER_USER: usize = 10;

/// More tags than this for one user is a broken answer: IAM allows 50.
const MAX_TAGS_PER_USER: usize = 200;

/// Records a page's marker; one seen before would list the same pages forever.
pub(crate) fn next_marker(
    operation: &'static str,
    seen: &mut std::collections::HashSet<String>,
    marker: &str,
) -> Result<(), AwsError> {
    if seen.len() >= MAX_PAGES {
        return Err(AwsError::malformed(
            operation,
            format!("more than {MAX_PAGES} pages"),
        ));
    }
    if !seen.insert(marker.to_owned()) {
        return Err(AwsError::malformed(
            operation,
            "a marker returned before: the listing would go round in circles",
        ));
    }
    Ok(())
}

/// The most pages one listing follows: 10,000 pages of 1,000 users is far past any account.
const MAX_PAGES: usize = 10_000;

/// A downloaded credential report.
#[derive(Debug)]
pub(crate) struct CredentialReport {
    /// The CSV text.
    pub(crate) content: Vec<u8>,
    /// When AWS generated it, Unix seconds.
    pub(crate) generated: i64,
}

/// The IAM and STS calls the sources make, counted and classified.
#[derive(Clone)]
pub(crate) struct Iam {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    /// CloudTrail in the IAM home region: who created a key ([`Iam::key_creation_records`]).
    trail: aws_sdk_cloudtrail::Client,
    /// Where each client's requests go, for the messages of their failures.
    at: Endpoints,
    observer: Arc<dyn RequestObserver>,
}

/// Where the IAM, STS and CloudTrail clients' requests go.
#[derive(Clone)]
struct Endpoints {
    iam: endpoint::Tried,
    sts: endpoint::Tried,
    trail: endpoint::Tried,
}

impl Iam {
    /// Clients for one account.
    pub(crate) fn new(
        config: &SdkConfig,
        observer: Arc<dyn RequestObserver>,
        last_failure: LastFailure,
    ) -> Self {
        let attempts = attempts::Attempts {
            observer: observer.clone(),
            last_failure,
        };
        // One for the account's clients: an answer from any of them shows the set-up works.
        let reach = reach::Reach::default();
        let iam = aws_sdk_iam::config::Builder::from(config)
            .interceptor(attempts.clone())
            .interceptor(strict::Strict)
            .interceptor(reach.clone())
            .retry_classifier(capped::NoRetryWhenTooLarge)
            .retry_classifier(reach.clone())
            .build();
        let (trail, trail_at) = cloudtrail::client(config, attempts.clone());
        let sts = aws_sdk_sts::config::Builder::from(config)
            .interceptor(attempts)
            .interceptor(strict::Strict)
            .interceptor(reach.clone())
            .retry_classifier(capped::NoRetryWhenTooLarge)
            .retry_classifier(reach)
            .build();
        Iam {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            trail,
            at: Endpoints {
                iam: endpoint::iam(config),
                sts: endpoint::sts(config),
                trail: trail_at,
            },
            observer,
        }
    }

    /// Counts an IAM request and classifies its error.
    fn record<T, E>(
        &self,
        operation: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        record(self.observer.as_ref(), operation, &self.at.iam, result)
    }

    /// The account the credentials belong to (`sts:GetCallerIdentity`).
    pub(crate) async fn caller_account(&self) -> Result<String, AwsError> {
        const OP: &str = "GetCallerIdentity";
        let sent = self.sts.get_caller_identity().send().await;
        let output = record(self.observer.as_ref(), OP, &self.at.sts, sent)?;
        output
            .account()
            .and_then(crate::arn::parse_account_id)
            .ok_or_else(|| AwsError::malformed(OP, "the answer has no 12-digit account ID"))
    }

    /// One page of users, up to 1000.
    pub(crate) async fn list_users_page(
        &self,
        marker: Option<String>,
    ) -> Result<UsersPage, AwsError> {
        const OP: &str = "ListUsers";
        let output = self.record(
            OP,
            self.iam
                .list_users()
                .max_items(1000)
                .set_marker(marker)
                .send()
                .await,
        )?;
        let users = output
            .users()
            .iter()
            .map(|user| {
                let (name, path) = (user.user_name(), user.path());
                if !crate::arn::is_user_name(name) || !crate::arn::is_path(path) {
                    return Err(AwsError::malformed(
                        OP,
                        format!(
                            "a user name or path IAM could not have sent ({:?}, {:?})",
                            crate::error::bounded(name, 80),
                            crate::error::bounded(path, 80)
                        ),
                    ));
                }
                Ok((name.to_owned(), path.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        let next_marker = if output.is_truncated() {
            let marker = output.marker().filter(|m| !m.is_empty()).ok_or_else(|| {
                AwsError::malformed(OP, "the page is truncated but has no marker")
            })?;
            Some(marker.to_owned())
        } else {
            None
        };
        Ok(UsersPage { users, next_marker })
    }

    /// Every access key of a user, following pages (IAM allows two keys, but the API pages),
    /// oldest first; `None` when the user no longer exists (deleted since it was listed).
    pub(crate) async fn list_access_keys(
        &self,
        user: &str,
    ) -> Result<Option<Vec<AccessKey>>, AwsError> {
        match self.list_access_keys_pages(user).await {
            Ok(mut keys) => {
                keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
                Ok(Some(keys))
            }
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn list_access_keys_pages(&self, user: &str) -> Result<Vec<AccessKey>, AwsError> {
        const OP: &str = "ListAccessKeys";
        let mut keys = Vec::new();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let output = self.record(
                OP,
                self.iam
                    .list_access_keys()
                    .user_name(user)
                    .set_marker(marker.take())
                    .send()
                    .await,
            )?;
            for key in output.access_key_metadata() {
                let id = key
                    .access_key_id()
                    .filter(|id| crate::arn::is_access_key_id(id))
                    .ok_or_else(|| {
                        AwsError::malformed(OP, "an access key without an ID of IAM's shape")
                    })?;
                // A key whose status is not told cannot be left out of the count: the answer
                // is broken, and the last good data is the better guess.
                let status = match key.status() {
                    Some(StatusType::Active) => KeyStatus::Active,
                    Some(StatusType::Inactive) => KeyStatus::Inactive,
                    other => {
                        return Err(AwsError::malformed(
                            OP,
                            format!(
                                "access key {} has the status {:?}, not Active or Inactive",
                                crate::error::bounded(id, 32),
                                other.map(|s| crate::error::bounded(s.as_str(), 32))
                            ),
                        ))
                    }
                };
                let created = key
                    .create_date()
                    .map(|date| date.secs())
                    .ok_or_else(|| AwsError::malformed(OP, "an access key has no creation date"))?;
                if keys.iter().any(|k: &AccessKey| k.id == id) {
                    return Err(AwsError::malformed(OP, "an access key listed twice"));
                }
                keys.push(AccessKey {
                    id: id.to_owned(),
                    status,
                    created,
                    last_used: None,
                });
            }
            if keys.len() > MAX_KEYS_PER_USER {
                return Err(AwsError::malformed(
                    OP,
                    format!(
                        "more than {MAX_KEYS_PER_USER} access keys for one user (IAM allows 2)"
                    ),
                ));
            }
            match output.marker().filter(|_| output.is_truncated()) {
                Some(next) if !next.is_empty() => {
                    next_marker(OP, &mut seen, next)?;
                    marker = Some(next.to_owned());
                }
                _ => break,
            }
        }
        Ok(keys)
    }

    /// When a key was last used, Unix seconds; `None` if never, or if the key was deleted since
    /// it was listed (it is gone at the next refresh).
    pub(crate) async fn access_key_last_used(&self, key_id: &str) -> Result<Option<i64>, AwsError> {
        const OP: &str = "GetAccessKeyLastUsed";
        let output = match self.record(
            OP,
            self.iam
                .get_access_key_last_used()
                .access_key_id(key_id)
                .send()
                .await,
        ) {
            Ok(output) => output,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(output
            .access_key_last_used()
            .and_then(|used| used.last_used_date())
            .map(|date| date.secs()))
    }

    /// A user's tags whose keys start with `prefix`, following pages (IAM allows 50 tags).
    pub(crate) async fn list_user_tags(
        &self,
        user: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ListUserTags";
        let mut tags = Vec::new();
        let mut marker = None;
        let mut seen = std::collections::HashSet::new();
        let mut listed = 0_usize;
        loop {
            let output = self.record(
                OP,
                self.iam
                    .list_user_tags()
                    .user_name(user)
                    .set_marker(marker.take())
                    .send()
                    .await,
            )?;
            listed += output.tags().len();
            if listed > MAX_TAGS_PER_USER {
                return Err(AwsError::malformed(
                    OP,
                    format!("more than {MAX_TAGS_PER_USER} tags for one user (IAM allows 50)"),
                ));
            }
            tags.extend(
                output
                    .tags()
                    .iter()
                    .filter(|tag| tag.key().starts_with(prefix))
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
            );
            match output.marker().filter(|_| output.is_truncated()) {
                Some(next) if !next.is_empty() => {
                    next_marker(OP, &mut seen, next)?;
                    marker = Some(next.to_owned());
                }
                _ => return Ok(tags),
            }
        }
    }

    /// Whether the root user has an access key (`AccountAccessKeysPresent`).
    pub(crate) async fn root_access_keys_present(&self) -> Result<bool, AwsError> {
        const OP: &str = "GetAccountSummary";
        let output = self.record(OP, self.iam.get_account_summary().send().await)?;
        let present = output
            .summary_map()
            .and_then(|map| map.get(&SummaryKeyType::AccountAccessKeysPresent))
            .ok_or_else(|| AwsError::malformed(OP, "no AccountAccessKeysPresent in the summary"))?;
        Ok(*present > 0)
    }

    /// Asks IAM to generate a credential report (a no-op if a recent one exists).
    pub(crate) async fn generate_credential_report(&self) -> Result<ReportState, AwsError> {
        const OP: &str = "GenerateCredentialReport";
        let output = self.record(OP, self.iam.generate_credential_report().send().await)?;
        match output.state().map(|state| state.as_str()) {
            Some("STARTED") => Ok(ReportState::Started),
            Some("INPROGRESS") => Ok(ReportState::InProgress),
            Some("COMPLETE") => Ok(ReportState::Complete),
            other => Err(AwsError::malformed(
                OP,
                format!("unexpected report state {other:?}"),
            )),
        }
    }

    /// Downloads the current credential report; `code` of the error tells `ReportNotPresent`,
    /// `ReportExpired` and `ReportInProgress` apart.
    pub(crate) async fn get_credential_report(&self) -> Result<CredentialReport, AwsError> {
        const OP: &str = "GetCredentialReport";
        let output = self.record(OP, self.iam.get_credential_report().send().await)?;
        let generated = output
            .generated_time()
            .map(|time| time.secs())
            .ok_or_else(|| AwsError::malformed(OP, "the report has no generation time"))?;
        // Taken, not copied: at 100,000 users the report is some 30 MB.
        let content = output
            .content
            .map(aws_sdk_iam::primitives::Blob::into_inner)
            .ok_or_else(|| AwsError::malformed(OP, "the report has no content"))?;
        Ok(CredentialReport { content, generated })
    }
}
