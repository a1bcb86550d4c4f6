//! `lintel check-config --impact`: who would gain and who would lose which doors if the
//! running daemon loaded another config — before anyone reloads it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::access::{Access, Policy};
use crate::config::Config;
use crate::store::Person;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Impact {
    pub people_gaining: usize,
    pub people_losing: usize,
    /// `person: +door, -door` for everyone whose doors change.
    pub rows: Vec<String>,
}

/// The door names `person` opens right now under `config`.
fn doors(
    policy: &Policy,
    config: &Config,
    person: &Person,
    now: jiff::Timestamp,
) -> BTreeSet<String> {
    let Access::Granted { doors, window } = policy.access(person, now) else {
        return BTreeSet::new();
    };
    if window.from.is_some_and(|from| from > now) {
        return BTreeSet::new();
    }
    config
        .doors
        .iter()
        .filter(|d| {
            doors
                .get(&d.controller)
                .is_some_and(|mask| mask & (1 << d.index) != 0)
        })
        .map(|d| d.name.clone())
        .collect()
}

impl Engine {
    pub fn impact(&self, text: &str) -> Result<Impact, EngineError> {
        let proposed = Config::parse(text, "the proposed config")
            .map_err(|e| EngineError::Refused(e.to_string()))?;
        let policy = Policy::new(&proposed);
        let now = self.clock.now();
        let mut impact = Impact::default();
        for person in self.store.people()? {
            let before = doors(&self.policy, &self.config, &person, now);
            let after = doors(&policy, &proposed, &person, now);
            let gains: Vec<_> = after.difference(&before).map(|d| format!("+{d}")).collect();
            let losses: Vec<_> = before.difference(&after).map(|d| format!("-{d}")).collect();
            if gains.is_empty() && losses.is_empty() {
                continue;
            }
            impact.people_gaining += usize::from(!gains.is_empty());
            impact.people_losing += usize::from(!losses.is_empty());
            impact.rows.push(format!(
                "{} ({}): {}",
                person.id,
                person.display_name(),
                losses
                    .into_iter()
                    .chain(gains)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(impact)
    }
}
