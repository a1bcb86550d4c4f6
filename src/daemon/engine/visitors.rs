//! Visitor passes: issue, extend, cancel, list. A card on a pass follows the pass's window
//! exactly; cancelling revokes it at once (revocations go first).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::credentials::parse_card;
use crate::store::{Activity, Commit, CredentialRecord, Outcome, PassOrigin, VisitorPass};

/// What `lintel visitors add` asks for. Times are RFC 3339 or site-local `YYYY-MM-DD HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPass {
    pub name: String,
    pub host: Option<String>,
    pub unit: Option<String>,
    pub from: String,
    pub to: String,
    pub doors: Vec<String>,
    pub card: Option<String>,
}

impl Engine {
    /// Reads a time as RFC 3339 or as a site-local date and time.
    pub fn parse_time(&self, text: &str) -> Result<Timestamp, EngineError> {
        let text = text.trim();
        if let Ok(t) = text.parse::<Timestamp>() {
            return Ok(t);
        }
        let civil: jiff::civil::DateTime = text.replacen(' ', "T", 1).parse().map_err(|_| {
            EngineError::Refused(format!(
                "`{text}` is not a time like 2026-11-22T18:00 or 2026-11-22T18:00:00-05:00"
            ))
        })?;
        civil
            .to_zoned(self.config.time_zone())
            .map(|z| z.timestamp())
            .map_err(|e| EngineError::Refused(format!("`{text}`: {e}")))
    }

    pub async fn add_pass(&self, new: NewPass) -> Result<VisitorPass, EngineError> {
        let now = self.clock.now();
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(EngineError::Refused("a visitor needs a name".into()));
        }
        let from = self.parse_time(&new.from)?;
        let to = self.parse_time(&new.to)?;
        if to <= from {
            return Err(EngineError::Refused(format!(
                "--to ({to}) must be after --from ({from})"
            )));
        }
        if to <= now {
            return Err(EngineError::Refused(format!("--to ({to}) is already past")));
        }
        let host = match &new.host {
            Some(query) => Some(self.resolve_person(query)?.id),
            None => None,
        };
        if host.is_none() && new.unit.is_none() {
            return Err(EngineError::Refused(
                "say whom the visitor sees: --host PERSON or --unit U".into(),
            ));
        }
        if let Some(unknown) = new.doors.iter().find(|d| !self.policy.has_door(d)) {
            return Err(EngineError::Refused(format!(
                "no door is named `{unknown}`"
            )));
        }
        if new.doors.is_empty() && host.is_none() {
            return Err(EngineError::Refused(
                "a pass without a host must name its --doors".into(),
            ));
        }
        let pass = VisitorPass {
            id: format!("v{:06}", self.store.next_id()?),
            name,
            host,
            unit: new.unit.map(|u| self.config.policy.units.canonical(&u)),
            from,
            to,
            doors: new.doors,
            origin: PassOrigin::Local,
            cancelled_at: None,
            created_at: now,
        };
        let mut commit = Commit {
            passes: vec![pass.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Added,
                pass.id.clone(),
                format!("visitor pass for {} from {from} until {to}", pass.name),
            )],
            ..Commit::default()
        };
        if let Some(spec) = &new.card {
            commit
                .credentials_put
                .push(self.card_for(&pass.id, spec, now)?);
        }
        self.apply(commit, now).await?;
        Ok(pass)
    }

    /// A new card record for `holder`, refused if the card is already someone's.
    pub(super) fn card_for(
        &self,
        holder: &str,
        spec: &str,
        now: Timestamp,
    ) -> Result<CredentialRecord, EngineError> {
        let credential = parse_card(spec).map_err(|e| EngineError::Refused(e.to_string()))?;
        let card = credential.card_number().ok_or_else(|| {
            EngineError::Refused("a PIN is not a card: use `lintel credentials pin`".into())
        })?;
        if card == 0 {
            return Err(EngineError::CardZero);
        }
        if let Some(existing) = self.store.credential(card)? {
            return Err(EngineError::CardTaken {
                card,
                person: existing.person_id,
            });
        }
        Ok(CredentialRecord {
            card,
            credential,
            person_id: holder.to_string(),
            added_at: now,
        })
    }

    fn open_pass(&self, id: &str) -> Result<VisitorPass, EngineError> {
        let pass = self
            .store
            .pass(id.trim())?
            .ok_or_else(|| EngineError::Refused(format!("no visitor pass `{id}`")))?;
        if pass.cancelled_at.is_some() {
            return Err(EngineError::Refused(format!("pass {id} is cancelled")));
        }
        Ok(pass)
    }

    pub async fn extend_pass(&self, id: &str, to: &str) -> Result<VisitorPass, EngineError> {
        let mut pass = self.open_pass(id)?;
        let now = self.clock.now();
        let to = self.parse_time(to)?;
        if to <= pass.from || to <= now {
            return Err(EngineError::Refused(format!(
                "--to ({to}) must be after the pass start and after now"
            )));
        }
        let reason = format!(
            "visitor pass for {} now ends at {to} (was {})",
            pass.name, pass.to
        );
        pass.to = to;
        let commit = Commit {
            passes: vec![pass.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Updated,
                pass.id.clone(),
                reason,
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(pass)
    }

    pub async fn cancel_pass(&self, id: &str) -> Result<VisitorPass, EngineError> {
        let mut pass = self.open_pass(id)?;
        let now = self.clock.now();
        pass.cancelled_at = Some(now);
        let commit = Commit {
            passes: vec![pass.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Disabled,
                pass.id.clone(),
                format!(
                    "visitor pass for {} cancelled; its card is revoked everywhere",
                    pass.name
                ),
            )],
            ..Commit::default()
        };
        self.apply(commit, now).await?;
        Ok(pass)
    }

    pub fn passes(&self, origin: Option<PassOrigin>) -> Result<Vec<VisitorPass>, EngineError> {
        Ok(self
            .store
            .passes()?
            .into_iter()
            .filter(|p| origin.is_none_or(|o| o == p.origin))
            .collect())
    }
}
