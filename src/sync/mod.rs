//! The sync engine: decides what one source pull means for the people lintel knows. It decides
//! and records why; it never talks to a door and never writes the store itself.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use crate::sources::{Pull, SourceRecord};
use crate::store::{Activity, Outcome, Person, PersonType};

/// What one pass decided.
#[derive(Debug, Default)]
pub struct PassPlan {
    /// People to write (new or changed).
    pub people: Vec<Person>,
    pub activity: Vec<Activity>,
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub skipped: usize,
}

/// Why a pull must not be applied at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("source returned no records; an empty listing is never taken as everyone moving out")]
    Empty,
}

/// Plans the effect of `pull` from `source` on `existing` (every person this source owns).
/// `new_id` hands out ids for people seen for the first time.
pub fn plan_pass(
    source: &str,
    pull: &Pull,
    existing: &[Person],
    allowed_statuses: &HashSet<String>,
    now: Timestamp,
    new_id: &mut dyn FnMut() -> String,
) -> Result<PassPlan, Refusal> {
    if pull.records.is_empty() {
        return Err(Refusal::Empty);
    }
    let mut plan = PassPlan::default();
    let by_ext: HashMap<&str, &Person> = existing
        .iter()
        .map(|p| (p.external_id.as_str(), p))
        .collect();
    // Ids the source still lists (readable or not): their people are not absent.
    let mut listed: HashSet<&str> = HashSet::new();
    // Ids already applied this pass, to catch a source listing one id twice.
    let mut applied: HashSet<&str> = HashSet::new();

    for skipped in &pull.skipped {
        plan.skipped += 1;
        let subject = skipped
            .external_id
            .clone()
            .unwrap_or_else(|| format!("{source} record #{}", skipped.index));
        plan.activity.push(Activity::new(
            now,
            Outcome::Skipped,
            subject,
            skipped.reason.clone(),
        ));
        if let Some(id) = &skipped.external_id {
            // Listed but unreadable: it is still at the source, so its person keeps their state.
            listed.insert(id.as_str());
        }
    }

    for record in &pull.records {
        listed.insert(record.external_id.as_str());
        if !applied.insert(record.external_id.as_str()) {
            plan.skipped += 1;
            plan.activity.push(Activity::new(
                now,
                Outcome::Flagged,
                record.external_id.clone(),
                format!("external id listed twice by `{source}`; the first record was used"),
            ));
            continue;
        }
        match by_ext.get(record.external_id.as_str()) {
            Some(person) => {
                let mut updated = (*person).clone();
                let mut changed = apply_source_fields(&mut updated, record);
                if !person.at_source {
                    updated.at_source = true;
                    updated.removed_at = None;
                    changed.push("listed again at source");
                }
                if !changed.is_empty() {
                    updated.updated_at = now;
                    plan.updated += 1;
                    plan.activity.push(Activity::new(
                        now,
                        Outcome::Updated,
                        updated.id.clone(),
                        format!("`{source}` changed {}", changed.join(", ")),
                    ));
                    plan.people.push(updated);
                }
            }
            None if !allowed_statuses.contains(&record.status) => {
                plan.skipped += 1;
                plan.activity.push(Activity::new(
                    now,
                    Outcome::Skipped,
                    record.external_id.clone(),
                    format!(
                        "new record with lease status `{}`, which carries no access",
                        record.status
                    ),
                ));
            }
            None => {
                let person = new_person(new_id(), source, record, now);
                plan.added += 1;
                plan.activity.push(Activity::new(
                    now,
                    Outcome::Added,
                    person.id.clone(),
                    format!(
                        "new at `{source}` as {} ({}), status {}",
                        record.external_id,
                        person.display_name(),
                        record.status
                    ),
                ));
                plan.people.push(person);
            }
        }
    }

    if pull.changes_only {
        // A changes-only listing says nothing about who is gone.
        return Ok(plan);
    }
    let anonymous_skips = pull.skipped.iter().any(|s| s.external_id.is_none());
    for person in existing
        .iter()
        .filter(|p| p.at_source && !listed.contains(p.external_id.as_str()))
    {
        if anonymous_skips {
            // An unreadable record might be this person: absence proves nothing this pass.
            plan.activity.push(Activity::new(
                now,
                Outcome::Flagged,
                person.id.clone(),
                format!(
                    "not listed by `{source}`, but the listing had unreadable records; kept as is"
                ),
            ));
            continue;
        }
        let mut gone = person.clone();
        gone.at_source = false;
        gone.removed_at = Some(now);
        gone.updated_at = now;
        plan.disabled += 1;
        plan.activity.push(Activity::new(
            now,
            Outcome::Disabled,
            gone.id.clone(),
            format!("no longer listed by `{source}`; access revoked, person and history kept"),
        ));
        plan.people.push(gone);
    }
    Ok(plan)
}

fn new_person(id: String, source: &str, r: &SourceRecord, now: Timestamp) -> Person {
    let mut person = Person {
        id,
        source: source.to_string(),
        external_id: r.external_id.clone(),
        first_name: String::new(),
        last_name: String::new(),
        email: None,
        phone: None,
        unit: None,
        status: String::new(),
        lease_start: None,
        lease_end: None,
        move_in: None,
        move_out: None,
        person_type: PersonType::Resident,
        access_enabled: true,
        at_source: true,
        removed_at: None,
        created_at: now,
        updated_at: now,
    };
    apply_source_fields(&mut person, r);
    person
}

/// Overwrites the source-owned fields; returns the names of those that changed.
fn apply_source_fields(p: &mut Person, r: &SourceRecord) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! take {
        ($field:ident) => {
            if p.$field != r.$field {
                p.$field = r.$field.clone();
                changed.push(stringify!($field));
            }
        };
    }
    take!(first_name);
    take!(last_name);
    take!(email);
    take!(phone);
    take!(unit);
    take!(status);
    take!(lease_start);
    take!(lease_end);
    take!(move_in);
    take!(move_out);
    changed
}

#[cfg(test)]
mod tests;
