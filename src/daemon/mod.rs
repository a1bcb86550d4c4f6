//! The daemon: opens the store, binds the control socket, starts one task per source, one worker
//! per controller and the window scheduler, and drains them on shutdown.

mod drivers;
pub mod engine;
pub mod metered;
pub mod metrics;
pub mod probe;
pub mod reload;
pub mod schedule;
pub mod status;
pub mod watchdog;

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
    #[error("{0}")]
    Reload(String),
    #[error("metrics.listen = {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    engine: Arc<Engine>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    socket: std::path::PathBuf,
    liveness: watchdog::Liveness,
    metrics_addr: Option<std::net::SocketAddr>,
}

/// What a start carries over from a previous run in the same process (a reload): the open
/// store, the liveness registry and the instant the service started.
#[derive(Debug, Default)]
pub struct Launch {
    pub store: Option<Store>,
    pub liveness: Option<watchdog::Liveness>,
    pub started: Option<Instant>,
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
        Daemon::launch(config, clock, Launch::default()).await
    }

    /// As [`Daemon::start_with_clock`], reusing what `launch` carries.
    pub async fn launch(
        config: Config,
        clock: Arc<dyn Clock>,
        launch: Launch,
    ) -> Result<Daemon, DaemonError> {
        let started = launch.started.unwrap_or_else(Instant::now);
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
        let store = match launch.store {
            Some(store) => store,
            None => {
                std::fs::create_dir_all(&config.store.path).map_err(|source| {
                    DaemonError::StoreDir {
                        path: config.store.path.display().to_string(),
                        source,
                    }
                })?;
                Store::open(&config.store.path)?
            }
        };
        let metrics = match config.metrics.listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| DaemonError::Metrics { addr, source })?,
            ),
            None => None,
        };
        let listener = server::bind(&config.control.socket).await?;
        let engine = Arc::new(Engine::new(store.clone(), config.clone(), sources, clock));

        let drivers = config
            .controllers
            .iter()
            .map(drivers::build)
            .collect::<Result<Vec<_>, _>>()?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let liveness = launch.liveness.unwrap_or_default();
        for (c, mut driver) in config.controllers.iter().zip(drivers) {
            let name = c.name();
            if let Some(events) = driver.controller.events() {
                tracker.spawn(route_unknown_cards(
                    engine.clone(),
                    name.to_string(),
                    events,
                    shutdown.clone(),
                ));
            }
            // Times each batch, records each readback and marks the loop busy for the watchdog.
            driver.controller = Box::new(metered::Metered {
                inner: driver.controller,
                beat: liveness.register(
                    format!("controller {name}"),
                    watchdog::CONTROLLER_BOUND,
                    &shutdown,
                ),
                stats: engine.controller_ops.stats[name].clone(),
            });
            let worker = Worker {
                name: name.to_string(),
                store: store.clone(),
                driver,
                wake: engine.wakes[name].clone(),
                verify_now: engine.controller_ops.verify_now[name].clone(),
                status: engine.controller_status[name].clone(),
                config: config.dispatch.clone(),
            };
            tracker.spawn(worker.run(shutdown.clone()));
        }
        for index in 0..engine.sources.len() {
            if engine.sources[index].enabled {
                let beat = liveness.register(
                    format!("source {}", engine.sources[index].name),
                    watchdog::PASS_BOUND,
                    &shutdown,
                );
                tracker.spawn(poll_source(engine.clone(), index, beat, shutdown.clone()));
            }
        }
        let beat = liveness.register("window scheduler", watchdog::PLANNER_BOUND, &shutdown);
        tracker.spawn(enforce_windows(engine.clone(), beat, shutdown.clone()));
        let metrics_addr = match metrics {
            Some(listener) => {
                let addr = listener.local_addr().ok();
                tracker.spawn(metrics::serve(
                    listener,
                    engine.clone(),
                    liveness.clone(),
                    started,
                    shutdown.clone(),
                ));
                addr
            }
            None => None,
        };
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
            liveness,
            metrics_addr,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The core loops' liveness, which the systemd watchdog trusts.
    pub fn liveness(&self) -> &watchdog::Liveness {
        &self.liveness
    }

    /// Where the metrics endpoint listens, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_addr
    }

    /// Stops taking work, lets tasks finish within a bound, and flushes the store.
    pub async fn stop(self) {
        self.stop_drained().await;
    }

    /// As [`Daemon::stop`]; says whether every task finished within the bound (if not, some
    /// are still running, and the caller must not start another daemon on the same store).
    pub async fn stop_drained(self) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, self.tracker.wait())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                "tasks did not finish within {DRAIN_TIMEOUT:?}; unsent changes stay in the outbox"
            );
        }
        if let Err(e) = self.engine.store.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
        let _ = std::fs::remove_file(&self.socket);
        drained
    }
}

async fn poll_source(
    engine: Arc<Engine>,
    index: usize,
    beat: watchdog::Beat,
    shutdown: CancellationToken,
) {
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
    // Consecutive failed passes of this loop: they stretch the wait (schedule::next_wait).
    let mut failures: u32 = 0;
    loop {
        let now = engine.clock.now();
        let last_success = engine
            .store
            .source_state(&runner.name)
            .ok()
            .and_then(|s| schedule::LastSuccess::of(&s));
        let decision = schedule::decide(&plan, now, last_success, last_full);
        let report = tokio::select! {
            r = beat.around("a pass", engine.run_pass(runner, decision.kind, false)) => r,
            () = shutdown.cancelled() => return,
        };
        if report.ok && decision.kind == PullKind::Full {
            last_full = Some(now);
        }
        failures = if report.ok {
            0
        } else {
            failures.saturating_add(1)
        };
        tracing::info!(source = %report.source, ok = report.ok, kind = if decision.kind == PullKind::Full { "full" } else { "changes" },
            why = %decision.why, added = report.added, updated = report.updated,
            disabled = report.disabled, skipped = report.skipped, error = report.error.as_deref().unwrap_or(""), "sync pass");
        let done = engine.clock.now();
        let wait = schedule::next_wait(&plan, done, last_full, failures, &mut rand::rng());
        if let Ok(at) = done.checked_add(wait) {
            engine.plan_run(&runner.name, at);
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The gateway's own enforcement of window ends: re-plans at the earliest end still ahead, so a
/// revocation goes out on time even with every source unreachable.
async fn enforce_windows(engine: Arc<Engine>, beat: watchdog::Beat, shutdown: CancellationToken) {
    // Windows may have ended while we were down, and the config may have changed. Planned here
    // rather than before the daemon reports ready: at 100k people this takes over a second, and
    // the outbox kept from before (revocations first) is worked off meanwhile.
    let now = engine.clock.now();
    if let Err(e) = beat
        .around("start-up planning", engine.apply(Commit::default(), now))
        .await
    {
        tracing::error!(error = %e, "start-up planning failed");
    }
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
                let now = engine.clock.now();
                if let Err(e) = beat.around("re-planning", engine.apply(Commit::default(), now)).await {
                    tracing::error!(error = %e, "window enforcement failed");
                }
            }
            () = engine.schedule_changed.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Hands cards a controller did not know to enrollment (`lintel credentials enroll`).
async fn route_unknown_cards(
    engine: Arc<Engine>,
    controller: String,
    mut events: tokio::sync::broadcast::Receiver<lintel_hal::DeviceEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            () = shutdown.cancelled() => return,
        };
        match event {
            Ok(lintel_hal::DeviceEvent::Access {
                card: Some(card),
                known: false,
                ..
            }) => {
                engine.unknown_card(&controller, card);
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Builds a source the way `start` would (secrets included) without pulling it.
pub fn check_source(config: &SourceConfig) -> Result<(), DaemonError> {
    build_source(config).map(drop)
}
