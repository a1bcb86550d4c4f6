//! Correlation, in the order the leading products document: the record's own link (by the
//! configured match key), then an exact first + last + email match with a local person, then a
//! partial match that needs a human, then nobody.

use std::collections::HashMap;

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

/// The people a pass correlates against, indexed once per pass (a scan per record made a
/// 10k-person reconciliation quadratic). Lists keep the people's order, so the first match is
/// the one a scan would have found.
pub struct Index<'a> {
    people: &'a [Person],
    /// This source's people by external id.
    ours_by_id: HashMap<&'a str, usize>,
    ours_by_email: HashMap<&'a str, Vec<usize>>,
    ours_by_unit: HashMap<&'a str, Vec<usize>>,
    all_by_email: HashMap<&'a str, Vec<usize>>,
    /// People of no source (added locally), by email and by unit.
    local_by_email: HashMap<&'a str, Vec<usize>>,
    local_by_unit: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Index<'a> {
    pub fn new(source: &str, people: &'a [Person]) -> Index<'a> {
        let mut index = Index {
            people,
            ours_by_id: HashMap::new(),
            ours_by_email: HashMap::new(),
            ours_by_unit: HashMap::new(),
            all_by_email: HashMap::new(),
            local_by_email: HashMap::new(),
            local_by_unit: HashMap::new(),
        };
        for (i, p) in people.iter().enumerate() {
            let email = p.email.as_deref();
            let unit = p.unit.as_deref();
            if let Some(email) = email {
                index.all_by_email.entry(email).or_default().push(i);
            }
            if p.is_from(source) {
                if let Some(id) = p.external_id() {
                    index.ours_by_id.entry(id).or_insert(i);
                }
                if let Some(email) = email {
                    index.ours_by_email.entry(email).or_default().push(i);
                }
                if let Some(unit) = unit {
                    index.ours_by_unit.entry(unit).or_default().push(i);
                }
            }
            if p.link.is_none() {
                if let Some(email) = email {
                    index.local_by_email.entry(email).or_default().push(i);
                }
                if let Some(unit) = unit {
                    index.local_by_unit.entry(unit).or_default().push(i);
                }
            }
        }
        index
    }

    fn each<'s>(
        &'s self,
        map: &'s HashMap<&'a str, Vec<usize>>,
        key: &str,
    ) -> impl Iterator<Item = (usize, &'a Person)> + use<'a, 's> {
        let people = self.people;
        map.get(key)
            .into_iter()
            .flatten()
            .map(move |i| (*i, &people[*i]))
    }
}

pub fn find(pass: &Pass<'_>, record: &SourceRecord) -> Candidate {
    let index = &pass.index;
    let email = record.email.as_deref();
    let unit = record.unit.as_deref();
    let by_id = index
        .ours_by_id
        .get(record.external_id.as_str())
        .map(|i| &index.people[*i]);
    let by_key = by_id.or_else(|| match pass.input.policy.match_key {
        MatchKey::ExternalId => None,
        MatchKey::Email => {
            email.and_then(|e| unique(index.each(&index.ours_by_email, e).map(|(_, p)| p)))
        }
        MatchKey::UnitAndName => unit.and_then(|u| {
            unique(
                index
                    .each(&index.ours_by_unit, u)
                    .map(|(_, p)| p)
                    .filter(|p| same_name(p, record)),
            )
        }),
    });
    if let Some(person) = by_key {
        return Candidate::Linked(person.clone());
    }

    if let Some(email) = email {
        let exact = index
            .each(&index.all_by_email, email)
            .map(|(_, p)| p)
            .find(|p| same_name(p, record));
        if let Some(p) = exact {
            return if p.link.is_none() {
                Candidate::Exact(p.clone())
            } else {
                Candidate::Claimed(p.clone())
            };
        }
    }
    // The first local person (in the people's order) resembling the record either way.
    let same_email = email.and_then(|e| index.each(&index.local_by_email, e).next());
    let same_name_and_unit = unit.and_then(|u| {
        index
            .each(&index.local_by_unit, u)
            .find(|(_, p)| same_name(p, record))
    });
    let partial = match (same_email, same_name_and_unit) {
        (Some(e), Some(n)) if n.0 < e.0 => Some((n.1, false)),
        (Some(e), _) => Some((e.1, true)),
        (None, Some(n)) => Some((n.1, false)),
        (None, None) => None,
    };
    if let Some((p, by_email)) = partial {
        let how = if by_email {
            format!(
                "same email, different name: {} vs {} {}",
                p.display_name(),
                record.first_name,
                record.last_name
            )
        } else {
            format!(
                "same name and unit, different email: {} vs {}",
                p.email.as_deref().unwrap_or("none"),
                record.email.as_deref().unwrap_or("none")
            )
        };
        return Candidate::Partial(p.clone(), how);
    }
    Candidate::None {
        shares_email_with: email.and_then(|e| {
            index
                .each(&index.ours_by_email, e)
                .next()
                .map(|(_, p)| p.id.clone())
        }),
    }
}
