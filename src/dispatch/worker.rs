//! One worker per controller: takes the outbox head (revocations sort first), sends it, and
//! removes entries only once the controller confirmed them. Failures back off with jitter.
//!
//! It also reads the controller's table back — at start, after every reconnect or device boot,
//! and every `verify_every` — compares it with what the controller acknowledged, logs any
//! drift and re-sends exactly the drifted slots. Repairs restore already-acknowledged state, so
//! they are held in memory rather than the outbox: a crash loses nothing, because the restart
//! verifies again. They never overtake a queued revocation, and a slot with a newer queued
//! change is left to that change.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use lintel_hal::{BatchError, Controller, DeviceEvent, Error, ErrorKind};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::verify::{self, Pending};
use crate::backoff::backoff;
use crate::config::DispatchConfig;
use crate::store::{Activity, OutboxEntry, Outcome, Store};

/// What status shows about a controller.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControllerStatus {
    /// `None` until the first exchange.
    pub online: Option<bool>,
    pub last_ack_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A controller's hal driver and how the worker treats it.
pub struct Driver {
    pub controller: Box<dyn Controller>,
    /// How often the table is read back when idle; `None` = only at start, after a reconnect
    /// and after a device boot.
    pub verify_every: Option<Duration>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("verify_every", &self.verify_every)
            .finish_non_exhaustive()
    }
}

pub struct Worker {
    pub name: String,
    pub store: Store,
    pub driver: Driver,
    pub wake: Arc<Notify>,
    /// Asks for a readback as soon as nothing is queued ahead of it (`controllers verify`).
    pub verify_now: Arc<Notify>,
    pub status: Arc<Mutex<ControllerStatus>>,
    pub config: DispatchConfig,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What the worker does next.
enum Work {
    Outbox(Vec<OutboxEntry>),
    Verify,
    Idle,
}

/// The worker's loop state.
struct Run {
    events: Option<broadcast::Receiver<DeviceEvent>>,
    needs_verify: bool,
    next_verify: Option<Instant>,
    failures: u32,
    last_logged_error: Option<String>,
}

async fn next_event(events: &mut Option<broadcast::Receiver<DeviceEvent>>) -> Option<DeviceEvent> {
    match events {
        Some(rx) => match rx.recv().await {
            Ok(event) => Some(event),
            // Something was missed, perhaps a boot: treat it as one.
            Err(broadcast::error::RecvError::Lagged(_)) => Some(DeviceEvent::Booted {
                ip: String::new(),
                hostname: String::new(),
            }),
            Err(broadcast::error::RecvError::Closed) => {
                *events = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut run = Run {
            events: self.driver.controller.events(),
            needs_verify: true,
            next_verify: None,
            failures: 0,
            last_logged_error: None,
        };
        self.probe().await;
        loop {
            // Reports that arrived while busy.
            while let Some(Ok(event)) = run.events.as_mut().map(|rx| rx.try_recv()) {
                self.on_event(&mut run, event).await;
            }
            let result = match self.next_work(&mut run).await {
                Work::Idle => {
                    // Nothing more queued: the device hears the update is complete (on Modbus
                    // the generation bump), once per run of batches.
                    let finished = tokio::select! {
                        r = self.driver.controller.finish_update() => r,
                        () = shutdown.cancelled() => return,
                    };
                    if let Err(error) = finished {
                        if !self.fail(&mut run, error, &shutdown).await {
                            return;
                        }
                        continue;
                    }
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = self.verify_now.notified() => run.needs_verify = true,
                        () = tokio::time::sleep(self.config.probe_every) => self.probe().await,
                        () = sleep_until(run.next_verify) => run.needs_verify = true,
                        Some(event) = next_event(&mut run.events) => {
                            self.on_event(&mut run, event).await;
                        }
                        () = shutdown.cancelled() => return,
                    }
                    continue;
                }
                Work::Outbox(batch) => tokio::select! {
                    r = self.send(&batch) => r,
                    // Unconfirmed entries stay in the outbox and are sent again after restart.
                    () = shutdown.cancelled() => return,
                },
                Work::Verify => tokio::select! {
                    r = self.verify(&mut run) => r,
                    () = shutdown.cancelled() => return,
                },
            };
            match result {
                Ok(()) => {
                    run.failures = 0;
                    run.last_logged_error = None;
                }
                Err(error) => {
                    if !self.fail(&mut run, error, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// Queued revocations first, then queued grants (repairs among them), then a readback.
    async fn next_work(&mut self, run: &mut Run) -> Work {
        let batch = match self.store.outbox_batch(&self.name, self.config.batch).await {
            // Revocations travel alone, so no grant shares their frame or delays their ack.
            Ok(mut batch) => {
                if batch.first().is_some_and(|e| e.op.change.is_revoke()) {
                    batch.retain(|e| e.op.change.is_revoke());
                    return Work::Outbox(batch);
                }
                batch
            }
            Err(e) => {
                tracing::error!(controller = %self.name, error = %e, "cannot read outbox");
                Vec::new()
            }
        };
        if !batch.is_empty() {
            return Work::Outbox(batch);
        }
        if run.needs_verify {
            return Work::Verify;
        }
        Work::Idle
    }

    async fn send(&mut self, batch: &[OutboxEntry]) -> Result<(), Error> {
        let ops: Vec<_> = batch.iter().map(|e| e.op).collect();
        let (confirmed, error) = match self.driver.controller.apply(&ops).await {
            Ok(()) => (batch, None),
            Err(BatchError { applied, error }) => (&batch[..applied.min(batch.len())], Some(error)),
        };
        if !confirmed.is_empty() {
            self.confirm(confirmed).await;
        }
        error.map_or(Ok(()), Err)
    }

    /// Reads the table back and queues repairs for drift nothing queued will fix.
    async fn verify(&mut self, run: &mut Run) -> Result<(), Error> {
        let acked = self.store.acked(&self.name).map_err(|e| {
            Error::new(
                ErrorKind::Busy,
                format!("cannot read acknowledged table: {e}"),
            )
        })?;
        let expected = verify::expected(acked.into_values());
        let drift = self.driver.controller.verify(&expected).await?;
        run.needs_verify = false;
        run.next_verify = self.driver.verify_every.map(|every| Instant::now() + every);
        self.mark_online();
        let pending = Pending::new(&self.store.outbox(&self.name).unwrap_or_default());
        let drifted = verify::unexplained(&drift, &pending);
        tracing::debug!(controller = %self.name, check = ?drift.check, drifted = drifted.len(), "readback");
        if drifted.is_empty() {
            return Ok(());
        }
        let reason = verify::describe(&drift, &drifted);
        tracing::warn!(controller = %self.name, %reason, "controller table drifted");
        self.log(Outcome::Flagged, reason).await;
        // Repairs go through the outbox like any change, so a revocation queued meanwhile
        // replaces or precedes them and nothing reaches the device unrecorded.
        let now = jiff::Timestamp::now();
        let mut entries = Vec::new();
        for op in verify::repairs(&drifted) {
            let seq = self
                .store
                .next_id()
                .map_err(|e| Error::new(ErrorKind::Busy, format!("cannot queue repairs: {e}")))?;
            entries.push(OutboxEntry {
                controller: self.name.clone(),
                seq,
                op,
                enqueued_at: now,
            });
        }
        self.store
            .enqueue_unless_pending(&entries)
            .await
            .map_err(|e| Error::new(ErrorKind::Busy, format!("cannot queue repairs: {e}")))?;
        Ok(())
    }

    /// Records a failure, backs off, and says whether to go on (false on shutdown).
    async fn fail(&mut self, run: &mut Run, error: Error, shutdown: &CancellationToken) -> bool {
        let message = error.to_string();
        tracing::warn!(controller = %self.name, kind = %error.kind(), error = %message, "controller failed");
        // A refused or failed request leaves a reachable controller online.
        let lost = error.is_offline();
        {
            let mut status = lock(&self.status);
            status.online = Some(!lost);
            status.last_error = Some(message.clone());
        }
        if lost {
            // Whatever happened while it was away, it is read back once it answers again.
            run.needs_verify = true;
        }
        if run.last_logged_error.as_deref() != Some(message.as_str()) {
            self.log(Outcome::Failed, message.clone()).await;
            run.last_logged_error = Some(message);
        }
        let delay = backoff(
            run.failures,
            self.config.retry_min,
            self.config.retry_max,
            &mut rand::rng(),
        );
        run.failures = run.failures.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // A device that reports in (a boot, a heartbeat) is worth trying at once.
            Some(event) = next_event(&mut run.events) => self.on_event(run, event).await,
            () = shutdown.cancelled() => return false,
        }
        true
    }

    async fn on_event(&mut self, run: &mut Run, event: DeviceEvent) {
        match &event {
            DeviceEvent::Booted { ip, hostname } => {
                tracing::info!(controller = %self.name, %ip, %hostname, "controller (re)joined: verifying");
                run.needs_verify = true;
            }
            DeviceEvent::Heartbeat { .. } => {}
            DeviceEvent::Access { .. } => {
                if let Some(reason) = verify::access_reason(&event) {
                    self.log(Outcome::Processed, reason).await;
                }
            }
            DeviceEvent::Unsupported { reason } => {
                {
                    let mut status = lock(&self.status);
                    status.online = Some(false);
                    status.last_error = Some(reason.clone());
                }
                if run.last_logged_error.as_deref() != Some(reason.as_str()) {
                    self.log(Outcome::Failed, reason.clone()).await;
                    run.last_logged_error = Some(reason.clone());
                }
            }
        }
    }

    fn mark_online(&self) {
        let mut status = lock(&self.status);
        status.online = Some(true);
        status.last_error = None;
    }

    // `&mut`: a shared `&Worker` held across an await would need the driver to be `Sync`.
    async fn log(&mut self, outcome: Outcome, reason: String) {
        let entry = Activity::new(Timestamp::now(), outcome, self.name.clone(), reason);
        if let Err(e) = self.store.log(vec![entry]).await {
            tracing::error!(error = %e, "cannot write activity");
        }
    }

    /// Checks an idle controller still answers, so status does not show a stale "online".
    async fn probe(&mut self) {
        let result = self.driver.controller.probe().await;
        let mut status = lock(&self.status);
        match result {
            Ok(_) => {
                status.online = Some(true);
                status.last_error = None;
            }
            Err(e) => {
                status.online = Some(!e.is_offline());
                status.last_error = Some(e.to_string());
            }
        }
    }

    async fn confirm(&mut self, confirmed: &[OutboxEntry]) {
        let revoked = confirmed.iter().filter(|e| e.op.change.is_revoke()).count();
        let granted = confirmed.len() - revoked;
        let now = Timestamp::now();
        let mut entries = Vec::new();
        if revoked > 0 {
            entries.push(Activity::new(
                now,
                Outcome::Revoked,
                self.name.clone(),
                format!("controller confirmed {revoked} revocation(s)"),
            ));
        }
        if granted > 0 {
            entries.push(Activity::new(
                now,
                Outcome::Granted,
                self.name.clone(),
                format!("controller confirmed {granted} grant(s)"),
            ));
        }
        match self.store.ack(&self.name, confirmed, &entries).await {
            Ok(()) => {
                let mut status = lock(&self.status);
                status.online = Some(true);
                status.last_ack_at = Some(now);
                status.last_error = None;
            }
            // The device holds the change but we could not record it: the entries stay queued
            // and are sent again, which is harmless because writes are idempotent.
            Err(e) => {
                tracing::error!(controller = %self.name, error = %e, "cannot record acknowledgement")
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
