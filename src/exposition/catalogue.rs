//! The metric catalogue: every family the exporter exports, its name, HELP text, type and
//! labels, defined once. The snapshot writer ([`super::snapshots`]) and the health metrics
//! ([`super::health_metrics`]) build their families from these entries, and the metrics table
//! of docs/metrics.md is generated from them ([`markdown_table`], held to it by a test).
//!
//! [`ALL`] is in the table's order (what a reader looks for first); the writers put the
//! families in whatever order the text format wants.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// A family's metric type, as the `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported family.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    /// The HELP text, without the refresh sentence (see `refreshed`).
    help: &'static str,
    /// Whether the HELP text ends with how often the data is refreshed (the IAM series: a
    /// reader of the HELP learns that a scrape does not call AWS).
    refreshed: bool,
    pub(crate) kind: Kind,
    /// In the order the samples are written.
    pub(crate) labels: &'static [&'static str],
    /// The README table's "meaning" cell.
    #[cfg_attr(not(test), allow(dead_code))]
    doc: &'static str,
}

impl Family {
    /// The HELP text, for data refreshed every `every` (as humantime writes it).
    pub(crate) fn help(&self, every: &str) -> String {
        if self.refreshed {
            format!(
                "{} Refreshed in the background every {every}, not at scrape time.",
                self.help
            )
        } else {
            self.help.to_owned()
        }
    }

    /// The family's options, for the health metrics (none of which says the interval).
    fn opts(&self, kind: Kind) -> Opts {
        debug_assert_eq!(self.kind, kind, "{}", self.name);
        debug_assert!(!self.refreshed, "{}", self.name);
        Opts::new(self.name, self.help)
    }

    fn scalar(&self, kind: Kind) -> Opts {
        debug_assert!(self.labels.is_empty(), "{} has labels", self.name);
        self.opts(kind)
    }

    pub(crate) fn int_gauge(&self) -> prometheus::Result<IntGauge> {
        IntGauge::with_opts(self.scalar(Kind::Gauge))
    }

    pub(crate) fn int_gauge_vec(&self) -> prometheus::Result<IntGaugeVec> {
        IntGaugeVec::new(self.opts(Kind::Gauge), self.labels)
    }

    pub(crate) fn gauge_vec(&self) -> prometheus::Result<GaugeVec> {
        GaugeVec::new(self.opts(Kind::Gauge), self.labels)
    }

    pub(crate) fn int_counter(&self) -> prometheus::Result<IntCounter> {
        IntCounter::with_opts(self.scalar(Kind::Counter))
    }

    pub(crate) fn int_counter_vec(&self) -> prometheus::Result<IntCounterVec> {
        IntCounterVec::new(self.opts(Kind::Counter), self.labels)
    }

    pub(crate) fn histogram(&self, buckets: Vec<f64>) -> prometheus::Result<Histogram> {
        let opts = self.scalar(Kind::Histogram);
        Histogram::with_opts(HistogramOpts::new(opts.name, opts.help).buckets(buckets))
    }
}

/// A family of the IAM data, written from the snapshots.
const fn iam(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    doc: &'static str,
) -> Family {
    Family {
        name,
        help,
        refreshed: true,
        kind: Kind::Gauge,
        labels,
        doc,
    }
}

/// A family whose HELP says nothing of the interval.
const fn plain(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
    doc: &'static str,
) -> Family {
    Family {
        name,
        help,
        refreshed: false,
        kind,
        labels,
        doc,
    }
}

const ACCOUNT: &[&str] = &["account_id"];
const USER: &[&str] = &["account_id", "user", "path"];
const OPERATION: &[&str] = &["operation", "outcome"];

pub(crate) const USER_ACTIVE_ACCESS_KEYS: Family = iam(
    "iam_user_active_access_keys",
    "Number of active access keys of the IAM user; the CIS control allows at most 1.",
    USER,
    "active keys of the user (never capped: 0, 1, 2)",
);
pub(crate) const ACCESS_KEY_CREATED: Family = iam(
    "iam_access_key_created_timestamp_seconds",
    "Unix time the access key was created, one series per key with its status.",
    &["account_id", "user", "access_key_id", "status"],
    "one per key, active or not; value: creation time",
);
pub(crate) const ACCESS_KEY_LAST_USED: Family = iam(
    "iam_access_key_last_used_timestamp_seconds",
    "Unix time the access key was last used; absent for keys never used or when last use is not collected.",
    &["account_id", "user", "access_key_id"],
    "keys ever used; absent with `collector.last_used = false`",
);
pub(crate) const ACCOUNT_USERS: Family = iam(
    "iam_account_users",
    "Number of IAM users in the account.",
    ACCOUNT,
    "IAM users in the account",
);
pub(crate) const ACCOUNT_OFFENDERS: Family = iam(
    "iam_account_users_with_multiple_active_access_keys",
    "Number of IAM users with more than one active access key.",
    ACCOUNT,
    "users breaking the control",
);
pub(crate) const ROOT_ACCESS_KEYS: Family = iam(
    "iam_account_root_access_keys_present",
    "Whether the account's root user has an access key (1) or not (0).",
    ACCOUNT,
    "1 when the root user has an access key; absent when it cannot be asked",
);
pub(crate) const EXEMPTION_EXPIRY: Family = iam(
    "iam_user_exemption_expiry_timestamp_seconds",
    "Unix time the exemption of a user with more than one active access key ends, one series per source (`config`, `tag`); the multiple-keys alert is silent until then.",
    &["account_id", "user", "source", "reason", "owner"],
    "users with more than one active key and an [exemption](exemptions-and-remediation.md#exemptions) (`source`: `config` or `tag`); value: when it ends",
);
pub(crate) const EXEMPTION_INVALID: Family = iam(
    "iam_user_exemption_invalid",
    "1 for an exemption of a user with more than one active access key that is not honoured, with the `problem`: `bad_expiry`, `too_far_ahead`, `no_reason` or `no_owner`.",
    &["account_id", "user", "source", "problem"],
    "1 for an exemption that is not honoured; `problem`: `bad_expiry`, `too_far_ahead`, `no_reason`, `no_owner`",
);
pub(crate) const NEWEST_ACTIVE_KEY_CREATED: Family = iam(
    "iam_user_newest_active_access_key_created_timestamp_seconds",
    "Unix time the newest active access key of a user with more than one active key was created, in every collector.key_series mode: the multiple-keys alert's rotation grace is measured from it.",
    USER,
    "for users with more than one active key, in every `key_series` mode: when the newest active key was created (the rules' rotation grace)",
);
pub(crate) const ACCESS_KEY_CREATOR: Family = iam(
    "iam_access_key_creator_info",
    "Always 1, for each active access key of a user with more than one whose creator is known from the CloudTrail record of its CreateAccessKey (an IAM change event, or LookupEvents): the caller's ARN (an assumed role's session ARN names the role and the session) and identity type, creator_relation self (the user), rotation (collector.rotation_principals) or other, the source address and the tool of the user agent. The texts are the caller's: cut to a bound, control characters removed.",
    &[
        "account_id",
        "user",
        "access_key_id",
        "creator_arn",
        "creator_type",
        "creator_relation",
        "source_ip",
        "user_agent",
    ],
    "for each active key of a user with more than one active key, when known: who created it (`creator_relation`: `self`, `rotation` or `other`), from where, with which tool ([who made the key](key-creators.md))",
);
pub(crate) const ACCOUNT_INFO: Family = plain(
    "iam_account_info",
    Kind::Gauge,
    "Always 1, for every watched account: its name (from AWS Organizations, or `name` in [[accounts]]) and organizational unit path, to join on account_id.",
    &["account_id", "account_name", "ou_path"],
    "always 1: the account's name (AWS Organizations, or `name` in `[[accounts]]`; its ID otherwise) and OU path, to join on",
);
pub(crate) const DISCOVERY_SUCCESS: Family = plain(
    "iam_exporter_discovery_success",
    Kind::Gauge,
    "Whether the last discovery of the AWS Organization's accounts succeeded (1) or failed (0); after a failure the last good list of accounts is kept.",
    &[],
    "with `[organizations]`: 1/0: did the last discovery succeed (after a failure the last good list is kept)",
);
pub(crate) const DISCOVERY_ACCOUNTS: Family = plain(
    "iam_exporter_discovery_accounts",
    Kind::Gauge,
    "Accounts the last successful discovery found to watch (active, included, not excluded).",
    &[],
    "with `[organizations]`: how many accounts the last successful discovery found to watch",
);
pub(crate) const DISCOVERY_ERRORS: Family = plain(
    "iam_exporter_discovery_errors_total",
    Kind::Counter,
    "Failed discoveries of the AWS Organization's accounts, by kind of failure.",
    &["kind"],
    "with `[organizations]`: failed discoveries, by kind (as for refreshes)",
);
pub(crate) const BUILD_INFO: Family = plain(
    "iam_exporter_build_info",
    Kind::Gauge,
    "A metric with a constant '1' value labeled by version, revision and rustversion of iam-key-exporter.",
    &["version", "revision", "rustversion"],
    "always 1",
);
pub(crate) const REFRESH_SUCCESS: Family = plain(
    "iam_exporter_refresh_success",
    Kind::Gauge,
    "Whether the last refresh of the account's IAM data succeeded (1) or failed (0).",
    ACCOUNT,
    "1/0: did the last refresh succeed",
);
pub(crate) const LAST_REFRESH_SUCCESS: Family = plain(
    "iam_exporter_last_refresh_success_timestamp_seconds",
    Kind::Gauge,
    "Unix time of the account's last successful refresh.",
    ACCOUNT,
    "time of the last successful refresh",
);
pub(crate) const REFRESH_DURATION: Family = plain(
    "iam_exporter_refresh_duration_seconds",
    Kind::Gauge,
    "How long the account's last refresh took, successful or not.",
    ACCOUNT,
    "duration of the last refresh",
);
pub(crate) const REFRESH_INTERVAL: Family = plain(
    "iam_exporter_refresh_interval_seconds",
    Kind::Gauge,
    "Configured time between two refreshes of the IAM data.",
    &[],
    "the configured interval",
);
pub(crate) const DATA_TIMESTAMP: Family = plain(
    "iam_exporter_data_timestamp_seconds",
    Kind::Gauge,
    "Unix time the served IAM data was produced: the refresh time in API mode, the report's generation time in credential-report mode.",
    ACCOUNT,
    "when the served data was produced (the report's time in credential-report mode)",
);
pub(crate) const LAST_USED_FROM_REPORT: Family = plain(
    "iam_exporter_last_used_from_report",
    Kind::Gauge,
    "1 when the keys' last use came from the credential report, 0 when it was asked per key (GetAccessKeyLastUsed: no report could be had); absent when last use is not collected.",
    ACCOUNT,
    "1 when last use came from the credential report, 0 when it was asked per key (no report); absent with `collector.last_used = false`",
);
pub(crate) const LAST_USED_REPORT_TIMESTAMP: Family = plain(
    "iam_exporter_last_used_report_timestamp_seconds",
    Kind::Gauge,
    "Unix time the credential report the keys' last use came from was generated: last use is at most this old (keys created since are asked per key).",
    ACCOUNT,
    "when that report was generated: last use is at most this old",
);
pub(crate) const REFRESH_ERRORS: Family = plain(
    "iam_exporter_refresh_errors_total",
    Kind::Counter,
    "Failed refreshes of the account's IAM data, by kind of failure.",
    &["account_id", "kind"],
    "failed refreshes; `kind`: `throttled`, `access_denied`, `timeout`, `network`, `service`, `other`",
);
pub(crate) const AWS_REQUESTS: Family = plain(
    "iam_exporter_aws_requests_total",
    Kind::Counter,
    "AWS API requests made by the exporter, by operation and outcome (success or the kind of failure), after the SDK's retries.",
    OPERATION,
    "AWS requests after SDK retries; `outcome`: `success`, a kind above, or `not_found`",
);
pub(crate) const AWS_ATTEMPTS: Family = plain(
    "iam_exporter_aws_attempts_total",
    Kind::Counter,
    "Attempts of AWS API requests, each retry counted, by operation and outcome (success or the kind of failure): throttling shows here before it fails a refresh.",
    OPERATION,
    "every attempt, each SDK retry counted: throttling shows here before it fails a refresh",
);
pub(crate) const REPORT_FALLBACKS: Family = plain(
    "iam_exporter_credential_report_fallbacks_total",
    Kind::Counter,
    "Refreshes that could not have the credential report they wanted, by why (the failure's kind: throttled, as for GenerateCredentialReport's 409 LimitExceeded, timeout, service...) and what they served instead: older_report (the one AWS still has; iam_exporter_data_timestamp_seconds is its time), api (credential-report mode read the users through the API), per_key (API mode asked each active key's last use).",
    &["account_id", "reason", "served"],
    "refreshes that could not have the credential report they wanted; `served`: `older_report`, `api`, `per_key`",
);
pub(crate) const CREATOR_LOOKUPS: Family = plain(
    "iam_exporter_key_creator_lookups_total",
    Kind::Counter,
    "Lookups of who created an offender's access key, one per key while the process lives, by outcome: found, not_found (no CreateAccessKey record), too_old (created before CloudTrail's 90 days; no request), denied (no cloudtrail:LookupEvents; the account is not asked again), failed (not asked again).",
    &["outcome"],
    "with `collector.key_creators`: lookups of who created an offender's key, once per key; `outcome`: `found`, `not_found`, `too_old`, `denied`, `failed`",
);
pub(crate) const EVENTS: Family = plain(
    "iam_exporter_events_total",
    Kind::Counter,
    "IAM change events taken from the queue, by CloudTrail event name and outcome: applied (the user was read again and the body republished), ignored (an event that changes no key count, or a failed call), unwatched (an account this replica does not watch), malformed, failed (the user could not be read again; the message is received again later).",
    &["event", "outcome"],
    "with `[events]` (see [Events](events.md); read at each scrape, as are the next five): events taken from the queue; `outcome`: `applied`, `ignored`, `unwatched`, `malformed`, `failed`",
);
pub(crate) const EVENT_LAG: Family = plain(
    "iam_exporter_event_lag_seconds",
    Kind::Histogram,
    "Time from an applied event's CloudTrail time to the body that shows its effect: EventBridge's delivery, the queue, the re-read and the render.",
    &[],
    "with `[events]`: from an applied event's CloudTrail time to the body that shows it",
);
pub(crate) const EVENTS_POLL_SUCCESS: Family = plain(
    "iam_exporter_events_poll_success",
    Kind::Gauge,
    "Whether the last poll of the events queue succeeded (1) or failed (0).",
    &[],
    "with `[events]`: 1/0: did the last poll of the queue succeed",
);
pub(crate) const EVENTS_QUEUE_MESSAGES: Family = plain(
    "iam_exporter_events_queue_messages",
    Kind::Gauge,
    "Messages waiting in the events queue (SQS ApproximateNumberOfMessages), read about once a minute.",
    &[],
    "with `[events]`: messages waiting in the queue, read about once a minute",
);
pub(crate) const EVENT_BURSTS: Family = plain(
    "iam_exporter_event_bursts_total",
    Kind::Counter,
    "Bursts of queue messages handled together (what was waiting, drained for up to a second).",
    &[],
    "with `[events]`: bursts of messages handled together",
);
pub(crate) const EVENT_REREADS: Family = plain(
    "iam_exporter_event_rereads_total",
    Kind::Counter,
    "Users read again for events: one per user and burst, however many of the burst's events name it.",
    &[],
    "with `[events]`: users read again for events, one per user and burst",
);

/// Every family, in the table's order.
#[cfg(test)]
pub(crate) const ALL: &[&Family] = &[
    &USER_ACTIVE_ACCESS_KEYS,
    &ACCESS_KEY_CREATED,
    &ACCESS_KEY_LAST_USED,
    &ACCOUNT_USERS,
    &ACCOUNT_OFFENDERS,
    &ROOT_ACCESS_KEYS,
    &EXEMPTION_EXPIRY,
    &EXEMPTION_INVALID,
    &NEWEST_ACTIVE_KEY_CREATED,
    &ACCESS_KEY_CREATOR,
    &ACCOUNT_INFO,
    &DISCOVERY_SUCCESS,
    &DISCOVERY_ACCOUNTS,
    &DISCOVERY_ERRORS,
    &BUILD_INFO,
    &REFRESH_SUCCESS,
    &LAST_REFRESH_SUCCESS,
    &REFRESH_DURATION,
    &REFRESH_INTERVAL,
    &DATA_TIMESTAMP,
    &LAST_USED_FROM_REPORT,
    &LAST_USED_REPORT_TIMESTAMP,
    &REFRESH_ERRORS,
    &AWS_REQUESTS,
    &AWS_ATTEMPTS,
    &REPORT_FALLBACKS,
    &CREATOR_LOOKUPS,
    &EVENTS,
    &EVENT_LAG,
    &EVENTS_POLL_SUCCESS,
    &EVENTS_QUEUE_MESSAGES,
    &EVENT_BURSTS,
    &EVENT_REREADS,
];

/// The process metrics, the prometheus crate's process collector's (Linux only): not ours to
/// define, listed in docs/metrics.md all the same.
#[cfg(test)]
const PROCESS: &[&str] = &[
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
];

/// docs/metrics.md's metrics table, generated so that it cannot drift.
#[cfg(test)]
pub(crate) fn markdown_table() -> String {
    let mut out = String::from("| metric | labels | type | meaning |\n|---|---|---|---|\n");
    let code = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for family in ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            family.name,
            code(family.labels),
            family.kind.as_str(),
            family.doc.replace('|', "\\|")
        ));
    }
    out.push_str(&format!(
        "| {} |  | | the exporter's own process, read at each scrape (alert on memory before the pod limit) |\n",
        code(PROCESS)
    ));
    out
}

#[cfg(test)]
mod tests;
