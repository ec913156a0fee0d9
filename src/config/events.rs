//! `[events]`: IAM change events from an SQS queue that EventBridge fills.

use std::time::Duration;

use super::settings::{duration_within, optional, url, Bad, Setting};

/// IAM change events (`[events]`): a queue that EventBridge fills with IAM's CloudTrail events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsConfig {
    /// The queue's URL.
    pub sqs_queue_url: String,
    /// How long one poll waits for a message.
    pub wait_time: Duration,
}

pub(crate) const SQS_QUEUE_URL: Setting = Setting {
    key: "events.sqs_queue_url",
    flag: None,
    default: None,
    help: "The SQS queue IAM change events arrive in (EventBridge, deploy/events/); unset: no events, scheduled refreshes only.",
    expected: "a queue URL like `https://sqs.us-east-1.amazonaws.com/111111111111/iam-key-exporter-events`",
    list: false,
    apply: |text, d| {
        d.events_queue_url = optional(text).map(queue_url).transpose()?;
        Ok(())
    },
};

pub(crate) const WAIT_TIME: Setting = Setting {
    key: "events.wait_time",
    flag: None,
    default: Some("20s"),
    help: "How long one poll of the queue waits for a message (SQS long polling).",
    expected: "a duration from `1s` to `20s`, shorter than `aws.attempt_timeout`",
    list: false,
    apply: |text, d| {
        d.events.wait_time = wait_time(text)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[&SQS_QUEUE_URL, &WAIT_TIME];

/// A queue URL: `http://` or `https://`, without whitespace.
fn queue_url(text: String) -> Result<String, Bad> {
    if text.contains(char::is_whitespace) {
        return Err(Bad::Whole);
    }
    url(text)
}

/// SQS long polling: whole seconds from 1 to 20.
fn wait_time(text: &str) -> Result<Duration, Bad> {
    let wait = duration_within(text, 1, 20)?;
    if wait.subsec_nanos() == 0 {
        Ok(wait)
    } else {
        Err(Bad::Whole)
    }
}
