//! Source adapters: pull resident records from a PMS or a roster file and normalise them into
//! [`SourceRecord`]s. They know nothing of controllers, access or the store.

pub mod appfolio;
pub mod buildium;
pub mod csv;
pub mod entrata;
pub mod fields;
pub mod fixtures;
pub mod http;
pub mod json;
pub mod pick;
pub mod pms_clock;
pub mod settle;
mod stream;
pub mod value;

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
    /// Building (or property) name, trimmed; `None` when the source gives none. Access groups
    /// match it case-insensitively.
    #[serde(default)]
    pub building: Option<String>,
    /// The source's lease status, lower-cased (e.g. "current", "past", "future", "notice").
    pub status: String,
    pub lease_start: Option<Date>,
    pub lease_end: Option<Date>,
    pub move_in: Option<Date>,
    pub move_out: Option<Date>,
    /// A fingerprint of the phone as the source wrote it and the default country it was read
    /// with, when reading it changed it (a national number made E.164); 0 otherwise. A pass
    /// that finds the same fingerprint on the person keeps their phone without parsing it again
    /// (`crate::sync::normalise`).
    #[serde(default)]
    pub phone_listed: u64,
}

/// A visitor pass as the source lists it (origin `cloud`): keyed by the source and its external
/// id. Source-owned: each successful pull overwrites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorRecord {
    pub external_id: String,
    /// The visitor's name, trimmed (first and last name joined).
    pub name: String,
    /// The unit visited, as given.
    pub unit: Option<String>,
    /// The host's external id at the same source; their doors are the pass's unless `doors`.
    pub host: Option<String>,
    pub from: fields::PassTime,
    pub to: fields::PassTime,
    /// Door names; empty = the host's doors.
    pub doors: Vec<String>,
}

/// Default `full_reconcile`: nightly at 03:00 in the site's time zone.
pub const DEFAULT_FULL_RECONCILE: &str = "0 3 * * *";
/// Default `max_lookback`: after a longer gap since the last successful pull, pull in full.
pub const DEFAULT_MAX_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// When a source is pulled: the keys `incremental_every`, `full_reconcile` and `max_lookback`,
/// which every `[[source]]` kind accepts (see `src/daemon/schedule.rs` for how they combine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// How often to pull changes only; `None` = every `sync.interval`. Only for sources with a
    /// modified-since filter (or date windows).
    pub incremental_every: Option<std::time::Duration>,
    /// Cron expression (5 fields, site time zone) for the full reconciliation.
    pub full_reconcile: String,
    /// The longest gap an incremental pull may cover; longer (or never succeeded) → full pull.
    pub max_lookback: std::time::Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            incremental_every: None,
            full_reconcile: DEFAULT_FULL_RECONCILE.to_string(),
            max_lookback: DEFAULT_MAX_LOOKBACK,
        }
    }
}

/// lintel's lease statuses: every adapter maps its PMS's vocabulary onto these (lower-case)
/// words, and `policy.lease_statuses` lists the ones that carry access.
pub mod status {
    /// Applied, not yet approved.
    pub const APPLICANT: &str = "applicant";
    /// Approved or signed, move-in not yet reached (generic sources only).
    pub const PENDING: &str = "pending";
    /// Signed lease starting in the future.
    pub const FUTURE: &str = "future";
    pub const CURRENT: &str = "current";
    /// Notice to vacate given; still living there until move-out.
    pub const NOTICE: &str = "notice";
    /// Eviction pending; still living there.
    pub const EVICTING: &str = "evicting";
    /// Moved out, lease over, or removed at source.
    pub const PAST: &str = "past";
    /// Lease or occupant cancelled before or during the lease (e.g. a removed roommate).
    pub const CANCELLED: &str = "cancelled";

    /// Every lease status, in the order of the docs' table.
    pub const ALL: [&str; 8] = [
        APPLICANT, PENDING, FUTURE, CURRENT, NOTICE, EVICTING, PAST, CANCELLED,
    ];
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
    /// Residents the pass's [`settle::settling`] scope found already applied as they stand,
    /// kept by external id only.
    pub settled: Vec<Settled>,
    /// Visitor passes listed alongside the residents (rows typed `visitor` or `guest`).
    pub visitors: Vec<VisitorRecord>,
    pub skipped: Vec<SkippedRecord>,
    /// Only records changed since the requested instant: someone absent from it has not left.
    pub changes_only: bool,
}

/// A resident listed exactly as lintel already holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub external_id: String,
    /// How many of the pull's `records` were listed before this one: the listing's order,
    /// which decides which of two records claiming one person comes first.
    pub before: usize,
}

impl Pull {
    /// Adds the record read at `index` as a resident, a visitor pass or a skip.
    pub fn take(
        &mut self,
        index: usize,
        kind: Result<fields::Occupant, String>,
        raw: fields::RawFields,
    ) {
        let read = match kind {
            Ok(fields::Occupant::Resident) => raw.normalise(index).map(|r| self.push_resident(r)),
            Ok(fields::Occupant::Visitor) => raw.visitor(index).map(|v| self.visitors.push(v)),
            Err(reason) => Err(SkippedRecord {
                index,
                external_id: raw.external_id(),
                reason,
            }),
        };
        if let Err(skipped) = read {
            self.skipped.push(skipped);
        }
    }

    /// Adds a resident: whole, or by id alone when it is settled.
    pub fn push_resident(&mut self, record: SourceRecord) {
        if settle::settled(&record) {
            self.settled.push(Settled {
                external_id: record.external_id,
                before: self.records.len(),
            });
        } else {
            self.records.push(record);
        }
    }

    /// Residents listed, settled or not.
    pub fn residents(&self) -> usize {
        self.records.len() + self.settled.len()
    }
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
    /// `note` is empty or starts with a space, e.g. " (rate limited; gave up after 4 attempts)".
    #[error("{url} answered HTTP {status}{note}")]
    Status {
        url: String,
        status: u16,
        note: String,
    },
    /// Every page answered, but together they do not add up to the whole listing.
    #[error("listing from {url} is incomplete: {reason}")]
    Incomplete { url: String, reason: String },
    /// The API answered 200 with an error in its own envelope.
    #[error("{url} reported an error: {reason}")]
    Api { url: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
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
