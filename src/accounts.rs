//! The set of watched accounts: the ones listed in `[[accounts]]`, and, with
//! `[organizations]`, every active account of the AWS Organization, re-discovered every
//! `organizations.refresh_interval`. Each account gets one source with its own IAM clients:
//! the base credentials for the account they belong to (the management account, or a delegated
//! administrator account for Organizations; and an `[[accounts]]` entry without a role), a role
//! assumed in the account for every other.
//!
//! A failed discovery keeps the last good list: a passing Organizations outage must not make
//! every account's series vanish (and come back as new) with it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_iam::config::SharedCredentialsProvider;

use crate::aws::{self, AwsError, Iam, LastFailure, Organizations, RequestObserver};
use crate::config::{AccountConfig, Config, OrganizationsConfig};
use crate::source::{self, Account, Source};

/// One watched account.
#[derive(Clone)]
pub(crate) struct Watched {
    /// What tells it apart: its ID, or `static-N` for an `[[accounts]]` entry whose ID is not
    /// known until STS is asked.
    pub key: String,
    pub source: Arc<dyn Source>,
    /// For `iam_account_info`: the account's name and OU path, when known.
    pub name: Option<String>,
    pub ou_path: Option<String>,
}

/// What a discovery did.
pub(crate) enum Discovered {
    /// Found this many accounts to watch.
    Found(usize),
    /// Failed; the last good list is kept.
    Failed(AwsError),
}

/// The watched accounts, and how to find them again.
pub(crate) struct AccountSet {
    base: SdkConfig,
    config: Config,
    observer: Arc<dyn RequestObserver>,
    fixed: Vec<Watched>,
    organizations: Option<(Organizations, OrganizationsConfig)>,
    /// Asks STS which account the base credentials belong to (once).
    caller: Iam,
    caller_id: Option<String>,
    /// The last good discovery, by account ID.
    discovered: BTreeMap<String, Watched>,
}

impl AccountSet {
    /// Builds the sources of the configured accounts; `credentials` replaces the default
    /// credential chain (tests and embedders; the binary passes `None`).
    pub(crate) async fn new(
        config: &Config,
        observer: Arc<dyn RequestObserver>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        let base = aws::sdk_config(&config.aws, credentials).await;
        let mut fixed = Vec::with_capacity(config.accounts.len());
        for (index, account) in config.accounts.iter().enumerate() {
            fixed.push(Watched {
                key: account
                    .account_id
                    .clone()
                    .unwrap_or_else(|| format!("static-{index}")),
                source: build_source(&base, account, config, observer.clone()).await,
                name: account.name.clone(),
                ou_path: None,
            });
        }
        let organizations = config
            .organizations
            .clone()
            .map(|org| (Organizations::new(&base, observer.clone()), org));
        let caller = Iam::new(&base, observer.clone(), LastFailure::default());
        AccountSet {
            base,
            config: config.clone(),
            observer,
            fixed,
            organizations,
            caller,
            caller_id: None,
            discovered: BTreeMap::new(),
        }
    }

    /// The events queue, read with the base credentials, when `[events]` is configured.
    pub(crate) fn events_queue(&self) -> Option<aws::Sqs> {
        let events = self.config.events.as_ref()?;
        Some(aws::Sqs::new(
            &self.base,
            events.sqs_queue_url.clone(),
            self.observer.clone(),
        ))
    }

    /// How often to discover again; `None` without discovery.
    pub(crate) fn discovery_interval(&self) -> Option<Duration> {
        self.organizations
            .as_ref()
            .map(|(_, org)| org.refresh_interval)
    }

    /// Discovers again (with discovery on), and gives the accounts to watch now.
    pub(crate) async fn refresh(&mut self) -> (Vec<Watched>, Option<Discovered>) {
        let outcome = match &self.organizations {
            None => None,
            Some((organizations, org)) => Some(
                async {
                    if self.caller_id.is_none() {
                        self.caller_id = Some(self.caller.caller_account().await?);
                    }
                    let own = self.caller_id.as_deref().unwrap_or_default();
                    discover(organizations, org, own).await
                }
                .await,
            ),
        };
        let discovered = match outcome {
            None => None,
            Some(Err(err)) => Some(Discovered::Failed(err)),
            Some(Ok(found)) => {
                let ids: HashSet<&str> = found
                    .iter()
                    .map(|(account, _)| account.id.as_str())
                    .collect();
                self.discovered.retain(|id, _| ids.contains(id.as_str()));
                let own = found
                    .iter()
                    .find(|(_, own)| *own)
                    .map(|(a, _)| a.id.clone());
                for (account, _) in &found {
                    if let Some(known) = self.discovered.get_mut(&account.id) {
                        known.name = Some(account.name.clone());
                        known.ou_path = Some(account.ou_path.clone());
                        continue;
                    }
                    let is_own = own.as_deref() == Some(account.id.as_str());
                    let config = self.member(&account.id, is_own);
                    let source =
                        build_source(&self.base, &config, &self.config, self.observer.clone())
                            .await;
                    self.discovered.insert(
                        account.id.clone(),
                        Watched {
                            key: account.id.clone(),
                            source,
                            name: Some(account.name.clone()),
                            ou_path: Some(account.ou_path.clone()),
                        },
                    );
                }
                Some(Discovered::Found(found.len()))
            }
        };
        let fixed: HashSet<&str> = self.fixed.iter().map(|w| w.key.as_str()).collect();
        let mut watched = self.fixed.clone();
        watched.extend(
            self.discovered
                .values()
                .filter(|w| !fixed.contains(w.key.as_str()))
                .cloned(),
        );
        let sharding = self.config.sharding;
        watched.retain(|w| shard_of(&w.key, sharding.count) == sharding.index);
        (watched, discovered)
    }

    /// How a member account is read: the base credentials' own account with them, every other
    /// through `organizations.role_name`.
    fn member(&self, id: &str, own: bool) -> AccountConfig {
        let (_, org) = self.organizations.as_ref().expect("discovery is on");
        let partition = self.base.region().map_or("aws", |region| {
            crate::arn::partition_of_region(region.as_ref())
        });
        AccountConfig {
            role_arn: (!own).then(|| format!("arn:{partition}:iam::{id}:role/{}", org.role_name)),
            external_id: org.external_id.clone(),
            account_id: Some(id.to_owned()),
            name: None,
        }
    }
}

/// The replica that watches `key` (an account ID) among `count`: rendezvous hashing, the
/// replica whose hash with the key is highest. Every replica computes the same answer alone,
/// and when the count changes, only the keys whose winner changed move: going from N to N+1
/// replicas moves about 1/(N+1) of them, all to the new one.
pub(crate) fn shard_of(key: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|replica| mix(key, *replica))
        .unwrap_or(0)
}

/// A stable 64-bit hash of (key, replica): FNV-1a, then a SplitMix64 finish for spread. Stable
/// across builds and machines, unlike the standard library's hasher.
fn mix(key: &str, replica: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain(replica.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// One discovered account.
struct Found {
    id: String,
    name: String,
    ou_path: String,
}

/// Walks the organization from its roots: every active account under an included OU (or
/// under any, when none is listed), not excluded; with whether it is the base credentials'
/// own account (`own`).
async fn discover(
    organizations: &Organizations,
    org: &OrganizationsConfig,
    own: &str,
) -> Result<Vec<(Found, bool)>, AwsError> {
    let include: HashSet<&str> = org.include_ous.iter().map(String::as_str).collect();
    let exclude: HashSet<&str> = org.exclude_accounts.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for (root, _) in organizations.roots().await? {
        let included = include.is_empty() || include.contains(root.as_str());
        let mut pending = vec![(root, String::new(), included)];
        while let Some((parent, path, included)) = pending.pop() {
            for account in organizations.accounts(&parent).await? {
                if included && account.active && !exclude.contains(account.id.as_str()) {
                    let is_own = account.id == own;
                    found.push((
                        Found {
                            id: account.id,
                            name: account.name,
                            ou_path: if path.is_empty() {
                                "/".to_owned()
                            } else {
                                path.clone()
                            },
                        },
                        is_own,
                    ));
                }
            }
            for (unit, name) in organizations.units(&parent).await? {
                let inside = included || include.contains(unit.as_str());
                pending.push((unit, format!("{path}/{name}"), inside));
            }
        }
    }
    found.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(found)
}

/// One account's source: its SDK configuration (role, rate cap), clients and collector.
async fn build_source(
    base: &SdkConfig,
    account: &AccountConfig,
    config: &Config,
    observer: Arc<dyn RequestObserver>,
) -> Arc<dyn Source> {
    let sdk = aws::account_sdk_config(base, account, &config.aws).await;
    let last_failure = LastFailure::default();
    let iam = Iam::new(&sdk, observer, last_failure.clone());
    source::build(
        Account::new(iam, account.account_id.clone(), last_failure),
        &config.collector,
        source::Exemptions::new(&config.exemptions, &config.collector),
    )
}

/// The sources of every account, for `check`: what is listed, and the organization's accounts
/// as found once. Sharding is the daemon's: a one-shot audit covers them all.
pub(crate) async fn watched(
    config: &Config,
    observer: Arc<dyn RequestObserver>,
    credentials: Option<SharedCredentialsProvider>,
) -> Result<Vec<Arc<dyn Source>>, AwsError> {
    let mut config = config.clone();
    config.sharding = crate::config::ShardingConfig { count: 1, index: 0 };
    let mut set = AccountSet::new(&config, observer, credentials).await;
    match set.refresh().await {
        (_, Some(Discovered::Failed(err))) => Err(err),
        (watched, _) => Ok(watched.into_iter().map(|w| w.source).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64 * 7_919))
            .collect()
    }

    #[test]
    fn accounts_spread_evenly_over_the_replicas() {
        let ids = ids(3_000);
        let mut counts = [0usize; 3];
        for id in &ids {
            counts[shard_of(id, 3) as usize] += 1;
        }
        for count in counts {
            assert!((800..=1_200).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn one_replica_more_moves_few_accounts_and_only_to_it() {
        let ids = ids(3_000);
        let moved: Vec<&String> = ids
            .iter()
            .filter(|id| shard_of(id, 2) != shard_of(id, 3))
            .collect();
        for id in &moved {
            assert_eq!(shard_of(id, 3), 2, "{id} moved between old replicas");
        }
        assert!(
            (800..=1_200).contains(&moved.len()),
            "about a third moves: {}",
            moved.len()
        );
    }

    #[test]
    fn one_replica_watches_everything() {
        assert!(ids(100).iter().all(|id| shard_of(id, 1) == 0));
    }
}
