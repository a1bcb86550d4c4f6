//! The technician's view: one health verdict with its top reason, then sources, people,
//! controllers and alerts. Secrets never appear here.

use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use crate::access::Access;
use crate::dispatch::lock;
use crate::store::StoreError;

/// What [`Engine::people_counts`] last counted: valid at `generation` until `until`.
#[derive(Debug)]
pub(super) struct PeopleCountsAt {
    generation: u64,
    until: Option<Timestamp>,
    total: usize,
    active: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub site: String,
    pub uptime_s: u64,
    pub healthy: bool,
    /// One line: `OK` or `DEGRADED: <top reason>`.
    pub summary: String,
    pub sources: Vec<SourceStatus>,
    pub people: PeopleCounts,
    pub controllers: Vec<ControllerReport>,
    pub store: StoreReport,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    /// Why a disabled source is off and how it comes back on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_why: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub people_in_scope: usize,
    /// What the last successful pass did, in one line.
    pub last_pass: Option<String>,
    /// When the source is pulled next: `None` while disabled, and until the first pass since
    /// the daemon started has finished.
    pub next_run_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeopleCounts {
    pub total: usize,
    /// Opening at least one door right now (or once their window starts).
    pub active: usize,
    pub disabled: usize,
    pub pending_review: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControllerReport {
    pub name: String,
    pub kind: String,
    pub online: bool,
    pub pending_ops: usize,
    /// Credentials the controller confirmed it holds.
    pub credentials: usize,
    pub last_ack_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Differences the last readback found between the controller's table and what it
    /// acknowledged (the worker re-sends them); `None` until a readback succeeded since the
    /// daemon started, or when the last one failed.
    pub drift: Option<usize>,
    /// The last `lintel controllers resync` since the daemon started, while it runs or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync: Option<super::engine::controllers::ResyncProgress>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreReport {
    pub path: String,
    pub size_bytes: u64,
    pub credentials: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    pub kind: String,
    pub subject: String,
    pub message: String,
}

impl Engine {
    /// (everyone, those with access) at `now`. Recounted only when people changed or an
    /// active person's window ended since the last count: STATUS= asks every few seconds, and
    /// decoding every person each time was most of the idle daemon's CPU.
    fn people_counts(&self, now: Timestamp) -> Result<(usize, usize), StoreError> {
        let mut cached = lock(&self.people_counts);
        let generation = self.store.people_generation();
        if let Some(c) = cached.as_ref()
            && c.generation == generation
            && c.until.is_none_or(|until| now < until)
        {
            return Ok((c.total, c.active));
        }
        let mut counts = PeopleCountsAt {
            generation,
            until: None,
            total: 0,
            active: 0,
        };
        // One at a time: at 100k people the whole `Vec` is ~60 MB.
        for p in self.store.each_person() {
            let p = p?;
            counts.total += 1;
            if let Access::Granted { window, .. } = self.policy.access(&p, now) {
                counts.active += 1;
                counts.until = match (counts.until, window.until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        let answer = (counts.total, counts.active);
        *cached = Some(counts);
        Ok(answer)
    }

    pub fn status(&self, started: Instant) -> Result<Status, StoreError> {
        let now = self.clock.now();
        let mut alerts = Vec::new();
        let mut alert = |kind: &str, subject: &str, message: String| {
            alerts.push(Alert {
                kind: kind.to_string(),
                subject: subject.to_string(),
                message,
            });
        };

        let mut sources = Vec::new();
        for runner in &self.sources {
            let state = self.store.source_state(&runner.name)?;
            let enabled = runner.enabled && !state.disabled;
            if enabled {
                match (&state.last_error, state.last_success_at) {
                    (Some(e), _) => alert(
                        "source_failing",
                        &runner.name,
                        format!("source {} failing: {e}", runner.name),
                    ),
                    (None, None) => alert(
                        "source_not_synced",
                        &runner.name,
                        format!("source {} has not synced yet", runner.name),
                    ),
                    (None, Some(_)) => {}
                }
            }
            sources.push(SourceStatus {
                name: runner.name.clone(),
                kind: runner.kind.to_string(),
                enabled,
                disabled_why: if !runner.enabled {
                    Some("`enabled = false` in its config section".to_string())
                } else if state.disabled {
                    Some(format!(
                        "switched off by bulk delete; `lintel sync enable {}` switches it back on",
                        runner.name
                    ))
                } else {
                    None
                },
                last_attempt_at: state.last_attempt_at,
                last_success_at: state.last_success_at,
                last_error: state.last_error,
                people_in_scope: state.people_in_scope,
                last_pass: state.last_pass,
                next_run_at: self.next_run(&runner.name).filter(|_| enabled),
            });
        }

        // Open alerts from sync: reviews, duplicates, held passes.
        let stored = self.store.alerts()?;
        let mut pending_review = 0;
        for a in stored.iter().filter(|a| a.resolved.is_none()) {
            pending_review += usize::from(a.kind.is_review());
            let subject = a
                .person
                .clone()
                .or_else(|| a.external_id.clone())
                .unwrap_or_default();
            alert(
                a.kind.name(),
                &subject,
                format!("alert {}: {}", a.id, a.message),
            );
        }

        let (total, active) = self.people_counts(now)?;
        let counts = PeopleCounts {
            total,
            active,
            disabled: total - active,
            pending_review,
        };

        let mut controllers = Vec::new();
        for c in &self.config.controllers {
            let name = c.name();
            let live = self
                .controller_status
                .get(name)
                .map(|s| lock(s).clone())
                .unwrap_or_default();
            let online = live.online.unwrap_or(false);
            match (&live.last_error, live.online) {
                (Some(e), _) => alert("controller_error", name, format!("controller {name}: {e}")),
                (None, None) => alert(
                    "controller_not_contacted",
                    name,
                    format!("controller {name} not contacted yet"),
                ),
                (None, Some(false)) => alert(
                    "controller_offline",
                    name,
                    format!("controller {name} offline"),
                ),
                (None, Some(true)) => {}
            }
            controllers.push(ControllerReport {
                name: name.to_string(),
                kind: c.kind().to_string(),
                online,
                pending_ops: self.store.outbox_len(name),
                credentials: self.store.acked_len(name),
                last_ack_at: live.last_ack_at,
                last_error: live.last_error,
                drift: self
                    .controller_ops
                    .stats
                    .get(name)
                    .and_then(|s| s.last_verify().1)
                    .and_then(|v| v.differences),
                resync: self.resync_progress(name),
            });
        }

        let healthy = alerts.is_empty();
        let summary = match alerts.first() {
            None => "OK".to_string(),
            Some(top) => format!("DEGRADED: {}", top.message),
        };
        Ok(Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            site: self.config.site.name.clone(),
            uptime_s: started.elapsed().as_secs(),
            healthy,
            summary,
            sources,
            people: counts,
            controllers,
            store: StoreReport {
                path: self.config.store.path.display().to_string(),
                size_bytes: self.store.size_on_disk(),
                credentials: self.store.credentials_len(),
            },
            alerts,
        })
    }
}
