//! Credential-report mode: the account's credential report, a CSV with one row per user.
//!
//! A refresh asks for the current report (one request). Only when it is absent, expired or
//! older than `collector.report_max_age` (four hours, as often as AWS regenerates) is a new one
//! generated, polling with back-off while AWS works on it, up to `collector.report_wait`.
//!
//! The report has no access key IDs, only two key slots per user. So that per-key series and
//! the alert rules work alike in both modes, users the report flags (two active keys) are
//! confirmed with `ListAccessKeys` (concurrently, up to `collector.concurrency`): their series
//! carry real key IDs and current statuses, so a rotation finished since the report was made is
//! not reported as a violation. That costs one request per flagged user; with
//! `collector.confirm_report_offenders = false` a refresh is the report calls alone, and
//! flagged users are reported as the report has them. Keys not confirmed are named by their
//! report slot, `access_key_1` and `access_key_2`.
//!
//! When no new report can be had (AWS answers `GenerateCredentialReport` with 409
//! `LimitExceeded` while other tools generate theirs, throttles, or does not finish within
//! `report_wait`), the account is never left without data: the older report AWS still hands out
//! is served (its generation time is the data's time), or, when there is none, the users are read
//! through the API for that refresh. Either is counted in
//! `iam_exporter_credential_report_fallbacks_total`, and after a refusal no generation is asked
//! for a while ([`GenerationBackoff`]).

mod report_csv;

use std::time::{Duration, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};

use super::api::ApiSource;
use super::{Account, Exemptions, Source, SourceError};
use crate::aws::{AwsError, CredentialReport, ErrorKind, Iam, ReportState};
use crate::config::CollectorConfig;
use crate::snapshot::{
    AccessKey, AccountSnapshot, FallbackServed, LastUsedFrom, ReportFallback, User,
};
pub(crate) use report_csv::{parse, ParsedReport};

/// Reads IAM through its credential report.
pub(crate) struct CredentialReportSource {
    /// The account and its exemptions, and the API reads a refresh falls back to when no
    /// report can be had (without last use: one request per user, as in API mode).
    api: ApiSource,
    /// A report older than this is generated anew.
    max_age: Duration,
    /// How long to wait for AWS to generate one.
    wait: Duration,
    /// Whether to confirm flagged users with `ListAccessKeys`.
    confirm_offenders: bool,
    /// Confirmations in flight at once.
    concurrency: usize,
}

impl CredentialReportSource {
    /// A source for `account` with the collector's settings.
    pub(crate) fn new(
        account: Account,
        collector: &CollectorConfig,
        exemptions: Exemptions,
    ) -> Self {
        CredentialReportSource {
            api: ApiSource::without_last_use(account, collector, exemptions),
            max_age: collector.report_max_age,
            wait: collector.report_wait,
            confirm_offenders: collector.confirm_report_offenders,
            concurrency: collector.concurrency,
        }
    }

    /// Replaces the report's view of a flagged user with the current keys and real IDs;
    /// `None` when the user no longer exists.
    async fn confirm(&self, mut user: User) -> Result<Option<User>, AwsError> {
        let Some(mut keys) = self.account().iam().list_access_keys(&user.name).await? else {
            return Ok(None);
        };
        carry_last_use(&mut keys, &user.access_keys);
        user.access_keys = keys;
        Ok(Some(user))
    }

    async fn collect_snapshot(&self) -> Result<AccountSnapshot, SourceError> {
        // Known first (one STS call, once), so that failures are labelled with the account.
        let account_id = self.account().id().await?;
        let read = match read(self.account(), &account_id, self.max_age, self.wait).await {
            Ok(read) => read,
            Err(err) if report_unavailable(&err) => {
                tracing::warn!(
                    account_id,
                    error = %crate::error::error_chain(&err),
                    "no credential report could be had; reading the users through the API for \
                     this refresh instead (one request per user, without last use)"
                );
                let mut snapshot = self.api.collect_snapshot().await?;
                snapshot.report_fallback = Some(ReportFallback {
                    reason: err.kind().as_str(),
                    served: FallbackServed::Api,
                });
                return Ok(snapshot);
            }
            Err(err) => return Err(err),
        };
        let generated = read.generated;
        let (flagged, mut users): (Vec<User>, Vec<User>) = read
            .parsed
            .users
            .into_iter()
            .partition(|user| self.confirm_offenders && user.is_offender());
        let confirmed: Vec<User> = stream::iter(flagged)
            .map(|user| self.confirm(user))
            .buffer_unordered(self.concurrency)
            .try_filter_map(|user| async move { Ok(user) })
            .try_collect()
            .await?;
        users.extend(confirmed);
        users.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let mut snapshot = AccountSnapshot {
            account_id,
            data_timestamp: UNIX_EPOCH + Duration::from_secs(generated.max(0) as u64),
            users,
            root_access_keys_present: read.parsed.root_access_keys_present,
            last_used_from: LastUsedFrom::Report(generated),
            report_fallback: read.older.map(|kind| ReportFallback {
                reason: kind.as_str(),
                served: FallbackServed::OlderReport,
            }),
        };
        self.exemptions()
            .resolve(self.account().iam(), &mut snapshot)
            .await?;
        Ok(snapshot)
    }
}

impl Source for CredentialReportSource {
    fn account_id(&self) -> Option<String> {
        self.account().known_id()
    }

    fn collect(&self) -> BoxFuture<'_, Result<AccountSnapshot, SourceError>> {
        self.collect_snapshot().boxed()
    }

    fn account(&self) -> &Account {
        self.api.account()
    }

    fn exemptions(&self) -> &Exemptions {
        self.api.exemptions()
    }
}

/// A report read for a refresh: parsed, with its generation time, and why it is older than
/// asked when it is.
pub(super) struct Read {
    pub(super) parsed: ParsedReport,
    pub(super) generated: i64,
    /// Set when a newer report was wanted but could not be had (the failure's kind): this is the
    /// older one AWS still hands out.
    pub(super) older: Option<ErrorKind>,
}

/// The account's current report, parsed: the one AWS has when it is no older than `max_age`,
/// a new one otherwise (polling up to `wait` while AWS makes it). When a new one cannot be had
/// (generation refused with `LimitExceeded` or throttled, or not finished in time) and AWS still
/// has an older one, that one, marked [`Read::older`]: an old report beats no data.
pub(super) async fn read(
    account: &Account,
    account_id: &str,
    max_age: Duration,
    wait: Duration,
) -> Result<Read, SourceError> {
    let (report, older) = current(account, account_id, max_age, wait).await?;
    let generated = report.generated;
    let parsed = parse(&report.content).map_err(SourceError::MalformedReport)?;
    // The CSV is no longer needed; free it before the confirmations and the rendering.
    drop(report);
    if let Some(reported) = parsed.account_id.as_deref().filter(|id| *id != account_id) {
        return Err(SourceError::MalformedReport(format!(
            "the report is for account {reported}, but the credentials are of account {account_id}"
        )));
    }
    Ok(Read {
        parsed,
        generated,
        older,
    })
}

/// Whether a failure to have the report leaves the refresh something else to serve: AWS
/// refusing or throttling the report calls, a generation not finished in time, or a report that
/// cannot be read (truncated, empty). Missing permissions and network failures are not: they
/// would fail the reads a fallback makes as well.
pub(super) fn report_unavailable(err: &SourceError) -> bool {
    match err {
        SourceError::ReportNotReady(_) | SourceError::MalformedReport(_) => true,
        SourceError::Aws(err) => {
            err.kind == ErrorKind::Throttled
                && matches!(
                    err.operation,
                    "GenerateCredentialReport" | "GetCredentialReport"
                )
        }
        SourceError::Timeout(..) => false,
    }
}

/// The current report, generating a new one only when needed; with the failure's kind when it
/// is an older one than asked.
async fn current(
    account: &Account,
    account_id: &str,
    max_age: Duration,
    wait: Duration,
) -> Result<(CredentialReport, Option<ErrorKind>), SourceError> {
    let iam = account.iam();
    let older = match iam.get_credential_report().await {
        Ok(report) if age(report.generated) <= max_age => return Ok((report, None)),
        Ok(report) => {
            tracing::info!(
                generated = report.generated,
                "credential report older than collector.report_max_age; generating a new one"
            );
            Some(report)
        }
        Err(err) if is_report_missing(&err) => {
            tracing::info!(
                code = err.code.as_deref().unwrap_or(""),
                "no usable credential report; generating one"
            );
            None
        }
        Err(err) => return Err(err.into()),
    };
    let generated = match account.report_backoff.until() {
        // AWS refused lately: asking again on every refresh only adds to the load it refused.
        Some(left) => Err(SourceError::Aws(
            AwsError::malformed(
                "GenerateCredentialReport",
                format!(
                    "not asked: AWS refused a generation lately; backing off for {}",
                    humantime::format_duration(Duration::from_secs(left.as_secs()))
                ),
            )
            .with_kind(ErrorKind::Throttled),
        )),
        None => generate(iam, wait).await,
    };
    let failure = match generated {
        Ok(()) => {
            account.report_backoff.clear();
            match iam.get_credential_report().await {
                Ok(report) => return Ok((report, None)),
                Err(err) => SourceError::from(err),
            }
        }
        Err(err) => {
            if matches!(&err, SourceError::Aws(aws) if aws.kind == ErrorKind::Throttled && aws.code.is_some())
            {
                let pause = account.report_backoff.refused(max_age);
                tracing::warn!(
                    account_id,
                    error = %crate::error::error_chain(&err),
                    "AWS refused to generate a credential report; not asking again for {}",
                    humantime::format_duration(pause)
                );
            }
            err
        }
    };
    match older {
        Some(report) if report_unavailable(&failure) => {
            tracing::warn!(
                account_id,
                generated = report.generated,
                error = %crate::error::error_chain(&failure),
                "no newer credential report could be had; serving the older one AWS still has \
                 (its time is iam_exporter_data_timestamp_seconds)"
            );
            Ok((report, Some(failure.kind())))
        }
        _ => Err(failure),
    }
}

/// After AWS refused to generate a report (`LimitExceeded`, throttling), no generation is asked
/// for a while, doubling from five minutes up to `collector.report_max_age`: the refusal says
/// other tools are generating reports in the account, and another request only adds to them.
/// Kept per account, so every refresh of the account (API mode's last use too) honours it.
#[derive(Debug, Default)]
pub(crate) struct GenerationBackoff {
    /// Until when, and the pause that was set.
    state: std::sync::Mutex<Option<(std::time::Instant, Duration)>>,
}

/// The first pause after a refusal.
const FIRST_BACKOFF: Duration = Duration::from_secs(300);

impl GenerationBackoff {
    /// The time left while backing off; `None` when a generation may be asked.
    fn until(&self) -> Option<Duration> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (until, _) = (*state)?;
        until.checked_duration_since(std::time::Instant::now())
    }

    /// Records a refusal; returns the pause until the next generation may be asked.
    fn refused(&self, cap: Duration) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let pause = match *state {
            Some((_, last)) => (last * 2).min(cap.max(FIRST_BACKOFF)),
            None => FIRST_BACKOFF,
        };
        *state = Some((std::time::Instant::now() + pause, pause));
        pause
    }

    /// A generation went through: the next refusal starts from the first pause again.
    fn clear(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Starts generation and polls until the report is complete or the wait runs out.
async fn generate(iam: &Iam, wait: Duration) -> Result<(), SourceError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(250);
    loop {
        if iam.generate_credential_report().await? == ReportState::Complete {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(SourceError::ReportNotReady(wait));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// Carries the report's last-use dates over to a user's real keys. The report names no key: its
/// two slots carry `last_rotated`, the key's creation time, so a key takes the date of the slot
/// created in the same second; of two such slots, the one with the key's status, and when that
/// does not tell them apart either, their date only if they agree on it. Returns the indices of
/// the keys no slot places (created after the report, or two slots that disagree): their last
/// use is not known from it.
pub(super) fn carry_last_use(keys: &mut [AccessKey], slots: &[AccessKey]) -> Vec<usize> {
    let mut unplaced = Vec::new();
    for (index, key) in keys.iter_mut().enumerate() {
        let same: Vec<&AccessKey> = slots
            .iter()
            .filter(|slot| slot.created == key.created)
            .collect();
        let status: Vec<&AccessKey> = same
            .iter()
            .copied()
            .filter(|slot| slot.status == key.status)
            .collect();
        let candidates = if status.is_empty() { same } else { status };
        match candidates.split_first() {
            Some((first, rest)) if rest.iter().all(|s| s.last_used == first.last_used) => {
                key.last_used = first.last_used;
            }
            _ => {
                key.last_used = None;
                unplaced.push(index);
            }
        }
    }
    unplaced
}

fn age(generated: i64) -> Duration {
    let now = crate::clock::now();
    Duration::from_secs(now.saturating_sub(generated).max(0) as u64)
}

fn is_report_missing(err: &AwsError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("ReportNotPresent" | "ReportExpired" | "ReportInProgress")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::KeyStatus;

    #[test]
    fn report_slots_are_joined_to_keys_by_creation_time_and_status() {
        let key = |id: &str, status: KeyStatus, created: i64, last_used: Option<i64>| AccessKey {
            id: id.to_owned(),
            status,
            created,
            last_used,
        };
        let slots = [
            key("access_key_1", KeyStatus::Active, 100, Some(500)),
            key("access_key_2", KeyStatus::Inactive, 100, Some(400)),
        ];
        let mut keys = vec![
            key("AKIA1", KeyStatus::Active, 100, None),
            key("AKIA2", KeyStatus::Inactive, 100, None),
            key("AKIA3", KeyStatus::Active, 300, Some(1)),
        ];
        let unplaced = carry_last_use(&mut keys, &slots);
        assert_eq!(
            keys[0].last_used,
            Some(500),
            "same second, told apart by status"
        );
        assert_eq!(keys[1].last_used, Some(400));
        assert_eq!(unplaced, [2], "created after the report");
        assert_eq!(keys[2].last_used, None);

        // Two active slots of one second: their date only if they agree.
        let agree = [
            key("access_key_1", KeyStatus::Active, 100, None),
            key("access_key_2", KeyStatus::Active, 100, None),
        ];
        let mut keys = vec![key("AKIA1", KeyStatus::Active, 100, Some(9))];
        assert!(carry_last_use(&mut keys, &agree).is_empty());
        assert_eq!(keys[0].last_used, None);
        let disagree = [
            key("access_key_1", KeyStatus::Active, 100, Some(7)),
            key("access_key_2", KeyStatus::Active, 100, None),
        ];
        assert_eq!(carry_last_use(&mut keys, &disagree), [0]);
    }
}
