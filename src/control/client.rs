//! The client side used by the CLI and by tests.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{Reply, Request};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the lintel daemon is not reachable at {path}: {reason}")]
    Unreachable { path: String, reason: String },
    #[error("the daemon's reply could not be read: {0}")]
    BadReply(String),
    #[error("{0}")]
    Refused(String),
}

/// Sends one request and returns the `ok` payload.
pub async fn request(socket: &Path, req: &Request) -> Result<serde_json::Value, ClientError> {
    let unreachable = |e: std::io::Error| {
        // The file mode said no: the daemon runs, this user may not talk to it.
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return ClientError::Refused(format!(
                "permission denied on the control socket {}: run as root or the lintel \
                 service user, or join its read group",
                socket.display()
            ));
        }
        ClientError::Unreachable {
            path: socket.display().to_string(),
            reason: e.to_string(),
        }
    };
    let mut stream = UnixStream::connect(socket).await.map_err(unreachable)?;
    let mut line = serde_json::to_vec(req).map_err(|e| ClientError::BadReply(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).await.map_err(unreachable)?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .await
        .map_err(|e| ClientError::BadReply(e.to_string()))?;
    match serde_json::from_str::<Reply>(&reply).map_err(|e| ClientError::BadReply(e.to_string()))? {
        Reply::Ok(v) => Ok(v),
        Reply::Error(e) => Err(ClientError::Refused(e)),
    }
}
