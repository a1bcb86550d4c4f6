//! Liveness of the daemon's core loops, and what the service manager is told about it.
//!
//! Each core loop (the window scheduler that re-plans, every source's poll loop, every
//! controller's hal calls) holds a [`Beat`]. A loop marks itself busy while it works on one
//! thing (a pass, a re-plan, a batch) and idle again when that is done; waiting for work is
//! healthy by definition, because every wait in those loops is a timer or a wake-up. The daemon
//! is alive while no loop has been busy on one thing for longer than that loop's bound and no
//! loop has exited without being asked to.
//!
//! The systemd watchdog ([`watchdog`]) sends `WATCHDOG=1` only while that holds (and only from a
//! task on the runtime, so a wedged runtime stops the pings too); when a loop stalls it logs
//! which one and withholds the keep-alive, and systemd restarts the service after `WatchdogSec=`.
//! The outbox is durable, so the restart loses nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dispatch::lock;

/// How long the window scheduler may spend on one re-plan.
pub const PLANNER_BOUND: Duration = Duration::from_secs(120);
/// How long a source may spend on one pass (paging, rate-limit back-off and retries included).
pub const PASS_BOUND: Duration = Duration::from_secs(15 * 60);
/// How long one hal call (a batch, a readback, a probe) may take.
pub const CONTROLLER_BOUND: Duration = Duration::from_secs(5 * 60);

/// What the service manager is told. [`Systemd`] sends it to `$NOTIFY_SOCKET`; tests record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Ready,
    Reloading,
    Stopping,
    Watchdog,
    Status(String),
}

pub trait Notifier: Send + Sync + std::fmt::Debug {
    fn send(&self, note: Note);
}

/// `sd_notify` to `$NOTIFY_SOCKET`; does nothing when not started by systemd.
#[derive(Debug, Default)]
pub struct Systemd;

impl Notifier for Systemd {
    fn send(&self, note: Note) {
        use sd_notify::NotifyState;
        let result = match &note {
            Note::Ready => sd_notify::notify(&[NotifyState::Ready]),
            Note::Reloading => match NotifyState::monotonic_usec_now() {
                // systemd 253+ wants the reload's start time next to RELOADING=1.
                Ok(now) => sd_notify::notify(&[NotifyState::Reloading, now]),
                Err(_) => sd_notify::notify(&[NotifyState::Reloading]),
            },
            Note::Stopping => sd_notify::notify(&[NotifyState::Stopping]),
            Note::Watchdog => sd_notify::notify(&[NotifyState::Watchdog]),
            Note::Status(line) => {
                // One line; the protocol is newline-separated.
                let line = line.replace('\n', " ");
                sd_notify::notify(&[NotifyState::Status(&line)])
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, ?note, "cannot notify systemd");
        }
    }
}

#[derive(Debug)]
struct Entry {
    name: String,
    bound: Duration,
    busy: Option<(Instant, &'static str)>,
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    beats: BTreeMap<u64, Entry>,
    /// Loops that ended without being asked to (a panic, a bug), until the next reload.
    dead: Vec<String>,
}

/// The registry of core loops. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    inner: Arc<Mutex<Registry>>,
}

/// One loop's handle. Dropping it while `shutdown` is not cancelled records the loop as dead.
#[derive(Debug)]
pub struct Beat {
    id: u64,
    liveness: Liveness,
    shutdown: CancellationToken,
}

/// Marks its loop busy until dropped.
#[derive(Debug)]
pub struct Busy<'a> {
    beat: &'a Beat,
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness::default()
    }

    /// Registers a loop that may be busy on one thing for at most `bound`.
    pub fn register(
        &self,
        name: impl Into<String>,
        bound: Duration,
        shutdown: &CancellationToken,
    ) -> Beat {
        let mut registry = lock(&self.inner);
        registry.next += 1;
        let id = registry.next;
        registry.beats.insert(
            id,
            Entry {
                name: name.into(),
                bound,
                busy: None,
            },
        );
        Beat {
            id,
            liveness: self.clone(),
            shutdown: shutdown.clone(),
        }
    }

    /// Forgets loops recorded dead (their replacements were started by a reload).
    pub fn clear_dead(&self) {
        lock(&self.inner).dead.clear();
    }

    /// `Ok` while every loop is idle or within its bound, else what is wrong, in one line.
    pub fn check(&self) -> Result<(), String> {
        let now = Instant::now();
        let registry = lock(&self.inner);
        if let Some(dead) = registry.dead.first() {
            return Err(format!("{dead} stopped unexpectedly"));
        }
        for entry in registry.beats.values() {
            if let Some((since, what)) = entry.busy {
                let busy = now.saturating_duration_since(since);
                if busy > entry.bound {
                    return Err(format!(
                        "{} has been busy with {what} for {}s (bound {}s)",
                        entry.name,
                        busy.as_secs(),
                        entry.bound.as_secs()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The names of the loops registered now, sorted.
    pub fn loops(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.inner)
            .beats
            .values()
            .map(|e| e.name.clone())
            .collect();
        names.sort();
        names
    }
}

impl Beat {
    /// Marks the loop busy with `what` until the guard is dropped.
    pub fn busy(&self, what: &'static str) -> Busy<'_> {
        if let Some(entry) = lock(&self.liveness.inner).beats.get_mut(&self.id) {
            entry.busy = Some((Instant::now(), what));
        }
        Busy { beat: self }
    }

    /// Runs `work` marked busy with `what`.
    pub async fn around<F: std::future::Future>(&self, what: &'static str, work: F) -> F::Output {
        let _busy = self.busy(what);
        work.await
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(entry) = lock(&self.beat.liveness.inner).beats.get_mut(&self.beat.id) {
            entry.busy = None;
        }
    }
}

impl Drop for Beat {
    fn drop(&mut self) {
        let mut registry = lock(&self.liveness.inner);
        if let Some(entry) = registry.beats.remove(&self.id)
            && !self.shutdown.is_cancelled()
        {
            registry.dead.push(entry.name);
        }
    }
}

/// Pings the service manager every `every` while `liveness` holds; logs once when it stops
/// holding (and once when it recovers).
pub async fn watchdog(
    liveness: Liveness,
    every: Duration,
    notifier: Arc<dyn Notifier>,
    shutdown: CancellationToken,
) {
    let mut stalled: Option<String> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match liveness.check() {
            Ok(()) => {
                if let Some(was) = stalled.take() {
                    tracing::warn!(was = %was, "core loops alive again; watchdog keep-alives resumed");
                }
                notifier.send(Note::Watchdog);
            }
            Err(why) => {
                if stalled.as_deref() != Some(why.as_str()) {
                    tracing::error!(stalled = %why, "a core loop is stuck; withholding watchdog keep-alives so systemd restarts lintel");
                    notifier.send(Note::Status(format!("STALLED: {why}")));
                    stalled = Some(why);
                }
            }
        }
    }
}

/// How often to check and ping: a quarter of the `WATCHDOG_USEC` systemd set for this process
/// (sd_watchdog_enabled(3) asks for at least every half; a quarter leaves room for one slow
/// tick or a reload in between).
pub fn interval_from_env() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| (d / 4).max(Duration::from_millis(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Record(Mutex<Vec<Note>>);

    impl Notifier for Record {
        fn send(&self, note: Note) {
            lock(&self.0).push(note);
        }
    }

    impl Record {
        fn take(&self) -> Vec<Note> {
            std::mem::take(&mut *lock(&self.0))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn busy_beyond_the_bound_is_a_stall_until_done() {
        let liveness = Liveness::new();
        let shutdown = CancellationToken::new();
        let beat = liveness.register("source pms", Duration::from_secs(60), &shutdown);
        assert_eq!(liveness.check(), Ok(()));
        let busy = beat.busy("a pass");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(liveness.check(), Ok(()));
        tokio::time::advance(Duration::from_secs(2)).await;
        let err = liveness.check().expect_err("stalled");
        assert!(
            err.contains("source pms has been busy with a pass for 61s"),
            "{err}"
        );
        drop(busy);
        assert_eq!(liveness.check(), Ok(()));
        // Idle for ever is fine: waiting for work is what idle loops do.
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(liveness.check(), Ok(()));
    }

    #[tokio::test]
    async fn a_loop_that_exits_unasked_is_dead_until_cleared() {
        let liveness = Liveness::new();
        let shutdown = CancellationToken::new();
        let beat = liveness.register("controller door", Duration::from_secs(60), &shutdown);
        let task = tokio::spawn(async move {
            let _beat = beat;
            panic!("a bug");
        });
        assert!(task.await.is_err());
        let err = liveness.check().expect_err("dead");
        assert_eq!(err, "controller door stopped unexpectedly");
        liveness.clear_dead();
        assert_eq!(liveness.check(), Ok(()));

        // Asked to stop: not dead.
        let beat = liveness.register("controller door", Duration::from_secs(60), &shutdown);
        shutdown.cancel();
        drop(beat);
        assert_eq!(liveness.check(), Ok(()));
        assert!(liveness.loops().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_pings_only_while_alive() {
        let liveness = Liveness::new();
        let shutdown = CancellationToken::new();
        let record = Arc::new(Record::default());
        let beat = liveness.register("planner", Duration::from_secs(5), &shutdown);
        let task = tokio::spawn(watchdog(
            liveness.clone(),
            Duration::from_secs(1),
            record.clone(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let notes = record.take();
        assert_eq!(notes, vec![Note::Watchdog; 4], "ticks at 0, 1, 2 and 3 s");

        let busy = beat.busy("a re-plan");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let notes = record.take();
        // Pings while within the bound (ticks at 4..=8 s: busy since 3.5 s, bound 5 s), then
        // one STALLED status and silence.
        let pings = notes.iter().filter(|n| **n == Note::Watchdog).count();
        assert_eq!(pings, 5, "{notes:?}");
        assert!(
            matches!(notes.last(), Some(Note::Status(s)) if s.starts_with("STALLED: planner")),
            "{notes:?}"
        );

        drop(busy);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(record.take(), vec![Note::Watchdog; 2]);
        shutdown.cancel();
        task.await.expect("watchdog ends on shutdown");
    }
}
