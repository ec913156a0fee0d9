//! API mode: `ListUsers` (paged), then per user `ListAccessKeys`, with bounded concurrency.
//!
//! Last use (`collector.last_used`) comes from the account's credential report when it can be
//! had, under the rules of credential-report mode (`collector.report_max_age`,
//! `collector.report_wait`): one download carries every key's last use, to the day AWS keeps it
//! anyway. The report's two slots per user are joined to the listed keys by creation time;
//! `GetAccessKeyLastUsed` is asked only for the active keys the report cannot place (created
//! after it, or two in the same second). Without a report (no `iam:GetCredentialReport`, not
//! ready in time), every active key is asked, with a warning, and
//! `iam_exporter_last_used_from_report` says so. The report's root row also answers whether
//! root has keys; without it, `GetAccountSummary` does.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};

use super::credential_report::{self, carry_last_use};
use super::{Account, Exemptions, Source, SourceError};
use crate::aws::AwsError;
use crate::aws::ErrorKind;
use crate::config::CollectorConfig;
use crate::snapshot::{
    AccessKey, AccountSnapshot, FallbackServed, KeyStatus, LastUsedFrom, ReportFallback, User,
};

/// The report's key slots per user name, with its generation time and root's answer.
struct LastUseReport {
    slots: HashMap<String, Vec<AccessKey>>,
    generated: i64,
    root_access_keys_present: Option<bool>,
    /// Why it is older than `report_max_age`, when it is.
    older: Option<ErrorKind>,
}

/// Reads IAM through its list APIs.
pub(crate) struct ApiSource {
    account: Account,
    /// Users whose keys are fetched at once; IAM throttles, so this stays small.
    concurrency: usize,
    /// A listing with more users than this is malformed.
    max_users: usize,
    /// Whether to collect last use.
    last_used: bool,
    /// A report older than this is generated anew.
    report_max_age: Duration,
    /// How long to wait for AWS to generate one.
    report_wait: Duration,
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
            max_users: collector.max_users,
            last_used: collector.last_used,
            report_max_age: collector.report_max_age,
            report_wait: collector.report_wait,
            exemptions,
        }
    }

    /// A source that never collects last use: credential-report mode's fallback, whose report
    /// could not be had.
    pub(super) fn without_last_use(
        account: Account,
        collector: &CollectorConfig,
        exemptions: Exemptions,
    ) -> Self {
        ApiSource {
            last_used: false,
            ..Self::new(account, collector, exemptions)
        }
    }

    /// Every user's `(name, path)`, following `Marker` until the last page. A marker seen
    /// before, a user listed twice (IAM's names are unique in any case) or more users than
    /// `collector.max_users` make the listing malformed: it would never end, or count wrong.
    async fn list_users(&self) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ListUsers";
        let mut users = Vec::new();
        let mut names = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.account.iam().list_users_page(marker.clone()).await?;
            for (name, path) in page.users {
                if !names.insert(name.to_ascii_lowercase()) {
                    return Err(AwsError::malformed(OP, "a user listed twice"));
                }
                users.push((name, path));
            }
            if users.len() > self.max_users {
                return Err(AwsError::malformed(
                    OP,
                    format!(
                        "more than {} users (`collector.max_users`; IAM allows 5,000)",
                        self.max_users
                    ),
                ));
            }
            match page.next_marker {
                Some(next) => {
                    crate::aws::next_marker(OP, &mut seen, &next)?;
                    marker = Some(next);
                }
                None => return Ok(users),
            }
        }
    }

    /// One user's keys; `None` when the user was deleted while the refresh ran. Last use from
    /// `report`'s slots for the user, else asked per active key.
    async fn user(
        &self,
        name: String,
        path: String,
        report: Option<&LastUseReport>,
    ) -> Result<Option<User>, AwsError> {
        let iam = self.account.iam();
        let Some(mut access_keys) = iam.list_access_keys(&name).await? else {
            tracing::debug!(user = %name, "user deleted during the refresh; skipped");
            return Ok(None);
        };
        if self.last_used {
            let unplaced = match report {
                Some(report) => {
                    let slots = report.slots.get(&name).map_or(&[][..], Vec::as_slice);
                    carry_last_use(&mut access_keys, slots)
                }
                None => (0..access_keys.len()).collect(),
            };
            for index in unplaced {
                let key = &mut access_keys[index];
                // An inactive key cannot be used: its last use is what the report says, or
                // unknown, never worth a request.
                if key.status != KeyStatus::Active {
                    continue;
                }
                key.last_used = iam.access_key_last_used(&key.id).await?;
            }
        }
        Ok(Some(User {
            name,
            path,
            access_keys,
            exemptions: Vec::new(),
            creators: Default::default(),
        }))
    }

    /// The credential report's key slots, or the failure's kind (with a warning) when it cannot
    /// be had: last use is then asked per key, as it was before reports were used.
    async fn last_use_report(&self, account_id: &str) -> Result<LastUseReport, ErrorKind> {
        match credential_report::read(
            &self.account,
            account_id,
            self.report_max_age,
            self.report_wait,
        )
        .await
        {
            Ok(read) => Ok(LastUseReport {
                slots: read
                    .parsed
                    .users
                    .into_iter()
                    .map(|user| (user.name, user.access_keys))
                    .collect(),
                generated: read.generated,
                root_access_keys_present: read.parsed.root_access_keys_present,
                older: read.older,
            }),
            Err(err) => {
                tracing::warn!(
                    account_id,
                    error = %crate::error::error_chain(&err),
                    "no credential report: asking GetAccessKeyLastUsed for every active key \
                     instead (one request per key); grant iam:GenerateCredentialReport and \
                     iam:GetCredentialReport to save them"
                );
                Err(err.kind())
            }
        }
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

    /// One refresh's snapshot.
    pub(super) async fn collect_snapshot(&self) -> Result<AccountSnapshot, SourceError> {
        let started = SystemTime::now();
        let account_id = self.account.id().await?;
        let report = async {
            match self.last_used {
                true => Some(self.last_use_report(&account_id).await),
                false => None,
            }
        };
        let (listed, report) = tokio::join!(self.list_users(), report);
        let listed = listed?;
        let report_fallback = match &report {
            Some(Ok(LastUseReport {
                older: Some(kind), ..
            })) => Some(ReportFallback {
                reason: kind.as_str(),
                served: FallbackServed::OlderReport,
            }),
            Some(Err(kind)) => Some(ReportFallback {
                reason: kind.as_str(),
                served: FallbackServed::PerKey,
            }),
            _ => None,
        };
        let report = report.as_ref().and_then(|report| report.as_ref().ok());
        let mut users: Vec<User> = stream::iter(listed)
            .map(|(name, path)| self.user(name, path, report))
            .buffer_unordered(self.concurrency)
            .try_filter_map(|user| async move { Ok(user) })
            .try_collect()
            .await?;
        users.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let root_access_keys_present = match report.and_then(|r| r.root_access_keys_present) {
            Some(present) => Some(present),
            None => self.root_access_keys_present().await?,
        };
        let last_used_from = match (self.last_used, report) {
            (false, _) => LastUsedFrom::Nowhere,
            (true, Some(report)) => LastUsedFrom::Report(report.generated),
            (true, None) => LastUsedFrom::PerKey,
        };
        let mut snapshot = AccountSnapshot {
            account_id,
            data_timestamp: started,
            users,
            root_access_keys_present,
            last_used_from,
            report_fallback,
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

    fn exemptions(&self) -> &Exemptions {
        &self.exemptions
    }
}
