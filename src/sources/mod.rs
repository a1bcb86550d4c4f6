//! Source adapters: pull resident records from a PMS or a roster file and normalise them into
//! [`SourceRecord`]s. They know nothing of controllers, access or the store.

pub mod csv;
pub mod fields;
pub mod json;

use async_trait::async_trait;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// One resident as the source describes them, normalised. Every field here is source-owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source's immutable id for this person.
    pub external_id: String,
    pub first_name: String,
    pub last_name: String,
    /// Trimmed and lower-cased.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Unit as given (canonicalisation is the sync engine's job).
    pub unit: Option<String>,
    /// The source's lease status, lower-cased (e.g. "current", "past", "future", "notice").
    pub status: String,
    pub lease_start: Option<Date>,
    pub lease_end: Option<Date>,
    pub move_in: Option<Date>,
    pub move_out: Option<Date>,
}

/// A record the adapter could not turn into a [`SourceRecord`], with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    /// Position in the source's listing (0-based), to find it in the raw data.
    pub index: usize,
    /// The external id if one could be read.
    pub external_id: Option<String>,
    pub reason: String,
}

/// The result of one successful pull. A pull that could not complete is an `Err`, never a
/// short `Pull`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pull {
    pub records: Vec<SourceRecord>,
    pub skipped: Vec<SkippedRecord>,
    /// Only records changed since the requested instant: someone absent from it has not left.
    pub changes_only: bool,
}

/// What a pass asks the source for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// Everyone in scope: the only kind of listing whose absences mean "removed".
    Full,
    /// Records changed since the instant, where the API has a modified-since filter.
    Changes { since: jiff::Timestamp },
}

/// Why a pull failed as a whole. Any of these means: change nothing.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("response from {url} is not valid: {reason}")]
    Body { url: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error(transparent)]
    Secret(#[from] crate::config::secret::SecretError),
}

/// A source of resident records.
#[async_trait]
pub trait Source: Send + Sync {
    /// Fetches a listing. A source without a modified-since filter answers `Changes` with a full
    /// listing (`changes_only` false), which is always safe.
    async fn pull(&self, kind: PullKind) -> Result<Pull, SourceError>;
}
