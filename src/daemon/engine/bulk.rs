//! Bulk delete of a source's people: preview, a token bound to exactly the previewed set, and
//! confirm. A changed set means preview again. Activity history stays.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Engine, EngineError};
use crate::store::{Activity, Commit, Outcome, Person};

/// People shown in a preview.
const SAMPLE: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkPreview {
    pub source: String,
    pub count: usize,
    /// `id  name  external id` of the first few.
    pub sample: Vec<String>,
    /// Confirms exactly this set.
    pub token: String,
}

fn token(source: &str, people: &[Person]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    for p in people {
        hasher.update([0]);
        hasher.update(p.id.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    fn synced_people(&self, source: &str) -> Result<Vec<Person>, EngineError> {
        self.runner(source)?;
        let mut people: Vec<Person> = self
            .store
            .people()?
            .into_iter()
            .filter(|p| p.is_from(source))
            .collect();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(people)
    }

    pub fn bulk_delete_preview(&self, source: &str) -> Result<BulkPreview, EngineError> {
        let people = self.synced_people(source)?;
        Ok(BulkPreview {
            source: source.to_string(),
            count: people.len(),
            sample: people
                .iter()
                .take(SAMPLE)
                .map(|p| {
                    format!(
                        "{}  {}  {}",
                        p.id,
                        p.display_name(),
                        p.external_id().unwrap_or_default()
                    )
                })
                .collect(),
            token: token(source, &people),
        })
    }

    /// Deletes exactly the previewed people (their cards are revoked everywhere first); with
    /// `disable_source` the source is also switched off so the next pass does not re-create them.
    pub async fn bulk_delete_confirm(
        &self,
        source: &str,
        confirm: &str,
        disable_source: bool,
    ) -> Result<usize, EngineError> {
        let people = self.synced_people(source)?;
        if token(source, &people) != confirm.trim() {
            return Err(EngineError::Refused(format!(
                "the people synced from `{source}` changed since that preview (or the token is wrong); preview again"
            )));
        }
        let now = self.clock.now();
        let ids: std::collections::HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
        let cards: Vec<u64> = self
            .store
            .credentials()?
            .into_iter()
            .filter(|c| ids.contains(c.person_id.as_str()))
            .map(|c| c.card)
            .collect();
        let mut activity: Vec<Activity> = people
            .iter()
            .map(|p| {
                Activity::new(
                    now,
                    Outcome::Disabled,
                    p.id.clone(),
                    format!(
                        "{} deleted by bulk delete of `{source}`; cards revoked, history kept",
                        p.display_name()
                    ),
                )
                .record(source, p.external_id().unwrap_or_default())
            })
            .collect();
        let mut commit = Commit {
            people_remove: people.iter().map(|p| p.id.clone()).collect(),
            credentials_remove: cards,
            ..Commit::default()
        };
        if disable_source {
            let mut state = self.store.source_state(source)?;
            state.disabled = true;
            commit.sources.push((source.to_string(), state));
            activity.push(Activity::new(
                now,
                Outcome::Processed,
                source,
                "source switched off by bulk delete",
            ));
        }
        commit.activity = activity;
        self.apply(commit, now).await?;
        Ok(people.len())
    }
}
