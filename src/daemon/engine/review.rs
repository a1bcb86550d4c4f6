//! Resolving alerts: the review queue's `--link`, `--create` and `--ignore`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::store::{Activity, Alert, AlertKind, Commit, Outcome, SourceLink};
use crate::sync::{apply_source_fields, new_person};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// The record is this person: link them (partial match) or accept the new email.
    Link,
    /// The record is someone else: create a separate person.
    Create,
    /// Leave things as they are and stop asking (the record is skipped from now on).
    Ignore,
}

impl ReviewAction {
    fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Link => "link",
            ReviewAction::Create => "create",
            ReviewAction::Ignore => "ignore",
        }
    }
}

impl Engine {
    /// Open alerts, oldest first (`all` includes resolved ones).
    pub fn alerts(&self, all: bool) -> Result<Vec<Alert>, EngineError> {
        Ok(self
            .store
            .alerts()?
            .into_iter()
            .filter(|a| all || a.resolved.is_none())
            .collect())
    }

    /// Resolves alert `id`; returns a sentence saying what was done.
    pub async fn resolve_alert(
        &self,
        id: u64,
        action: ReviewAction,
    ) -> Result<String, EngineError> {
        let alert = self.store.alert(id)?.ok_or(EngineError::UnknownAlert(id))?;
        if let Some(done) = &alert.resolved {
            return Err(EngineError::Refused(format!(
                "alert {id} was already resolved ({}) at {}",
                done.how, done.at
            )));
        }
        let now = self.clock.now();
        let mut commit = Commit {
            alerts: self.resolved(Some(id), action.as_str(), now)?,
            ..Commit::default()
        };
        let source = alert.source.clone().unwrap_or_default();
        let ext = alert.external_id.clone().unwrap_or_default();
        let said = match (&alert.kind, action) {
            (AlertKind::MassDisable { .. }, _) => {
                return Err(EngineError::Refused(format!(
                    "alert {id} is a held pass: use `lintel sync approve {source}` or `lintel sync reject {source}`"
                )));
            }
            (AlertKind::Duplicate, ReviewAction::Link | ReviewAction::Create) => {
                return Err(EngineError::Refused(format!(
                    "alert {id} is a duplicate: fix it at the source, or dismiss it with --ignore"
                )));
            }
            (AlertKind::Duplicate, ReviewAction::Ignore) => format!("alert {id} dismissed"),
            (AlertKind::PartialMatch { record, candidate }, ReviewAction::Link) => {
                let person = self.resolve_person(candidate)?;
                if let Some(link) = &person.link {
                    return Err(EngineError::Refused(format!(
                        "{} is already linked to {link}; resolve with --create or --ignore",
                        person.id
                    )));
                }
                let mut person = Cow::Owned(person);
                apply_source_fields(&mut person, record);
                let mut person = person.into_owned();
                person.link = Some(SourceLink {
                    source: source.clone(),
                    external_id: ext.clone(),
                });
                person.at_source = true;
                person.updated_at = now;
                let said = format!("{source} record {ext} linked to {}", person.id);
                commit.people.push(person);
                said
            }
            (AlertKind::PartialMatch { record, .. }, ReviewAction::Create) => {
                let person = new_person(
                    format!("p{:06}", self.store.next_id()?),
                    &source,
                    record,
                    now,
                );
                let said = format!("{source} record {ext} created as {}", person.id);
                commit.people.push(person);
                said
            }
            (AlertKind::EmailMismatch { new_email, .. }, ReviewAction::Link) => {
                let person_id = alert.person.clone().unwrap_or_default();
                let mut person = self.resolve_person(&person_id)?;
                person.email = Some(new_email.clone());
                person.updated_at = now;
                commit.people.push(person);
                format!("{person_id} now has email {new_email}")
            }
            (AlertKind::EmailMismatch { record, .. }, ReviewAction::Create) => {
                let person_id = alert.person.clone().unwrap_or_default();
                let mut old = self.resolve_person(&person_id)?;
                old.link = None;
                old.updated_at = now;
                let person = new_person(
                    format!("p{:06}", self.store.next_id()?),
                    &source,
                    record,
                    now,
                );
                let said = format!(
                    "{person_id} unlinked from {source} record {ext} (kept as a local person); the record is now {}",
                    person.id
                );
                commit.people.extend([old, person]);
                said
            }
            (AlertKind::EmailMismatch { new_email, .. }, ReviewAction::Ignore) => {
                format!("the old email is kept; {new_email} will not be raised again")
            }
            (AlertKind::PartialMatch { .. }, ReviewAction::Ignore) => {
                commit.ignore.push(SourceLink {
                    source: source.clone(),
                    external_id: ext.clone(),
                });
                format!("{source} record {ext} will be skipped from now on")
            }
        };
        commit.activity.push(
            Activity::new(
                now,
                Outcome::Processed,
                alert.person.clone().unwrap_or_else(|| ext.clone()),
                format!("alert {id} resolved with --{}: {said}", action.as_str()),
            )
            .record(&source, &ext),
        );
        self.apply(commit, now).await?;
        Ok(said)
    }
}
