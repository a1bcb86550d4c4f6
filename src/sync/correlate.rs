//! Correlation, in the order the leading products document: the record's own link (by the
//! configured match key), then an exact first + last + email match with a local person, then a
//! partial match that needs a human, then nobody.

use super::Pass;
use crate::config::MatchKey;
use crate::sources::SourceRecord;
use crate::store::Person;

/// Who a record belongs to.
#[derive(Debug)]
pub enum Candidate {
    /// Already linked to this source's record (by the match key).
    Linked(Person),
    /// A local person matching first name, last name and email exactly: link them.
    Exact(Person),
    /// An exact match who already belongs to another source record: a duplicate.
    Claimed(Person),
    /// A local person who resembles the record; a human decides. The string says how.
    Partial(Person, String),
    /// Nobody; `shares_email_with` names a person of the same source with the same email
    /// (roommates), who is kept alongside.
    None { shares_email_with: Option<String> },
}

fn same_name(p: &Person, r: &SourceRecord) -> bool {
    p.first_name.eq_ignore_ascii_case(&r.first_name)
        && p.last_name.eq_ignore_ascii_case(&r.last_name)
}

fn unique<'a>(mut found: impl Iterator<Item = &'a Person>) -> Option<&'a Person> {
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

pub fn find(pass: &Pass<'_>, record: &SourceRecord) -> Candidate {
    let source = pass.input.source;
    let people = pass.input.people;
    let ours = || people.iter().filter(|p| p.is_from(source));
    let by_id = ours().find(|p| p.external_id() == Some(record.external_id.as_str()));
    let by_key = by_id.or_else(|| match pass.input.policy.match_key {
        MatchKey::ExternalId => None,
        MatchKey::Email => record
            .email
            .as_ref()
            .and_then(|email| unique(ours().filter(|p| p.email.as_ref() == Some(email)))),
        MatchKey::UnitAndName => record.unit.as_ref().and_then(|unit| {
            unique(ours().filter(|p| p.unit.as_ref() == Some(unit) && same_name(p, record)))
        }),
    });
    if let Some(person) = by_key {
        return Candidate::Linked(person.clone());
    }

    if let Some(email) = &record.email {
        let exact = people
            .iter()
            .find(|p| p.email.as_ref() == Some(email) && same_name(p, record));
        if let Some(p) = exact {
            return if p.link.is_none() {
                Candidate::Exact(p.clone())
            } else {
                Candidate::Claimed(p.clone())
            };
        }
    }
    let local = people.iter().filter(|p| p.link.is_none());
    for p in local {
        if record.email.is_some() && p.email == record.email {
            return Candidate::Partial(
                p.clone(),
                format!(
                    "same email, different name: {} vs {} {}",
                    p.display_name(),
                    record.first_name,
                    record.last_name
                ),
            );
        }
        if record.unit.is_some() && p.unit == record.unit && same_name(p, record) {
            return Candidate::Partial(
                p.clone(),
                format!(
                    "same name and unit, different email: {} vs {}",
                    p.email.as_deref().unwrap_or("none"),
                    record.email.as_deref().unwrap_or("none")
                ),
            );
        }
    }
    Candidate::None {
        shares_email_with: record.email.as_ref().and_then(|email| {
            ours()
                .find(|p| p.email.as_ref() == Some(email))
                .map(|p| p.id.clone())
        }),
    }
}
