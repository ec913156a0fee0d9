//! API mode: `ListUsers` (paged), then per user `ListAccessKeys` and, when enabled,
//! `GetAccessKeyLastUsed` per key, with bounded concurrency; `GetAccountSummary` for root keys.

use std::time::SystemTime;

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};

use super::{Account, Exemptions, Source, SourceError};
use crate::aws::AwsError;
use crate::aws::ErrorKind;
use crate::config::CollectorConfig;
use crate::snapshot::{AccountSnapshot, User};

/// Reads IAM through its list APIs.
pub(crate) struct ApiSource {
    account: Account,
    /// Users whose keys are fetched at once; IAM throttles, so this stays small.
    concurrency: usize,
    /// Whether to spend one request per key on its last use.
    last_used: bool,
    /// The offenders' exemptions.
    exemptions: Exemptions,
}

impl ApiSource {
    /// A source for `account` with the collector's settings.
    pub(crate) fn new(
        account: Account,
        collector: &CollectorConfig,
        exemptions: Exemptions,
    ) -> Self {
        ApiSource {
            account,
            concurrency: collector.concurrency,
            last_used: collector.last_used,
            exemptions,
        }
    }

    /// Every user's `(name, path)`, following `Marker` until the last page.
    async fn list_users(&self) -> Result<Vec<(String, String)>, AwsError> {
        let mut users = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.account.iam().list_users_page(marker.clone()).await?;
            users.extend(page.users);
            match page.next_marker {
                // A marker that does not move would loop forever; refuse it.
                Some(next) if marker.as_ref() == Some(&next) => {
                    return Err(AwsError::malformed(
                        "ListUsers",
                        "the same marker was returned twice",
                    ))
                }
                Some(next) => marker = Some(next),
                None => return Ok(users),
            }
        }
    }

    /// One user's keys; `None` when the user was deleted while the refresh ran.
    async fn user(&self, name: String, path: String) -> Result<Option<User>, AwsError> {
        let iam = self.account.iam();
        let mut access_keys = match iam.list_access_keys(&name).await {
            Ok(keys) => keys,
            Err(err) if err.is_not_found() => {
                tracing::debug!(user = %name, "user deleted during the refresh; skipped");
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        if self.last_used {
            for key in &mut access_keys {
                key.last_used = match iam.access_key_last_used(&key.id).await {
                    Ok(last_used) => last_used,
                    // Deleted since it was listed: it will be gone on the next refresh.
                    Err(err) if err.is_not_found() => None,
                    Err(err) => return Err(err),
                };
            }
        }
        access_keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(Some(User {
            name,
            path,
            access_keys,
            exemptions: Vec::new(),
        }))
    }

    /// Whether root has keys; `None` (with a warning) when the credentials may not ask, so a
    /// policy without `iam:GetAccountSummary` still gets the per-user data.
    async fn root_access_keys_present(&self) -> Result<Option<bool>, AwsError> {
        match self.account.iam().root_access_keys_present().await {
            Ok(present) => Ok(Some(present)),
            Err(err) if err.kind == ErrorKind::AccessDenied => {
                tracing::warn!(
                    error = %crate::error::error_chain(&err),
                    "cannot tell whether the root user has access keys; grant iam:GetAccountSummary"
                );
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    async fn collect_snapshot(&self) -> Result<AccountSnapshot, SourceError> {
        let started = SystemTime::now();
        let account_id = self.account.id().await?;
        let listed = self.list_users().await?;
        let mut users: Vec<User> = stream::iter(listed)
            .map(|(name, path)| self.user(name, path))
            .buffer_unordered(self.concurrency)
            .try_filter_map(|user| async move { Ok(user) })
            .try_collect()
            .await?;
        users.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let root_access_keys_present = self.root_access_keys_present().await?;
        let mut snapshot = AccountSnapshot {
            account_id,
            data_timestamp: started,
            users,
            root_access_keys_present,
        };
        self.exemptions
            .resolve(self.account.iam(), &mut snapshot)
            .await?;
        Ok(snapshot)
    }
}

impl Source for ApiSource {
    fn account_id(&self) -> Option<String> {
        self.account.known_id()
    }

    fn collect(&self) -> BoxFuture<'_, Result<AccountSnapshot, SourceError>> {
        self.collect_snapshot().boxed()
    }

    fn account(&self) -> &Account {
        &self.account
    }
}
