//! Requests and replies on the control socket.

use serde::{Deserialize, Serialize};

use crate::daemon::engine::{DoorChange, NewPass, NewPerson, PinChange, ReviewAction};
use crate::store::PassOrigin;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case")]
pub enum Request {
    Status,
    SyncNow {
        #[serde(default)]
        dry_run: bool,
    },
    SyncApprove {
        source: String,
    },
    SyncReject {
        source: String,
    },
    SyncEnable {
        source: String,
    },
    Alerts {
        #[serde(default)]
        all: bool,
    },
    ReviewResolve {
        id: u64,
        action: ReviewAction,
    },
    PeopleList,
    PeopleShow {
        person: String,
    },
    PeopleAdd(NewPerson),
    PeopleDecouple {
        person: String,
    },
    PeopleRecouple {
        person: String,
    },
    PeopleDoor {
        person: String,
        door: String,
        change: DoorChange,
    },
    PeopleTag {
        person: String,
        tag: String,
        on: bool,
    },
    CredentialsAdd {
        person: String,
        /// As typed: `w26:FC:CN`, `uid:HEX`, or the number the reader reports.
        card: String,
    },
    CredentialsPin {
        person: String,
        change: PinChange,
    },
    /// Who gains and loses doors under the proposed config text.
    Impact {
        config: String,
    },
    /// A fob inventory: CSV text with `person,card` columns.
    CredentialsImport {
        csv: String,
        #[serde(default)]
        dry_run: bool,
    },
    /// Waits for the next unknown card at `door` and issues it to `person`.
    CredentialsEnroll {
        person: String,
        door: String,
        within_s: u64,
    },
    CredentialsRemove {
        card: u64,
    },
    CredentialsList,
    VisitorsAdd(NewPass),
    VisitorsCancel {
        id: String,
    },
    VisitorsExtend {
        id: String,
        to: String,
        #[serde(default)]
        keep_local: bool,
    },
    VisitorsList {
        #[serde(default)]
        origin: Option<PassOrigin>,
    },
    Activity {
        limit: usize,
        #[serde(default)]
        search: Option<String>,
    },
    ActivityShow {
        id: u64,
    },
    BulkDeletePreview {
        source: String,
    },
    BulkDeleteConfirm {
        source: String,
        token: String,
        #[serde(default)]
        disable_source: bool,
    },
    Explain {
        person: String,
        #[serde(default)]
        door: Option<String>,
    },
    ControllersList,
    /// Read the controller's table back now and report what differs.
    ControllersVerify {
        name: String,
    },
    /// Queue every credential the controller should hold again.
    ControllersResync {
        name: String,
    },
}

impl Request {
    /// Whether the request changes anything (and so needs more than read access).
    pub fn mutates(&self) -> bool {
        match self {
            Request::SyncNow { dry_run } => !dry_run,
            Request::SyncApprove { .. }
            | Request::SyncReject { .. }
            | Request::SyncEnable { .. }
            | Request::ReviewResolve { .. }
            | Request::PeopleAdd(_)
            | Request::PeopleDecouple { .. }
            | Request::PeopleRecouple { .. }
            | Request::PeopleDoor { .. }
            | Request::PeopleTag { .. }
            | Request::CredentialsAdd { .. }
            | Request::CredentialsPin { .. }
            | Request::CredentialsEnroll { .. }
            | Request::CredentialsImport { dry_run: false, .. }
            | Request::VisitorsAdd(_)
            | Request::VisitorsCancel { .. }
            | Request::VisitorsExtend { .. }
            | Request::CredentialsRemove { .. }
            | Request::BulkDeleteConfirm { .. } => true,
            Request::Status
            | Request::Alerts { .. }
            | Request::PeopleList
            | Request::PeopleShow { .. }
            | Request::CredentialsList
            | Request::Impact { .. }
            | Request::CredentialsImport { dry_run: true, .. }
            | Request::VisitorsList { .. }
            | Request::Activity { .. }
            | Request::ActivityShow { .. }
            | Request::BulkDeletePreview { .. }
            | Request::Explain { .. } => false,
            Request::ControllersList => false,
            // A readback repairs drift; a resync rewrites the whole table.
            Request::ControllersVerify { .. } | Request::ControllersResync { .. } => true,
        }
    }
}

/// A reply: `{"ok": …}` or `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(serde_json::Value),
    Error(String),
}
