//! Requests and replies on the control socket.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case")]
pub enum Request {
    Status,
    SyncNow,
    CredentialsAdd { person: String, card: u64 },
    CredentialsRemove { card: u64 },
    CredentialsList,
    Activity { limit: usize },
}

impl Request {
    /// Whether the request changes anything (and so needs more than read access).
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Request::SyncNow | Request::CredentialsAdd { .. } | Request::CredentialsRemove { .. }
        )
    }
}

/// A reply: `{"ok": …}` or `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(serde_json::Value),
    Error(String),
}
