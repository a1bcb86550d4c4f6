//! Serves the control socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::peer::{Access, PeerPolicy};
use super::protocol::{Reply, Request};
use crate::daemon::engine::Engine;

/// Longest request line accepted (a fob inventory import is the largest honest request);
/// anything longer is a confused or hostile peer.
const MAX_REQUEST: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another lintel is already serving {0}")]
    InUse(PathBuf),
    #[error("cannot create control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the socket, replacing a stale file left by a crash but never a live daemon's socket.
pub async fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io = |source| BindError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(BindError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    Ok(listener)
}

pub async fn serve(
    listener: UnixListener,
    engine: Arc<Engine>,
    policy: PeerPolicy,
    started: Instant,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let engine = engine.clone();
        let policy = policy.clone();
        tracker.spawn(async move {
            if let Err(e) = handle(stream, &engine, &policy, started).await {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn handle(
    stream: UnixStream,
    engine: &Engine,
    policy: &PeerPolicy,
    started: Instant,
) -> std::io::Result<()> {
    let access = match stream.peer_cred() {
        Ok(cred) => policy.access(cred.uid(), cred.gid()),
        Err(_) => Access::None,
    };
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::Error(format!("bad request: {e}")),
        Ok(_) if access == Access::None => Reply::Error(
            "permission denied: not root, the lintel service user, or in its read group".into(),
        ),
        Ok(req) if req.mutates() && access != Access::Full => Reply::Error(
            "permission denied: this request changes access; run it as root or the lintel user"
                .into(),
        ),
        Ok(req) => answer(req, engine, started).await,
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

async fn answer(req: Request, engine: &Engine, started: Instant) -> Reply {
    let result = dispatch(req, engine, started).await;
    match result {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Error(e),
    }
}

fn ok<T: serde::Serialize, E: std::fmt::Display>(
    r: Result<T, E>,
) -> Result<serde_json::Value, String> {
    r.map(|v| json!(v)).map_err(|e| e.to_string())
}

async fn dispatch(
    req: Request,
    engine: &Engine,
    started: Instant,
) -> Result<serde_json::Value, String> {
    match req {
        Request::Status => ok(engine.status(started)),
        Request::SyncNow { dry_run } => Ok(json!(engine.sync_all(dry_run).await)),
        Request::SyncApprove { source } => ok(engine.approve(&source).await),
        Request::SyncReject { source } => ok(engine.reject(&source).await),
        Request::SyncEnable { source } => ok(engine.enable_source(&source).await),
        Request::Alerts { all } => ok(engine.alerts(all)),
        Request::ReviewResolve { id, action } => ok(engine.resolve_alert(id, action).await),
        Request::PeopleList => ok(engine.store.people()),
        Request::PeopleShow { person } => ok(engine.explain(&person, None)),
        Request::PeopleAdd(new) => ok(engine.add_person(new).await),
        Request::PeopleDecouple { person } => ok(engine.set_decoupled(&person, true).await),
        Request::PeopleRecouple { person } => ok(engine.set_decoupled(&person, false).await),
        Request::PeopleDoor {
            person,
            door,
            change,
        } => ok(engine.set_door(&person, &door, change).await),
        Request::PeopleTag { person, tag, on } => ok(engine.set_tag(&person, &tag, on).await),
        Request::CredentialsAdd { person, card } => ok(engine.add_credential(&person, &card).await),
        Request::CredentialsPin { person, change } => ok(engine.set_pin(&person, change).await),
        Request::Impact { config } => ok(engine.impact(&config)),
        Request::CredentialsImport { csv, dry_run } => ok(engine.import_cards(&csv, dry_run).await),
        Request::CredentialsEnroll {
            person,
            door,
            within_s,
        } => ok(engine
            .enroll(&person, &door, std::time::Duration::from_secs(within_s))
            .await),
        Request::CredentialsRemove { card } => ok(engine.remove_credential(card).await),
        Request::CredentialsList => ok(engine.store.credentials()),
        Request::VisitorsAdd(new) => ok(engine.add_pass(new).await),
        Request::VisitorsCancel { id } => ok(engine.cancel_pass(&id).await),
        Request::VisitorsExtend { id, to, keep_local } => {
            ok(engine.extend_pass(&id, &to, keep_local).await)
        }
        Request::VisitorsList { origin } => ok(engine.passes(origin)),
        Request::Activity { limit, search } => match search {
            Some(needle) => ok(engine.store.search_activity(&needle, limit)),
            None => ok(engine.store.activity(limit)),
        },
        Request::ActivityShow { id } => match engine.store.activity_entry(id) {
            Ok(Some(entry)) => Ok(json!(entry)),
            Ok(None) => Err(format!("no activity entry {id}")),
            Err(e) => Err(e.to_string()),
        },
        Request::BulkDeletePreview { source } => ok(engine.bulk_delete_preview(&source)),
        Request::BulkDeleteConfirm {
            source,
            token,
            disable_source,
        } => ok(engine
            .bulk_delete_confirm(&source, &token, disable_source)
            .await),
        Request::Explain { person, door } => ok(engine.explain(&person, door.as_deref())),
        Request::ControllersList => ok(engine.controllers()),
        Request::ControllersVerify { name } => ok(engine.verify_controller(&name).await),
        Request::ControllersResync { name } => ok(engine.resync_controller(&name).await),
    }
}
