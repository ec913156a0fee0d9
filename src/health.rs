//! Readiness, apart from the payload: the refresh loop sets it after every watched account has
//! refreshed once, shutdown clears it, and the server answers `/-/ready` from it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared readiness flag; clones share the same flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the exporter ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether `/-/ready` answers 200.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
