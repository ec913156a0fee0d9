//! The per-account, per-user and per-key series, written straight from the latest snapshot of
//! each account into the body, in the text format the prometheus crate's encoder writes (a
//! test holds the two to the same output).
//!
//! The families are a table: each names its entry of the [`super::catalogue`] (name, HELP text,
//! type, labels) and which rows of a snapshot give its samples (one per account, user or key). One writer walks the table, so adding a family
//! is one entry, not one more copy of the loop.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::{catalogue, KeyIdDisplay};
use crate::clock::seconds_f64;
use crate::config::KeySeries;
use crate::snapshot::{AccessKey, AccountSnapshot, LastUsedFrom, User};

/// Which rows of a snapshot give a family's samples, and their values (`None`: no sample).
/// The label values are given in the catalogue's label order; a family whose catalogue entry
/// names fewer labels takes the first ones.
enum Rows {
    /// One per account: `account_id`.
    Account(fn(&AccountSnapshot) -> Option<f64>),
    /// One per user: `account_id`, `user`, `path`.
    User(fn(&User) -> Option<f64>),
    /// One per key: `account_id`, `user`, `access_key_id`, `status`.
    Key(fn(&AccessKey) -> Option<f64>),
    /// One per known creator of an active key of an offender: `account_id`, `user`,
    /// `access_key_id`, `creator_arn`, `creator_type`, `creator_relation`, `source_ip`,
    /// `user_agent`; in every `key_series` mode, as the alerts name the creator.
    Creator,
    /// One per well-formed exemption (value: its expiry; `account_id`, `user`, `source`,
    /// `reason`, `owner`), or per invalid one (value 1; `account_id`, `user`, `source`,
    /// `problem`).
    Exemption { valid: bool },
}

/// A family written from snapshots: its catalogue entry, HELP text and rows.
struct Family {
    entry: &'static catalogue::Family,
    help: String,
    rows: Rows,
}

impl Family {
    fn new(entry: &'static catalogue::Family, every: &str, rows: Rows) -> Self {
        Family {
            entry,
            help: entry.help(every),
            rows,
        }
    }

    fn name(&self) -> &'static str {
        self.entry.name
    }

    /// Writes the family's block, header included, if it has at least one sample.
    fn write(
        &self,
        out: &mut Vec<u8>,
        snapshots: &[&AccountSnapshot],
        key_ids: KeyIdDisplay,
        key_series: KeySeries,
    ) {
        let mut block = Block {
            family: self,
            out,
            started: false,
        };
        for s in snapshots {
            match &self.rows {
                Rows::Account(value) => {
                    if let Some(value) = value(s) {
                        block.sample(&[s.account_id.as_str()], value);
                    }
                }
                Rows::User(value) => block.users(s, *value),
                Rows::Exemption { valid } => block.exemptions(s, *valid),
                Rows::Creator => block.creators(s, key_ids),
                Rows::Key(value) => block.keys(s, *value, key_ids, key_series),
            }
        }
    }

    fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(self.name().as_bytes());
        out.push(b' ');
        escape_into(out, &self.help, false);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(self.name().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.entry.kind.as_str().as_bytes());
        out.push(b'\n');
    }

    /// One sample; `values` are the labels' values, in the catalogue's label order.
    fn sample(&self, out: &mut Vec<u8>, values: &[&str], value: f64) {
        let labels = self.entry.labels;
        debug_assert!(values.len() >= labels.len(), "{}", self.name());
        out.extend_from_slice(self.name().as_bytes());
        for (i, (name, value)) in labels.iter().zip(values).enumerate() {
            out.push(if i == 0 { b'{' } else { b',' });
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_into(out, value, true);
            out.push(b'"');
        }
        if !labels.is_empty() {
            out.push(b'}');
        }
        // The crate's encoder writes `f64`'s Display; so does this.
        let _ = writeln!(out, " {value}");
    }
}

/// One family's block being written: the header goes out before the first sample, so a
/// family without samples writes nothing.
struct Block<'a> {
    family: &'a Family,
    out: &'a mut Vec<u8>,
    started: bool,
}

impl Block<'_> {
    fn sample(&mut self, values: &[&str], value: f64) {
        if !self.started {
            self.family.header(self.out);
            self.started = true;
        }
        self.family.sample(self.out, values, value);
    }

    fn users(&mut self, s: &AccountSnapshot, value: fn(&User) -> Option<f64>) {
        for user in &s.users {
            if let Some(value) = value(user) {
                let values = [s.account_id.as_str(), &user.name, &user.path];
                self.sample(&values, value);
            }
        }
    }

    fn exemptions(&mut self, s: &AccountSnapshot, valid: bool) {
        for user in &s.users {
            for exemption in &user.exemptions {
                let (account, name) = (s.account_id.as_str(), user.name.as_str());
                let source = exemption.source.as_str();
                match (&exemption.grant, valid) {
                    (Ok(grant), true) => self.sample(
                        &[account, name, source, &grant.reason, &grant.owner],
                        seconds(grant.expires),
                    ),
                    (Err(problem), false) => {
                        self.sample(&[account, name, source, problem.as_str()], 1.0)
                    }
                    _ => {}
                }
            }
        }
    }

    fn creators(&mut self, s: &AccountSnapshot, key_ids: KeyIdDisplay) {
        for user in s.users.iter().filter(|user| user.is_offender()) {
            for key in &user.access_keys {
                let Some(creator) = user.creators.get(&key.id) else {
                    continue;
                };
                if key.status != crate::snapshot::KeyStatus::Active {
                    continue;
                }
                let id = key_ids.show(&key.id);
                let values = [
                    s.account_id.as_str(),
                    &user.name,
                    id.as_ref(),
                    &creator.arn,
                    &creator.identity_type,
                    creator.relation.as_str(),
                    &creator.source_ip,
                    &creator.user_agent,
                ];
                self.sample(&values, 1.0);
            }
        }
    }

    fn keys(
        &mut self,
        s: &AccountSnapshot,
        value: fn(&AccessKey) -> Option<f64>,
        key_ids: KeyIdDisplay,
        key_series: KeySeries,
    ) {
        let keep = |user: &User| match key_series {
            KeySeries::All => true,
            KeySeries::Offenders => user.is_offender(),
            KeySeries::None => false,
        };
        for user in s.users.iter().filter(|user| keep(user)) {
            for key in &user.access_keys {
                let Some(value) = value(key) else { continue };
                let id = key_ids.show(&key.id);
                let values = [
                    s.account_id.as_str(),
                    &user.name,
                    id.as_ref(),
                    key.status.as_str(),
                ];
                self.sample(&values, value);
            }
        }
    }
}

/// Escapes as the text format wants: `\\` and newlines always, `"` in label values.
fn escape_into(out: &mut Vec<u8>, text: &str, quote: bool) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            other => out.push(other),
        }
    }
}

/// The families and the latest snapshot of each account.
pub(super) struct SnapshotFamilies {
    /// In name order, as the crate's encoder writes them.
    families: Vec<Family>,
    key_ids: KeyIdDisplay,
    /// Which keys get series.
    pub(super) key_series: KeySeries,
    /// Latest successful snapshot per account ID.
    latest: RwLock<BTreeMap<String, Arc<AccountSnapshot>>>,
    /// Size of the last body, to allocate the next one in one go.
    last_size: AtomicUsize,
}

fn seconds(time: i64) -> f64 {
    time as f64
}

impl SnapshotFamilies {
    pub(crate) fn new(every: &str, key_ids: KeyIdDisplay) -> Self {
        use catalogue as c;
        let family = |entry, rows| Family::new(entry, every, rows);
        let families = vec![
            family(
                &c::ACCESS_KEY_CREATED,
                Rows::Key(|key| Some(seconds(key.created))),
            ),
            family(&c::ACCESS_KEY_CREATOR, Rows::Creator),
            family(
                &c::ACCESS_KEY_LAST_USED,
                Rows::Key(|key| key.last_used.map(seconds)),
            ),
            family(
                &c::ROOT_ACCESS_KEYS,
                Rows::Account(|s| {
                    s.root_access_keys_present
                        .map(|present| if present { 1.0 } else { 0.0 })
                }),
            ),
            family(
                &c::ACCOUNT_USERS,
                Rows::Account(|s| Some(s.users.len() as f64)),
            ),
            family(
                &c::ACCOUNT_OFFENDERS,
                Rows::Account(|s| Some(s.users_with_multiple_active_keys() as f64)),
            ),
            family(
                &c::DATA_TIMESTAMP,
                Rows::Account(|s| Some(seconds_f64(s.data_timestamp))),
            ),
            family(
                &c::LAST_USED_FROM_REPORT,
                Rows::Account(|s| match s.last_used_from {
                    LastUsedFrom::Nowhere => None,
                    LastUsedFrom::PerKey => Some(0.0),
                    LastUsedFrom::Report(_) => Some(1.0),
                }),
            ),
            family(
                &c::LAST_USED_REPORT_TIMESTAMP,
                Rows::Account(|s| match s.last_used_from {
                    LastUsedFrom::Report(generated) => Some(seconds(generated)),
                    _ => None,
                }),
            ),
            family(
                &c::USER_ACTIVE_ACCESS_KEYS,
                Rows::User(|user| Some(user.active_access_keys() as f64)),
            ),
            family(&c::EXEMPTION_EXPIRY, Rows::Exemption { valid: true }),
            family(&c::EXEMPTION_INVALID, Rows::Exemption { valid: false }),
            family(
                &c::NEWEST_ACTIVE_KEY_CREATED,
                Rows::User(|user| {
                    user.is_offender()
                        .then(|| user.newest_active_key_created())
                        .flatten()
                        .map(seconds)
                }),
            ),
        ];
        SnapshotFamilies {
            families,
            key_ids,
            key_series: KeySeries::All,
            latest: RwLock::new(BTreeMap::new()),
            last_size: AtomicUsize::new(0),
        }
    }

    /// Replaces the account's snapshot whole: what is no longer in IAM is no longer served.
    pub(crate) fn publish(&self, snapshot: Arc<AccountSnapshot>) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        latest.insert(snapshot.account_id.clone(), snapshot);
    }

    /// The account's latest snapshot.
    pub(crate) fn latest(&self, account_id: &str) -> Option<Arc<AccountSnapshot>> {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        latest.get(account_id).cloned()
    }

    /// Stops serving an account.
    pub(crate) fn forget(&self, account_id: &str) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        latest.remove(account_id);
    }

    pub(crate) fn size_hint(&self) -> usize {
        self.last_size.load(Ordering::Relaxed) + 4096
    }

    pub(crate) fn remember_size(&self, size: usize) {
        self.last_size.store(size, Ordering::Relaxed);
    }

    /// Appends every family with at least one sample, each family's samples together (the
    /// format wants one block per family), accounts in ID order, users in name order.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        let snapshots: Vec<&AccountSnapshot> = latest.values().map(Arc::as_ref).collect();
        for family in &self.families {
            family.write(out, &snapshots, self.key_ids, self.key_series);
        }
    }
}

#[cfg(test)]
mod tests;
