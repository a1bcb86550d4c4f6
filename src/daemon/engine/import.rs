//! Fob inventory import: a CSV of `person,card` rows (a header row first). Every row is checked
//! before anything is written; one bad row refuses the whole file, so nothing is half-applied.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::store::{Activity, Commit, Outcome};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// `person ← card` for every row that would be (or was) issued.
    pub issued: Vec<String>,
    /// `row N: why` for every row that cannot be issued.
    pub errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Row {
    person: String,
    card: String,
}

impl Engine {
    pub async fn import_cards(
        &self,
        csv_text: &str,
        dry_run: bool,
    ) -> Result<ImportReport, EngineError> {
        let now = self.clock.now();
        let mut report = ImportReport {
            dry_run,
            ..ImportReport::default()
        };
        let mut commit = Commit::default();
        let mut seen = HashSet::new();
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
        for (i, row) in reader.deserialize::<Row>().enumerate() {
            // Row 1 is the header, so data rows start at 2 as a spreadsheet shows them.
            let line = i + 2;
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    report
                        .errors
                        .push(format!("row {line}: {e} (columns must be `person,card`)"));
                    continue;
                }
            };
            let issued = self
                .resolve_person(&row.person)
                .and_then(|person| Ok((self.card_for(&person.id, &row.card, now)?, person)));
            match issued {
                Err(e) => report.errors.push(format!("row {line}: {e}")),
                Ok((record, _)) if !seen.insert(record.card) => {
                    report.errors.push(format!(
                        "row {line}: card {} appears twice in the file",
                        record.card
                    ));
                }
                Ok((record, person)) => {
                    report.issued.push(format!(
                        "{} ({}) ← {}",
                        person.id,
                        person.display_name(),
                        record.credential
                    ));
                    commit.activity.push(Activity::new(
                        now,
                        Outcome::Added,
                        person.id,
                        format!(
                            "card {} ({}) issued from a fob inventory import",
                            record.credential, record.card
                        ),
                    ));
                    commit.credentials_put.push(record);
                }
            }
        }
        if report.issued.is_empty() && report.errors.is_empty() {
            report.errors.push("the file has no rows".to_string());
        }
        if !dry_run {
            if !report.errors.is_empty() {
                return Err(EngineError::Refused(format!(
                    "nothing imported: {} row(s) cannot be issued:\n{}",
                    report.errors.len(),
                    report.errors.join("\n")
                )));
            }
            self.apply(commit, now).await?;
        }
        Ok(report)
    }
}
