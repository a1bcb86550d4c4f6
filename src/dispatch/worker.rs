//! One worker per controller: takes the outbox head (revocations sort first), sends it, and
//! removes entries only once the controller confirmed them. Failures back off with jitter.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use lintel_hal::{BatchError, Controller, ErrorKind};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backoff;
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

pub struct Worker {
    pub name: String,
    pub store: Store,
    pub driver: Box<dyn Controller>,
    pub wake: Arc<Notify>,
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

impl Worker {
    pub async fn run(mut self, shutdown: CancellationToken) {
        self.probe().await;
        let mut failures: u32 = 0;
        let mut last_logged_error: Option<String> = None;
        loop {
            let batch = match self.store.outbox_batch(&self.name, self.config.batch) {
                // Revocations travel alone, so no grant shares their frame or delays their ack.
                Ok(mut batch) => {
                    if batch.first().is_some_and(|e| e.op.change.is_revoke()) {
                        batch.retain(|e| e.op.change.is_revoke());
                    }
                    batch
                }
                Err(e) => {
                    tracing::error!(controller = %self.name, error = %e, "cannot read outbox");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    () = tokio::time::sleep(self.config.probe_every) => {
                        self.probe().await;
                        continue;
                    }
                    () = shutdown.cancelled() => return,
                }
            }
            let ops: Vec<_> = batch.iter().map(|e| e.op).collect();
            let result = tokio::select! {
                r = self.driver.apply(&ops) => r,
                // Unconfirmed entries stay in the outbox and are sent again after restart.
                () = shutdown.cancelled() => return,
            };
            let (confirmed, error) = match result {
                Ok(()) => (batch.as_slice(), None),
                Err(BatchError { applied, error }) => {
                    (&batch[..applied.min(batch.len())], Some(error))
                }
            };
            if !confirmed.is_empty() {
                self.confirm(confirmed).await;
            }
            match error {
                None => {
                    failures = 0;
                    last_logged_error = None;
                }
                Some(error) => {
                    let message = error.to_string();
                    tracing::warn!(controller = %self.name, kind = %error.kind(), error = %message, "controller failed");
                    {
                        let mut status = lock(&self.status);
                        status.online = Some(!matches!(
                            error.kind(),
                            ErrorKind::Unreachable | ErrorKind::Timeout
                        ));
                        status.last_error = Some(message.clone());
                    }
                    if last_logged_error.as_deref() != Some(message.as_str()) {
                        let entry = Activity::new(
                            Timestamp::now(),
                            Outcome::Failed,
                            self.name.clone(),
                            message.clone(),
                        );
                        if let Err(e) = self.store.log(vec![entry]).await {
                            tracing::error!(error = %e, "cannot write activity");
                        }
                        last_logged_error = Some(message);
                    }
                    let delay = backoff(
                        failures,
                        self.config.retry_min,
                        self.config.retry_max,
                        &mut rand::rng(),
                    );
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Checks an idle controller still answers, so status does not show a stale "online".
    async fn probe(&mut self) {
        let result = self.driver.probe().await;
        let mut status = lock(&self.status);
        match result {
            Ok(_) => {
                status.online = Some(true);
                status.last_error = None;
            }
            Err(e) => {
                status.online = Some(!matches!(
                    e.kind(),
                    ErrorKind::Unreachable | ErrorKind::Timeout
                ));
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
        let stored = async {
            self.store.ack(&self.name, confirmed).await?;
            self.store.log(entries).await
        };
        match stored.await {
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
