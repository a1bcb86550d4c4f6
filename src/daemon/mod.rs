//! The daemon: opens the store, binds the control socket, starts one task per source, one worker
//! per controller and the window scheduler, and drains them on shutdown.

mod drivers;
pub mod engine;
pub mod schedule;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, SourceConfig};
use crate::control::server::{self, BindError};
use crate::dispatch::Worker;
use crate::sources::{PullKind, Source, SourceError};
use crate::store::{Commit, Store, StoreError};
use engine::{Engine, SourceRunner};

/// How long shutdown waits for tasks to finish what they are doing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("source `{name}`: {source}")]
    Source {
        name: String,
        #[source]
        source: SourceError,
    },
    #[error("controller `{name}`: {source}")]
    Controller {
        name: String,
        #[source]
        source: lintel_hal::Error,
    },
    #[error("cannot create store directory {path}: {source}")]
    StoreDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    engine: Arc<Engine>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    socket: std::path::PathBuf,
}

fn build_source(config: &SourceConfig) -> Result<Box<dyn Source>, DaemonError> {
    config.build().map_err(|source| DaemonError::Source {
        name: config.name().to_string(),
        source,
    })
}

impl Daemon {
    /// Starts everything and returns once the control socket accepts requests.
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        Daemon::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Daemon::start`], with access windows judged by `clock`.
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Daemon, DaemonError> {
        let started = Instant::now();
        let config = Arc::new(config);
        let sources = config
            .sources
            .iter()
            .map(|s| {
                Ok(SourceRunner {
                    name: s.name().to_string(),
                    kind: s.kind(),
                    enabled: s.enabled(),
                    adapter: build_source(s)?,
                })
            })
            .collect::<Result<Vec<_>, DaemonError>>()?;
        std::fs::create_dir_all(&config.store.path).map_err(|source| DaemonError::StoreDir {
            path: config.store.path.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.store.path)?;
        let listener = server::bind(&config.control.socket).await?;
        let engine = Arc::new(Engine::new(store.clone(), config.clone(), sources, clock));

        // Windows may have ended while we were down, and the config may have changed.
        engine.apply(Commit::default(), engine.clock.now()).await?;

        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        for c in &config.controllers {
            let worker = Worker {
                name: c.name().to_string(),
                store: store.clone(),
                driver: drivers::build(c)?,
                wake: engine.wakes[c.name()].clone(),
                status: engine.controller_status[c.name()].clone(),
                config: config.dispatch.clone(),
            };
            tracker.spawn(worker.run(shutdown.clone()));
        }
        for index in 0..engine.sources.len() {
            if engine.sources[index].enabled {
                tracker.spawn(poll_source(engine.clone(), index, shutdown.clone()));
            }
        }
        tracker.spawn(enforce_windows(engine.clone(), shutdown.clone()));
        let policy = crate::control::PeerPolicy::new(config.control.read_group.as_deref());
        tracker.spawn(server::serve(
            listener,
            engine.clone(),
            policy,
            started,
            shutdown.clone(),
        ));
        tracing::info!(site = %config.site.name, socket = %config.control.socket.display(), "lintel running");
        Ok(Daemon {
            engine,
            tracker,
            socket: config.control.socket.clone(),
            shutdown,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops taking work, lets tasks finish within a bound, and flushes the store.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "tasks did not finish within {DRAIN_TIMEOUT:?}; unsent changes stay in the outbox"
            );
        }
        if let Err(e) = self.engine.store.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Runs the daemon until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let daemon = Daemon::start(config).await?;
    // Under systemd (Type=notify) this is READY=1: config, store and control socket are up.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
    shutdown.cancelled().await;
    tracing::info!("shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    daemon.stop().await;
    Ok(())
}

async fn poll_source(engine: Arc<Engine>, index: usize, shutdown: CancellationToken) {
    let runner = &engine.sources[index];
    let plan = engine
        .config
        .sources
        .iter()
        .find(|s| s.name() == runner.name)
        .map(|s| schedule::Plan::new(s, &engine.config));
    let plan = match plan {
        Some(Ok(plan)) => plan,
        Some(Err(e)) => {
            tracing::error!(source = %runner.name, error = %e, "cannot schedule source; pulling in full every sync.interval");
            schedule::Plan {
                poll_every: engine.config.sync.interval,
                incremental: false,
                full_reconcile: schedule::parse_cron(crate::sources::DEFAULT_FULL_RECONCILE)
                    .unwrap_or_else(|_| unreachable!("the default cron expression parses")),
                tz: engine.config.time_zone(),
                max_lookback: crate::sources::DEFAULT_MAX_LOOKBACK,
            }
        }
        None => return,
    };
    // The start of the last successful full pass since this daemon started.
    let mut last_full: Option<jiff::Timestamp> = None;
    loop {
        let now = engine.clock.now();
        let last_success = engine
            .store
            .source_state(&runner.name)
            .ok()
            .and_then(|s| s.last_success_at);
        let decision = schedule::decide(&plan, now, last_success, last_full);
        let report = tokio::select! {
            r = engine.run_pass(runner, decision.kind, false) => r,
            () = shutdown.cancelled() => return,
        };
        if report.ok && decision.kind == PullKind::Full {
            last_full = Some(now);
        }
        tracing::info!(source = %report.source, ok = report.ok, kind = if decision.kind == PullKind::Full { "full" } else { "changes" },
            why = %decision.why, added = report.added, updated = report.updated,
            disabled = report.disabled, skipped = report.skipped, error = report.error.as_deref().unwrap_or(""), "sync pass");
        let wait = schedule::next_wait(&plan, engine.clock.now(), last_full);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The gateway's own enforcement of window ends: re-plans at the earliest end still ahead, so a
/// revocation goes out on time even with every source unreachable.
async fn enforce_windows(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        let next = engine.next_change();
        let due = async {
            match next {
                Some(at) => engine.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = due => {
                if let Err(e) = engine.apply(Commit::default(), engine.clock.now()).await {
                    tracing::error!(error = %e, "window enforcement failed");
                }
            }
            () = engine.schedule_changed.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Builds a source the way `start` would (secrets included) without pulling it.
pub fn check_source(config: &SourceConfig) -> Result<(), DaemonError> {
    build_source(config).map(drop)
}
