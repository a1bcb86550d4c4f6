//! A decorator around each controller's hal driver: it marks the controller's loop busy for
//! the watchdog while a hal call runs, times every batch (the ack latency the metrics endpoint
//! shows), and records each readback's verdict (what `lintel controllers verify` reports).
//! The worker does not know it is there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use lintel_hal::{BatchError, Controller, Credential, DeviceEvent, DeviceInfo, Drift, Error, Op};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::watchdog::Beat;
use crate::dispatch::lock;

/// Upper bounds of the ack-latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The verdict of one readback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOutcome {
    pub at: Timestamp,
    /// `None` when the readback itself failed.
    pub differences: Option<usize>,
    /// The first differences, one line each, or the error.
    pub detail: Vec<String>,
}

/// Counters for one controller, shared by its driver decorator and whoever reports them.
#[derive(Debug)]
pub struct ControllerStats {
    inner: Mutex<Counters>,
    /// The number of readbacks finished so far, and the last one's verdict.
    verified: watch::Sender<(u64, Option<VerifyOutcome>)>,
}

#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Batches the controller confirmed in full.
    pub batches_ok: u64,
    /// Batches that failed (part of one may still have been confirmed).
    pub batches_failed: u64,
    /// Ops the controller confirmed.
    pub ops_confirmed: u64,
    /// Cumulative counts per [`LATENCY_BUCKETS`] bound (plus +Inf = `latency_count`).
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
    pub latency_count: u64,
    pub latency_sum_s: f64,
}

impl Default for ControllerStats {
    fn default() -> Self {
        ControllerStats {
            inner: Mutex::default(),
            verified: watch::Sender::new((0, None)),
        }
    }
}

impl ControllerStats {
    pub fn counters(&self) -> Counters {
        lock(&self.inner).clone()
    }

    fn batch(&self, took: Duration, confirmed: usize, ok: bool) {
        let mut c = lock(&self.inner);
        if ok {
            c.batches_ok += 1;
        } else {
            c.batches_failed += 1;
        }
        c.ops_confirmed += confirmed as u64;
        if ok {
            let s = took.as_secs_f64();
            for (bound, count) in LATENCY_BUCKETS.iter().zip(c.latency_buckets.iter_mut()) {
                if s <= *bound {
                    *count += 1;
                }
            }
            c.latency_count += 1;
            c.latency_sum_s += s;
        }
    }

    fn verified(&self, outcome: VerifyOutcome) {
        self.verified
            .send_modify(|(n, last)| (*n, *last) = (*n + 1, Some(outcome)));
    }

    /// Readbacks finished so far, and the last verdict.
    pub fn last_verify(&self) -> (u64, Option<VerifyOutcome>) {
        self.verified.borrow().clone()
    }

    /// Notified after every readback.
    pub fn subscribe_verify(&self) -> watch::Receiver<(u64, Option<VerifyOutcome>)> {
        self.verified.subscribe()
    }
}

/// Most difference lines kept per readback.
const DETAIL_LINES: usize = 20;

pub struct Metered {
    pub inner: Box<dyn Controller>,
    pub beat: Beat,
    pub stats: Arc<ControllerStats>,
}

#[async_trait]
impl Controller for Metered {
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let _busy = self.beat.busy("a batch of changes");
        let started = tokio::time::Instant::now();
        let result = self.inner.apply(ops).await;
        let took = started.elapsed();
        match &result {
            Ok(()) => self.stats.batch(took, ops.len(), true),
            Err(e) => self.stats.batch(took, e.applied, false),
        }
        result
    }

    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error> {
        let _busy = self.beat.busy("reading the table");
        self.inner.read_table().await
    }

    async fn probe(&mut self) -> Result<DeviceInfo, Error> {
        let _busy = self.beat.busy("a probe");
        self.inner.probe().await
    }

    async fn verify(&mut self, expected: &[(u16, Credential)]) -> Result<Drift, Error> {
        let result = {
            let _busy = self.beat.busy("a readback");
            self.inner.verify(expected).await
        };
        let outcome = match &result {
            Ok(drift) => VerifyOutcome {
                at: Timestamp::now(),
                differences: Some(drift.slots.len()),
                detail: drift
                    .slots
                    .iter()
                    .take(DETAIL_LINES)
                    .map(|s| s.describe())
                    .collect(),
            },
            Err(e) => VerifyOutcome {
                at: Timestamp::now(),
                differences: None,
                detail: vec![e.to_string()],
            },
        };
        self.stats.verified(outcome);
        result
    }

    async fn finish_update(&mut self) -> Result<(), Error> {
        let _busy = self.beat.busy("finishing an update");
        self.inner.finish_update().await
    }

    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<DeviceEvent>> {
        self.inner.events()
    }
}
