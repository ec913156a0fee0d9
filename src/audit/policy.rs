//! The control's remediation policy: for one user, which active key to keep and which to make
//! inactive, or why the choice is left to a person; and what that means for each key.

use std::time::Duration;

use crate::clock::rfc3339;
use crate::snapshot::{AccessKey, KeyStatus, User};

/// Keys older than this should be rotated (CIS "access keys are rotated every 90 days").
pub(crate) const MAX_KEY_AGE: Duration = Duration::from_secs(90 * 86_400);

/// The advice the control's remediation gives.
pub(crate) const REMEDIATION: &str =
    "Keep one active access key per user, younger than 90 days and in \
use; make sure the workload uses it; deactivate the others with `aws iam update-access-key \
--status Inactive`; run the check again; delete deactivated keys once nothing breaks.";

/// A key used (or created) more recently than this is never to be deactivated: the default of
/// `remediate --min-idle`, and what `check`'s advice assumes. A day also covers the delay of
/// AWS's last-use data (hours) and matches the alert's rotation grace.
pub(crate) const MIN_IDLE: Duration = Duration::from_secs(86_400);

/// [`MIN_IDLE`] as `--min-idle` shows and takes it.
pub(crate) const MIN_IDLE_TEXT: &str = "24h";

/// A `--min-idle` value: the duration, and the text it was written as, which the reports echo
/// (humantime would spell the default `1day`, which no one typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinIdle {
    duration: Duration,
    text: String,
}

impl MinIdle {
    /// Parses `text` (`24h`, `7d`, `90m`).
    pub(crate) fn parse(text: &str) -> Result<MinIdle, String> {
        let duration = humantime::parse_duration(text)
            .map_err(|err| format!("expected a duration like `24h` or `7d`: {err}"))?;
        Ok(MinIdle {
            duration,
            text: text.trim().to_owned(),
        })
    }

    /// The duration.
    pub(crate) fn duration(&self) -> Duration {
        self.duration
    }

    /// As the user wrote it.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

impl Default for MinIdle {
    /// `24h`, [`MIN_IDLE`].
    fn default() -> Self {
        MinIdle {
            duration: MIN_IDLE,
            text: MIN_IDLE_TEXT.to_owned(),
        }
    }
}

/// Why a user is left to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Human {
    /// No active key has a recorded use: which one the workload needs is unknown.
    NoneUsed,
    /// Two active keys were last used at the same time.
    Tie(String, String),
    /// The key in use is older than 90 days: rotate (create a key, move the workload) first.
    Rotate { in_use: String },
    /// A key that would be deactivated was used within the idle time.
    RecentlyUsed { key: String, last_used: i64 },
    /// A key that would be deactivated was created within the idle time: a rotation may be
    /// under way, and AWS may not have recorded its first use yet.
    RecentlyCreated { key: String, created: i64 },
}

impl Human {
    /// One sentence, naming `--min-idle` (as written, `idle`) where it decided.
    pub(crate) fn explain(&self, idle: &str) -> String {
        match self {
            Human::NoneUsed => "no active key has ever been used: cannot tell which one the \
                                workload needs"
                .to_owned(),
            Human::Tie(a, b) => format!("keys {a} and {b} were last used at the same time"),
            Human::Rotate { in_use } => format!(
                "the key in use, {in_use}, is older than 90 days: rotate (create a new key, \
                 move the workload to it), then deactivate the old one"
            ),
            Human::RecentlyUsed { key, last_used } => format!(
                "key {key} was used at {}, within --min-idle {idle}: make sure nothing uses \
                 it any more",
                rfc3339(*last_used)
            ),
            Human::RecentlyCreated { key, created } => format!(
                "key {key} was created at {}, within --min-idle {idle}: a rotation may be under \
                 way (AWS records a first use hours late)",
                rfc3339(*created)
            ),
        }
    }
}

/// What the control's remediation says for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing: at most one active key.
    Nothing,
    /// Keep one key, make the others inactive.
    Deactivate { keep: String, others: Vec<String> },
    /// Left to a person, and why.
    NeedsHuman(Human),
}

/// The control's choice for `user` at `now` (Unix seconds): keep the active key used most
/// recently, provided it is younger than 90 days, and deactivate the other active keys, unless
/// one of them was used or created within `min_idle`. Anything less clear is left to a person:
/// no key ever used, two used at the same time, the key in use too old to keep.
pub(crate) fn plan(user: &User, now: i64, min_idle: Duration) -> Plan {
    let active: Vec<&AccessKey> = user
        .access_keys
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .collect();
    if active.len() < 2 {
        return Plan::Nothing;
    }
    let mut used: Vec<&AccessKey> = active
        .iter()
        .copied()
        .filter(|key| key.last_used.is_some())
        .collect();
    used.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.id.cmp(&b.id)));
    let Some(&keep) = used.first() else {
        return Plan::NeedsHuman(Human::NoneUsed);
    };
    if let Some(second) = used
        .get(1)
        .filter(|second| second.last_used == keep.last_used)
    {
        return Plan::NeedsHuman(Human::Tie(keep.id.clone(), second.id.clone()));
    }
    if now.saturating_sub(keep.created) >= MAX_KEY_AGE.as_secs() as i64 {
        return Plan::NeedsHuman(Human::Rotate {
            in_use: keep.id.clone(),
        });
    }
    let idle_since = now.saturating_sub(min_idle.as_secs() as i64);
    let others: Vec<&AccessKey> = active.into_iter().filter(|key| key.id != keep.id).collect();
    for other in &others {
        if let Some(used) = other.last_used.filter(|&used| used > idle_since) {
            return Plan::NeedsHuman(Human::RecentlyUsed {
                key: other.id.clone(),
                last_used: used,
            });
        }
        if other.created > idle_since {
            return Plan::NeedsHuman(Human::RecentlyCreated {
                key: other.id.clone(),
                created: other.created,
            });
        }
    }
    Plan::Deactivate {
        keep: keep.id.clone(),
        others: others.into_iter().map(|key| key.id.clone()).collect(),
    }
}

/// What to do with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advice {
    /// The active key to keep.
    Keep,
    /// An active key to deactivate.
    Deactivate,
    /// Already inactive; delete it once nothing needs it.
    Inactive,
    /// Active, and the choice is a person's (see the plan's reason).
    Undecided,
}

impl Advice {
    /// The advice's words in the table, for people: `needs a human`, as everywhere in tables.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Advice::Keep => "keep",
            Advice::Deactivate => "deactivate",
            Advice::Inactive => "already inactive",
            Advice::Undecided => NEEDS_A_HUMAN,
        }
    }

    /// The advice's value in the JSON: one snake_case word, as every value there
    /// (`needs_a_human`, the same word as the offender's key of that name).
    pub(crate) fn json_name(self) -> &'static str {
        match self {
            Advice::Keep => "keep",
            Advice::Deactivate => "deactivate",
            Advice::Inactive => "already_inactive",
            Advice::Undecided => NEEDS_A_HUMAN_JSON,
        }
    }
}

/// The verdict "left to a person", in tables (`check`'s advice, `remediate`'s action).
pub(crate) const NEEDS_A_HUMAN: &str = "needs a human";

/// The same verdict in the JSON, as a value (`advice`, `action`) and as a key.
pub(crate) const NEEDS_A_HUMAN_JSON: &str = "needs_a_human";

/// The user's plan (with the default idle time), and what it means for each key.
pub(crate) fn advise(user: &User, now: i64) -> (Plan, Vec<(&AccessKey, Advice)>) {
    let plan = plan(user, now, MIN_IDLE);
    let advice = user
        .access_keys
        .iter()
        .map(|key| {
            let advice = match &plan {
                _ if key.status != KeyStatus::Active => Advice::Inactive,
                Plan::Deactivate { keep, .. } if *keep == key.id => Advice::Keep,
                Plan::Deactivate { .. } => Advice::Deactivate,
                Plan::Nothing => Advice::Keep,
                Plan::NeedsHuman(_) => Advice::Undecided,
            };
            (key, advice)
        })
        .collect();
    (plan, advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn key(id: &str, status: KeyStatus, age_days: i64, last_used: Option<i64>) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            status,
            created: NOW - age_days * DAY,
            last_used,
        }
    }

    fn advice_for(keys: Vec<AccessKey>) -> Vec<(String, Advice)> {
        let user = User {
            name: "u".to_owned(),
            path: "/".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        advise(&user, NOW)
            .1
            .into_iter()
            .map(|(k, a)| (k.id.clone(), a))
            .collect()
    }

    fn plan_for(keys: Vec<AccessKey>) -> Plan {
        let user = User {
            name: "u".to_owned(),
            access_keys: keys,
            ..User::default()
        };
        plan(&user, NOW, MIN_IDLE)
    }

    fn deactivate(keep: &str, other: &str) -> Plan {
        Plan::Deactivate {
            keep: keep.to_owned(),
            others: vec![other.to_owned()],
        }
    }

    fn used(id: &str, age_days: i64, used_days_ago: Option<i64>) -> AccessKey {
        key(
            id,
            KeyStatus::Active,
            age_days,
            used_days_ago.map(|d| NOW - d * DAY),
        )
    }

    #[test]
    fn the_young_key_in_use_is_kept_and_the_idle_one_deactivated() {
        assert_eq!(
            plan_for(vec![used("OLD", 400, Some(30)), used("NEW", 10, Some(2))]),
            deactivate("NEW", "OLD")
        );
        assert_eq!(
            plan_for(vec![used("A", 10, Some(5)), used("B", 20, None)]),
            deactivate("A", "B"),
            "a key never used in 20 days is idle"
        );
        let advice = advice_for(vec![used("OLD", 400, Some(30)), used("NEW", 10, Some(2))]);
        assert_eq!(
            advice,
            [
                ("OLD".to_owned(), Advice::Deactivate),
                ("NEW".to_owned(), Advice::Keep)
            ]
        );
    }

    #[test]
    fn the_most_recently_used_key_is_never_deactivated() {
        // The old key is the one in use: deactivating it would cut the workload off.
        assert_eq!(
            plan_for(vec![used("OLD", 400, Some(3)), used("NEW", 10, Some(30))]),
            Plan::NeedsHuman(Human::Rotate {
                in_use: "OLD".to_owned()
            })
        );
        assert_eq!(
            plan_for(vec![used("A", 200, Some(3)), used("B", 100, Some(30))]),
            Plan::NeedsHuman(Human::Rotate {
                in_use: "A".to_owned()
            }),
            "both older than 90 days"
        );
        let advice = advice_for(vec![used("OLD", 400, Some(3)), used("NEW", 10, None)]);
        assert_eq!(
            advice.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
            [Advice::Undecided, Advice::Undecided],
            "check does not advise turning off the key in use either"
        );
    }

    #[test]
    fn an_unclear_choice_is_left_to_a_person() {
        assert_eq!(
            plan_for(vec![used("A", 10, None), used("B", 20, None)]),
            Plan::NeedsHuman(Human::NoneUsed)
        );
        assert_eq!(
            plan_for(vec![used("A", 10, Some(3)), used("B", 20, Some(3))]),
            Plan::NeedsHuman(Human::Tie("A".to_owned(), "B".to_owned()))
        );
    }

    #[test]
    fn a_key_used_or_created_within_min_idle_is_never_touched() {
        let mut recent = used("OTHER", 20, None);
        recent.last_used = Some(NOW - 3_600);
        let mut keeper = used("KEEP", 10, None);
        keeper.last_used = Some(NOW - 60);
        assert_eq!(
            plan_for(vec![keeper.clone(), recent]),
            Plan::NeedsHuman(Human::RecentlyUsed {
                key: "OTHER".to_owned(),
                last_used: NOW - 3_600
            })
        );
        // A key made an hour ago, not used yet (AWS records use hours late): a rotation may
        // be moving the workload to it right now.
        let mut fresh = used("FRESH", 0, None);
        fresh.created = NOW - 3_600;
        let older = used("OLDER", 30, Some(2));
        assert_eq!(
            plan_for(vec![older, fresh]),
            Plan::NeedsHuman(Human::RecentlyCreated {
                key: "FRESH".to_owned(),
                created: NOW - 3_600
            })
        );
        // Just past the idle time it may go.
        let mut idle = used("IDLE", 0, None);
        idle.created = NOW - 86_400;
        idle.last_used = Some(NOW - 86_400);
        assert_eq!(plan_for(vec![keeper, idle]), deactivate("KEEP", "IDLE"));
    }

    #[test]
    fn inactive_keys_are_never_kept_or_deactivated() {
        let advice = advice_for(vec![
            key("OFF", KeyStatus::Inactive, 1, Some(NOW)),
            key("ON", KeyStatus::Active, 500, None),
        ]);
        assert_eq!(advice[0].1, Advice::Inactive);
        assert_eq!(advice[1].1, Advice::Keep);
        let mut off = used("OFF", 10, Some(1));
        off.status = KeyStatus::Inactive;
        assert_eq!(plan_for(vec![off, used("ON", 10, Some(5))]), Plan::Nothing);
    }
}
