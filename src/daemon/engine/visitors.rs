//! Visitor passes: issue, extend, cancel, list. A card on a pass follows the pass's window
//! exactly; cancelling revokes it at once (revocations go first).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::credentials::parse_card;
use crate::sources::fields::PassTime;
use crate::store::{Activity, Commit, CredentialRecord, Outcome, PassOrigin, Person, VisitorPass};

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
    /// Issue the pass even if some of its doors are on controllers with `visitor_passes =
    /// false`: those doors are left out and the pass is kept local to the others.
    #[serde(default)]
    pub keep_local: bool,
}

impl Engine {
    /// Reads a time as RFC 3339 or as a site-local date and time.
    pub fn parse_time(&self, text: &str) -> Result<Timestamp, EngineError> {
        PassTime::parse(text)
            .and_then(|t| t.resolve(&self.config.time_zone()))
            .map_err(EngineError::Refused)
    }

    /// The doors of `pass` its controllers refuse, checked against what the pass already keeps
    /// local: refused without `keep_local`, recorded in the pass with it. Returns the activity
    /// note when the set of kept-local doors changed.
    pub(super) fn host_of(&self, pass: &VisitorPass) -> Result<Option<Person>, EngineError> {
        Ok(match &pass.host {
            Some(id) => self.store.person(id)?,
            None => None,
        })
    }

    pub(super) fn keep_local(
        &self,
        pass: &mut VisitorPass,
        host: Option<&Person>,
        keep_local: bool,
        now: Timestamp,
    ) -> Result<Option<String>, EngineError> {
        let withheld = self.policy.withheld_doors(pass, host, now);
        let names: Vec<String> = withheld.iter().map(|(d, _)| d.clone()).collect();
        if names == pass.kept_local {
            return Ok(None);
        }
        let listed = withheld
            .iter()
            .map(|(door, controller)| format!("door `{door}` on controller `{controller}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some((door, controller)) = withheld
            .iter()
            .find(|(d, _)| !pass.kept_local.contains(d))
            .filter(|_| !keep_local)
        {
            return Err(EngineError::Refused(format!(
                "controller `{controller}` does not take visitor passes (visitor_passes = false \
                 in its [[controller]]), so door `{door}` cannot be on this pass; re-run with \
                 --keep-local to issue it without {listed}, kept local to the controllers that \
                 take it"
            )));
        }
        if !pass.doors.is_empty() && pass.doors.iter().all(|d| names.contains(d)) {
            return Err(EngineError::Refused(format!(
                "every door of the pass is on a controller that does not take visitor passes \
                 ({listed}); nothing would be left to open"
            )));
        }
        pass.kept_local = names;
        Ok(Some(if withheld.is_empty() {
            "no door is kept local any more".to_string()
        } else {
            format!("kept local: {listed} left out (visitor_passes = false)")
        }))
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
            link: None,
            kept_local: Vec::new(),
            cancelled_at: None,
            removed_at_source: false,
            created_at: now,
        };
        let mut pass = pass;
        let mut reason = format!("visitor pass for {} from {from} until {to}", pass.name);
        let host_person = self.host_of(&pass)?;
        if let Some(note) = self.keep_local(&mut pass, host_person.as_ref(), new.keep_local, now)? {
            reason = format!("{reason}; {note}");
        }
        let mut commit = Commit {
            passes: vec![pass.clone()],
            activity: vec![Activity::new(now, Outcome::Added, pass.id.clone(), reason)],
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

    pub async fn extend_pass(
        &self,
        id: &str,
        to: &str,
        keep_local: bool,
    ) -> Result<VisitorPass, EngineError> {
        let mut pass = self.open_pass(id)?;
        if let Some(link) = &pass.link {
            return Err(EngineError::Refused(format!(
                "pass {} comes from source `{}` (record {}), which owns its window; change it \
                 there and the next pull follows",
                pass.id, link.source, link.external_id
            )));
        }
        let now = self.clock.now();
        let to = self.parse_time(to)?;
        if to <= pass.from || to <= now {
            return Err(EngineError::Refused(format!(
                "--to ({to}) must be after the pass start and after now"
            )));
        }
        let mut reason = format!(
            "visitor pass for {} now ends at {to} (was {})",
            pass.name, pass.to
        );
        pass.to = to;
        let host_person = self.host_of(&pass)?;
        if let Some(note) = self.keep_local(&mut pass, host_person.as_ref(), keep_local, now)? {
            reason = format!("{reason}; {note}");
        }
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
        pass.removed_at_source = false;
        let mut reason = format!(
            "visitor pass for {} cancelled; its card is revoked everywhere",
            pass.name
        );
        if let Some(link) = &pass.link {
            reason.push_str(&format!(
                "; cancelled here, so later pulls of `{}` do not revive it",
                link.source
            ));
        }
        let commit = Commit {
            passes: vec![pass.clone()],
            activity: vec![Activity::new(
                now,
                Outcome::Disabled,
                pass.id.clone(),
                reason,
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
