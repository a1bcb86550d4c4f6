//! The engine ties the layers together: a source pass or an admin change becomes one store
//! commit holding the data change *and* the outbox entries it implies, then the affected
//! controller workers are woken.

mod bulk;
mod cloud_passes;
pub mod controllers;
mod enroll;
mod explain;
mod impact;
mod import;
mod pass;
mod people;
mod review;
mod visitors;

pub use bulk::BulkPreview;
pub use explain::Explanation;
pub use impact::Impact;
pub use import::ImportReport;
pub use pass::PassReport;
pub use people::{DoorChange, NewPerson, PinChange};
pub use review::ReviewAction;
pub use visitors::NewPass;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::access::Policy;
use crate::clock::Clock;
use crate::config::Config;
use crate::dispatch::{ControllerStatus, plan_controller};
use crate::sources::Source;
use crate::store::{Commit, PeopleSnapshot, Person, Store, StoreError};

/// Errors an admin request can get back. Each says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no person matches `{0}` (try a lintel id, an external id, an email or a card number)")]
    UnknownPerson(String),
    #[error(
        "`{query}` matches {} people ({}); use their lintel id",
        candidates.len(),
        candidates.join(", ")
    )]
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
    #[error("card {card} already belongs to {person}")]
    CardTaken { card: u64, person: String },
    #[error("card {0} is not assigned to anyone")]
    UnknownCard(u64),
    #[error("card number 0 is not a valid card")]
    CardZero,
    #[error("no source is named `{0}`")]
    UnknownSource(String),
    #[error("source `{0}` has no held pass to approve or reject")]
    NothingHeld(String),
    #[error(
        "source `{0}` is not switched off (only `bulk-delete --disable-source` switches one off at run time; `enabled = false` in its config section is changed there)"
    )]
    NotSwitchedOff(String),
    #[error("no alert {0}")]
    UnknownAlert(u64),
    #[error("{0}")]
    Refused(String),
}

/// One configured source and the adapter that pulls it.
pub struct SourceRunner {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub adapter: Box<dyn Source>,
}

impl std::fmt::Debug for SourceRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRunner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Engine {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub policy: Policy,
    pub sources: Vec<SourceRunner>,
    /// Wakes each controller's worker, by controller name.
    pub wakes: HashMap<String, Arc<Notify>>,
    pub controller_status: HashMap<String, Arc<Mutex<ControllerStatus>>>,
    /// Wakes the window scheduler when the next window end may have moved.
    pub schedule_changed: Notify,
    /// Readback requests, driver counters and resync progress, by controller name.
    pub controller_ops: controllers::ControllerOps,
    next_change: Mutex<Option<Timestamp>>,
    pub(super) people_counts: Mutex<Option<super::status::PeopleCountsAt>>,
    /// The latest `now` any plan used.
    planned_at: Mutex<Timestamp>,
    /// Whether the last plan succeeded, so the outbox holds what the store implies until the
    /// next change to people, credentials or visitor passes (or the next window end, which the
    /// scheduler re-plans at).
    planned: AtomicBool,
    /// Open enrollments by controller: the next unknown card there goes to the waiting sender.
    enrollments: Mutex<HashMap<String, tokio::sync::oneshot::Sender<u64>>>,
    /// One pass per source at a time.
    pass_locks: HashMap<String, tokio::sync::Mutex<()>>,
    /// When each source's poll loop pulls it next, by source name.
    next_runs: Mutex<HashMap<String, Timestamp>>,
}

impl Engine {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        sources: Vec<SourceRunner>,
        clock: Arc<dyn Clock>,
    ) -> Engine {
        let policy = Policy::new(&config);
        let names: Vec<String> = config
            .controllers
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        Engine {
            store,
            clock,
            policy,
            wakes: names
                .iter()
                .map(|n| (n.clone(), Arc::new(Notify::new())))
                .collect(),
            controller_status: names.iter().map(|n| (n.clone(), Arc::default())).collect(),
            pass_locks: sources
                .iter()
                .map(|s| (s.name.clone(), tokio::sync::Mutex::new(())))
                .collect(),
            sources,
            config,
            schedule_changed: Notify::new(),
            controller_ops: controllers::ControllerOps::new(names.iter().map(String::as_str)),
            next_change: Mutex::new(None),
            people_counts: Mutex::new(None),
            planned_at: Mutex::new(Timestamp::MIN),
            planned: AtomicBool::new(false),
            enrollments: Mutex::new(HashMap::new()),
            next_runs: Mutex::new(HashMap::new()),
        }
    }

    /// When the poll loop of `source` plans to pull it next.
    pub fn next_run(&self, source: &str) -> Option<Timestamp> {
        crate::dispatch::lock(&self.next_runs).get(source).copied()
    }

    /// Records the poll loop's plan for `source`.
    pub fn plan_run(&self, source: &str, at: Timestamp) {
        crate::dispatch::lock(&self.next_runs).insert(source.to_string(), at);
    }

    pub fn next_change(&self) -> Option<Timestamp> {
        *crate::dispatch::lock(&self.next_change)
    }

    /// Commits `commit` together with the outbox entries that bring every controller to the
    /// state the changed data implies at `now`.
    pub async fn apply(&self, commit: Commit, now: Timestamp) -> Result<(), StoreError> {
        self.apply_over(commit, now, None).await
    }

    /// [`Engine::apply_over`] for a source pass, which skips planning the controllers when the
    /// commit changes no person, credential or visitor pass and the last plan succeeded: their
    /// tables would come out the same. A pass that found no change is then all bookkeeping;
    /// planning was a quarter of such a pass's CPU at 10k people (docs/BENCHMARKS.md).
    pub(super) async fn apply_pass(
        &self,
        commit: Commit,
        now: Timestamp,
        base: PeopleSnapshot,
    ) -> Result<(), StoreError> {
        let unchanged = commit.people.is_empty()
            && commit.people_remove.is_empty()
            && commit.credentials_put.is_empty()
            && commit.credentials_remove.is_empty()
            && commit.passes.is_empty();
        if unchanged && self.planned.load(Ordering::SeqCst) {
            self.store.commit(commit).await
        } else {
            self.apply_over(commit, now, Some(base)).await
        }
    }

    /// [`Engine::apply`], starting from `base` (everyone as the caller read them) when the store
    /// has not changed since: a pass has just read all its people, and reading 10k again is
    /// most of its time (docs/BENCHMARKS.md).
    async fn apply_over(
        &self,
        mut commit: Commit,
        now: Timestamp,
        base: Option<PeopleSnapshot>,
    ) -> Result<(), StoreError> {
        // One planner at a time, and no ack between its reads.
        let _guard = self.store.planning().await;
        // Until this plan lands, nothing vouches for the outbox.
        self.planned.store(false, Ordering::SeqCst);
        // Plan at the latest instant ever planned at: after an NTP step backwards a window that
        // already ended is not re-opened (the revocation is neither skipped nor repeated).
        let now = {
            let mut seen = crate::dispatch::lock(&self.planned_at);
            *seen = (*seen).max(now);
            *seen
        };
        let base = match base {
            Some(b) if b.generation == self.store.generation() => b.people,
            _ => self.store.people()?,
        };
        // In place: at 100k people a second collection of the whole store was the pass's peak.
        let mut people = base;
        overwrite(&mut people, &commit.people);
        let gone: HashSet<&str> = commit.people_remove.iter().map(String::as_str).collect();
        people.retain(|p| !gone.contains(p.id.as_str()));
        let mut credentials = self.store.credentials()?;
        let replaced: HashSet<u64> = (commit.credentials_remove.iter().copied())
            .chain(commit.credentials_put.iter().map(|c| c.card))
            .collect();
        credentials.retain(|c| !replaced.contains(&c.card));
        credentials.extend(commit.credentials_put.iter().cloned());
        let mut passes = self.store.passes()?;
        let written: HashSet<&str> = commit.passes.iter().map(|v| v.id.as_str()).collect();
        passes.retain(|v| !written.contains(v.id.as_str()));
        passes.extend(commit.passes.iter().cloned());
        let (desired, next) = self.policy.desired(&people, &passes, &credentials, now);

        let mut touched = Vec::new();
        for (controller, table) in &desired {
            let pending = self.store.outbox(controller)?;
            let plan = plan_controller(
                controller,
                table,
                &self.store.acked(controller)?,
                &pending,
                &self.store.slots(controller)?,
                now,
                &mut || self.store.next_id().unwrap_or_default(),
            );
            if !plan.outbox.is_empty() {
                touched.push(controller.clone());
            }
            commit.outbox.extend(plan.outbox);
            commit.slots.extend(plan.slots);
        }
        if !commit.is_empty() {
            self.store.commit(commit).await?;
        }
        self.planned.store(true, Ordering::SeqCst);
        for controller in touched {
            if let Some(wake) = self.wakes.get(&controller) {
                wake.notify_one();
            }
        }
        let changed = {
            let mut slot = crate::dispatch::lock(&self.next_change);
            let changed = *slot != next;
            *slot = next;
            changed
        };
        if changed {
            self.schedule_changed.notify_one();
        }
        Ok(())
    }
}

/// Writes `changed` over `people`, by id; the new ones are added in `changed`'s order.
pub(super) fn overwrite(people: &mut Vec<Person>, changed: &[Person]) {
    let mut left: HashMap<&str, &Person> = changed.iter().map(|c| (c.id.as_str(), c)).collect();
    for p in people.iter_mut() {
        if let Some(c) = left.remove(p.id.as_str()) {
            *p = c.clone();
        }
    }
    people.extend(
        changed
            .iter()
            .filter(|c| left.contains_key(c.id.as_str()))
            .cloned(),
    );
}
