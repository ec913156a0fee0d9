//! Sources of IAM data: each turns one account's IAM state into an [`AccountSnapshot`].
//!
//! Two sources sit behind the one [`Source`] trait:
//!
//! - [`api`]: `ListUsers`, then `ListAccessKeys` (and `GetAccessKeyLastUsed`) per user. Exact and
//!   current; one request per user per refresh.
//! - [`credential_report`]: the account's credential report. A handful of requests, but the
//!   report can be up to four hours old.
//!
//! A source never touches Prometheus; the refresh loop publishes what it returns.

mod api;
mod creators;
mod credential_report;
mod exemptions;

pub(crate) use creators::{
    from_record as creator_from_record, look_up as look_up_creator, Lookup,
    Unknown as UnknownCreator, LOOKUP_SPACING,
};
pub(crate) use exemptions::{tag_exemption, Exemptions};

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::aws::{AwsError, ErrorKind, Iam, LastFailure};
use crate::config::{CollectorConfig, SourceKind};
use crate::snapshot::{AccountSnapshot, User};

/// The account label value used before an account's ID is known (credentials that have never
/// worked yet).
pub(crate) const UNKNOWN_ACCOUNT: &str = "unknown";

/// Why a source could not produce a snapshot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// An AWS request failed after the SDK's retries.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The credential report was still being generated when the wait ran out.
    #[error(
        "the credential report was not ready after {0:?}; AWS is still generating it \
         (raise `collector.report_wait`, or wait for the next refresh)"
    )]
    ReportNotReady(Duration),
    /// The credential report could not be parsed.
    #[error("the credential report is malformed: {0}")]
    MalformedReport(String),
    /// The refresh as a whole took longer than `refresh.timeout`; with the last failed
    /// attempt of its requests, when one failed, which is the likelier cause.
    #[error(
        "the refresh took longer than {0:?} (`refresh.timeout`) and was abandoned{cause}",
        cause = .1.as_ref().map_or(String::new(), |(_, cause)| format!("; the last failed attempt: {cause}"))
    )]
    Timeout(Duration, Option<(ErrorKind, String)>),
}

impl SourceError {
    /// The failure's kind, for `iam_exporter_refresh_errors_total{kind}`.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Aws(err) => err.kind,
            SourceError::Timeout(_, Some((kind, _))) => *kind,
            SourceError::ReportNotReady(_) | SourceError::Timeout(..) => ErrorKind::Timeout,
            SourceError::MalformedReport(_) => ErrorKind::Service,
        }
    }
}

/// Collects a snapshot from `source`, abandoning it after `timeout` (`refresh.timeout`).
pub(crate) async fn collect_within(
    source: &dyn Source,
    timeout: Duration,
) -> Result<AccountSnapshot, SourceError> {
    // What failed before this collection is not its cause.
    let _ = source.account().last_failure.take();
    tokio::time::timeout(timeout, source.collect())
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::Timeout(
                timeout,
                source.account().last_failure.take(),
            ))
        })
}

/// One source of IAM data for one account.
pub(crate) trait Source: Send + Sync {
    /// The account's ID, once known (from the configuration or the first refresh).
    fn account_id(&self) -> Option<String>;

    /// Collects a complete snapshot, or fails as a whole.
    fn collect(&self) -> BoxFuture<'_, Result<AccountSnapshot, SourceError>>;

    /// The account it reads.
    fn account(&self) -> &Account;

    /// How it resolves exemptions.
    fn exemptions(&self) -> &Exemptions;
}

/// Reads one user again, for an IAM change event: its keys now, with the last use of the keys
/// it already had carried over from `previous` (a new key's is not known until the next
/// refresh), its path from `previous`, else `path` (the event's), else `/`, and its exemptions
/// when it has more than one active key. `None` when the user no longer exists.
pub(crate) async fn read_user(
    source: &dyn Source,
    account_id: &str,
    name: &str,
    previous: Option<&User>,
    path: Option<&str>,
) -> Result<Option<User>, AwsError> {
    let iam = source.account().iam();
    let Some(mut access_keys) = iam.list_access_keys(name).await? else {
        return Ok(None);
    };
    for key in &mut access_keys {
        key.last_used = previous
            .and_then(|user| user.access_keys.iter().find(|old| old.id == key.id))
            .and_then(|old| old.last_used);
    }
    let mut user = User {
        name: name.to_owned(),
        path: previous
            .map(|user| user.path.clone())
            .or_else(|| path.map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned()),
        access_keys,
        exemptions: Vec::new(),
        creators: Default::default(),
    };
    source
        .exemptions()
        .resolve_user(iam, account_id, &mut user)
        .await?;
    Ok(Some(user))
}

/// The account a source reads: its IAM clients and its ID, asked of STS once when not
/// configured.
pub(crate) struct Account {
    iam: Iam,
    id: OnceCell<String>,
    /// The last failed attempt of the account's requests, kept by the clients' interceptor.
    pub(crate) last_failure: LastFailure,
    /// No credential report generation is asked while AWS's last refusal is recent.
    pub(crate) report_backoff: credential_report::GenerationBackoff,
}

impl Account {
    /// An account whose ID is `known`, or will be asked of STS.
    pub(crate) fn new(iam: Iam, known: Option<String>, last_failure: LastFailure) -> Self {
        let id = match known {
            Some(id) => OnceCell::new_with(Some(id)),
            None => OnceCell::new(),
        };
        Account {
            iam,
            id,
            last_failure,
            report_backoff: Default::default(),
        }
    }

    /// The clients.
    pub(crate) fn iam(&self) -> &Iam {
        &self.iam
    }

    /// The ID if known yet.
    pub(crate) fn known_id(&self) -> Option<String> {
        self.id.get().cloned()
    }

    /// The ID, asking STS the first time.
    pub(crate) async fn id(&self) -> Result<String, AwsError> {
        self.id
            .get_or_try_init(|| self.iam.caller_account())
            .await
            .cloned()
    }
}

/// Builds the configured source for one account.
pub(crate) fn build(
    account: Account,
    collector: &CollectorConfig,
    exemptions: Exemptions,
) -> Arc<dyn Source> {
    match collector.source {
        SourceKind::Api => Arc::new(api::ApiSource::new(account, collector, exemptions)),
        SourceKind::CredentialReport => Arc::new(credential_report::CredentialReportSource::new(
            account, collector, exemptions,
        )),
    }
}
