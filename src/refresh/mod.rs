//! The refresh loop: ties the sources to the metrics and the served body.
//!
//! Each account refreshes on its own schedule, in a task of its own: every `refresh.interval`
//! (from the start of one of its refreshes to the next, never overlapping) it is collected,
//! and its snapshot published or its failure recorded; until an account has had data once, a
//! failed refresh is tried again within seconds, the wait doubling up to the interval. One
//! slow, throttled or hanging account therefore never holds back another's data. At most `collector.max_concurrent_accounts`
//! accounts are collected at once. A renderer re-renders the body after refreshes, at most
//! once a second however many accounts finish. No AWS request is ever made on behalf of a
//! scrape.
//!
//! With `[events]`, a consumer of IAM change events ([`events`]) reads the users they name
//! again and republishes within seconds; a refresh that began before such a read keeps its
//! result for that user.

mod creators;
mod events;
mod plan;

pub(crate) use creators::CreatorSettings;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;

use std::collections::BTreeMap;

use crate::accounts::{AccountSet, Discovered, Watched};
use crate::aws::Sqs;
use crate::error::error_chain;
use crate::exposition::{EventMetrics, Metrics, Published};
use crate::health::Readiness;
use crate::shutdown::Shutdown;
use crate::snapshot::User;
use crate::source::{collect_within, Source, UNKNOWN_ACCOUNT};
use plan::{plan, TaskState};

/// The users events had read again, by name: when (wall clock, to compare with a snapshot's
/// data time), and what was read (`None`: gone).
type EventReads = BTreeMap<String, (SystemTime, Option<User>)>;

/// What the events consumer needs: the queue, how long a poll waits, its metrics.
pub(crate) struct Events {
    pub(crate) queue: Sqs,
    pub(crate) wait: Duration,
    pub(crate) metrics: EventMetrics,
}

/// One account's source and whether it has ever succeeded.
struct Target {
    source: Arc<dyn Source>,
    succeeded_once: AtomicBool,
    /// How people call the account (`iam_account_info`): a name and an OU path, when known.
    named: std::sync::Mutex<(Option<String>, Option<String>)>,
    /// Held while a snapshot of the account is published, so that a refresh and an event never
    /// publish over each other's changes.
    publishing: tokio::sync::Mutex<()>,
    /// Users events read again, for refreshes whose data is older than the read.
    event_reads: std::sync::Mutex<EventReads>,
    /// Set, under `publishing`, once the account is no longer watched: nothing may publish it
    /// again.
    forgotten: AtomicBool,
    /// Who created the keys of the account's offenders, as far as known (found, or why not),
    /// by key ID: each key is looked up once.
    creators: std::sync::Mutex<BTreeMap<String, crate::source::Lookup>>,
    /// Woken when a snapshot is published: its offenders' keys may need their creators.
    creators_wanted: Notify,
    /// `cloudtrail:LookupEvents` was refused: the account is not asked again.
    creators_denied: AtomicBool,
}

impl Target {
    /// `iam_account_info` for the account, once its ID is known: its name (its ID when it has
    /// none, so that a dashboard variable of names lists every account) and OU path.
    fn publish_info(&self, metrics: &Metrics) {
        let Some(id) = self.source.account_id() else {
            return;
        };
        let named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        metrics.account_info(
            &id,
            named.0.as_deref().unwrap_or(&id),
            named.1.as_deref().unwrap_or(""),
        );
    }
}

/// The shortest time between two renders of the body: with many accounts, refreshes finish
/// all the time, and each render costs as much as the whole body.
const RENDER_GAP: Duration = Duration::from_secs(1);

/// How soon an account that has never had data is refreshed again after a failure; each
/// further failure doubles it, up to `refresh.interval`.
const FIRST_REFRESH_RETRY: Duration = Duration::from_secs(2);

/// How soon a first discovery that failed is tried again (later ones wait the whole
/// `organizations.refresh_interval`, with the last good list in the meantime).
const FIRST_DISCOVERY_RETRY: Duration = Duration::from_secs(30);

/// Refreshes every watched account on its schedule, and keeps the set of watched accounts
/// current.
pub(crate) struct Refresher {
    accounts: tokio::sync::Mutex<AccountSet>,
    /// The accounts watched now, by key.
    targets: std::sync::Mutex<BTreeMap<String, Arc<Target>>>,
    /// Accounts collected at once.
    accounts_at_once: Semaphore,
    metrics: Arc<Metrics>,
    body: Arc<Published>,
    ready: Readiness,
    interval: Duration,
    timeout: Duration,
    /// The events consumer's parts, when `[events]` is configured; taken when it starts.
    events: std::sync::Mutex<Option<Events>>,
    /// Counts the bodies published, so that an event's lag ends when it is served.
    published: watch::Sender<u64>,
    /// Whether, and how, the creators of the offenders' keys are looked up.
    creators: CreatorSettings,
    /// Set once the accounts to watch are known (a first discovery that failed knows none).
    listed: AtomicBool,
}

impl Refresher {
    /// A refresher over `accounts` publishing into `metrics` and `body`, and setting `ready`
    /// once every watched account has succeeded.
    pub(crate) fn new(
        accounts: AccountSet,
        metrics: Arc<Metrics>,
        body: Arc<Published>,
        ready: Readiness,
        interval: Duration,
        timeout: Duration,
        max_concurrent_accounts: usize,
    ) -> Self {
        Refresher {
            accounts: tokio::sync::Mutex::new(accounts),
            targets: Default::default(),
            accounts_at_once: Semaphore::new(max_concurrent_accounts),
            metrics,
            body,
            ready,
            interval,
            timeout,
            events: std::sync::Mutex::new(None),
            published: watch::channel(0).0,
            creators: CreatorSettings::default(),
            listed: AtomicBool::new(false),
        }
    }

    /// Also look up who created the offenders' keys.
    pub(crate) fn with_creators(mut self, creators: CreatorSettings) -> Self {
        self.creators = creators;
        self
    }

    /// Also consume IAM change events.
    pub(crate) fn with_events(mut self, events: Option<Events>) -> Self {
        self.events = std::sync::Mutex::new(events);
        self
    }

    /// Whether accounts are watched and every one's ID is known.
    fn accounts_known(&self) -> bool {
        let targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        !targets.is_empty() && targets.values().all(|t| t.source.account_id().is_some())
    }

    /// The watched account with this ID.
    fn target_of(&self, account_id: &str) -> Option<Arc<Target>> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|target| target.source.account_id().as_deref() == Some(account_id))
            .cloned()
    }

    /// Renders and publishes the body, and says whether every account has succeeded once.
    fn publish(&self) {
        match self.metrics.render() {
            Ok(rendered) => {
                self.body.publish(rendered);
                self.published.send_modify(|generation| *generation += 1);
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot render the metrics; still serving the previous body")
            }
        }
        // Ready once every watched account has succeeded once, and ready from then on: an
        // account discovered later (whose role may not be deployed yet) must not take a serving
        // replica out of its Service.
        if !self.ready.get() && self.listed.load(Ordering::SeqCst) {
            let ready = self
                .targets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .all(|t| t.succeeded_once.load(Ordering::SeqCst));
            self.ready.set(ready);
        }
    }

    async fn refresh(&self, target: &Target) -> bool {
        // Closed only when the refresher is dropped, which ends the tasks first.
        let Ok(_permit) = self.accounts_at_once.acquire().await else {
            return false;
        };
        let started = Instant::now();
        let result = collect_within(target.source.as_ref(), self.timeout).await;
        let took = started.elapsed();
        match result {
            Ok(mut snapshot) => {
                let _publishing = target.publishing.lock().await;
                events::overlay(
                    &mut snapshot,
                    &mut target.event_reads.lock().unwrap_or_else(|e| e.into_inner()),
                );
                {
                    let mut known = target.creators.lock().unwrap_or_else(|e| e.into_inner());
                    creators::forget_gone(&mut known, &snapshot);
                    creators::attach(&mut snapshot, &known);
                }
                let keys: usize = snapshot.users.iter().map(|u| u.access_keys.len()).sum();
                tracing::info!(
                    account_id = %snapshot.account_id,
                    users = snapshot.users.len(),
                    access_keys = keys,
                    users_with_multiple_active_access_keys = snapshot.users_with_multiple_active_keys(),
                    root_access_keys_present = snapshot
                        .root_access_keys_present
                        .map_or("unknown", |present| if present { "true" } else { "false" }),
                    duration_seconds = took.as_secs_f64(),
                    "refresh succeeded"
                );
                self.metrics.refresh_succeeded(Arc::new(snapshot), took);
                target.publish_info(&self.metrics);
                target.succeeded_once.store(true, Ordering::SeqCst);
                target.creators_wanted.notify_one();
                true
            }
            Err(err) => {
                let account = target
                    .source
                    .account_id()
                    .unwrap_or_else(|| UNKNOWN_ACCOUNT.to_owned());
                let served = if target.succeeded_once.load(Ordering::SeqCst) {
                    "refresh failed; still serving the last successful data"
                } else {
                    "refresh failed; no data for this account yet"
                };
                tracing::error!(
                    account_id = %account,
                    kind = err.kind().as_str(),
                    duration_seconds = took.as_secs_f64(),
                    error = %error_chain(&err),
                    "{served}"
                );
                self.metrics.refresh_failed(&account, err.kind(), took);
                false
            }
        }
    }

    /// Refreshes every account on its schedule until `shutdown` turns true (or its sender is
    /// dropped), discovering the watched accounts again every `organizations.refresh_interval`.
    pub(crate) async fn run(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let refreshed = Arc::new(Notify::new());
        let renderer = tokio::spawn(render(this.clone(), refreshed.clone(), shutdown.clone()));
        let events = this.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        let consumer = events.map(|events| {
            tokio::spawn(events::consume(
                this.clone(),
                events.queue,
                events.wait,
                events.metrics,
                refreshed.clone(),
                shutdown.clone(),
            ))
        });
        let mut running: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
        let mut shutdown_rx = shutdown.clone();
        loop {
            // A hanging Organizations API must not hold back a shutdown.
            let (watched, discovered) = tokio::select! {
                _ = shutdown_rx.wait() => break,
                refreshed_set = async { this.accounts.lock().await.refresh().await } => refreshed_set,
            };
            let failed = this.record_discovery(discovered);
            let retry_soon = failed && running.is_empty();
            // The accounts to watch are known: from a discovery, a fixed list, or the last good
            // list a failed discovery keeps. Before that no replica is ready, not even an empty
            // shard.
            if !retry_soon {
                this.listed.store(true, Ordering::SeqCst);
            }
            let mut watched: BTreeMap<String, Watched> =
                watched.into_iter().map(|w| (w.key.clone(), w)).collect();
            let tasks = running
                .iter()
                .map(|(key, task)| (key.clone(), this.task_state(key, task)))
                .collect();
            let plan = plan(&tasks, watched.keys());
            for key in plan.stop {
                this.stop_account(&key, running.remove(&key)).await;
            }
            for watched in watched.values() {
                if let Some(id) = watched.source.account_id() {
                    this.metrics.init_account(&id);
                }
            }
            for key in plan.keep {
                let Some(watched) = watched.remove(&key) else {
                    continue;
                };
                this.rename_account(&key, watched);
            }
            for key in &plan.restart {
                tracing::error!(account = %key, "an account's refresh task ended; starting it again");
            }
            for key in plan.start.into_iter().chain(plan.restart) {
                let Some(watched) = watched.remove(&key) else {
                    continue;
                };
                let task = this.start_account(&key, watched, &refreshed, &shutdown);
                running.insert(key, task);
            }
            // The discovery's own metrics, an empty shard's readiness: render now.
            refreshed.notify_one();
            if !this.wait_for_discovery(retry_soon, &mut shutdown_rx).await {
                break;
            }
        }
        for (_, task) in running {
            task.abort();
            let _ = task.await;
        }
        if let Some(consumer) = consumer {
            consumer.abort();
            let _ = consumer.await;
        }
        let _ = renderer.await;
    }

    /// Counts and logs a discovery's outcome; whether it failed.
    fn record_discovery(&self, discovered: Option<Discovered>) -> bool {
        match discovered {
            Some(Discovered::Found(count)) => {
                self.metrics.discovery_succeeded(count);
                false
            }
            Some(Discovered::Failed(err)) => {
                tracing::error!(
                    kind = err.kind.as_str(),
                    error = %error_chain(&err),
                    "discovery of the organization's accounts failed; watching the last good list"
                );
                self.metrics.discovery_failed(err.kind);
                true
            }
            None => false,
        }
    }

    /// Whether an account's task runs (and its target is there to rename).
    fn task_state(&self, key: &str, task: &tokio::task::JoinHandle<()>) -> TaskState {
        let known = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(key);
        if known && !task.is_finished() {
            TaskState::Running
        } else {
            TaskState::Ended
        }
    }

    /// Gone: closed, suspended, removed or excluded. Its task is stopped and waited for before
    /// everything about the account is forgotten, so nothing it was doing can publish the
    /// account again afterwards.
    async fn stop_account(&self, key: &str, task: Option<tokio::task::JoinHandle<()>>) {
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let target = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        // An event being applied to the account finishes first, and none after.
        let _publishing = match &target {
            Some(target) => {
                let guard = target.publishing.lock().await;
                target.forgotten.store(true, Ordering::SeqCst);
                Some(guard)
            }
            None => None,
        };
        let id = target
            .as_ref()
            .and_then(|t| t.source.account_id())
            .unwrap_or_else(|| key.to_owned());
        tracing::info!(account_id = %id, "account no longer watched");
        self.metrics.forget_account(&id);
    }

    /// Renamed or moved in the organization since the last discovery.
    fn rename_account(&self, key: &str, watched: Watched) {
        let target = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        if let Some(target) = target {
            *target.named.lock().unwrap_or_else(|e| e.into_inner()) =
                (watched.name, watched.ou_path);
            target.publish_info(&self.metrics);
        }
    }

    /// A new target for the account, and its task.
    fn start_account(
        self: &Arc<Self>,
        key: &str,
        watched: Watched,
        refreshed: &Arc<Notify>,
        shutdown: &Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        let target = Arc::new(Target {
            source: watched.source,
            succeeded_once: AtomicBool::new(false),
            named: std::sync::Mutex::new((watched.name, watched.ou_path)),
            publishing: tokio::sync::Mutex::new(()),
            event_reads: Default::default(),
            forgotten: AtomicBool::new(false),
            creators: Default::default(),
            creators_wanted: Notify::new(),
            creators_denied: AtomicBool::new(false),
        });
        target.publish_info(&self.metrics);
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), target.clone());
        tokio::spawn(account_loop(
            self.clone(),
            target,
            refreshed.clone(),
            shutdown.clone(),
        ))
    }

    /// Sleeps until the next discovery; `false` when it is time to stop instead (a shutdown,
    /// or a fixed list that is never discovered again).
    async fn wait_for_discovery(&self, retry_soon: bool, shutdown: &mut Shutdown) -> bool {
        let Some(every) = self.accounts.lock().await.discovery_interval() else {
            shutdown.wait().await;
            return false;
        };
        // A first discovery that failed has no list to fall back on: try again soon.
        let every = if retry_soon {
            every.min(FIRST_DISCOVERY_RETRY)
        } else {
            every
        };
        tokio::select! {
            _ = shutdown.wait() => false,
            () = tokio::time::sleep(every) => true,
        }
    }
}

/// One account's task: its refreshes, and beside them the lookups of its keys' creators.
async fn account_loop(
    this: Arc<Refresher>,
    target: Arc<Target>,
    refreshed: Arc<Notify>,
    shutdown: Shutdown,
) {
    let creators = creators::run(
        this.clone(),
        target.clone(),
        refreshed.clone(),
        shutdown.clone(),
    );
    tokio::join!(refresh_loop(this, target, refreshed, shutdown), creators);
}

/// One account's schedule: refresh, then wait until `refresh.interval` after its start. While
/// the account has never had data (a first refresh failed: no metrics for it, and `/-/ready`
/// at 503), it is tried again after [`FIRST_REFRESH_RETRY`] from the failure's end, twice as
/// long each time, up to the interval.
async fn refresh_loop(
    this: Arc<Refresher>,
    target: Arc<Target>,
    refreshed: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    let mut retry = FIRST_REFRESH_RETRY.min(this.interval);
    loop {
        let started = Instant::now();
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = this.refresh(&target) => {}
        }
        refreshed.notify_one();
        let account = || {
            target
                .source
                .account_id()
                .unwrap_or_else(|| UNKNOWN_ACCOUNT.to_owned())
        };
        let next = if target.succeeded_once.load(Ordering::SeqCst) {
            started + this.interval
        } else {
            tracing::info!(
                account_id = %account(),
                retry_in = %humantime::format_duration(retry),
                "the account has no data yet; trying again soon"
            );
            let next = Instant::now() + retry;
            retry = (retry * 2).min(this.interval);
            next
        };
        if Instant::now() > next {
            tracing::warn!(
                account_id = %account(),
                interval = %humantime::format_duration(this.interval),
                "the refresh took longer than the interval; starting the next one now"
            );
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            () = tokio::time::sleep_until(next) => {}
        }
    }
}

/// Renders the body after refreshes, at most once every [`RENDER_GAP`].
async fn render(this: Arc<Refresher>, refreshed: Arc<Notify>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            () = refreshed.notified() => {}
        }
        this.publish();
        tokio::select! {
            _ = shutdown.wait() => return,
            () = tokio::time::sleep(RENDER_GAP) => {}
        }
    }
}
