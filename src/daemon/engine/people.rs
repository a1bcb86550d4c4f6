//! Admin changes to people and their cards. Each is one commit with the outbox entries it
//! implies, and an activity entry saying who changed what.

use jiff::Timestamp;

use super::{Engine, EngineError};
use crate::access::Access;
use crate::credentials::{generate_pin, parse_card};
use crate::store::{Activity, Commit, CredentialRecord, Outcome, Person, PersonType};

/// A per-person door change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorChange {
    Grant,
    Deny,
    Reset,
}

/// What to do with a person's PIN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinChange {
    Set(String),
    Generate,
    Clear,
}

/// A person added on site rather than by a source (staff, vendors, or a resident before the
/// PMS lists them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<String>,
    #[serde(default)]
    pub building: Option<String>,
    pub person_type: PersonType,
}

impl Engine {
    /// Finds a person by lintel id, external id (bare or `source:id`), email (any case) or card
    /// number in any form `--card` takes (`8392263`, `w26:123:4567`, `uid:04A1B2C3`, …). A
    /// query that names more than one person is refused with the candidates rather than
    /// guessed.
    pub fn resolve_person(&self, query: &str) -> Result<Person, EngineError> {
        let query = query.trim();
        // Lintel ids are lintel's own and unique; nothing else is spelled like one.
        if let Some(p) = self.store.person(query)? {
            return Ok(p);
        }
        let mut found: Vec<Person> = Vec::new();
        let add = |p: Person, found: &mut Vec<Person>| {
            if !found.iter().any(|q| q.id == p.id) {
                found.push(p);
            }
        };
        if let Some(card) = parse_card(query).ok().and_then(|c| c.card_number())
            && let Some(c) = self.store.credential(card)?
            && let Some(p) = self.store.person(&c.person_id)?
        {
            add(p, &mut found);
        }
        if query.contains('@') {
            let lower = query.to_lowercase();
            for p in self.store.people()? {
                if p.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase() == lower)
                {
                    add(p, &mut found);
                }
            }
        } else {
            // External ids through the store's index, so bulk work (imports) stays linear.
            let mut indexed = false;
            for source in &self.sources {
                let id = query
                    .strip_prefix(&format!("{}:", source.name))
                    .unwrap_or(query);
                if let Some(p) = self.store.person_by_external(&source.name, id)? {
                    indexed = true;
                    add(p, &mut found);
                }
            }
            // People of a source no longer configured are only found by reading them all.
            if !indexed {
                for p in self.store.people()? {
                    if p.external_id() == Some(query)
                        || p.link.as_ref().is_some_and(|l| l.to_string() == query)
                    {
                        add(p, &mut found);
                    }
                }
            }
        }
        match found.len() {
            0 => Err(EngineError::UnknownPerson(query.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(EngineError::Ambiguous {
                query: query.to_string(),
                candidates: found.into_iter().map(|p| p.id).collect(),
            }),
        }
    }

    /// Issues the card `spec` (`w26:FC:CN`, `uid:HEX`, a plain number…) to a person, or to a
    /// visitor pass named by its id (`v000123`): the card then follows the pass's window.
    pub async fn add_credential(
        &self,
        person: &str,
        spec: &str,
    ) -> Result<CredentialRecord, EngineError> {
        let now = self.clock.now();
        if let Some(pass) = self.store.pass(person.trim())? {
            let host = self.host_of(&pass)?;
            let access = self.policy.pass_access(&pass, host.as_ref(), now);
            return self.assign_card(&pass.id, spec, access, now).await;
        }
        let person = self.resolve_person(person)?;
        let access = self.policy.access(&person, now);
        self.assign_card(&person.id, spec, access, now).await
    }

    async fn assign_card(
        &self,
        holder: &str,
        spec: &str,
        access: Access,
        now: jiff::Timestamp,
    ) -> Result<CredentialRecord, EngineError> {
        let record = self.card_for(holder, spec, now)?;
        let (credential, card) = (&record.credential, record.card);
        let reason = match access {
            Access::Granted { .. } => format!("card {credential} ({card}) assigned"),
            Access::Denied(why) => {
                format!("card {credential} ({card}) assigned; no door yet: {why}")
            }
        };
        let commit = Commit {
            credentials_put: vec![record.clone()],
            activity: vec![Activity::new(now, Outcome::Added, holder, reason)],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(record)
    }

    pub async fn remove_credential(&self, card: u64) -> Result<CredentialRecord, EngineError> {
        let record = self
            .store
            .credential(card)?
            .ok_or(EngineError::UnknownCard(card))?;
        let now = self.clock.now();
        let commit = Commit {
            credentials_remove: vec![card],
            activity: vec![Activity::new(
                now,
                Outcome::Disabled,
                record.person_id.clone(),
                format!("card {card} removed; revoked at every controller"),
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(record)
    }

    /// Adds a person who belongs to no source. They keep the access their groups give until an
    /// administrator changes it; a source record matching them exactly links to them later.
    pub async fn add_person(&self, new: NewPerson) -> Result<Person, EngineError> {
        if new.first_name.trim().is_empty() && new.last_name.trim().is_empty() {
            return Err(EngineError::Refused(
                "a person needs a first or last name".into(),
            ));
        }
        let now = self.clock.now();
        let country = self.country();
        let phone =
            match new
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None => None,
                Some(raw) => Some(crate::sync::e164(raw, country).ok_or_else(|| {
                    EngineError::Refused(format!("`{raw}` is not a phone number"))
                })?),
            };
        let person = Person {
            id: format!("p{:06}", self.store.next_id()?),
            link: None,
            first_name: new.first_name.trim().to_string(),
            last_name: new.last_name.trim().to_string(),
            email: new
                .email
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty()),
            phone,
            unit: new
                .unit
                .map(|u| self.config.policy.units.canonical(&u))
                .filter(|u| !u.is_empty()),
            building: crate::sources::fields::non_empty(new.building.as_deref()),
            status: "current".to_string(),
            lease_start: None,
            lease_end: None,
            move_in: None,
            move_out: None,
            phone_listed: 0,
            person_type: new.person_type,
            access_enabled: true,
            decoupled: false,
            at_source: true,
            created_at: now,
            updated_at: now,
            extra: Default::default(),
        };
        let commit = Commit {
            people: vec![person.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Added,
                person.id.clone(),
                format!("{} added locally", person.display_name()),
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(person)
    }

    /// Decouples (sync skips the person entirely) or recouples them.
    pub async fn set_decoupled(&self, query: &str, decoupled: bool) -> Result<Person, EngineError> {
        let mut person = self.resolve_person(query)?;
        if person.decoupled == decoupled {
            return Ok(person);
        }
        let now = self.clock.now();
        person.decoupled = decoupled;
        person.updated_at = now;
        let reason = if decoupled {
            "decoupled: sync will leave this person alone"
        } else {
            "recoupled: the next pass updates this person from their source again"
        };
        let commit = Commit {
            people: vec![person.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Updated,
                person.id.clone(),
                reason,
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(person)
    }

    /// Sets, generates (`pin` = None) or clears a person's keypad PIN. PINs are unique across
    /// people. Returns the PIN set, so the operator can hand it over; it is never logged.
    pub async fn set_pin(
        &self,
        query: &str,
        pin: PinChange,
    ) -> Result<Option<String>, EngineError> {
        let mut person = self.resolve_person(query)?;
        let policy = &self.config.pins;
        let people = self.store.people()?;
        let taken = |candidate: &str| {
            people
                .iter()
                .any(|p| p.id != person.id && p.extra.pin.as_deref() == Some(candidate))
        };
        let new = match pin {
            PinChange::Clear => None,
            PinChange::Set(digits) => {
                policy
                    .check(&digits)
                    .map_err(|e| EngineError::Refused(e.to_string()))?;
                if taken(&digits) {
                    return Err(EngineError::Refused(
                        "that PIN belongs to someone else; choose another".into(),
                    ));
                }
                Some(digits)
            }
            PinChange::Generate => Some(
                generate_pin(policy, &taken, &mut rand::rng())
                    .map_err(|e| EngineError::Refused(e.to_string()))?,
            ),
        };
        let now = self.clock.now();
        let reason = if new.is_some() {
            "keypad PIN set"
        } else {
            "keypad PIN cleared"
        };
        person.extra.pin = new.clone();
        person.updated_at = now;
        let commit = Commit {
            activity: vec![Activity::new(
                now,
                Outcome::Updated,
                person.id.clone(),
                reason,
            )],
            people: vec![person],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(new)
    }

    /// Per-person door changes on top of their groups: grant adds a door, deny removes one,
    /// reset drops both for that door.
    pub async fn set_door(
        &self,
        query: &str,
        door: &str,
        change: DoorChange,
    ) -> Result<Person, EngineError> {
        if !self.policy.has_door(door) {
            return Err(EngineError::Refused(format!("no door is named `{door}`")));
        }
        let mut person = self.resolve_person(query)?;
        person.extra.grants.retain(|d| d != door);
        person.extra.denials.retain(|d| d != door);
        match change {
            DoorChange::Grant => person.extra.grants.push(door.to_string()),
            DoorChange::Deny => person.extra.denials.push(door.to_string()),
            DoorChange::Reset => {}
        }
        let now = self.clock.now();
        person.updated_at = now;
        let reason = match change {
            DoorChange::Grant => format!("granted door {door} beyond their groups"),
            DoorChange::Deny => format!("denied door {door} whatever their groups say"),
            DoorChange::Reset => format!("door {door} back to what their groups say"),
        };
        let commit = Commit {
            activity: vec![Activity::new(
                now,
                Outcome::Updated,
                person.id.clone(),
                reason,
            )],
            people: vec![person.clone()],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(person)
    }

    /// Adds or removes an admin-owned tag (groups can match on tags).
    pub async fn set_tag(&self, query: &str, tag: &str, on: bool) -> Result<Person, EngineError> {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(EngineError::Refused("a tag must not be empty".into()));
        }
        let mut person = self.resolve_person(query)?;
        person.extra.tags.retain(|t| t != tag);
        if on {
            person.extra.tags.push(tag.to_string());
        }
        let now = self.clock.now();
        person.updated_at = now;
        let reason = if on {
            format!("tagged `{tag}`")
        } else {
            format!("tag `{tag}` removed")
        };
        let commit = Commit {
            activity: vec![Activity::new(
                now,
                Outcome::Updated,
                person.id.clone(),
                reason,
            )],
            people: vec![person.clone()],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(person)
    }

    /// The person's access right now, in the words status and explain use.
    pub fn access_of(&self, person: &Person, now: Timestamp) -> Access {
        self.policy.access(person, now)
    }
}
