//! The engine ties the layers together: a source pass or an admin change becomes one store
//! commit holding the data change *and* the outbox entries it implies, then the affected
//! controller workers are woken.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::access::{Access, Policy};
use crate::clock::Clock;
use crate::config::Config;
use crate::dispatch::{ControllerStatus, plan_controller};
use crate::sources::{PullKind, Source};
use crate::store::{
    Activity, Commit, CredentialRecord, Outcome, Person, SourceState, Store, StoreError,
};
use crate::sync::plan_pass;

/// Errors an admin request can get back. Each says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no person matches `{0}` (try a lintel id, an external id, an email or a card number)")]
    UnknownPerson(String),
    #[error("`{query}` matches {count} people; use their lintel id")]
    Ambiguous { query: String, count: usize },
    #[error("card {card} already belongs to {person}")]
    CardTaken { card: u64, person: String },
    #[error("card {0} is not assigned to anyone")]
    UnknownCard(u64),
    #[error("card number 0 is not a valid card")]
    CardZero,
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

/// The result of one source pass, as `sync-now` reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PassReport {
    pub source: String,
    pub ok: bool,
    pub error: Option<String>,
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub skipped: usize,
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
    next_change: Mutex<Option<Timestamp>>,
    /// Planning reads the outbox and writes it: one planner at a time.
    plan_lock: tokio::sync::Mutex<()>,
    /// One pass per source at a time.
    pass_locks: HashMap<String, tokio::sync::Mutex<()>>,
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
            next_change: Mutex::new(None),
            plan_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn next_change(&self) -> Option<Timestamp> {
        *crate::dispatch::lock(&self.next_change)
    }

    /// Commits `commit` together with the outbox entries that bring every controller to the
    /// state the changed data implies at `now`.
    pub async fn apply(&self, mut commit: Commit, now: Timestamp) -> Result<(), StoreError> {
        let _guard = self.plan_lock.lock().await;
        let mut people: HashMap<String, Person> = self
            .store
            .people()?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        for p in &commit.people {
            people.insert(p.id.clone(), p.clone());
        }
        let removed: HashSet<u64> = commit.credentials_remove.iter().copied().collect();
        let mut credentials: HashMap<u64, CredentialRecord> = self
            .store
            .credentials()?
            .into_iter()
            .filter(|c| !removed.contains(&c.card))
            .map(|c| (c.card, c))
            .collect();
        for c in &commit.credentials_put {
            credentials.insert(c.card, c.clone());
        }
        let people: Vec<Person> = people.into_values().collect();
        let credentials: Vec<CredentialRecord> = credentials.into_values().collect();
        let (desired, next) = self.policy.desired(&people, &credentials, now);

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

    /// Pulls one source and applies what it says.
    pub async fn run_pass(&self, runner: &SourceRunner, kind: PullKind) -> PassReport {
        let _pass = match self.pass_locks.get(&runner.name) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let started = self.clock.now();
        let mut report = PassReport {
            source: runner.name.clone(),
            ok: false,
            error: None,
            added: 0,
            updated: 0,
            disabled: 0,
            skipped: 0,
        };
        let mut state = self.store.source_state(&runner.name).unwrap_or_default();
        state.last_attempt_at = Some(started);
        let outcome = match runner.adapter.pull(kind).await {
            Err(e) => Err(format!("pull failed: {e}")),
            Ok(pull) => {
                let existing: Vec<Person> = match self.store.people() {
                    Ok(all) => all
                        .into_iter()
                        .filter(|p| p.source == runner.name)
                        .collect(),
                    Err(e) => return self.fail(report, state, started, e.to_string()).await,
                };
                let statuses: HashSet<String> =
                    self.config.policy.lease_statuses.iter().cloned().collect();
                let mut fallback = 0u32;
                let mut new_id = || match self.store.next_id() {
                    Ok(n) => format!("p{n:06}"),
                    // Still unique: the pass's start instant plus a counter.
                    Err(_) => {
                        fallback += 1;
                        format!("p{}-{fallback}", started.as_nanosecond())
                    }
                };
                plan_pass(
                    &runner.name,
                    &pull,
                    &existing,
                    &statuses,
                    started,
                    &mut new_id,
                )
                .map(|plan| (plan, pull.records.len() + pull.skipped.len()))
                .map_err(|refusal| refusal.to_string())
            }
        };
        let (plan, in_scope) = match outcome {
            Ok(ok) => ok,
            Err(reason) => return self.fail(report, state, started, reason).await,
        };
        report.ok = true;
        report.added = plan.added;
        report.updated = plan.updated;
        report.disabled = plan.disabled;
        report.skipped = plan.skipped;
        state.last_success_at = Some(started);
        state.last_error = None;
        state.people_in_scope = in_scope;
        let mut activity = plan.activity;
        activity.push(Activity::new(
            started,
            Outcome::Processed,
            runner.name.clone(),
            format!(
                "pass ok: {in_scope} listed, {} added, {} updated, {} disabled, {} skipped",
                plan.added, plan.updated, plan.disabled, plan.skipped
            ),
        ));
        let commit = Commit {
            people: plan.people,
            activity,
            sources: vec![(runner.name.clone(), state)],
            ..Commit::default()
        };
        if let Err(e) = self.apply(commit, started).await {
            report.ok = false;
            report.error = Some(format!("cannot store the pass: {e}"));
        }
        report
    }

    async fn fail(
        &self,
        mut report: PassReport,
        mut state: SourceState,
        at: Timestamp,
        reason: String,
    ) -> PassReport {
        tracing::warn!(source = %report.source, reason = %reason, "sync pass failed; nothing changed");
        state.last_error = Some(reason.clone());
        let commit = Commit {
            activity: vec![Activity::new(
                at,
                Outcome::Failed,
                report.source.clone(),
                format!("{reason}; no access was changed"),
            )],
            sources: vec![(report.source.clone(), state)],
            ..Commit::default()
        };
        if let Err(e) = self.store.commit(commit).await {
            tracing::error!(error = %e, "cannot record failed pass");
        }
        report.error = Some(reason);
        report
    }

    /// Runs a pass of every enabled source now.
    pub async fn sync_all(&self) -> Vec<PassReport> {
        let mut reports = Vec::new();
        for runner in self.sources.iter().filter(|s| s.enabled) {
            reports.push(self.run_pass(runner, PullKind::Full).await);
        }
        reports
    }

    /// Finds a person by lintel id, external id, email or card number.
    pub fn resolve_person(&self, query: &str) -> Result<Person, EngineError> {
        let query = query.trim();
        if let Some(p) = self.store.person(query)? {
            return Ok(p);
        }
        if let Ok(card) = query.parse::<u64>()
            && let Some(c) = self.store.credential(card)?
            && let Some(p) = self.store.person(&c.person_id)?
        {
            return Ok(p);
        }
        let lower = query.to_lowercase();
        let found: Vec<Person> = self
            .store
            .people()?
            .into_iter()
            .filter(|p| p.external_id == query || p.email.as_deref() == Some(lower.as_str()))
            .collect();
        match found.len() {
            0 => Err(EngineError::UnknownPerson(query.to_string())),
            1 => Ok(found
                .into_iter()
                .next()
                .ok_or_else(|| EngineError::UnknownPerson(query.to_string()))?),
            count => Err(EngineError::Ambiguous {
                query: query.to_string(),
                count,
            }),
        }
    }

    pub async fn add_credential(
        &self,
        person: &str,
        card: u64,
    ) -> Result<CredentialRecord, EngineError> {
        if card == 0 {
            return Err(EngineError::CardZero);
        }
        let person = self.resolve_person(person)?;
        if let Some(existing) = self.store.credential(card)? {
            return Err(EngineError::CardTaken {
                card,
                person: existing.person_id,
            });
        }
        let now = self.clock.now();
        let record = CredentialRecord {
            card,
            person_id: person.id.clone(),
            added_at: now,
        };
        let reason = match self.policy.access(&person, now) {
            Access::Granted { .. } => format!("card {card} assigned"),
            Access::Denied(why) => format!("card {card} assigned; no door yet: {why}"),
        };
        let commit = Commit {
            credentials_put: vec![record.clone()],
            activity: vec![Activity::new(now, Outcome::Added, person.id, reason)],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(record)
    }

    pub async fn remove_credential(&self, card: u64) -> Result<CredentialRecord, EngineError> {
        let record = self
            .store
            .credential(card)?
            .ok_or(EngineError::UnknownCard(card))?;
        let now = self.clock.now();
        let commit = Commit {
            credentials_remove: vec![card],
            activity: vec![Activity::new(
                now,
                Outcome::Disabled,
                record.person_id.clone(),
                format!("card {card} removed; revoked at every controller"),
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(record)
    }
}
