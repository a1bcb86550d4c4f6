//! Which records of a listing are already applied, judged while the listing is read (see
//! `crate::sources::settle`). The judge holds the people the pass then plans with, so what it
//! settled is settled against exactly those people.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use phonenumber::country::Id;

use super::{applied, normalise, phone_note};
use crate::config::PolicyConfig;
use crate::sources::SourceRecord;
use crate::sources::settle::Settles;
use crate::store::{Person, PhoneNote, SourceLink};

#[derive(Debug, Clone)]
pub struct Settler {
    people: Vec<Person>,
    /// Positions of the source's people, by external id and then position: the person
    /// correlation links a record to by its id is the first of its run.
    by_id: Vec<usize>,
    policy: PolicyConfig,
    country: Option<Id>,
    /// The source's external ids an administrator told sync to skip.
    ignored: HashSet<String>,
    /// Settled records whose raw phone is not the one noted on their person.
    phones: Arc<Mutex<Vec<PhoneNote>>>,
}

impl Settler {
    pub fn new(
        source: &str,
        people: Vec<Person>,
        policy: &PolicyConfig,
        country: Option<Id>,
        ignored: &HashSet<SourceLink>,
    ) -> Settler {
        let mut by_id: Vec<usize> = (0..people.len())
            .filter(|&i| people[i].is_from(source) && people[i].external_id().is_some())
            .collect();
        // Stable: equal ids stay in position order.
        by_id.sort_by(|&a, &b| people[a].external_id().cmp(&people[b].external_id()));
        Settler {
            by_id,
            people,
            policy: policy.clone(),
            country,
            ignored: ignored
                .iter()
                .filter(|l| l.source == source)
                .map(|l| l.external_id.clone())
                .collect(),
            phones: Arc::default(),
        }
    }

    /// The people judged against, handed back for planning, and the phone notes settling made.
    pub fn into_parts(self) -> (Vec<Person>, Vec<PhoneNote>) {
        let phones = std::mem::take(&mut *crate::dispatch::lock(&self.phones));
        (self.people, phones)
    }

    fn linked(&self, ext: &str) -> Option<&Person> {
        let id = |i: usize| self.people[i].external_id().unwrap_or_default();
        let start = self.by_id.partition_point(|&i| id(i) < ext);
        let &first = self.by_id.get(start)?;
        (id(first) == ext).then(|| &self.people[first])
    }
}

impl Settles for Settler {
    fn settles(&self, record: &SourceRecord) -> bool {
        let ext = record.external_id.as_str();
        if self.ignored.contains(ext) {
            return false;
        }
        let Some(person) = self.linked(ext) else {
            return false;
        };
        let (record, _) = normalise(record, &self.policy.units, self.country, Some(person));
        if !applied(&self.policy, person, &record) {
            return false;
        }
        if person.phone_listed != record.phone_listed {
            crate::dispatch::lock(&self.phones).extend(phone_note(person, record.phone_listed));
        }
        true
    }
}
