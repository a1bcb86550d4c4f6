//! Driver errors with a `kind()` retry logic can match on.

use std::fmt;

/// What kind of failure, so callers decide to retry, back off or alert without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect, or the connection dropped.
    Unreachable,
    /// No reply in time (also Modbus exception 0B: a TCP gateway's target did not answer).
    Timeout,
    /// The device is busy or failed transiently (Modbus exceptions 04, 05, 06, 08, 0A).
    Busy,
    /// The device rejected the request as malformed (exception 03); retrying unchanged won't help.
    Rejected,
    /// The device does not match the configured profile (exceptions 01, 02, wrong magic, slot
    /// beyond the table).
    Config,
    /// The reply was malformed (short frame, bad CRC, wrong length).
    Protocol,
}

impl ErrorKind {
    /// Whether sending the same request again later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Busy | ErrorKind::Protocol
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Busy => "busy",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Config => "config",
            ErrorKind::Protocol => "protocol",
        };
        f.write_str(s)
    }
}

/// A driver error: a kind plus a human sentence naming what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Concerns the controller as a whole, not one request: see [`Error::whole_device`].
    whole_device: bool,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            whole_device: false,
        }
    }

    /// Marks a failure that concerns the controller as a whole rather than one request: its
    /// transport could not be set up as configured (say, an RS-485 mode its port lacks), or it
    /// runs firmware this driver cannot drive. Nothing reaches it until that changes.
    pub fn whole_device(mut self) -> Self {
        self.whole_device = true;
        self
    }

    /// The same error, its message prefixed with what was being done.
    pub fn context(&self, what: &str) -> Self {
        Error {
            message: format!("{what}: {}", self.message),
            ..self.clone()
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the controller cannot be used at all now (it does not answer, or cannot be set up
    /// as configured), as opposed to failing or refusing one request while it is reachable.
    pub fn is_offline(&self) -> bool {
        self.whole_device || matches!(self.kind, ErrorKind::Unreachable | ErrorKind::Timeout)
    }
}

/// A batch that stopped part-way: the first `applied` ops were confirmed by the device.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error} (after {applied} confirmed)")]
pub struct BatchError {
    pub applied: usize,
    #[source]
    pub error: Error,
}
