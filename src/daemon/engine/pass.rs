//! Source passes: pull, plan with the sync engine, and commit — or, for a dry run, report what
//! would happen. Also the mass-change guard's approve and reject.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, SourceRunner, overwrite};
use crate::sources::pms_clock::reading;
use crate::sources::settle::settling;
use crate::sources::{Pull, PullKind, SourceError};
use crate::store::{
    Activity, Alert, Commit, GuardState, Outcome, PeopleSnapshot, Person, PhoneNote, Resolution,
    SourceLink, SourceState, StoreError,
};
use crate::sync::{PassInput, PassPlan, Settler, plan_pass};

/// A pull and the people it is planned against.
struct Read {
    pulled: Result<Pull, SourceError>,
    pms_clock: Option<Timestamp>,
    base: PeopleSnapshot,
    ignored: HashSet<SourceLink>,
    /// Settled records whose raw phone is not the one noted on their person.
    phones: Vec<PhoneNote>,
}

/// New people a pass writes per transaction (see [`Engine::add_ahead`]).
const NEW_PEOPLE_PER_TRANSACTION: usize = 1_000;

/// Rows of each kind a dry run shows.
const PREVIEW_ROWS: usize = 10;

/// Where a dry run's ids start: far above any id the store hands out.
const PROVISIONAL: u64 = 1 << 63;

/// The result of one source pass, as `sync-now` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PassReport {
    pub source: String,
    pub ok: bool,
    pub error: Option<String>,
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub skipped: usize,
    pub flagged: usize,
    /// People whose loss of access the mass-change guard held.
    pub held: usize,
    /// True when nothing was written.
    pub dry_run: bool,
    /// For a dry run: the first decisions of each kind, as `outcome subject: reason`.
    pub preview: Vec<String>,
}

impl Engine {
    /// Whether the source is pulled at all: enabled in config and not switched off at run time.
    pub fn source_enabled(&self, runner: &SourceRunner) -> bool {
        runner.enabled
            && !self
                .store
                .source_state(&runner.name)
                .is_ok_and(|s| s.disabled)
    }

    pub(super) fn runner(&self, name: &str) -> Result<&SourceRunner, EngineError> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| EngineError::UnknownSource(name.to_string()))
    }

    /// Pulls one source and applies what it says; with `dry_run`, only reports it.
    pub async fn run_pass(
        &self,
        runner: &SourceRunner,
        kind: PullKind,
        dry_run: bool,
    ) -> PassReport {
        let _pass = match self.pass_locks.get(&runner.name) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let started = self.clock.now();
        let mut report = PassReport {
            source: runner.name.clone(),
            dry_run,
            ..PassReport::default()
        };
        if !self.source_enabled(runner) {
            report.error = Some(format!("source `{}` is switched off", runner.name));
            return report;
        }
        let mut state = self.store.source_state(&runner.name).unwrap_or_default();
        state.last_attempt_at = Some(started);
        let read = match self.read_settling(runner, kind).await {
            Ok(read) => read,
            Err(e) => return self.fail(report, state, started, e.to_string()).await,
        };
        let Read {
            pulled,
            pms_clock,
            mut base,
            ignored,
            mut phones,
        } = read;
        let pull = match pulled {
            Ok(pull) => pull,
            Err(e) => {
                return self
                    .fail(report, state, started, format!("pull failed: {e}"))
                    .await;
            }
        };
        let mut ids = self.pass_ids(dry_run, started);
        let plan = match self.plan(
            &runner.name,
            &pull,
            &base.people,
            &ignored,
            started,
            &mut ids,
        ) {
            Ok(plan) => plan,
            Err(reason) => return self.fail(report, state, started, reason).await,
        };
        overwrite(&mut base.people, &plan.people);
        let people = &base.people;
        let cloud = match self.plan_cloud_passes(&runner.name, &pull, people, started, &mut ids) {
            Ok(cloud) => cloud,
            Err(e) => {
                let reason = format!("cannot plan visitor passes: {e}");
                return self.fail(report, state, started, reason).await;
            }
        };
        let in_scope = pull.residents() + pull.skipped.len();
        // The listing is done with; at 100k people it is a third of what the pass holds.
        drop(pull);
        report.ok = true;
        report.added = plan.added;
        report.updated = plan.updated;
        report.disabled = plan.disabled;
        report.skipped = plan.skipped;
        report.flagged = plan.flagged;
        report.held = plan.held.len();
        if dry_run {
            report.preview = preview(&plan, &cloud.activity);
            return report;
        }
        state.last_success_at = Some(started);
        state.last_success_pms_clock = pms_clock;
        state.last_error = None;
        state.people_in_scope = in_scope;
        let summary = format!(
            "pass ok: {in_scope} listed, {} added, {} updated, {} disabled, {} skipped, {} flagged{}{}",
            plan.added,
            plan.updated,
            plan.disabled,
            plan.skipped,
            plan.flagged,
            if plan.held.is_empty() {
                String::new()
            } else {
                format!(", {} held by the mass-change guard", plan.held.len())
            },
            self.clock_note(&runner.name, started, pms_clock)
        );
        state.last_pass = Some(summary.clone());
        phones.extend(plan.phones);
        let mut activity = plan.activity;
        activity.extend(cloud.activity);
        activity.push(Activity::new(
            started,
            Outcome::Processed,
            runner.name.clone(),
            summary,
        ));
        let stored = async {
            let (people, activity, ahead) = self.add_ahead(plan.people, activity, started).await?;
            let commit = Commit {
                people,
                passes: cloud.passes,
                activity,
                alerts: plan.alerts,
                guards: plan
                    .guard
                    .map(|g| vec![(runner.name.clone(), g)])
                    .unwrap_or_default(),
                sources: vec![(runner.name.clone(), state)],
                ..Commit::default()
            };
            if ahead {
                // Planned from the store, which now holds what was written ahead.
                self.apply_over(commit, started, None).await
            } else {
                self.apply_pass(commit, started, base).await
            }
        }
        .await;
        if let Err(e) = stored {
            report.ok = false;
            report.error = Some(format!("cannot store the pass: {e}"));
        } else if let Err(e) = self.store.note_phones(&phones) {
            // The next pass parses those phones again and notes them then.
            tracing::warn!(source = %runner.name, error = %e, "cannot note which raw phones were read");
        }
        self.trim_activity(started);
        report
    }

    /// Writes the people this pass adds (created at `now`) ahead of its commit, each with the
    /// activity that logs them, [`NEW_PEOPLE_PER_TRANSACTION`] to a transaction, when there are
    /// more than one takes. Returns what is left for the commit, and whether anything was
    /// written. sled holds every page version a transaction writes until it ends: a first pass
    /// of 100k residents in one transaction peaked at 2.2 GB (docs/BENCHMARKS.md). A new person
    /// holds no credential, so no controller waits on them; after a crash between transactions
    /// the next pass finds them added and logged.
    async fn add_ahead(
        &self,
        people: Vec<Person>,
        activity: Vec<Activity>,
        now: Timestamp,
    ) -> Result<(Vec<Person>, Vec<Activity>, bool), StoreError> {
        let (new, mut people): (Vec<Person>, Vec<Person>) =
            people.into_iter().partition(|p| p.created_at == now);
        if new.len() <= NEW_PEOPLE_PER_TRANSACTION {
            people.extend(new);
            return Ok((people, activity, false));
        }
        let (added, mut rest): (Vec<Activity>, Vec<Activity>) = activity
            .into_iter()
            .partition(|a| a.outcome == Outcome::Added);
        let mut logs: HashMap<String, Vec<Activity>> = HashMap::new();
        for entry in added {
            logs.entry(entry.subject.clone()).or_default().push(entry);
        }
        let mut new = new.into_iter().peekable();
        while new.peek().is_some() {
            let chunk: Vec<Person> = new.by_ref().take(NEW_PEOPLE_PER_TRANSACTION).collect();
            let activity = (chunk.iter())
                .filter_map(|p| logs.remove(&p.id))
                .flatten()
                .collect();
            self.store
                .commit(Commit {
                    people: chunk,
                    activity,
                    ..Commit::default()
                })
                .await?;
        }
        rest.extend(logs.into_values().flatten());
        Ok((people, rest, true))
    }

    /// Applies the activity retention. Every pass that writes calls it, failed ones too: a
    /// source that keeps failing logs every attempt and must not grow the log without bound.
    fn trim_activity(&self, now: Timestamp) {
        let retention = &self.config.activity;
        let before = now
            .checked_sub(
                jiff::SignedDuration::try_from(retention.max_age)
                    .unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(Timestamp::MIN);
        if let Err(e) = self.store.trim_activity(retention.max_entries, before) {
            tracing::warn!(error = %e, "cannot trim the activity log");
        }
    }

    /// For a source pulled for changes: the clock its next changes-only pull counts from, and
    /// how far the PMS's runs from the gateway's (an operator's first question when changes
    /// arrive late).
    fn clock_note(&self, source: &str, started: Timestamp, pms: Option<Timestamp>) -> String {
        let incremental = self
            .config
            .sources
            .iter()
            .any(|s| s.name() == source && s.supports_incremental());
        if !incremental {
            return String::new();
        }
        let Some(pms) = pms else {
            return "; changes counted on the gateway clock (no usable Date header)".to_string();
        };
        let skew = pms.duration_since(started).as_secs();
        if skew.abs() < 60 {
            return "; changes counted on the PMS clock (Date header, within a minute of the \
                    gateway's)"
                .to_string();
        }
        format!(
            "; changes counted on the PMS clock (Date header, {} {} the gateway's)",
            humantime::format_duration(std::time::Duration::from_secs(skew.unsigned_abs())),
            if skew < 0 { "behind" } else { "ahead of" }
        )
    }

    /// Pulls `runner` with the people it is planned against, settling what they already hold
    /// as the listing is read. When people or the ignored records changed during the pull, they
    /// are read again, and so is the source, whole, if anything was settled against them.
    async fn read_settling(
        &self,
        runner: &SourceRunner,
        kind: PullKind,
    ) -> Result<Read, StoreError> {
        // Read before the data it vouches for.
        let people_generation = self.store.people_generation();
        let base = self.store.people_snapshot()?;
        let ignored = self.store.ignored()?;
        let judge = Arc::new(Settler::new(
            &runner.name,
            base.people,
            &self.config.policy,
            self.country(),
            &ignored,
        ));
        let (mut pulled, mut pms_clock) =
            reading(settling(judge.clone(), runner.adapter.pull(kind))).await;
        let (people, phones) = Arc::unwrap_or_clone(judge).into_parts();
        let mut base = PeopleSnapshot {
            generation: base.generation,
            people,
        };
        let mut ignored = ignored;
        if self.store.people_generation() != people_generation || self.store.ignored()? != ignored {
            // Planned against people as they were before the pull, an edit made during it
            // would be written over.
            drop(base);
            base = self.store.people_snapshot()?;
            ignored = self.store.ignored()?;
            if pulled.as_ref().is_ok_and(|p| !p.settled.is_empty()) {
                tracing::info!(
                    source = %runner.name,
                    "people changed while the source was read; reading it again, whole"
                );
                (pulled, pms_clock) = reading(runner.adapter.pull(kind)).await;
            }
        }
        Ok(Read {
            pulled,
            pms_clock,
            base,
            ignored,
            phones,
        })
    }

    /// The site's country, for phone numbers written without one.
    pub(super) fn country(&self) -> Option<phonenumber::country::Id> {
        self.config.site.default_country.parse().ok()
    }

    fn plan(
        &self,
        source: &str,
        pull: &crate::sources::Pull,
        people: &[crate::store::Person],
        ignored: &HashSet<SourceLink>,
        now: Timestamp,
        ids: &mut dyn FnMut() -> u64,
    ) -> Result<PassPlan, String> {
        let store_error = |e: crate::store::StoreError| e.to_string();
        let alerts = self.store.alerts().map_err(store_error)?;
        let guard = self.store.guard(source).map_err(store_error)?;
        let input = PassInput {
            source,
            pull,
            people,
            ignored,
            alerts: &alerts,
            guard: &guard,
            policy: &self.config.policy,
            country: self.country(),
            now,
        };
        plan_pass(&input, ids).map_err(|refusal| refusal.to_string())
    }

    /// Fresh ids for a pass's new people, passes and alerts. A dry run numbers them from
    /// [`PROVISIONAL`] without asking the store, so it leaves no trace there and its preview can
    /// tell them from real ids.
    fn pass_ids(&self, dry_run: bool, now: Timestamp) -> impl FnMut() -> u64 + '_ {
        // Still unique within the pass when the store cannot hand one out, and far above its
        // own counter.
        let mut last = if dry_run {
            PROVISIONAL
        } else {
            now.as_nanosecond().unsigned_abs() as u64
        };
        move || {
            if !dry_run && let Ok(id) = self.store.next_id() {
                return id;
            }
            last += 1;
            last
        }
    }

    async fn fail(
        &self,
        mut report: PassReport,
        mut state: SourceState,
        at: Timestamp,
        reason: String,
    ) -> PassReport {
        tracing::warn!(source = %report.source, reason = %reason, "sync pass failed; nothing changed");
        report.error = Some(reason.clone());
        if report.dry_run {
            return report;
        }
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
        self.trim_activity(at);
        report
    }

    /// Runs a pass of every enabled source now.
    pub async fn sync_all(&self, dry_run: bool) -> Vec<PassReport> {
        let mut reports = Vec::new();
        for runner in self.sources.iter().filter(|s| self.source_enabled(s)) {
            reports.push(self.run_pass(runner, PullKind::Full, dry_run).await);
        }
        reports
    }

    /// Lets the held revocations of `source` through, then runs its pass. Only the held set is
    /// approved: a pass that now wants to take access from anyone else is held again.
    pub async fn approve(&self, source: &str) -> Result<PassReport, EngineError> {
        let runner = self.runner(source)?;
        let guard = self.store.guard(source)?;
        if guard.held.is_empty() {
            return Err(EngineError::NothingHeld(source.to_string()));
        }
        let now = self.clock.now();
        let commit = Commit {
            alerts: self.resolved(guard.alert, "approve", now)?,
            guards: vec![(
                source.to_string(),
                GuardState {
                    approved: guard.held.clone(),
                    ..GuardState::default()
                },
            )],
            activity: vec![Activity::new(
                now,
                Outcome::Processed,
                source,
                format!(
                    "administrator approved {} held revocation(s)",
                    guard.held.len()
                ),
            )],
            ..Commit::default()
        };
        self.store.commit(commit).await?;
        Ok(self.run_pass(runner, PullKind::Full, false).await)
    }

    /// Switches a source back on after a bulk delete switched it off, then runs its pass.
    pub async fn enable_source(&self, source: &str) -> Result<PassReport, EngineError> {
        let runner = self.runner(source)?;
        let mut state = self.store.source_state(source)?;
        if !state.disabled {
            return Err(EngineError::NotSwitchedOff(source.to_string()));
        }
        state.disabled = false;
        let now = self.clock.now();
        let commit = Commit {
            sources: vec![(source.to_string(), state)],
            activity: vec![Activity::new(
                now,
                Outcome::Processed,
                source,
                "source switched back on by an administrator",
            )],
            ..Commit::default()
        };
        self.store.commit(commit).await?;
        Ok(self.run_pass(runner, PullKind::Full, false).await)
    }

    /// Keeps everyone the held pass would have revoked. While the source keeps wanting the same
    /// revocations they stay held without a new alert.
    pub async fn reject(&self, source: &str) -> Result<usize, EngineError> {
        self.runner(source)?;
        let guard = self.store.guard(source)?;
        if guard.held.is_empty() {
            return Err(EngineError::NothingHeld(source.to_string()));
        }
        let now = self.clock.now();
        let count = guard.held.len();
        let commit = Commit {
            alerts: self.resolved(guard.alert, "reject", now)?,
            guards: vec![(
                source.to_string(),
                GuardState {
                    rejected: guard.held,
                    ..GuardState::default()
                },
            )],
            activity: vec![Activity::new(
                now,
                Outcome::Processed,
                source,
                format!("administrator rejected {count} held revocation(s); nobody loses access"),
            )],
            ..Commit::default()
        };
        self.store.commit(commit).await?;
        Ok(count)
    }

    /// The alert `id`, marked resolved, ready to commit.
    pub(super) fn resolved(
        &self,
        id: Option<u64>,
        how: &str,
        at: Timestamp,
    ) -> Result<Vec<Alert>, EngineError> {
        let Some(id) = id else { return Ok(Vec::new()) };
        Ok(self
            .store
            .alert(id)?
            .filter(|a| a.resolved.is_none())
            .map(|mut a| {
                a.resolved = Some(Resolution {
                    at,
                    how: how.to_string(),
                });
                a
            })
            .into_iter()
            .collect())
    }
}

/// The first decisions of each kind, people's then visitor passes'. What a dry run would create
/// has no id yet: new people and passes are named by their source record, and an alert the pass
/// would raise is called that.
fn preview(plan: &PassPlan, passes: &[Activity]) -> Vec<String> {
    let raised: Vec<String> = plan
        .alerts
        .iter()
        .filter(|a| a.id > PROVISIONAL)
        .map(|a| format!("(alert {})", a.id))
        .collect();
    let row = |a: &Activity| {
        let subject = match (&a.source, &a.external_id) {
            (Some(source), Some(ext)) if a.outcome == Outcome::Added => {
                format!("{source}:{ext} (new)")
            }
            _ => a.subject.clone(),
        };
        let reason = raised.iter().fold(a.reason.clone(), |reason, tag| {
            reason.replace(tag, "(an alert is raised when applied)")
        });
        format!("{} {subject}: {reason}", a.outcome.as_str())
    };
    let mut rows = Vec::new();
    for activity in [plan.activity.as_slice(), passes] {
        for outcome in [
            Outcome::Added,
            Outcome::Updated,
            Outcome::Disabled,
            Outcome::Flagged,
            Outcome::Skipped,
        ] {
            rows.extend(
                activity
                    .iter()
                    .filter(|a| a.outcome == outcome)
                    .take(PREVIEW_ROWS)
                    .map(row),
            );
        }
    }
    rows
}
