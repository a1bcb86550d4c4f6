//! `lintel run` as a systemd service: READY=1 once up, a one-line STATUS= whenever the summary
//! changes, watchdog keep-alives while the core loops are alive, SIGHUP to reload the config,
//! and STOPPING=1 on the way out.
//!
//! A reload reads and validates the file again (every source's secret included). An invalid
//! config is refused: logged, shown in STATUS=, and the running daemon carries on unchanged. A
//! valid one is applied by stopping the daemon's tasks and starting them again with the new
//! config on the same open store, so the outbox (durable anyway) and everything else carry
//! over; the control socket is re-bound. `store.path` cannot change on reload. A changed
//! `log.level` is handed to the caller's `set_level` once the new config runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::watchdog::{self, Liveness, Note, Notifier};
use super::{Daemon, DaemonError, Launch};
use crate::clock::SystemClock;
use crate::config::Config;

/// How often the STATUS= line is recomputed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Runs the daemon from the config at `path` (already loaded as `config`) until `shutdown`,
/// reloading on SIGHUP; `set_level` applies a reloaded config's different `log.level`.
pub async fn serve(
    path: PathBuf,
    config: Config,
    shutdown: CancellationToken,
    set_level: &(dyn Fn(&str) + Sync),
) -> Result<(), DaemonError> {
    let (tx, rx) = mpsc::channel(4);
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        return;
                    }
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP; reload needs a restart"),
    }
    serve_with(
        &path,
        config,
        shutdown,
        rx,
        Arc::new(watchdog::Systemd),
        watchdog::interval_from_env(),
        set_level,
    )
    .await
}

/// As [`serve`], with reload requests from `reload`, notes to `notifier` and keep-alives every
/// `watchdog_every` (none when `None`).
pub async fn serve_with(
    path: &Path,
    config: Config,
    shutdown: CancellationToken,
    mut reload: mpsc::Receiver<()>,
    notifier: Arc<dyn Notifier>,
    watchdog_every: Option<Duration>,
    set_level: &(dyn Fn(&str) + Sync),
) -> Result<(), DaemonError> {
    let started = Instant::now();
    let liveness = Liveness::new();
    let mut daemon = Daemon::launch(
        config,
        Arc::new(SystemClock),
        Launch {
            store: None,
            liveness: Some(liveness.clone()),
            started: Some(started),
        },
    )
    .await?;
    // Config, store and control socket are up.
    notifier.send(Note::Ready);

    let side = CancellationToken::new();
    let (engine_tx, engine_rx) = watch::channel(daemon.engine().clone());
    let (refused_tx, refused_rx) = watch::channel(None::<String>);
    if let Some(every) = watchdog_every {
        tracing::info!(
            every_ms = every.as_millis() as u64,
            "watchdog keep-alives enabled"
        );
        tokio::spawn(watchdog::watchdog(
            liveness.clone(),
            every,
            notifier.clone(),
            side.clone(),
        ));
    }
    tokio::spawn(status_lines(
        engine_rx,
        refused_rx,
        liveness.clone(),
        started,
        notifier.clone(),
        side.clone(),
    ));

    let result = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            Some(()) = reload.recv() => {
                notifier.send(Note::Reloading);
                let level = daemon.engine().config.log.level.clone();
                match reload_once(daemon, path, &liveness, started).await {
                    Ok((next, refused)) => {
                        daemon = next;
                        // The config running now, whichever it is (a refused or failed one
                        // leaves the old in force).
                        let running = &daemon.engine().config.log.level;
                        if *running != level {
                            set_level(running);
                        }
                        let _ = engine_tx.send(daemon.engine().clone());
                        let _ = refused_tx.send(refused);
                        notifier.send(Note::Ready);
                    }
                    Err(e) => {
                        side.cancel();
                        return Err(e);
                    }
                }
            }
        }
    };
    tracing::info!("shutting down");
    notifier.send(Note::Stopping);
    notifier.send(Note::Status(
        "stopping: finishing in-flight work".to_string(),
    ));
    side.cancel();
    daemon.stop().await;
    result
}

/// Reloads once: the daemon to carry on with, and why the new config was refused (if it was).
async fn reload_once(
    daemon: Daemon,
    path: &Path,
    liveness: &Liveness,
    started: Instant,
) -> Result<(Daemon, Option<String>), DaemonError> {
    let old = daemon.engine().config.clone();
    let refuse = |daemon: Daemon, why: String| {
        tracing::error!(config = %path.display(), reason = %why, "reload refused; the running configuration stays in force");
        Ok((daemon, Some(format!("reload refused: {why}"))))
    };
    let new = match load_checked(path) {
        Ok(new) => new,
        Err(why) => return refuse(daemon, why),
    };
    if new.store.path != old.store.path {
        return refuse(
            daemon,
            format!(
                "store.path changed from {} to {}; that needs `systemctl restart lintel`",
                old.store.path.display(),
                new.store.path.display()
            ),
        );
    }
    if new == *old {
        tracing::info!(config = %path.display(), "reload: configuration unchanged");
        return Ok((daemon, None));
    }
    tracing::info!(config = %path.display(), "reload: applying the new configuration");
    let store = daemon.engine().store.clone();
    if !daemon.stop_drained().await {
        return Err(DaemonError::Reload(
            "tasks did not stop in time for the reload; exiting so that systemd restarts lintel \
             with the new configuration (the outbox is kept)"
                .to_string(),
        ));
    }
    liveness.clear_dead();
    let launch = |config: Config| {
        Daemon::launch(
            config,
            Arc::new(SystemClock),
            Launch {
                store: Some(store.clone()),
                liveness: Some(liveness.clone()),
                started: Some(started),
            },
        )
    };
    match launch(new).await {
        Ok(daemon) => {
            tracing::info!("reload: running with the new configuration");
            Ok((daemon, None))
        }
        Err(e) => {
            tracing::error!(error = %e, "reload: the new configuration failed to start; going back to the previous one");
            let daemon = launch((*old).clone()).await?;
            Ok((daemon, Some(format!("reload failed: {e}"))))
        }
    }
}

/// Loads and validates the file, and builds every source (so missing secrets are caught), as
/// `check-config` does.
fn load_checked(path: &Path) -> Result<Config, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    for source in &config.sources {
        super::check_source(source).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

/// The one-line summary for STATUS=.
pub fn status_line(engine: &Engine, started: Instant) -> String {
    match engine.status(started) {
        Ok(s) => {
            let online = s.controllers.iter().filter(|c| c.online).count();
            let pending: usize = s.controllers.iter().map(|c| c.pending_ops).sum();
            format!(
                "{} · {} people ({} active) · controllers {}/{} online · {} change(s) queued",
                s.summary,
                s.people.total,
                s.people.active,
                online,
                s.controllers.len(),
                pending
            )
        }
        Err(e) => format!("DEGRADED: cannot read the store: {e}"),
    }
}

/// Sends STATUS= whenever the line changes, and logs health changes.
async fn status_lines(
    mut engine: watch::Receiver<Arc<Engine>>,
    mut refused: watch::Receiver<Option<String>>,
    liveness: Liveness,
    started: Instant,
    notifier: Arc<dyn Notifier>,
    shutdown: CancellationToken,
) {
    let mut last = String::new();
    let mut last_health = String::new();
    loop {
        let current = engine.borrow_and_update().clone();
        let mut line = status_line(&current, started);
        if let Err(stall) = liveness.check() {
            line = format!("STALLED: {stall}");
        }
        if let Some(why) = refused.borrow().clone() {
            line = format!("{line} · {why}");
        }
        let health = line.split(" · ").next().unwrap_or_default().to_string();
        if health != last_health {
            if health.starts_with("OK") {
                tracing::info!(health = %health, "health changed");
            } else {
                tracing::warn!(health = %health, "health changed");
            }
            last_health = health;
        }
        if line != last {
            notifier.send(Note::Status(line.clone()));
            last = line;
        }
        tokio::select! {
            () = tokio::time::sleep(STATUS_EVERY) => {}
            Ok(()) = engine.changed() => {}
            Ok(()) = refused.changed() => {}
            () = shutdown.cancelled() => return,
        }
    }
}
