//! The watched-accounts diff: which account tasks to stop, keep, start or start again when the
//! accounts to watch are known anew. Pure, so that the ordering rules are tested apart from
//! the tasks ([`super::Refresher::run`] carries the plan out).

use std::collections::BTreeMap;

/// An account task, as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskState {
    /// Refreshing on its schedule.
    Running,
    /// Ended, which it never should (a panic): started again if still watched.
    Ended,
}

/// What to do with the account tasks when the accounts to watch are known anew.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// Running but no longer watched: stopped, then forgotten.
    pub(super) stop: Vec<String>,
    /// Running and still watched: their names and OU paths updated.
    pub(super) keep: Vec<String>,
    /// Watched and without a task: started.
    pub(super) start: Vec<String>,
    /// Watched, but the task ended: started again.
    pub(super) restart: Vec<String>,
}

/// The watched-accounts diff: the tasks there are against the accounts to watch, by key.
pub(super) fn plan<'a>(
    tasks: &BTreeMap<String, TaskState>,
    watched: impl Iterator<Item = &'a String>,
) -> Plan {
    let watched: std::collections::BTreeSet<&String> = watched.collect();
    let mut plan = Plan {
        stop: tasks
            .keys()
            .filter(|key| !watched.contains(key))
            .cloned()
            .collect(),
        ..Plan::default()
    };
    for key in watched {
        match tasks.get(key) {
            Some(TaskState::Running) => plan.keep.push(key.clone()),
            Some(TaskState::Ended) => plan.restart.push(key.clone()),
            None => plan.start.push(key.clone()),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(entries: &[(&str, TaskState)]) -> BTreeMap<String, TaskState> {
        entries
            .iter()
            .map(|(key, state)| ((*key).to_owned(), *state))
            .collect()
    }

    fn keys(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    #[test]
    fn the_first_list_starts_every_account() {
        let plan = plan(&tasks(&[]), keys(&["a", "b"]).iter());
        assert_eq!(
            plan,
            Plan {
                start: keys(&["a", "b"]),
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_gone_account_is_stopped_a_new_one_started_and_the_rest_kept() {
        let running = tasks(&[("a", TaskState::Running), ("b", TaskState::Running)]);
        let plan = plan(&running, keys(&["b", "c"]).iter());
        assert_eq!(
            plan,
            Plan {
                stop: keys(&["a"]),
                keep: keys(&["b"]),
                start: keys(&["c"]),
                restart: vec![],
            }
        );
    }

    #[test]
    fn an_ended_task_of_a_watched_account_is_restarted_and_of_a_gone_one_stopped() {
        let running = tasks(&[("a", TaskState::Ended), ("b", TaskState::Ended)]);
        let plan = plan(&running, keys(&["a"]).iter());
        assert_eq!(
            plan,
            Plan {
                stop: keys(&["b"]),
                restart: keys(&["a"]),
                ..Plan::default()
            }
        );
    }

    #[test]
    fn an_empty_list_stops_everything() {
        let running = tasks(&[("a", TaskState::Running)]);
        let plan = plan(&running, keys(&[]).iter());
        assert_eq!(
            plan,
            Plan {
                stop: keys(&["a"]),
                ..Plan::default()
            }
        );
    }
}
