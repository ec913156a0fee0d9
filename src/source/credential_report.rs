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

use std::time::{Duration, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};

use super::api::ApiSource;
use super::{Account, Exemptions, Source, SourceError};
use crate::aws::{AwsError, CredentialReport, ErrorKind, Iam, ReportState};
use crate::config::CollectorConfig;
use crate::snapshot::{
    AccessKey, AccountSnapshot, FallbackServed, KeyStatus, LastUsedFrom, ReportFallback, User,
};

/// The report's name for the root user.
const ROOT_ROW: &str = "<root_account>";

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

/// What the report says.
#[derive(Debug, PartialEq)]
pub(crate) struct ParsedReport {
    /// From the ARNs; `None` for a report with no rows.
    pub(crate) account_id: Option<String>,
    /// Every user row but root's.
    pub(crate) users: Vec<User>,
    /// From the `<root_account>` row; `None` when the report has none.
    pub(crate) root_access_keys_present: Option<bool>,
}

/// Parses the report's CSV. Columns are found by name, so their order and any added columns do
/// not matter; `N/A`, `not_supported` and `no_information` mean "no value".
pub(crate) fn parse(content: &[u8]) -> Result<ParsedReport, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(content);
    let headers = reader
        .headers()
        .map_err(|err| format!("cannot read the header row: {err}"))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("the header row has no `{name}` column"))
    };
    let user_col = column("user")?;
    let arn_col = column("arn")?;
    let slots = [1, 2].map(|n| -> Result<[usize; 3], String> {
        Ok([
            column(&format!("access_key_{n}_active"))?,
            column(&format!("access_key_{n}_last_rotated"))?,
            column(&format!("access_key_{n}_last_used_date"))?,
        ])
    });
    let slots = [slots[0].clone()?, slots[1].clone()?];

    let mut parsed = ParsedReport {
        account_id: None,
        users: Vec::new(),
        root_access_keys_present: None,
    };
    let mut seen = std::collections::HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|err| format!("line {line}: {err}"))?;
        let record = if record.len() == headers.len() {
            record
        } else {
            unquoted_commas(&record, headers.len(), user_col, arn_col).ok_or_else(|| {
                format!(
                    "line {line}: {} fields where the header has {}",
                    record.len(),
                    headers.len()
                )
            })?
        };
        let field = |col: usize| record.get(col).unwrap_or("");
        let arn = field(arn_col);
        let (account_id, path) =
            parse_arn(arn).ok_or_else(|| format!("line {line}: `{arn}` is not a user ARN"))?;
        if parsed.account_id.get_or_insert_with(|| account_id.clone()) != &account_id {
            return Err(format!(
                "line {line}: a row of another account ({account_id})"
            ));
        }
        // The name is the ARN's last part: a row read with its fields shifted (extra fields, a
        // repair gone wrong) cannot pass as another user's, nor move a key to another slot.
        let name = field(user_col);
        if name != ROOT_ROW && (!crate::arn::is_user_name(name) || !crate::arn::is_path(&path)) {
            return Err(format!(
                "line {line}: a user name or path IAM could not have written ({:?})",
                crate::error::bounded(name, 80)
            ));
        }
        if name != ROOT_ROW && !arn.ends_with(&format!("/{name}")) {
            return Err(format!(
                "line {line}: the user `{}` is not the one its ARN names",
                crate::error::bounded(name, 64)
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!(
                "line {line}: the user `{}` is listed twice",
                crate::error::bounded(name, 64)
            ));
        }

        let mut access_keys = Vec::new();
        for (n, [active_col, rotated_col, used_col]) in slots.iter().enumerate() {
            let active = parse_bool(field(*active_col))
                .ok_or_else(|| format!("line {line}: bad boolean `{}`", field(*active_col)))?;
            let rotated = parse_time(field(*rotated_col))
                .map_err(|bad| format!("line {line}: bad time `{bad}`"))?;
            let last_used = parse_time(field(*used_col))
                .map_err(|bad| format!("line {line}: bad time `{bad}`"))?;
            // An inactive slot that never held a key has no rotation date.
            if active || rotated.is_some() {
                access_keys.push(AccessKey {
                    id: format!("access_key_{}", n + 1),
                    status: if active {
                        KeyStatus::Active
                    } else {
                        KeyStatus::Inactive
                    },
                    created: rotated.unwrap_or(0),
                    last_used,
                });
            }
        }

        let name = field(user_col);
        if name == ROOT_ROW {
            parsed.root_access_keys_present = Some(
                access_keys
                    .iter()
                    .any(|key| key.status == KeyStatus::Active),
            );
        } else {
            parsed.users.push(User {
                name: name.to_owned(),
                path,
                access_keys,
                exemptions: Vec::new(),
            });
        }
    }
    // AWS's report always has the root user's row: one without any row was cut off.
    if seen.is_empty() {
        return Err("the report has no rows, not even the root user's: cut off?".to_owned());
    }
    Ok(parsed)
}

/// Repairs a row whose user name has commas but was written without quotes (moto does this;
/// IAM allows `,` in names). Only `user` and `arn`, the first two columns, can hold commas, and
/// every later column has a fixed width, so the split is unambiguous: the ARN starts at the
/// first field after the name that begins with `arn:`, and the last `expected - 2` fields are
/// the rest of the row.
fn unquoted_commas(
    record: &csv::StringRecord,
    expected: usize,
    user_col: usize,
    arn_col: usize,
) -> Option<csv::StringRecord> {
    if user_col != 0 || arn_col != 1 || record.len() < expected {
        return None;
    }
    let fields: Vec<&str> = record.iter().collect();
    let rest_start = fields.len() - (expected - 2);
    let arn_start = (1..rest_start).find(|&i| fields[i].starts_with("arn:"))?;
    let mut repaired = csv::StringRecord::new();
    repaired.push_field(&fields[..arn_start].join(","));
    repaired.push_field(&fields[arn_start..rest_start].join(","));
    for field in &fields[rest_start..] {
        repaired.push_field(field);
    }
    Some(repaired)
}

/// `arn:aws:iam::123456789012:user/division/name` → (`123456789012`, `/division/`);
/// the root row's `arn:aws:iam::123456789012:root` → (`123456789012`, `/`).
fn parse_arn(arn: &str) -> Option<(String, String)> {
    let (account, resource) = crate::arn::split_iam_arn(arn)?;
    if resource == "root" {
        return Some((account.to_owned(), "/".to_owned()));
    }
    let rest = resource.strip_prefix("user/")?;
    let path = match rest.rfind('/') {
        Some(end) => format!("/{}/", &rest[..end]),
        None => "/".to_owned(),
    };
    Some((account.to_owned(), path))
}

fn is_absent(value: &str) -> bool {
    value.is_empty()
        || value.eq_ignore_ascii_case("N/A")
        || value.eq_ignore_ascii_case("not_supported")
        || value.eq_ignore_ascii_case("no_information")
}

fn parse_bool(value: &str) -> Option<bool> {
    if is_absent(value) {
        Some(false)
    } else if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An ISO 8601 time as the report writes it (`2024-05-01T12:00:00+00:00`, also with `Z`,
/// fractions or another offset) in Unix seconds; `Ok(None)` for the "no value" markers.
fn parse_time(value: &str) -> Result<Option<i64>, String> {
    if is_absent(value) {
        return Ok(None);
    }
    crate::clock::parse_iso8601(value)
        .map(Some)
        .ok_or_else(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_iso8601;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn report(rows: &[&str]) -> Vec<u8> {
        let mut text = String::from(HEADER);
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.into_bytes()
    }

    #[test]
    fn times_in_every_form_the_report_uses_are_parsed() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00+00:00"), Some(0));
        assert_eq!(parse_iso8601("2024-02-29T12:30:15Z"), Some(1_709_209_815));
        assert_eq!(
            parse_iso8601("2024-02-29T12:30:15.123+00:00"),
            Some(1_709_209_815)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T14:30:15+02:00"),
            Some(1_709_209_815)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T12:30:15-0100"),
            Some(1_709_213_415)
        );
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
        assert_eq!(parse_time("N/A"), Ok(None));
        assert_eq!(parse_time("no_information"), Ok(None));
        assert_eq!(parse_time("not_supported"), Ok(None));
    }

    #[test]
    fn booleans_are_read_in_either_case_and_markers_mean_false() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("N/A"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn users_keys_paths_and_the_root_row_are_read() {
        let content = report(&[
            "<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2024-01-01T00:00:00+00:00,not_supported,not_supported,true,TRUE,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,2024-02-01T00:00:00+00:00,us-east-1,s3,true,2024-03-01T00:00:00+00:00,no_information,N/A,N/A,false,N/A,false,N/A",
            "bob+ops@x.y,arn:aws:iam::123456789012:user/eng/ops/bob+ops@x.y,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,2023-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "carol,arn:aws:iam::123456789012:user/carol,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.account_id.as_deref(), Some("123456789012"));
        assert_eq!(parsed.root_access_keys_present, Some(true));
        assert_eq!(parsed.users.len(), 3);

        let alice = &parsed.users[0];
        assert_eq!(alice.path, "/");
        assert_eq!(alice.active_access_keys(), 2);
        assert_eq!(alice.access_keys[0].id, "access_key_1");
        assert_eq!(alice.access_keys[0].last_used, Some(1_706_745_600));
        assert_eq!(alice.access_keys[1].last_used, None);

        let bob = &parsed.users[1];
        assert_eq!(bob.name, "bob+ops@x.y");
        assert_eq!(bob.path, "/eng/ops/");
        assert_eq!(bob.active_access_keys(), 0);
        assert_eq!(
            bob.access_keys.len(),
            1,
            "an inactive key that exists is kept"
        );
        assert_eq!(bob.access_keys[0].status, KeyStatus::Inactive);

        assert!(parsed.users[2].access_keys.is_empty());
    }

    #[test]
    fn shifted_duplicated_or_foreign_rows_are_malformed() {
        let row = |name: &str, arn_name: &str| {
            format!("{name},arn:aws:iam::123456789012:user/{arn_name},2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,true,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A")
        };
        // Two extra fields after the ARN: the repair would read them as part of the name's row.
        let extra = row("eve", "eve").replacen(",2020-01-01", ",x,y,2020-01-01", 1);
        assert!(parse(&report(&[&extra])).is_err(), "two extra fields");
        assert!(
            parse(&report(&[])).unwrap_err().contains("no rows"),
            "header only"
        );
        let twice = parse(&report(&[&row("eve", "eve"), &row("EVE", "EVE")])).unwrap_err();
        assert!(twice.contains("listed twice"), "{twice}");
        let mismatch = parse(&report(&[&row("eve", "mallory")])).unwrap_err();
        assert!(mismatch.contains("not the one its ARN names"), "{mismatch}");
        let foreign = row("bob", "bob").replace("123456789012", "210987654321");
        let mixed = parse(&report(&[&row("eve", "eve"), &foreign])).unwrap_err();
        assert!(mixed.contains("another account"), "{mixed}");
    }

    #[test]
    fn a_report_without_a_root_row_leaves_root_unknown() {
        let content = report(&[
            "dave,arn:aws:iam::123456789012:user/dave,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.root_access_keys_present, None);
    }

    #[test]
    fn unquoted_commas_in_user_names_are_repaired() {
        let content = report(&[
            "a,b=c,arn:aws:iam::123456789012:user/x,y/a,b=c,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,true,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
            "\"q,uoted\",\"arn:aws:iam::123456789012:user/q,uoted\",2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.users[0].name, "a,b=c");
        assert_eq!(parsed.users[0].path, "/x,y/");
        assert_eq!(parsed.users[0].active_access_keys(), 2);
        assert_eq!(parsed.users[1].name, "q,uoted");
        let short = parse(&report(&["x,arn:aws:iam::123456789012:user/x,1"])).unwrap_err();
        assert!(
            short.contains("3 fields where the header has 22"),
            "{short}"
        );
    }

    #[test]
    fn columns_are_found_by_name_not_position() {
        let content = b"access_key_2_last_used_date,access_key_2_last_rotated,access_key_2_active,access_key_1_last_used_date,access_key_1_last_rotated,access_key_1_active,arn,user,extra\nN/A,N/A,false,N/A,2024-01-01T00:00:00+00:00,true,arn:aws:iam::123456789012:user/eve,eve,x\n";
        let parsed = parse(content).unwrap();
        assert_eq!(parsed.users[0].name, "eve");
        assert_eq!(parsed.users[0].active_access_keys(), 1);
    }

    #[test]
    fn malformed_reports_are_errors_that_say_where() {
        let missing_column = parse(b"user,arn\nx,arn:aws:iam::1:user/x\n").unwrap_err();
        assert!(
            missing_column.contains("access_key_1_active"),
            "{missing_column}"
        );
        let bad_time = parse(&report(&[
            "f,arn:aws:iam::123456789012:user/f,x,false,N/A,N/A,N/A,false,true,soon,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]))
        .unwrap_err();
        assert!(
            bad_time.contains("line 2") && bad_time.contains("soon"),
            "{bad_time}"
        );
        let bad_arn = parse(&report(&[
            "g,not-an-arn,x,false,N/A,N/A,N/A,false,true,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]))
        .unwrap_err();
        assert!(bad_arn.contains("not-an-arn"), "{bad_arn}");
    }

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
