//! Correlation, in the order the leading products document: the record's own link (by the
//! configured match key), then an exact first + last + email match with a local person, then a
//! partial match that needs a human, then nobody.

use super::Pass;
use crate::config::MatchKey;
use crate::sources::SourceRecord;
use crate::store::Person;

/// Who a record belongs to.
#[derive(Debug)]
pub enum Candidate<'a> {
    /// Already linked to this source's record (by the match key).
    Linked(&'a Person),
    /// A local person matching first name, last name and email exactly: link them.
    Exact(&'a Person),
    /// An exact match who already belongs to another source record: a duplicate.
    Claimed(&'a Person),
    /// A local person who resembles the record; a human decides. The string says how.
    Partial(&'a Person, String),
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
    ours_by_id: Multi<'a>,
    ours_by_email: Multi<'a>,
    ours_by_unit: Multi<'a>,
    all_by_email: Multi<'a>,
    /// People of no source (added locally), by email and by unit.
    local_by_email: Multi<'a>,
    local_by_unit: Multi<'a>,
}

/// People's positions by a key, sorted by key and then position: one flat list, where a map of
/// lists paid a table slot and a heap list per key (most of the index at 100k people).
#[derive(Default)]
struct Multi<'a>(Vec<(&'a str, usize)>);

impl<'a> Multi<'a> {
    fn push(&mut self, key: &'a str, i: usize) {
        self.0.push((key, i));
    }

    fn sorted(mut self) -> Multi<'a> {
        // Stable, and pushed in position order: equal keys stay in position order.
        self.0.sort_by(|a, b| a.0.cmp(b.0));
        self
    }

    fn get<'s>(&'s self, key: &'s str) -> impl Iterator<Item = usize> + use<'a, 's> {
        let start = self.0.partition_point(|(k, _)| *k < key);
        self.0[start..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|(_, i)| *i)
    }
}

impl<'a> Index<'a> {
    pub fn new(source: &str, people: &'a [Person]) -> Index<'a> {
        let mut ours_by_id = Multi::default();
        let mut ours_by_email = Multi::default();
        let mut ours_by_unit = Multi::default();
        let mut all_by_email = Multi::default();
        let mut local_by_email = Multi::default();
        let mut local_by_unit = Multi::default();
        for (i, p) in people.iter().enumerate() {
            let email = p.email.as_deref();
            let unit = p.unit.as_deref();
            if let Some(email) = email {
                all_by_email.push(email, i);
            }
            if p.is_from(source) {
                if let Some(id) = p.external_id() {
                    ours_by_id.push(id, i);
                }
                if let Some(email) = email {
                    ours_by_email.push(email, i);
                }
                if let Some(unit) = unit {
                    ours_by_unit.push(unit, i);
                }
            }
            if p.link.is_none() {
                if let Some(email) = email {
                    local_by_email.push(email, i);
                }
                if let Some(unit) = unit {
                    local_by_unit.push(unit, i);
                }
            }
        }
        Index {
            people,
            ours_by_id: ours_by_id.sorted(),
            ours_by_email: ours_by_email.sorted(),
            ours_by_unit: ours_by_unit.sorted(),
            all_by_email: all_by_email.sorted(),
            local_by_email: local_by_email.sorted(),
            local_by_unit: local_by_unit.sorted(),
        }
    }

    /// This source's person with external id `ext`: the one a record with that id links to.
    pub fn linked(&self, ext: &str) -> Option<&'a Person> {
        self.ours_by_id.get(ext).next().map(|i| &self.people[i])
    }

    fn each<'s>(
        &'s self,
        map: &'s Multi<'a>,
        key: &'s str,
    ) -> impl Iterator<Item = (usize, &'a Person)> + use<'a, 's> {
        let people = self.people;
        map.get(key).map(move |i| (i, &people[i]))
    }
}

pub fn find<'a>(pass: &Pass<'a>, record: &SourceRecord) -> Candidate<'a> {
    let index = &pass.index;
    let email = record.email.as_deref();
    let unit = record.unit.as_deref();
    let by_key = index
        .linked(&record.external_id)
        .or_else(|| match pass.input.policy.match_key {
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
        return Candidate::Linked(person);
    }

    if let Some(email) = email {
        let exact = index
            .each(&index.all_by_email, email)
            .map(|(_, p)| p)
            .find(|p| same_name(p, record));
        if let Some(p) = exact {
            return if p.link.is_none() {
                Candidate::Exact(p)
            } else {
                Candidate::Claimed(p)
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
        return Candidate::Partial(p, how);
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
