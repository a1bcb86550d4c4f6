//! `lintel explain PERSON`: why this person does or does not open each door right now, from the
//! same facts the engine acts on — source record, eligibility, ownership, window, groups,
//! cards and what each controller confirmed.

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::access::Access;
use crate::store::Person;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    pub person: Person,
    /// The facts, one sentence each, in the order the engine weighs them.
    pub facts: Vec<String>,
    pub doors: Vec<DoorVerdict>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoorVerdict {
    pub door: String,
    pub controller: String,
    pub opens: bool,
    pub why: String,
}

impl Engine {
    pub fn explain(&self, query: &str, door: Option<&str>) -> Result<Explanation, EngineError> {
        let person = self.resolve_person(query)?;
        let now = self.clock.now();
        let tz = self.config.time_zone();
        let mut facts = vec![format!(
            "{} {} ({}), building {}, unit {}, lease status `{}`",
            person.id,
            person.display_name(),
            person.person_type.as_str(),
            person.building.as_deref().unwrap_or("none"),
            person.unit.as_deref().unwrap_or("none"),
            person.status
        )];
        facts.push(match (&person.link, person.at_source) {
            (None, _) => "added locally; no source owns this person".to_string(),
            (Some(link), true) => format!("linked to {link} and listed there at the last pass"),
            (Some(link), false) => format!(
                "linked to {link}, which stopped listing them at {}",
                person
                    .extra
                    .removed_at
                    .map(|t| t.to_zoned(tz.clone()).to_string())
                    .unwrap_or_default()
            ),
        });
        if person.decoupled {
            facts.push("decoupled: sync leaves this person alone".to_string());
        }
        let policy = &self.config.policy;
        facts.push(match &person.extra.excluded {
            Some(value) => format!("excluded by policy.exclude (`{value}`)"),
            None => "not on policy.exclude".to_string(),
        });
        facts.push(
            match policy
                .require_identifier
                .missing(person.email.is_some(), person.phone.is_some())
            {
                Some(why) => format!("a new record like this would be skipped: {why}"),
                None => "has the contact details policy.require_identifier asks for".to_string(),
            },
        );
        for alert in self.store.alerts()? {
            if alert.resolved.is_none() && alert.person.as_deref() == Some(person.id.as_str()) {
                facts.push(format!(
                    "open alert {} ({}): {}",
                    alert.id,
                    alert.kind.name(),
                    alert.message
                ));
            }
        }
        let statuses = &self.config.policy.lease_statuses;
        facts.push(if statuses.contains(&person.status) {
            format!(
                "status `{}` carries access (policy.lease_statuses)",
                person.status
            )
        } else {
            format!(
                "status `{}` carries no access (policy.lease_statuses = {statuses:?})",
                person.status
            )
        });
        if !person.access_enabled {
            facts.push("access disabled by an administrator".to_string());
        }
        let window = self.policy.window(&person);
        let local = |t: Option<jiff::Timestamp>| {
            t.map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
        };
        facts.push(format!(
            "window from {} until {}",
            local(window.from).unwrap_or_else(|| "always".into()),
            local(window.until).unwrap_or_else(|| "open-ended".into())
        ));
        let groups = self.policy.groups_of(&person);
        facts.push(if groups.is_empty() {
            "in no access group".to_string()
        } else {
            format!("in group(s) {}", groups.join(", "))
        });
        let cards: Vec<u64> = self
            .store
            .credentials()?
            .into_iter()
            .filter(|c| c.person_id == person.id)
            .map(|c| c.card)
            .collect();
        facts.push(if cards.is_empty() {
            "holds no card".to_string()
        } else {
            format!("holds card(s) {cards:?}")
        });

        let access = self.policy.access(&person, now);
        let mut doors = Vec::new();
        for d in self
            .config
            .doors
            .iter()
            .filter(|d| door.is_none_or(|name| name == d.name))
        {
            let bit = 1u8 << d.index;
            let why = match &access {
                Access::Denied(why) => Err(why.clone()),
                Access::Granted {
                    doors: masks,
                    window,
                } => {
                    if masks.get(&d.controller).is_none_or(|m| m & bit == 0) {
                        Err("none of their groups includes this door".to_string())
                    } else if window.from.is_some_and(|from| from > now) {
                        Err(format!(
                            "their window starts at {}",
                            local(window.from).unwrap_or_default()
                        ))
                    } else if cards.is_empty() {
                        Err("they hold no card".to_string())
                    } else {
                        let mut via = self.policy.groups_opening(&person, &d.controller, d.index);
                        if person.extra.grants.contains(&d.name) {
                            via.push("a per-person grant".to_string());
                        }
                        self.controller_state(&d.controller, &cards, bit)
                            .map(|state| format!("{state}; via {}", via.join(" and ")))
                    }
                }
            };
            doors.push(DoorVerdict {
                door: d.name.clone(),
                controller: d.controller.clone(),
                opens: why.is_ok(),
                why: why.unwrap_or_else(|e| e),
            });
        }
        if let Some(name) = door
            && doors.is_empty()
        {
            return Err(EngineError::Refused(format!("no door is named `{name}`")));
        }
        Ok(Explanation {
            person,
            facts,
            doors,
        })
    }

    /// Whether `controller` confirmed holding one of `cards` for the door `bit`.
    fn controller_state(&self, controller: &str, cards: &[u64], bit: u8) -> Result<String, String> {
        let acked = self.store.acked(controller).map_err(|e| e.to_string())?;
        let pending = self.store.outbox(controller).map_err(|e| e.to_string())?;
        let held: Vec<u64> = cards
            .iter()
            .copied()
            .filter(|c| acked.get(c).is_some_and(|a| a.credential.doors & bit != 0))
            .collect();
        let queued = pending.iter().any(|e| cards.contains(&e.op.change.card()));
        match (held.is_empty(), queued) {
            (false, false) => Ok(format!("opens: {controller} confirmed card(s) {held:?}")),
            (false, true) => Ok(format!(
                "opens: {controller} confirmed card(s) {held:?}; a change is queued"
            )),
            (true, true) => Err(format!(
                "granted, but {controller} has not confirmed it yet (queued)"
            )),
            (true, false) => Err(format!("granted, but {controller} does not hold the card")),
        }
    }
}
