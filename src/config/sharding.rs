//! `[sharding]`: the watched accounts spread over replicas.

use super::settings::{whole, Setting};

/// The accounts are spread over `count` replicas by rendezvous hashing of their IDs, so that
/// changing the count moves few accounts; this replica watches those of `index`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardingConfig {
    /// Replicas in all.
    pub count: u32,
    /// This one, from 0.
    pub index: u32,
}

pub(crate) const COUNT: Setting = Setting {
    key: "sharding.count",
    flag: None,
    default: Some("1"),
    help: "Replicas the watched accounts are spread over, each account watched by exactly one.",
    expected: "a whole number from 1 to 1000",
    list: false,
    apply: |text, d| {
        d.sharding.count = whole(text, 1, 1000)? as u32;
        Ok(())
    },
};

pub(crate) const INDEX: Setting = Setting {
    key: "sharding.index",
    flag: None,
    default: Some("0"),
    help: "This replica's place among them, from 0 (in Kubernetes, the pod's ordinal).",
    expected: "a whole number from 0 to `sharding.count` - 1",
    list: false,
    apply: |text, d| {
        d.sharding.index = whole(text, 0, 999)? as u32;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[&COUNT, &INDEX];
