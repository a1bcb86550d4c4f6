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

impl PersonType {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonType::Resident => "resident",
            PersonType::Staff => "staff",
            PersonType::Vendor => "vendor",
            PersonType::Visitor => "visitor",
        }
    }
}

/// Which source record owns a person's source-owned fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLink {
    pub source: String,
    pub external_id: String,
}

impl std::fmt::Display for SourceLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.external_id)
    }
}

/// A person lintel knows. Source-owned fields are overwritten by every sync pass; admin-owned
/// ones are never touched by sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPerson", into = "StoredPerson")]
pub struct Person {
    /// lintel's own id, e.g. `p000012`.
    pub id: String,
    /// The source record this person is linked to; `None` for people added locally.
    pub link: Option<SourceLink>,

    // Source-owned.
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<String>,
    /// The building (or property) the source places them in; older records lack it.
    pub building: Option<String>,
    pub status: String,
    pub lease_start: Option<Date>,
    pub lease_end: Option<Date>,
    pub move_in: Option<Date>,
    pub move_out: Option<Date>,
    /// Which raw phone `phone` was read from: see [`crate::sources::SourceRecord::phone_listed`].
    pub phone_listed: u64,

    // Admin-owned.
    pub person_type: PersonType,
    pub access_enabled: bool,
    /// Sync skips a decoupled person entirely.
    pub decoupled: bool,

    // Sync bookkeeping.
    /// False once the linked source stopped listing this person; access ends, the person
    /// stays. Always true for people added locally.
    pub at_source: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,

    /// What most people never have: PIN, tags, notes, door grants and denials, and sync's
    /// removal and exclusion marks.
    pub extra: Extras,
}

/// The fields of a [`Person`] most people leave empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// Keypad PIN, unique across people; sent with each of their cards. Never logged.
    pub pin: Option<String>,
    pub tags: Vec<String>,
    pub notes: String,
    /// Doors this person opens beyond their groups'.
    pub grants: Vec<String>,
    /// Doors this person never opens, whatever their groups say.
    pub denials: Vec<String>,
    /// When the linked source stopped listing them.
    pub removed_at: Option<Timestamp>,
    /// The `policy.exclude` entry that matched this person's record while they were linked:
    /// sync took their access and gives it back once the entry goes.
    pub excluded: Option<String>,
}

static NO_EXTRA: Extra = Extra {
    pin: None,
    tags: Vec::new(),
    notes: String::new(),
    grants: Vec::new(),
    denials: Vec::new(),
    removed_at: None,
    excluded: None,
};

/// A person's [`Extra`], allocated only once something is set: a pass holds every person, and
/// these fields inline were a third of each (168 of 472 bytes; docs/BENCHMARKS.md). Reads see
/// empty fields when nothing is set; the first write allocates.
#[derive(Clone, Default)]
pub struct Extras(Option<Box<Extra>>);

impl std::ops::Deref for Extras {
    type Target = Extra;

    fn deref(&self) -> &Extra {
        self.0.as_deref().unwrap_or(&NO_EXTRA)
    }
}

impl std::ops::DerefMut for Extras {
    fn deref_mut(&mut self) -> &mut Extra {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<Extra> for Extras {
    fn from(extra: Extra) -> Extras {
        Extras((extra != NO_EXTRA).then(|| Box::new(extra)))
    }
}

/// Set or not, equal fields are equal.
impl PartialEq for Extras {
    fn eq(&self, other: &Extras) -> bool {
        **self == **other
    }
}

impl Eq for Extras {}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A [`Person`] as stored and shown: every field in one flat record, in the order the store
/// has always written them (postcard is positional).
#[derive(Serialize, Deserialize)]
struct StoredPerson {
    id: String,
    link: Option<SourceLink>,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    unit: Option<String>,
    #[serde(default)]
    building: Option<String>,
    status: String,
    lease_start: Option<Date>,
    lease_end: Option<Date>,
    move_in: Option<Date>,
    move_out: Option<Date>,
    person_type: PersonType,
    access_enabled: bool,
    decoupled: bool,
    #[serde(default)]
    pin: Option<String>,
    tags: Vec<String>,
    notes: String,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    denials: Vec<String>,
    at_source: bool,
    removed_at: Option<Timestamp>,
    #[serde(default)]
    excluded: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Since schema 4: people written before end at `updated_at`.
    #[serde(default)]
    phone_listed: u64,
}

impl From<StoredPerson> for Person {
    fn from(s: StoredPerson) -> Person {
        Person {
            id: s.id,
            link: s.link,
            first_name: s.first_name,
            last_name: s.last_name,
            email: s.email,
            phone: s.phone,
            unit: s.unit,
            building: s.building,
            status: s.status,
            lease_start: s.lease_start,
            lease_end: s.lease_end,
            move_in: s.move_in,
            move_out: s.move_out,
            phone_listed: s.phone_listed,
            person_type: s.person_type,
            access_enabled: s.access_enabled,
            decoupled: s.decoupled,
            at_source: s.at_source,
            created_at: s.created_at,
            updated_at: s.updated_at,
            extra: Extras::from(Extra {
                pin: s.pin,
                tags: s.tags,
                notes: s.notes,
                grants: s.grants,
                denials: s.denials,
                removed_at: s.removed_at,
                excluded: s.excluded,
            }),
        }
    }
}

impl From<Person> for StoredPerson {
    fn from(p: Person) -> StoredPerson {
        let extra = p.extra.0.map(|e| *e).unwrap_or_default();
        StoredPerson {
            id: p.id,
            link: p.link,
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
            phone: p.phone,
            unit: p.unit,
            building: p.building,
            status: p.status,
            lease_start: p.lease_start,
            lease_end: p.lease_end,
            move_in: p.move_in,
            move_out: p.move_out,
            person_type: p.person_type,
            access_enabled: p.access_enabled,
            decoupled: p.decoupled,
            pin: extra.pin,
            tags: extra.tags,
            notes: extra.notes,
            grants: extra.grants,
            denials: extra.denials,
            at_source: p.at_source,
            removed_at: extra.removed_at,
            excluded: extra.excluded,
            created_at: p.created_at,
            updated_at: p.updated_at,
            phone_listed: p.phone_listed,
        }
    }
}

impl Person {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    pub fn source(&self) -> Option<&str> {
        self.link.as_ref().map(|l| l.source.as_str())
    }

    pub fn external_id(&self) -> Option<&str> {
        self.link.as_ref().map(|l| l.external_id.as_str())
    }

    /// Whether `source` owns this person.
    pub fn is_from(&self, source: &str) -> bool {
        self.source() == Some(source)
    }
}

/// Where a visitor pass came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassOrigin {
    /// Issued here with `lintel visitors add`.
    Local,
    /// Listed by a source.
    Cloud,
}

/// A visitor pass: a name, a host, a window and doors. A card assigned to the pass (its
/// `CredentialRecord::person_id` is the pass id) opens exactly those doors in exactly that window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorPass {
    /// `v000123`.
    pub id: String,
    pub name: String,
    /// The person visited, if any.
    pub host: Option<String>,
    pub unit: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Door names; empty = the doors the host opens.
    pub doors: Vec<String>,
    pub origin: PassOrigin,
    /// The source record that owns a cloud pass; `None` for passes issued here.
    #[serde(default)]
    pub link: Option<SourceLink>,
    /// Doors left out because their controller does not take visitor passes
    /// (`visitor_passes = false`): the pass is kept local to the controllers that do.
    #[serde(default)]
    pub kept_local: Vec<String>,
    pub cancelled_at: Option<Timestamp>,
    /// True when the cancellation came from the source no longer listing the pass (listing it
    /// again revives it); false when an administrator cancelled it here (it stays cancelled).
    #[serde(default)]
    pub removed_at_source: bool,
    pub created_at: Timestamp,
}

/// A card issued on site to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    /// The number the reader reports, which controllers compare.
    pub card: u64,
    /// The card as issued (format, facility code, UID…), for people to recognise.
    pub credential: crate::credentials::Credential,
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

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Added => "added",
            Outcome::Updated => "updated",
            Outcome::Skipped => "skipped",
            Outcome::Disabled => "disabled",
            Outcome::Processed => "processed",
            Outcome::Flagged => "flagged",
            Outcome::Failed => "failed",
            Outcome::Granted => "granted",
            Outcome::Revoked => "revoked",
        }
    }
}

/// One decision, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Assigned when stored; increasing.
    #[serde(default)]
    pub id: u64,
    pub at: Timestamp,
    pub outcome: Outcome,
    /// What the decision was about: a person id, a source, a controller.
    pub subject: String,
    pub reason: String,
    /// The source and record the decision came from, when it came from one.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

impl Activity {
    pub fn new(
        at: Timestamp,
        outcome: Outcome,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Activity {
            id: 0,
            at,
            outcome,
            subject: subject.into(),
            reason: reason.into(),
            source: None,
            external_id: None,
        }
    }

    /// Tags the entry with the source record it is about.
    pub fn record(mut self, source: &str, external_id: &str) -> Self {
        self.source = Some(source.to_string());
        self.external_id = Some(external_id.to_string());
        self
    }

    /// Case-insensitive match on everything a technician might search for.
    pub fn matches(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        [
            Some(self.subject.as_str()),
            Some(self.reason.as_str()),
            self.source.as_deref(),
            self.external_id.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(&needle))
    }
}

/// Something a person must look at. Review alerts hold an access change until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub kind: AlertKind,
    pub source: Option<String>,
    pub external_id: Option<String>,
    /// The lintel person concerned, if any.
    pub person: Option<String>,
    pub message: String,
    pub created_at: Timestamp,
    pub resolved: Option<Resolution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    /// A new source record resembles a local person but not exactly; no access until resolved.
    PartialMatch {
        record: Box<crate::sources::SourceRecord>,
        candidate: String,
    },
    /// The source changed a linked person's email; the old one is held until resolved.
    EmailMismatch {
        record: Box<crate::sources::SourceRecord>,
        new_email: String,
    },
    /// Two source records claim one person; the later one was not applied.
    Duplicate,
    /// A pass would have taken access from more people than the guard allows; held.
    MassDisable { people: Vec<String> },
}

impl AlertKind {
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::PartialMatch { .. } => "partial_match",
            AlertKind::EmailMismatch { .. } => "email_mismatch",
            AlertKind::Duplicate => "duplicate",
            AlertKind::MassDisable { .. } => "mass_disable",
        }
    }

    /// Whether resolving it is a review decision (`--link`, `--create`, `--ignore`).
    pub fn is_review(&self) -> bool {
        matches!(
            self,
            AlertKind::PartialMatch { .. } | AlertKind::EmailMismatch { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub at: Timestamp,
    /// `link`, `create`, `ignore`, `approve`, `reject`, or `cleared` when the cause went away.
    pub how: String,
}

/// A source's last pass, kept so status survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_attempt_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    /// The PMS's own clock during that pass (the `Date` header of its first answer): the next
    /// incremental pull asks for changes since this, on the clock the PMS stamps records with.
    /// `None` when it sent no usable `Date` (or the state predates it): the gateway's
    /// `last_success_at` stands in.
    #[serde(default)]
    pub last_success_pms_clock: Option<Timestamp>,
    pub last_error: Option<String>,
    pub people_in_scope: usize,
    /// What the last successful pass did, in one line.
    #[serde(default)]
    pub last_pass: Option<String>,
    /// Turned off at run time (bulk delete with `--disable-source`), overriding the config.
    #[serde(default)]
    pub disabled: bool,
}

/// The mass-change guard's memory for one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardState {
    /// The held revocations and the alert that announced them.
    pub held: Vec<String>,
    pub alert: Option<u64>,
    /// Revocations an administrator approved; the next pass may apply these.
    pub approved: Vec<String>,
    /// Revocations an administrator rejected; held again silently while unchanged.
    pub rejected: Vec<String>,
}
