//! What the store holds. Plain data: no policy lives here.

use jiff::Timestamp;
use jiff::civil::Date;
use lintel_hal::{Credential, Op};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonType {
    #[default]
    Resident,
    Staff,
    Vendor,
    Visitor,
}

/// A person lintel knows. Source-owned fields are overwritten by every sync pass; admin-owned
/// ones are never touched by sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// lintel's own id, e.g. `p000012`.
    pub id: String,
    /// The source that owns this person's source-owned fields.
    pub source: String,
    pub external_id: String,

    // Source-owned.
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<String>,
    pub status: String,
    pub lease_start: Option<Date>,
    pub lease_end: Option<Date>,
    pub move_in: Option<Date>,
    pub move_out: Option<Date>,

    // Admin-owned.
    pub person_type: PersonType,
    pub access_enabled: bool,

    // Sync bookkeeping.
    /// False once the source stopped listing this person; access ends, the person stays.
    pub at_source: bool,
    pub removed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Person {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A card issued on site to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub card: u64,
    pub person_id: String,
    pub added_at: Timestamp,
}

/// What a controller confirmed it holds for one card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckedSlot {
    pub slot: u16,
    pub credential: Credential,
}

/// A change bound for a controller, durable until the controller acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub controller: String,
    /// Unique and increasing; an ack removes the entry only if it is still this one.
    pub seq: u64,
    pub op: Op,
    pub enqueued_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Added,
    Updated,
    Skipped,
    Disabled,
    Processed,
    Flagged,
    Failed,
    Granted,
    Revoked,
}

/// One decision, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub at: Timestamp,
    pub outcome: Outcome,
    /// What the decision was about: a person id, a source, a controller.
    pub subject: String,
    pub reason: String,
}

impl Activity {
    pub fn new(
        at: Timestamp,
        outcome: Outcome,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Activity {
            at,
            outcome,
            subject: subject.into(),
            reason: reason.into(),
        }
    }
}

/// A source's last pass, kept so status survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_attempt_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub people_in_scope: usize,
}
