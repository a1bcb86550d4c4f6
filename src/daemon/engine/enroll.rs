//! Enrollment by swipe: while enrollment is open for a person at a reader, the next card that
//! reader reports as unknown becomes theirs.

use std::time::Duration;

use tokio::sync::oneshot;

use super::{Engine, EngineError};
use crate::store::CredentialRecord;

/// Longest an operator may keep enrollment open at one reader.
pub const MAX_ENROLL_WINDOW: Duration = Duration::from_secs(600);

impl Engine {
    /// Waits up to `within` for an unknown card at `door`'s controller, then issues it to
    /// `person`. One enrollment per controller at a time.
    pub async fn enroll(
        &self,
        person: &str,
        door: &str,
        within: Duration,
    ) -> Result<CredentialRecord, EngineError> {
        let controller = self
            .config
            .doors
            .iter()
            .find(|d| d.name == door)
            .map(|d| d.controller.clone())
            .ok_or_else(|| EngineError::Refused(format!("no door is named `{door}`")))?;
        if within.is_zero() || within > MAX_ENROLL_WINDOW {
            return Err(EngineError::Refused(format!(
                "--within must be between 1s and {}s",
                MAX_ENROLL_WINDOW.as_secs()
            )));
        }
        let person = self.resolve_person(person)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut open = crate::dispatch::lock(&self.enrollments);
            if open
                .get(&controller)
                .is_some_and(|waiting| !waiting.is_closed())
            {
                return Err(EngineError::Refused(format!(
                    "enrollment is already open at {controller}; wait for it to finish"
                )));
            }
            open.insert(controller.clone(), tx);
        }
        let card = match tokio::time::timeout(within, rx).await {
            Ok(Ok(card)) => card,
            _ => {
                crate::dispatch::lock(&self.enrollments).remove(&controller);
                return Err(EngineError::Refused(format!(
                    "no unknown card was presented at {door} within {}s",
                    within.as_secs()
                )));
            }
        };
        self.add_credential(&person.id, &card.to_string()).await
    }

    /// A controller reported a card it does not know: hand it to an open enrollment there.
    pub fn unknown_card(&self, controller: &str, card: u64) {
        let waiting = crate::dispatch::lock(&self.enrollments).remove(controller);
        if let Some(tx) = waiting {
            let _ = tx.send(card);
        }
    }
}
