//! Who opens which door, and when: turns people, their credentials and the configured groups
//! into the table every controller should hold. Pure functions of their inputs and `now`, so
//! the gateway's own scheduler and `explain` agree with what is pushed.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use lintel_hal::Credential;

use crate::config::{Config, GroupMatch};
use crate::store::{CredentialRecord, Person, VisitorPass};

/// What every controller should hold, by controller name then card.
pub type Desired = BTreeMap<String, BTreeMap<u64, Credential>>;

/// When a person may use their doors. `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// The decision for one person at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Door masks by controller, valid in `window`.
    Granted {
        doors: BTreeMap<String, u8>,
        window: Window,
    },
    Denied(String),
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    matches: GroupMatch,
    /// (controller, door index)
    doors: Vec<(String, u8)>,
}

/// The access rules of one config.
#[derive(Debug, Clone)]
pub struct Policy {
    tz: TimeZone,
    start_time: Time,
    end_time: Time,
    grace: jiff::SignedDuration,
    room_digits: usize,
    statuses: HashSet<String>,
    groups: Vec<Group>,
    controllers: Vec<String>,
    /// Controllers with `visitor_passes = false`: no visitor pass's card goes there.
    no_visitors: HashSet<String>,
    /// Door name → (controller, index).
    doors: HashMap<String, (String, u8)>,
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        let doors: HashMap<&str, (String, u8)> = config
            .doors
            .iter()
            .map(|d| (d.name.as_str(), (d.controller.clone(), d.index)))
            .collect();
        let groups = config
            .groups
            .iter()
            .map(|g| Group {
                name: g.name.clone(),
                // Units in config are compared in the same canonical form as people's.
                matches: GroupMatch {
                    units: g
                        .matches
                        .units
                        .iter()
                        .map(|u| config.policy.units.canonical(u))
                        .collect(),
                    ..g.matches.clone()
                },
                doors: g
                    .doors
                    .iter()
                    .filter_map(|d| doors.get(d.as_str()).cloned())
                    .collect(),
            })
            .collect();
        Policy {
            tz: config.time_zone(),
            grace: jiff::SignedDuration::try_from(config.access.grace)
                .unwrap_or(jiff::SignedDuration::ZERO),
            room_digits: config.access.room_digits,
            start_time: crate::config::parse_hh_mm(&config.access.start_time)
                .unwrap_or(Time::midnight()),
            end_time: crate::config::parse_hh_mm(&config.access.end_time)
                .unwrap_or(Time::midnight()),
            statuses: config
                .policy
                .lease_statuses
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            groups,
            doors: doors
                .iter()
                .map(|(name, at)| (name.to_string(), at.clone()))
                .collect(),
            controllers: config
                .controllers
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            no_visitors: config
                .controllers
                .iter()
                .filter(|c| !c.visitor_passes())
                .map(|c| c.name().to_string())
                .collect(),
        }
    }

    /// Names of the groups `person` falls in.
    pub fn groups_of(&self, person: &Person) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|g| self.matches(&g.matches, person))
            .map(|g| g.name.as_str())
            .collect()
    }

    /// The groups giving `person` the door at (`controller`, `index`), each with the rules that
    /// put them in it, e.g. "group `east-lobby` (building `East`)": what `explain` says opens it.
    pub fn groups_opening(&self, person: &Person, controller: &str, index: u8) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.doors.iter().any(|(c, i)| c == controller && *i == index))
            .filter(|g| self.matches(&g.matches, person))
            .map(|g| {
                let rules = self.rules_met(&g.matches, person);
                if rules.is_empty() {
                    format!("group `{}` (everyone with access)", g.name)
                } else {
                    format!("group `{}` ({})", g.name, rules.join(", "))
                }
            })
            .collect()
    }

    /// The rules of a group `person` matches, in words.
    fn rules_met(&self, m: &GroupMatch, person: &Person) -> Vec<String> {
        let mut rules = Vec::new();
        if let Some(t) = m.person_type {
            rules.push(format!("type `{}`", t.as_str()));
        }
        if let (false, Some(b)) = (m.buildings.is_empty(), &person.building) {
            rules.push(format!("building `{b}`"));
        }
        if let (false, Some(u)) = (m.units.is_empty(), &person.unit) {
            rules.push(format!("unit `{u}`"));
        }
        if let (false, Some(f)) = (
            m.floors.is_empty(),
            person.unit.as_deref().and_then(|u| self.floor_of(u)),
        ) {
            rules.push(format!("floor {f}"));
        }
        if let Some(tag) = person.extra.tags.iter().find(|t| m.tags.contains(t)) {
            rules.push(format!("tag `{tag}`"));
        }
        rules
    }

    pub fn controllers(&self) -> &[String] {
        &self.controllers
    }

    fn at(&self, date: Date, time: Time) -> Option<Timestamp> {
        date.to_datetime(time)
            .to_zoned(self.tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }

    /// Move-in (else lease start) at the start time, to move-out (else lease end) at the end
    /// time, in the site's zone.
    pub fn window(&self, person: &Person) -> Window {
        Window {
            from: person
                .move_in
                .or(person.lease_start)
                .and_then(|d| self.at(d, self.start_time)),
            until: person
                .move_out
                .or(person.lease_end)
                .and_then(|d| self.at(d, self.end_time))
                .and_then(|t| t.checked_add(self.grace).ok()),
        }
    }

    /// The floor of a canonical unit: its leading digits without the last `room_digits`.
    pub fn floor_of(&self, unit: &str) -> Option<String> {
        let digits: String = unit.chars().take_while(char::is_ascii_digit).collect();
        let keep = digits
            .len()
            .checked_sub(self.room_digits)
            .filter(|k| *k > 0)?;
        Some(digits[..keep].trim_start_matches('0').to_string()).filter(|f| !f.is_empty())
    }

    fn matches(&self, m: &GroupMatch, person: &Person) -> bool {
        let unit = person.unit.as_deref();
        let building = person.building.as_deref();
        m.person_type.is_none_or(|t| t == person.person_type)
            && (m.buildings.is_empty()
                || building.is_some_and(|b| m.buildings.iter().any(|x| x.eq_ignore_ascii_case(b))))
            && (m.units.is_empty()
                || unit.is_some_and(|u| m.units.iter().any(|x| x.eq_ignore_ascii_case(u))))
            && (m.floors.is_empty()
                || unit
                    .and_then(|u| self.floor_of(u))
                    .is_some_and(|f| m.floors.contains(&f)))
            && (m.tags.is_empty() || person.extra.tags.iter().any(|t| m.tags.contains(t)))
    }

    pub fn access(&self, person: &Person, now: Timestamp) -> Access {
        if let Some(value) = &person.extra.excluded {
            return Access::Denied(format!("excluded by policy.exclude (`{value}`)"));
        }
        if !person.at_source {
            return Access::Denied(format!(
                "no longer listed by source `{}`",
                person.source().unwrap_or("?")
            ));
        }
        if !person.access_enabled {
            return Access::Denied("access disabled by an administrator".to_string());
        }
        if !self.statuses.contains(&person.status) {
            return Access::Denied(format!(
                "lease status `{}` does not carry access",
                person.status
            ));
        }
        let window = self.window(person);
        if let Some(until) = window.until
            && until <= now
        {
            return Access::Denied(format!("access window ended at {until}"));
        }
        let mut doors: BTreeMap<String, u8> = BTreeMap::new();
        for group in self
            .groups
            .iter()
            .filter(|g| self.matches(&g.matches, person))
        {
            for (controller, index) in &group.doors {
                *doors.entry(controller.clone()).or_default() |= 1 << index;
            }
        }
        for (controller, mask) in self.masks_of(&person.extra.grants) {
            *doors.entry(controller).or_default() |= mask;
        }
        for (controller, mask) in self.masks_of(&person.extra.denials) {
            if let Some(held) = doors.get_mut(&controller) {
                *held &= !mask;
            }
        }
        doors.retain(|_, mask| *mask != 0);
        if doors.is_empty() {
            return Access::Denied("no access group or grant gives this person a door".to_string());
        }
        Access::Granted { doors, window }
    }

    /// The table every controller should hold at `now`, and the next instant that changes it
    /// without any new input (the earliest window end still ahead).
    /// Door masks by controller for a list of door names; unknown names are ignored (config
    /// validation and `visitors add` reject them first).
    pub fn masks_of(&self, doors: &[String]) -> BTreeMap<String, u8> {
        let mut masks: BTreeMap<String, u8> = BTreeMap::new();
        for name in doors {
            if let Some((controller, index)) = self.doors.get(name) {
                *masks.entry(controller.clone()).or_default() |= 1 << index;
            }
        }
        masks
    }

    pub fn has_door(&self, name: &str) -> bool {
        self.doors.contains_key(name)
    }

    /// The doors a pass asks for (its own, or its host's at `now`) that sit on controllers
    /// with `visitor_passes = false`, as (door, controller), by door name. The pass never opens
    /// them: it is kept local to the controllers that take it.
    pub fn withheld_doors(
        &self,
        pass: &VisitorPass,
        host: Option<&Person>,
        now: Timestamp,
    ) -> Vec<(String, String)> {
        let wanted: Vec<String> = if pass.doors.is_empty() {
            match host.map(|h| self.access(h, now)) {
                Some(Access::Granted { doors, .. }) => self
                    .doors
                    .iter()
                    .filter(|(_, (c, i))| doors.get(c).is_some_and(|m| m & (1 << i) != 0))
                    .map(|(name, _)| name.clone())
                    .collect(),
                _ => Vec::new(),
            }
        } else {
            pass.doors.clone()
        };
        let mut withheld: Vec<(String, String)> = wanted
            .into_iter()
            .filter_map(|name| {
                let (controller, _) = self.doors.get(&name)?;
                self.no_visitors
                    .contains(controller)
                    .then(|| (name.clone(), controller.clone()))
            })
            .collect();
        withheld.sort();
        withheld.dedup();
        withheld
    }

    /// A visitor pass's access at `now`: its own doors (or its host's) within its window, on
    /// the controllers that take visitor passes.
    pub fn pass_access(&self, pass: &VisitorPass, host: Option<&Person>, now: Timestamp) -> Access {
        if let Some(at) = pass.cancelled_at {
            return Access::Denied(format!("pass cancelled at {at}"));
        }
        if pass.to <= now {
            return Access::Denied(format!("pass ended at {}", pass.to));
        }
        let mut doors = if pass.doors.is_empty() {
            match host.map(|h| self.access(h, now)) {
                Some(Access::Granted { doors, .. }) => doors,
                Some(Access::Denied(why)) => {
                    return Access::Denied(format!("the host has no access: {why}"));
                }
                None => return Access::Denied("the pass names no doors and no host".to_string()),
            }
        } else {
            self.masks_of(&pass.doors)
        };
        doors.retain(|controller, _| !self.no_visitors.contains(controller));
        if doors.is_empty() {
            return Access::Denied(
                "every door of the pass is on a controller with visitor_passes = false".to_string(),
            );
        }
        Access::Granted {
            doors,
            window: Window {
                from: Some(pass.from),
                until: Some(pass.to),
            },
        }
    }

    pub fn desired(
        &self,
        people: &[Person],
        passes: &[VisitorPass],
        credentials: &[CredentialRecord],
        now: Timestamp,
    ) -> (Desired, Option<Timestamp>) {
        let mut desired: Desired = self
            .controllers
            .iter()
            .map(|c| (c.clone(), BTreeMap::new()))
            .collect();
        let mut cards: HashMap<&str, Vec<u64>> = HashMap::new();
        for c in credentials {
            cards.entry(c.person_id.as_str()).or_default().push(c.card);
        }
        let by_id: HashMap<&str, &Person> = people.iter().map(|p| (p.id.as_str(), p)).collect();
        let holders = people
            .iter()
            .map(|p| (p.id.as_str(), self.access(p, now), p.extra.pin.as_deref()))
            .chain(passes.iter().map(|v| {
                let host = v.host.as_deref().and_then(|h| by_id.get(h).copied());
                (v.id.as_str(), self.pass_access(v, host, now), None)
            }));
        let mut next = None;
        for (holder, access, pin) in holders {
            let Some(person_cards) = cards.get(holder) else {
                continue;
            };
            let Access::Granted { doors, window } = access else {
                continue;
            };
            if let Some(until) = window.until {
                next = Some(next.map_or(until, |n: Timestamp| n.min(until)));
            }
            for (controller, mask) in doors {
                let table = desired.entry(controller).or_default();
                for &card in person_cards {
                    table.insert(
                        card,
                        Credential {
                            card,
                            doors: mask,
                            valid_from: window.from.map_or(0, unix_u32),
                            valid_until: window.until.map(unix_u32),
                            // Controllers hold PINs as numbers; the policy keeps them short.
                            pin: pin.and_then(|p| p.parse().ok()),
                        },
                    );
                }
            }
        }
        (desired, next)
    }
}

/// Controllers keep windows as unsigned 32-bit Unix seconds.
fn unix_u32(t: Timestamp) -> u32 {
    t.as_second().clamp(0, i64::from(u32::MAX - 1)) as u32
}

#[cfg(test)]
mod tests;
