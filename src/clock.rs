//! Time as the access logic sees it. The daemon uses the system clock; tests inject a manual
//! one so window ends are exercised to the second without waiting for them.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> Timestamp;
    /// Returns once `now() >= at`.
    async fn sleep_until(&self, at: Timestamp);
}

/// Longest a sleeper goes without looking at the wall clock again.
const WALL_CLOCK_STEP: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, at: Timestamp) {
        // Timers run on the monotonic clock, the deadline is wall-clock time: sleep in short
        // steps and re-read the wall clock, so an NTP step forwards cannot make a revocation
        // late by more than one step, and a step backwards simply waits longer.
        loop {
            let ahead = at.duration_since(Timestamp::now());
            match Duration::try_from(ahead) {
                Ok(d) if !d.is_zero() => tokio::time::sleep(d.min(WALL_CLOCK_STEP)).await,
                _ => return,
            }
        }
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: watch::Sender::new(start),
        }
    }

    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: Timestamp) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we are borrowed.
        let _ = rx.wait_for(|now| *now >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_set_past_their_instant() {
        let start = Timestamp::UNIX_EPOCH;
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let at = Timestamp::from_second(60).expect("ts");
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(at).await }
        });
        clock.set(Timestamp::from_second(59).expect("ts"));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.set(at);
        sleeper.await.expect("sleeper finishes");
        assert_eq!(clock.now(), at);
    }
}
