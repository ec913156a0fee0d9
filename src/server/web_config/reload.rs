//! The look for changes: what the web config file and the files it names looked like
//! ([`Fingerprint`]), and at most once a second ([`RECHECK_INTERVAL`]) a look whether they
//! changed, which reloads them; a change that cannot be used keeps the last good configuration.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{load, Active, WebConfigError, WebSecurity};
use crate::diagnostics::Problem;

/// How often, at most, the files are looked at for changes.
pub(super) const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

impl WebSecurity {
    /// The configuration to serve with, after looking for changes if the last look is more
    /// than a second old. The look (and a reload) runs on the blocking pool; requests arriving
    /// meanwhile are served with the configuration in force.
    pub(crate) async fn current(self: &Arc<Self>) -> Arc<Active> {
        let due = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            // Nothing watched: no file (see `WebSecurity::open`).
            seen.0.elapsed() >= RECHECK_INTERVAL && !seen.1.watches_nothing()
        };
        if due && !self.checking.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                // Cleared however the check ends, even if the waiting request is dropped.
                struct Done<'a>(&'a AtomicBool);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::Release);
                    }
                }
                let _done = Done(&this.checking);
                this.reload_if_changed();
            })
            .await;
        }
        self.active()
    }

    /// Looks whether the files changed, and if so loads them and puts the result in force when
    /// it may replace the configuration in force.
    pub(super) fn reload_if_changed(&self) {
        let previous = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.0 = Instant::now();
            seen.1.clone()
        };
        if previous.unchanged() {
            return;
        }
        // Kept whatever the outcome: a bad file is reported once per change, not every
        // second, and the files a bad version names are watched too (one that is missing
        // now is seen when it appears).
        let (fingerprint, result) = load(&self.path);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).1 = fingerprint;
        let result = result.and_then(|next| match self.refused_change(&next) {
            None => Ok(next),
            Some(problem) => Err(WebConfigError::Invalid {
                path: self.path.clone(),
                problems: vec![problem],
            }),
        });
        match result {
            Ok(active) => {
                tracing::info!(
                    file = %self.path.display(),
                    tls = active.tls.is_some(),
                    basic_auth = active.users.is_some(),
                    "web config file reloaded"
                );
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
            }
            Err(err) => tracing::error!(
                error = %err,
                "web config file changed but cannot be used; keeping the previous configuration"
            ),
        }
    }

    /// Why `next` may not replace the configuration in force, if it may not: whether TLS is
    /// on is fixed at start-up, and authentication once on stays on until a restart.
    fn refused_change(&self, next: &Active) -> Option<Problem> {
        let was_tls = self.active().tls.is_some();
        if next.tls.is_some() != was_tls {
            return Some(Problem::new(
                "tls_server_config",
                format!(
                    "TLS was {} at start-up; switching it {} needs a restart",
                    if was_tls { "on" } else { "off" },
                    if was_tls { "off" } else { "on" },
                ),
            ));
        }
        // A file caught half-written could otherwise open /metrics to anyone until the next
        // change: turning authentication off is a restart's decision too.
        if self.active().users.is_some() && next.users.is_none() {
            return Some(Problem::new(
                "basic_auth_users",
                "basic authentication was on; turning it off needs a restart",
            ));
        }
        None
    }
}

/// What the file and the files it names looked like: modification time, size and inode each
/// (a Kubernetes Secret update swaps a symbolic link, which changes the inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint(pub(super) Vec<(PathBuf, Option<FileState>)>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Fingerprint {
    /// What `paths` look like now.
    pub(super) fn of(paths: Vec<PathBuf>) -> Fingerprint {
        Fingerprint(
            paths
                .into_iter()
                .map(|path| {
                    let state = file_state(&path);
                    (path, state)
                })
                .collect(),
        )
    }

    /// Whether no file is watched (no web config file: [`WebSecurity::open`]).
    pub(super) fn watches_nothing(&self) -> bool {
        self.0.is_empty()
    }

    /// Watches `paths` too.
    pub(super) fn watch(&mut self, paths: Vec<PathBuf>) {
        self.0.extend(Fingerprint::of(paths).0);
    }

    /// Whether every file looks as it did.
    pub(super) fn unchanged(&self) -> bool {
        self.0
            .iter()
            .all(|(path, state)| file_state(path) == *state)
    }
}

fn file_state(path: &Path) -> Option<FileState> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileState {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode,
    })
}
