//! Validation: every setting parses its value (or its default, when not given) into its field
//! of the [`Draft`]; then the rules that tie fields together, the accounts and the exemptions.
//! Every problem is collected, so the user sees them all at once.

use super::layers::{Layered, Raw};
use super::settings::{self, Bad, Draft, Setting};
use super::{accounts, exemptions, Config, EventsConfig, KeyError};
use crate::diagnostics::{Problem, Problems};

pub(super) fn validate(layered: &Layered, raw: &Raw) -> Result<Config, Vec<KeyError>> {
    let mut problems = Problems::default();
    let mut draft = Draft::default();
    for setting in settings::all() {
        apply(setting, layered, raw, &mut draft, &mut problems);
    }
    let fail = |problems: &mut Problems, setting: &Setting, given: &str, expected: &str| {
        problems.expected(setting.key, layered.origin(setting.key), given, expected);
    };

    let sharding = draft.sharding;
    if sharding.index >= sharding.count {
        let expected = format!(
            "a whole number from 0 to {} (`sharding.count` - 1)",
            sharding.count - 1
        );
        let given = sharding.index.to_string();
        fail(&mut problems, &super::sharding::INDEX, &given, &expected);
    }
    let aws = &draft.aws;
    if let Some(rate) = aws.max_requests_per_second {
        // A request waits for its turn inside its attempt's time: more requests in flight than
        // the rate lets through in one attempt timeout would time out while queueing.
        let room = u64::from(rate) * aws.attempt_timeout.as_secs().max(1);
        if draft.collector.concurrency as u64 > room {
            let expected = format!(
                "at most {room} with `aws.max_requests_per_second` = {rate} and \
                 `aws.attempt_timeout` = {}: raise either, or lower this",
                humantime::format_duration(aws.attempt_timeout)
            );
            let given = draft.collector.concurrency.to_string();
            fail(
                &mut problems,
                &super::collector::CONCURRENCY,
                &given,
                &expected,
            );
        }
    }
    let events = draft.events_queue_url.take().map(|url| EventsConfig {
        sqs_queue_url: url,
        ..draft.events.clone()
    });
    if let Some(events) = &events {
        if events.wait_time >= aws.attempt_timeout {
            let expected = format!(
                "shorter than `aws.attempt_timeout` ({}), which would cut every poll short",
                humantime::format_duration(aws.attempt_timeout)
            );
            let given = humantime::format_duration(events.wait_time).to_string();
            fail(&mut problems, &super::events::WAIT_TIME, &given, &expected);
        }
    }

    let organizations = draft.organizations_enabled.then_some(draft.organizations);
    let exemptions = exemptions::validate(
        &raw.exemptions,
        draft.collector.max_exemption,
        &mut problems,
    );
    let accounts = accounts::validate(&raw.accounts, organizations.is_some(), &mut problems);
    problems.into_result(Config {
        web: draft.web,
        refresh: draft.refresh,
        log: draft.log,
        aws: draft.aws,
        collector: draft.collector,
        accounts,
        organizations,
        sharding,
        exemptions,
        events,
    })
}

/// Applies the setting's default, then the value given (trimmed), recording why a value is
/// refused; a refused value leaves the default's in place so that validation goes on.
fn apply(
    setting: &Setting,
    layered: &Layered,
    raw: &Raw,
    draft: &mut Draft,
    problems: &mut Problems,
) {
    if let Some(default) = setting.default {
        (setting.apply)(default, draft).expect("built-in defaults are valid");
    }
    let Some(given) = raw.get(setting.key) else {
        return;
    };
    let origin = || layered.origin(setting.key);
    match (setting.apply)(given.trim(), draft) {
        Ok(()) => {}
        Err(Bad::Whole) => problems.expected(setting.key, origin(), given, setting.expected),
        Err(Bad::Items(items)) => {
            for item in items {
                problems.expected(setting.key, origin(), &item, setting.expected);
            }
        }
        Err(Bad::Near(meant)) => problems.push(
            Problem::new(
                setting.key,
                format!(
                    "expected {}, got `{given}`; did you mean `{meant}`?",
                    setting.expected
                ),
            )
            .with_origin(origin()),
        ),
        Err(Bad::Message(message)) => {
            problems.push(Problem::new(setting.key, message).with_origin(origin()));
        }
    }
}
