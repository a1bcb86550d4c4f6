//! `lintel controllers list|verify|resync`: what each controller holds and owes, a readback on
//! demand, and a forced re-send of everything a controller should hold.
//!
//! A resync goes through the outbox like every other change: every credential the controller
//! should hold is queued again as a grant (revocations already queued stay queued and still go
//! first), in one store commit, and the worker sends them. Its progress is counted from the
//! outbox: an entry of the resync that is no longer queued was confirmed by the controller (or
//! replaced by a newer change for the same card, which the worker sends instead).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{Engine, EngineError};
use crate::daemon::metered::{ControllerStats, VerifyOutcome};
use crate::dispatch::{lock, plan_controller};
use crate::store::Commit;

/// How long `controllers verify` waits for the worker to finish a readback.
pub const VERIFY_WAIT: Duration = Duration::from_secs(60);

/// Per-controller handles the controller verbs and the metrics endpoint use.
#[derive(Debug, Default)]
pub struct ControllerOps {
    /// Asks a controller's worker for a readback as soon as nothing is queued ahead of it.
    pub verify_now: HashMap<String, Arc<Notify>>,
    pub stats: HashMap<String, Arc<ControllerStats>>,
    resyncs: Mutex<HashMap<String, ResyncJob>>,
}

impl ControllerOps {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> ControllerOps {
        let mut ops = ControllerOps::default();
        for name in names {
            ops.verify_now
                .insert(name.to_string(), Arc::new(Notify::new()));
            ops.stats.insert(name.to_string(), Arc::default());
        }
        ops
    }
}

#[derive(Debug, Clone)]
struct ResyncJob {
    started_at: Timestamp,
    seqs: HashSet<u64>,
}

/// How far a resync got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncProgress {
    pub controller: String,
    pub started_at: Timestamp,
    pub done: usize,
    pub total: usize,
}

impl ResyncProgress {
    pub fn finished(&self) -> bool {
        self.done >= self.total
    }
}

/// One row of `controllers list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControllerRow {
    pub name: String,
    pub kind: String,
    /// Where it is: an address, a serial port and unit, or a broker topic.
    pub endpoint: String,
    pub online: bool,
    /// Credentials it should hold now.
    pub desired: usize,
    /// Credentials it confirmed holding.
    pub credentials: usize,
    pub pending_ops: usize,
    pub last_ack_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_verify: Option<VerifyOutcome>,
    pub resync: Option<ResyncProgress>,
}

/// What `controllers verify` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub controller: String,
    /// `None` when no readback finished within [`VERIFY_WAIT`].
    pub outcome: Option<VerifyOutcome>,
    /// Changes queued for it when the readback finished; differences they explain are not
    /// drift.
    pub pending_ops: usize,
}

fn endpoint(c: &crate::config::ControllerConfig) -> String {
    use crate::config::ControllerConfig as C;
    match c {
        C::ModbusTcp(c) => format!("{} unit {}", c.address, c.unit),
        C::ModbusRtu(c) => format!("{} unit {} @{} baud", c.port, c.unit, c.baud),
        C::EspRfid(c) => format!("broker {} topic {}", c.broker, c.topic),
        C::LintelMqtt(c) => format!("broker {} topic {}", c.broker, c.topic),
    }
}

impl Engine {
    fn controller_config(
        &self,
        name: &str,
    ) -> Result<&crate::config::ControllerConfig, EngineError> {
        self.config
            .controllers
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.config.controllers.iter().map(|c| c.name()).collect();
                EngineError::Refused(format!(
                    "no controller is named `{name}` (configured: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    /// What every controller should hold at `now`.
    fn desired_now(
        &self,
        now: Timestamp,
    ) -> Result<crate::access::Desired, crate::store::StoreError> {
        let people = self.store.people()?;
        let passes = self.store.passes()?;
        let credentials = self.store.credentials()?;
        Ok(self.policy.desired(&people, &passes, &credentials, now).0)
    }

    /// Progress of the last resync of `controller`, if one ran since the daemon started.
    pub fn resync_progress(&self, controller: &str) -> Option<ResyncProgress> {
        let job = lock(&self.controller_ops.resyncs)
            .get(controller)
            .cloned()?;
        let queued = self
            .store
            .outbox(controller)
            .map(|entries| entries.iter().filter(|e| job.seqs.contains(&e.seq)).count())
            .unwrap_or(job.seqs.len());
        Some(ResyncProgress {
            controller: controller.to_string(),
            started_at: job.started_at,
            done: job.seqs.len() - queued,
            total: job.seqs.len(),
        })
    }

    pub fn controllers(&self) -> Result<Vec<ControllerRow>, EngineError> {
        let desired = self.desired_now(self.clock.now())?;
        let mut rows = Vec::new();
        for c in &self.config.controllers {
            let name = c.name();
            let live = self
                .controller_status
                .get(name)
                .map(|s| lock(s).clone())
                .unwrap_or_default();
            rows.push(ControllerRow {
                name: name.to_string(),
                kind: c.kind().to_string(),
                endpoint: endpoint(c),
                online: live.online.unwrap_or(false),
                desired: desired.get(name).map_or(0, BTreeMap::len),
                credentials: self.store.acked(name)?.len(),
                pending_ops: self.store.outbox_len(name),
                last_ack_at: live.last_ack_at,
                last_error: live.last_error,
                last_verify: self
                    .controller_ops
                    .stats
                    .get(name)
                    .and_then(|s| s.last_verify().1),
                resync: self.resync_progress(name),
            });
        }
        Ok(rows)
    }

    /// Asks the controller's worker for a readback now and waits (up to [`VERIFY_WAIT`]) for
    /// its verdict. Drift the worker finds is logged and repaired by the worker.
    pub async fn verify_controller(&self, name: &str) -> Result<VerifyReport, EngineError> {
        self.controller_config(name)?;
        let live = self
            .controller_status
            .get(name)
            .map(|s| lock(s).clone())
            .unwrap_or_default();
        if live.online == Some(false) {
            return Err(EngineError::Refused(format!(
                "controller `{name}` is not answering ({}); it is read back automatically as \
                 soon as it answers again",
                live.last_error.as_deref().unwrap_or("offline")
            )));
        }
        let (Some(stats), Some(verify_now)) = (
            self.controller_ops.stats.get(name),
            self.controller_ops.verify_now.get(name),
        ) else {
            return Err(EngineError::Refused(format!(
                "controller `{name}` has no worker"
            )));
        };
        let mut verified = stats.subscribe_verify();
        let before = verified.borrow_and_update().0;
        verify_now.notify_one();
        let outcome = tokio::time::timeout(VERIFY_WAIT, async {
            loop {
                if verified.changed().await.is_err() {
                    return None;
                }
                let (count, outcome) = verified.borrow_and_update().clone();
                if count > before {
                    return outcome;
                }
            }
        })
        .await
        .ok()
        .flatten();
        Ok(VerifyReport {
            controller: name.to_string(),
            outcome,
            pending_ops: self.store.outbox_len(name),
        })
    }

    /// Queues every credential `name` should hold again and returns the resync's progress.
    pub async fn resync_controller(&self, name: &str) -> Result<ResyncProgress, EngineError> {
        self.controller_config(name)?;
        let now = self.clock.now();
        let (seqs, started_at) = {
            let _guard = self.store.planning().await;
            let desired = self.desired_now(now)?;
            let table = desired.get(name).cloned().unwrap_or_default();
            // Planned as if the controller held nothing and nothing were queued: every
            // desired card gets a grant, in the slot it already has.
            let plan = plan_controller(
                name,
                &table,
                &BTreeMap::new(),
                &[],
                &self.store.slots(name)?,
                now,
                &mut || self.store.next_id().unwrap_or_default(),
            );
            if plan.outbox.len() < table.len() {
                return Err(EngineError::Refused(format!(
                    "controller `{name}` has no free slot for {} of the {} credentials it \
                     should hold",
                    table.len() - plan.outbox.len(),
                    table.len()
                )));
            }
            let seqs: HashSet<u64> = plan.outbox.iter().map(|e| e.seq).collect();
            let count = seqs.len();
            let commit = Commit {
                outbox: plan.outbox,
                slots: plan.slots,
                activity: vec![crate::store::Activity::new(
                    now,
                    crate::store::Outcome::Processed,
                    name.to_string(),
                    format!("resync requested: {count} credential(s) queued again"),
                )],
                ..Commit::default()
            };
            self.store.commit(commit).await?;
            (seqs, now)
        };
        lock(&self.controller_ops.resyncs).insert(name.to_string(), ResyncJob { started_at, seqs });
        if let Some(wake) = self.wakes.get(name) {
            wake.notify_one();
        }
        tracing::info!(controller = %name, "resync queued");
        self.resync_progress(name)
            .ok_or_else(|| EngineError::Refused("resync vanished".to_string()))
    }
}
