//! The sync engine: decides what one source pull means for the people lintel knows — who is
//! added, linked, updated, held for review or disabled — and records why. It decides; it never
//! talks to a door and never writes the store itself.

mod correlate;
mod guard;
mod normalise;
mod settle;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use crate::config::PolicyConfig;
use crate::sources::{Pull, SourceRecord};
use crate::store::{
    Activity, Alert, AlertKind, GuardState, Outcome, Person, PersonType, PhoneNote, SourceLink,
};
use correlate::Candidate;

pub use normalise::{e164, normalise};
pub use settle::Settler;

/// Everything a pass decides from.
#[derive(Debug)]
pub struct PassInput<'a> {
    pub source: &'a str,
    pub pull: &'a Pull,
    /// Every person lintel knows, from any source or none.
    pub people: &'a [Person],
    /// Records an administrator told sync to skip.
    pub ignored: &'a HashSet<SourceLink>,
    /// Every alert, open and resolved, so a pass neither repeats nor forgets one.
    pub alerts: &'a [Alert],
    pub guard: &'a GuardState,
    pub policy: &'a PolicyConfig,
    pub country: Option<phonenumber::country::Id>,
    pub now: Timestamp,
}

/// What one pass decided.
#[derive(Debug, Default)]
pub struct PassPlan {
    /// People to write (new or changed).
    pub people: Vec<Person>,
    pub activity: Vec<Activity>,
    pub alerts: Vec<Alert>,
    /// The guard's new memory, when it changed.
    pub guard: Option<GuardState>,
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub skipped: usize,
    pub flagged: usize,
    /// People whose loss of access the mass-change guard held back.
    pub held: Vec<String>,
    /// People to whom only which raw phone theirs was read from changed: noted apart from the
    /// pass's writes, and not reported.
    pub phones: Vec<PhoneNote>,
}

/// Why a pull must not be applied at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(
        "source returned no readable records; an empty listing is never taken as everyone moving out"
    )]
    Empty,
}

/// A pass in progress.
struct Pass<'a> {
    input: &'a PassInput<'a>,
    index: correlate::Index<'a>,
    statuses: HashSet<String>,
    plan: PassPlan,
    /// People changed so far this pass, by id; written at the end.
    changed: HashMap<String, Person>,
    ids: &'a mut dyn FnMut() -> u64,
}

impl Pass<'_> {
    fn log(&mut self, outcome: Outcome, subject: &str, ext: &str, reason: String) {
        match outcome {
            Outcome::Skipped => self.plan.skipped += 1,
            Outcome::Flagged => self.plan.flagged += 1,
            _ => {}
        }
        self.plan.activity.push(
            Activity::new(self.input.now, outcome, subject, reason).record(self.input.source, ext),
        );
    }

    /// The person as this pass has them so far.
    fn current<'p>(&'p self, person: &'p Person) -> &'p Person {
        self.changed.get(&person.id).unwrap_or(person)
    }

    fn carries_access(&self, status: &str) -> bool {
        self.statuses.contains(status)
    }

    fn alert(&mut self, kind: AlertKind, ext: &str, person: Option<&str>, message: String) -> u64 {
        let id = (self.ids)();
        self.plan.alerts.push(Alert {
            id,
            kind,
            source: Some(self.input.source.to_string()),
            external_id: Some(ext.to_string()),
            person: person.map(String::from),
            message,
            created_at: self.input.now,
            resolved: None,
        });
        id
    }

    /// An open alert of the same kind for the same record, so a pass does not raise it twice.
    fn open_alert(&self, ext: &str, kind: &str) -> Option<&Alert> {
        self.input.alerts.iter().find(|a| {
            a.resolved.is_none()
                && a.kind.name() == kind
                && a.source.as_deref() == Some(self.input.source)
                && a.external_id.as_deref() == Some(ext)
        })
    }
}

/// Plans the effect of one pull. `ids` hands out fresh, unique numbers (people and alerts).
pub fn plan_pass(input: &PassInput<'_>, ids: &mut dyn FnMut() -> u64) -> Result<PassPlan, Refusal> {
    // A changes-only pull with nothing in it just means nothing changed.
    if input.pull.residents() == 0 && !input.pull.changes_only {
        return Err(Refusal::Empty);
    }
    let mut pass = Pass {
        input,
        index: correlate::Index::new(input.source, input.people),
        statuses: input.policy.lease_statuses.iter().cloned().collect(),
        plan: PassPlan::default(),
        changed: HashMap::new(),
        ids,
    };
    let mut listed: HashSet<&str> = HashSet::with_capacity(input.pull.residents());
    // Ids listed more than once and already reported.
    let mut applied: HashSet<&str> = HashSet::new();
    // Which record claimed each person this pass: a second claim is a duplicate.
    let mut claimed: HashMap<&str, &str> = HashMap::with_capacity(input.pull.residents());

    for skipped in &input.pull.skipped {
        let subject = skipped
            .external_id
            .clone()
            .unwrap_or_else(|| format!("{} record #{}", input.source, skipped.index));
        let ext = skipped.external_id.as_deref().unwrap_or("");
        pass.log(Outcome::Skipped, &subject, ext, skipped.reason.clone());
        if let Some(id) = &skipped.external_id {
            // Listed but unreadable: still at the source, so its person keeps their state.
            listed.insert(id.as_str());
        }
    }

    let mut times: HashMap<&str, usize> = HashMap::with_capacity(input.pull.residents());
    for listed in in_order(input.pull) {
        *times.entry(listed.external_id()).or_default() += 1;
    }
    for item in in_order(input.pull) {
        let ext = item.external_id();
        listed.insert(ext);
        let count = times.get(ext).copied().unwrap_or(1);
        if count > 1 {
            // Which copy is right cannot be known, and picking one would depend on order.
            if applied.insert(ext) {
                pass.log(
                    Outcome::Flagged,
                    ext,
                    ext,
                    format!(
                        "external id listed {count} times by `{}`; none applied, kept as it was",
                        input.source
                    ),
                );
            }
            continue;
        }
        let (person, whole) = match item {
            // Judged against these very people: linked by its id, and nothing to apply.
            Listed::Settled(_) => match pass.index.linked(ext) {
                Some(person) => (person, None),
                None => continue,
            },
            Listed::Whole(raw) => {
                let link = SourceLink {
                    source: input.source.to_string(),
                    external_id: ext.to_string(),
                };
                if input.ignored.contains(&link) {
                    pass.log(
                        Outcome::Skipped,
                        ext,
                        ext,
                        "ignored by an administrator (review resolved with --ignore)".into(),
                    );
                    continue;
                }
                let linked = pass.index.linked(ext);
                let (record, notes) = normalise(raw, &input.policy.units, input.country, linked);
                match correlate::find(&pass, &record) {
                    Candidate::Linked(person) => (person, Some((record, notes))),
                    found => {
                        take_in_new(&mut pass, found, &record, notes);
                        continue;
                    }
                }
            }
        };
        if let Some(first) = claimed.get(person.id.as_str()) {
            let message = format!(
                "records {first} and {ext} of `{}` both match {}; {ext} was not applied",
                input.source, person.id
            );
            let id = person.id.clone();
            if pass.open_alert(ext, "duplicate").is_none() {
                pass.alert(AlertKind::Duplicate, ext, Some(&id), message.clone());
            }
            pass.log(Outcome::Flagged, &id, ext, message);
            continue;
        }
        claimed.insert(&person.id, ext);
        if let Some((record, notes)) = whole {
            update_linked(&mut pass, person, &record, notes);
        }
    }

    if !input.pull.changes_only {
        disable_absent(&mut pass, &listed);
    }
    guard::apply(&mut pass);
    let Pass {
        mut plan, changed, ..
    } = pass;
    plan.people = changed.into_values().collect();
    plan.people.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(plan)
}

/// A resident of the listing: whole, or settled while it was read.
#[derive(Clone, Copy)]
enum Listed<'p> {
    Whole(&'p SourceRecord),
    Settled(&'p str),
}

impl<'p> Listed<'p> {
    fn external_id(self) -> &'p str {
        match self {
            Listed::Whole(record) => &record.external_id,
            Listed::Settled(ext) => ext,
        }
    }
}

/// The pull's residents in the listing's order.
fn in_order(pull: &Pull) -> impl Iterator<Item = Listed<'_>> {
    let mut settled = pull.settled.iter().peekable();
    let mut records = pull.records.iter().enumerate().peekable();
    std::iter::from_fn(move || match (settled.peek(), records.peek()) {
        (Some(s), Some((i, _))) if s.before > *i => records.next().map(|(_, r)| Listed::Whole(r)),
        (Some(_), _) => settled.next().map(|s| Listed::Settled(&s.external_id)),
        (None, _) => records.next().map(|(_, r)| Listed::Whole(r)),
    })
}

/// Why a record cannot be taken in, if it cannot.
fn ineligible(policy: &PolicyConfig, record: &SourceRecord) -> Option<String> {
    if let Some(value) = excluded(policy, record) {
        return Some(format!("excluded by policy.exclude (`{value}`)"));
    }
    if policy.require_unit && record.unit.is_none() {
        return Some("no unit, so no door can be worked out (policy.require_unit)".into());
    }
    if policy.require_building && record.building.is_none() {
        return Some(
            "no building (facility), so no group can be worked out (policy.require_building)"
                .into(),
        );
    }
    policy
        .require_identifier
        .missing(record.email.is_some(), record.phone.is_some())
        .map(String::from)
}

/// The record's value that `policy.exclude` lists, if any.
fn excluded<'r>(policy: &PolicyConfig, record: &'r SourceRecord) -> Option<&'r str> {
    let exclude = &policy.exclude;
    [
        Some(record.external_id.as_str()),
        record.email.as_deref(),
        record.unit.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find(|value| exclude.iter().any(|x| x.eq_ignore_ascii_case(value)))
}

/// Whether `record`, normalised and linked to `person` by its external id, is already applied:
/// [`update_linked`] would neither change nor log anything for it.
fn applied(policy: &PolicyConfig, person: &Person, record: &SourceRecord) -> bool {
    !person.decoupled
        && person.extra.excluded.is_none()
        && person.at_source
        && ineligible(policy, record).is_none()
        && apply_source_fields(&mut Cow::Borrowed(person), record).is_empty()
}

fn update_linked(pass: &mut Pass<'_>, person: &Person, record: &SourceRecord, notes: Vec<String>) {
    let ext = record.external_id.as_str();
    if person.decoupled {
        pass.log(
            Outcome::Skipped,
            &person.id,
            ext,
            "decoupled: sync leaves this person alone".into(),
        );
        return;
    }
    if let Some(value) = excluded(pass.input.policy, record) {
        // Excluding someone already synced is how an administrator takes them out: their
        // access goes like any other disable, so the mass-change guard counts it.
        if person.extra.excluded.as_deref() != Some(value) {
            let mut gone = pass.current(person).clone();
            let first = gone.extra.excluded.is_none();
            gone.extra.excluded = Some(value.to_string());
            gone.updated_at = pass.input.now;
            if first {
                pass.plan.disabled += 1;
                pass.log(
                    Outcome::Disabled,
                    &gone.id,
                    ext,
                    format!(
                        "excluded by policy.exclude (`{value}`); access revoked, person and history kept"
                    ),
                );
            }
            pass.changed.insert(gone.id.clone(), gone);
        }
        return;
    }
    if let Some(why) = ineligible(pass.input.policy, record) {
        pass.log(
            Outcome::Skipped,
            &person.id,
            ext,
            format!("{why}; kept as it was"),
        );
        return;
    }
    let mut record = Cow::Borrowed(record);
    let mut reasons = notes;
    if let (Some(old), Some(new)) = (person.email.as_deref(), record.email.as_deref())
        && old != new
    {
        let new = new.to_string();
        // A changed email is how accounts get hijacked or merged by mistake: hold that field.
        record.to_mut().email = Some(old.to_string());
        let ignored = pass.input.alerts.iter().any(|a| {
            matches!(&a.kind, AlertKind::EmailMismatch { new_email, .. } if *new_email == new)
                && a.person.as_deref() == Some(person.id.as_str())
                && a.resolved.as_ref().is_some_and(|r| r.how == "ignore")
        });
        if !ignored {
            let message = format!(
                "`{}` changed the email of {} from {old} to {new}; the old email is kept until reviewed",
                pass.input.source, person.id
            );
            if pass.open_alert(ext, "email_mismatch").is_none() {
                let kind = AlertKind::EmailMismatch {
                    record: Box::new(record_with_email(&record, &new)),
                    new_email: new.clone(),
                };
                pass.alert(kind, ext, Some(&person.id), message.clone());
            }
            pass.log(Outcome::Flagged, &person.id, ext, message);
        }
    }
    // Borrowed until something changes: most records of most passes change nothing.
    let mut updated = Cow::Borrowed(pass.current(person));
    let mut changed = apply_source_fields(&mut updated, &record);
    if updated.link.as_ref().is_none_or(|l| l.external_id != ext) {
        updated.to_mut().link = Some(SourceLink {
            source: pass.input.source.to_string(),
            external_id: ext.to_string(),
        });
        changed.push("external id");
    }
    if updated.extra.excluded.is_some() {
        updated.to_mut().extra.excluded = None;
        changed.push("no longer excluded");
    }
    if !updated.at_source {
        let updated = updated.to_mut();
        updated.at_source = true;
        updated.extra.removed_at = None;
        changed.push("listed again at source");
    }
    if changed.is_empty() {
        if let Cow::Owned(noted) = updated {
            pass.plan
                .phones
                .extend(phone_note(&noted, noted.phone_listed));
        }
        return;
    }
    let mut updated = updated.into_owned();
    updated.updated_at = pass.input.now;
    reasons.insert(
        0,
        format!("`{}` changed {}", pass.input.source, changed.join(", ")),
    );
    pass.plan.updated += 1;
    pass.log(Outcome::Updated, &updated.id, ext, reasons.join("; "));
    pass.changed.insert(updated.id.clone(), updated);
}

fn record_with_email(record: &SourceRecord, email: &str) -> SourceRecord {
    SourceRecord {
        email: Some(email.to_string()),
        ..record.clone()
    }
}

fn take_in_new(
    pass: &mut Pass<'_>,
    found: Candidate<'_>,
    record: &SourceRecord,
    notes: Vec<String>,
) {
    let source = pass.input.source;
    let ext = record.external_id.as_str();
    if let Some(why) = ineligible(pass.input.policy, record) {
        pass.log(Outcome::Skipped, ext, ext, why);
        return;
    }
    if !pass.carries_access(&record.status) {
        pass.log(
            Outcome::Skipped,
            ext,
            ext,
            format!(
                "new record with lease status `{}`, which carries no access",
                record.status
            ),
        );
        return;
    }
    match found {
        Candidate::Linked(_) => {}
        Candidate::Exact(local) => {
            let mut linked = Cow::Borrowed(pass.current(local));
            apply_source_fields(&mut linked, record);
            let mut linked = linked.into_owned();
            linked.link = Some(SourceLink {
                source: source.to_string(),
                external_id: ext.to_string(),
            });
            linked.at_source = true;
            linked.updated_at = pass.input.now;
            pass.plan.updated += 1;
            pass.log(
                Outcome::Updated,
                &linked.id,
                ext,
                format!("linked to `{source}` record {ext}: first name, last name and email match exactly"),
            );
            pass.changed.insert(linked.id.clone(), linked);
        }
        Candidate::Claimed(other) => {
            let message = format!(
                "{ext} matches {} exactly, who already belongs to {}; not applied",
                other.id,
                other
                    .link
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            if pass.open_alert(ext, "duplicate").is_none() {
                pass.alert(AlertKind::Duplicate, ext, Some(&other.id), message.clone());
            }
            pass.log(Outcome::Flagged, ext, ext, message);
        }
        Candidate::Partial(local, why) => {
            let message = match pass.open_alert(ext, "partial_match") {
                Some(open) => format!("still waiting for review (alert {}): {why}", open.id),
                None => {
                    let message = format!(
                        "{ext} resembles {} ({why}); no access until `lintel review resolve`",
                        local.id
                    );
                    let kind = AlertKind::PartialMatch {
                        record: Box::new(record.clone()),
                        candidate: local.id.clone(),
                    };
                    let id = pass.alert(kind, ext, Some(&local.id), message.clone());
                    format!("{message} (alert {id})")
                }
            };
            pass.log(Outcome::Flagged, ext, ext, message);
        }
        Candidate::None { shares_email_with } => {
            let id = format!("p{:06}", (pass.ids)());
            let person = new_person(id, source, record, pass.input.now);
            let mut reason = format!(
                "new at `{source}` as {ext} ({}), status {}",
                person.display_name(),
                record.status
            );
            if let Some(other) = shares_email_with {
                reason.push_str(&format!("; shares its email with {other}, both kept"));
            }
            for note in notes {
                reason.push_str("; ");
                reason.push_str(&note);
            }
            pass.plan.added += 1;
            pass.log(Outcome::Added, &person.id, ext, reason);
            pass.changed.insert(person.id.clone(), person);
        }
    }
}

fn disable_absent(pass: &mut Pass<'_>, listed: &HashSet<&str>) {
    let source = pass.input.source;
    let anonymous_skips = pass
        .input
        .pull
        .skipped
        .iter()
        .any(|s| s.external_id.is_none());
    // Copies only the absent: everyone else is listed, and copying 10k people to look at them
    // was a tenth of planning a pass.
    let absent: Vec<Person> = pass
        .input
        .people
        .iter()
        .map(|p| pass.changed.get(&p.id).unwrap_or(p))
        .filter(|p| p.is_from(source) && p.at_source && !p.decoupled)
        .filter(|p| !p.external_id().is_some_and(|e| listed.contains(e)))
        .cloned()
        .collect();
    for person in absent {
        let ext = person.external_id().unwrap_or_default().to_string();
        if anonymous_skips {
            pass.log(
                Outcome::Flagged,
                &person.id,
                &ext,
                format!(
                    "not listed by `{source}`, but the listing had unreadable records; kept as is"
                ),
            );
            continue;
        }
        let mut gone = person;
        gone.at_source = false;
        gone.extra.removed_at = Some(pass.input.now);
        gone.updated_at = pass.input.now;
        pass.plan.disabled += 1;
        pass.log(
            Outcome::Disabled,
            &gone.id,
            &ext,
            format!("no longer listed by `{source}`; access revoked, person and history kept"),
        );
        pass.changed.insert(gone.id.clone(), gone);
    }
}

/// The note that `person`'s phone was read from the raw phone fingerprinted `listed`; none
/// without a phone.
fn phone_note(person: &Person, listed: u64) -> Option<PhoneNote> {
    Some(PhoneNote {
        person: person.id.clone(),
        phone: person.phone.clone()?,
        listed,
    })
}

/// A new person owned by `source`'s record `r`.
pub fn new_person(id: String, source: &str, r: &SourceRecord, now: Timestamp) -> Person {
    let mut person = Cow::Owned(Person {
        id,
        link: Some(SourceLink {
            source: source.to_string(),
            external_id: r.external_id.clone(),
        }),
        first_name: String::new(),
        last_name: String::new(),
        email: None,
        phone: None,
        unit: None,
        building: None,
        status: String::new(),
        lease_start: None,
        lease_end: None,
        move_in: None,
        move_out: None,
        phone_listed: 0,
        person_type: PersonType::Resident,
        access_enabled: true,
        decoupled: false,
        at_source: true,
        created_at: now,
        updated_at: now,
        extra: Default::default(),
    });
    apply_source_fields(&mut person, r);
    person.into_owned()
}

/// Overwrites the source-owned fields; returns the names of those that changed.
/// A borrowed person is copied only if a field differs.
pub fn apply_source_fields(p: &mut Cow<'_, Person>, r: &SourceRecord) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! take {
        ($field:ident) => {
            if p.$field != r.$field {
                p.to_mut().$field = r.$field.clone();
                changed.push(stringify!($field));
            }
        };
    }
    take!(first_name);
    take!(last_name);
    take!(email);
    take!(phone);
    take!(unit);
    take!(building);
    take!(status);
    take!(lease_start);
    take!(lease_end);
    take!(move_in);
    take!(move_out);
    // Bookkeeping, not a change anyone made.
    if p.phone_listed != r.phone_listed {
        p.to_mut().phone_listed = r.phone_listed;
    }
    changed
}

#[cfg(test)]
mod tests;
