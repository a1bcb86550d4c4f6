//! A CSV roster file in lintel's own format (see the operator guide):
//!
//! ```csv
//! external_id,property_id,building,unit,first_name,last_name,email,phone,occupant_type,status,lease_start,lease_end,move_in,move_out,credential_id
//! T-000123,PROP01,A,206,Test,Resident,test.resident@example.com,+15550100101,primary,current,2025-08-01,2026-07-31,2025-08-01,,
//! ```
//!
//! UTF-8 with or without a byte-order mark; a header row is required and columns are matched by
//! name (case-insensitive, surrounding spaces ignored, any order). `external_id`, `first_name`,
//! `last_name` and `status` are required columns; unknown extra columns are ignored.
//! `property_id` stands in for a blank `building`; a `credential_id` value fails the pull.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;

use super::fields::{RawFields, StatusMap, occupant};
use super::{Pull, PullKind, Source, SourceError};

/// `[[source]]` settings for `kind = "csv"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub path: PathBuf,
    /// True (the default): the file lists everyone in scope, so a missing row means "removed".
    /// False: the file lists changes only, and a missing row means nothing.
    #[serde(default = "default_true")]
    pub full_snapshot: bool,
    /// The roster's status words onto lintel's lease statuses (docs/sources.md).
    #[serde(default)]
    pub status_map: StatusMap,
    #[serde(skip)]
    pub schedule: super::Schedule,
}

impl CsvSourceConfig {
    /// A full-snapshot roster at `path` with every other key at its default.
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Self {
        CsvSourceConfig {
            name: name.to_string(),
            enabled: true,
            path: path.into(),
            full_snapshot: true,
            status_map: StatusMap::default(),
            schedule: super::Schedule::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Columns that must be present in the header.
pub const REQUIRED_COLUMNS: [&str; 4] = ["external_id", "first_name", "last_name", "status"];

/// Every column lintel knows (the others are ignored).
pub const KNOWN_COLUMNS: [&str; 19] = [
    "external_id",
    "property_id",
    "building",
    "unit",
    "first_name",
    "last_name",
    "email",
    "phone",
    "occupant_type",
    "status",
    "lease_start",
    "lease_end",
    "move_in",
    "move_out",
    "credential_id",
    "valid_from",
    "valid_to",
    "host",
    "doors",
];

/// The CSV roster source: each pull reads the whole file.
#[derive(Debug, Clone)]
pub struct CsvSource {
    name: String,
    path: PathBuf,
    full_snapshot: bool,
    status_map: StatusMap,
}

impl CsvSource {
    pub fn new(config: &CsvSourceConfig) -> Result<CsvSource, SourceError> {
        Ok(CsvSource {
            name: config.name.clone(),
            path: config.path.clone(),
            full_snapshot: config.full_snapshot,
            status_map: config.status_map.clone(),
        })
    }

    /// The configured source name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl Source for CsvSource {
    async fn pull(&self, _kind: PullKind) -> Result<Pull, SourceError> {
        let path = self.path.clone();
        let map = self.status_map.clone();
        let mut pull = tokio::task::spawn_blocking(move || read_roster(&path, &map))
            .await
            .map_err(|e| SourceError::File {
                path: self.path.display().to_string(),
                reason: format!("reader task failed: {e}"),
            })??;
        pull.changes_only = !self.full_snapshot;
        tracing::debug!(
            source = %self.name,
            records = pull.residents(),
            skipped = pull.skipped.len(),
            "csv source pulled"
        );
        Ok(pull)
    }
}

/// Reads and parses a roster file.
pub fn read_roster(path: &Path, status_map: &StatusMap) -> Result<Pull, SourceError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    parse_roster(&bytes, status_map).map_err(|reason| file_error(path, reason))
}

fn file_error(path: &Path, reason: String) -> SourceError {
    SourceError::File {
        path: path.display().to_string(),
        reason,
    }
}

/// Parses roster contents. The error is the reason the whole file is rejected.
pub fn parse_roster(bytes: &[u8], status_map: &StatusMap) -> Result<Pull, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (at byte {}); save the roster as UTF-8",
            e.valid_up_to()
        )
    })?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());

    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err("the header row is missing".to_string());
    }
    let mut columns: HashMap<&'static str, usize> = HashMap::new();
    for (position, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if let Some(known) = KNOWN_COLUMNS.iter().find(|k| **k == name) {
            if columns.insert(known, position).is_some() {
                return Err(format!("column {known} appears more than once"));
            }
        }
    }
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing required column{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }

    let mut pull = Pull::default();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|e| match e.kind() {
            ::csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!(
                "row {} has {len} fields but the header has {expected_len}",
                index + 1
            ),
            _ => format!("cannot read row {}: {e}", index + 1),
        })?;
        let cell = |column: &str| -> Option<String> {
            columns
                .get(column)
                .and_then(|&i| row.get(i))
                .map(str::to_string)
        };
        if let Some(credential) = cell("credential_id").filter(|c| !c.trim().is_empty()) {
            // lintel's records carry no source-given card: ignoring the value would leave the
            // building believing the card was issued.
            return Err(format!(
                "row {}: column credential_id is not supported (value {credential:?}); leave it \
                 empty and assign cards with `lintel credentials add`",
                index + 1
            ));
        }
        // A roster without building names still groups by property (`match.buildings`).
        let building = cell("building")
            .filter(|b| !b.trim().is_empty())
            .or_else(|| cell("property_id"));
        let raw = RawFields {
            external_id: cell("external_id"),
            first_name: cell("first_name"),
            last_name: cell("last_name"),
            email: cell("email"),
            phone: cell("phone"),
            unit: cell("unit"),
            building,
            status: status_map.apply(cell("status")),
            lease_start: cell("lease_start"),
            lease_end: cell("lease_end"),
            move_in: cell("move_in"),
            move_out: cell("move_out"),
            valid_from: cell("valid_from"),
            valid_to: cell("valid_to"),
            host: cell("host"),
            doors: cell("doors"),
        };
        pull.take(index, occupant(cell("occupant_type").as_deref()), raw);
    }
    Ok(pull)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const HEADER: &str = "external_id,property_id,building,unit,first_name,last_name,email,phone,occupant_type,status,lease_start,lease_end,move_in,move_out,credential_id";

    fn roster(rows: &[&str]) -> String {
        let mut text = format!("{HEADER}\r\n");
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        text
    }

    async fn pull_file(contents: &[u8]) -> Result<Pull, SourceError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("roster.csv");
        std::fs::write(&path, contents).expect("write");
        let source = CsvSource::new(&CsvSourceConfig::new("roster", path)).expect("source");
        source.pull(PullKind::Full).await
    }

    #[tokio::test]
    async fn reads_the_proposed_format_with_a_bom() {
        let text = roster(&[
            "T-000123,PROP01,A,206,Test,Resident,Test.Resident@Example.com ,+15550100101,primary,Current,2025-08-01,2026-07-31,2025-08-01,,",
            "\"T-000124\",PROP01,\" \",\"2,07\",\" Quinn \",\"O'Dell, Jr.\",,,occupant,notice,08/01/2025,7/31/2026,,07/31/2026,",
        ]);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let pull = pull_file(&bytes).await.expect("pull");
        assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
        assert_eq!(pull.records.len(), 2);
        let a = &pull.records[0];
        assert_eq!(a.external_id, "T-000123");
        assert_eq!(a.unit.as_deref(), Some("206"));
        assert_eq!(a.building.as_deref(), Some("A"));
        assert_eq!(a.email.as_deref(), Some("test.resident@example.com"));
        assert_eq!(a.phone.as_deref(), Some("+15550100101"));
        assert_eq!(a.status, "current");
        assert_eq!(a.lease_end, Some(date(2026, 7, 31)));
        assert_eq!(a.move_out, None);
        let b = &pull.records[1];
        assert_eq!(b.external_id, "T-000124");
        assert_eq!(b.first_name, "Quinn");
        assert_eq!(b.last_name, "O'Dell, Jr.");
        assert_eq!(b.unit.as_deref(), Some("2,07"));
        assert_eq!(
            b.building.as_deref(),
            Some("PROP01"),
            "a blank building falls back to the property"
        );
        assert_eq!((b.email.clone(), b.phone.clone()), (None, None));
        assert_eq!(b.lease_start, Some(date(2025, 8, 1)));
        assert_eq!(b.lease_end, Some(date(2026, 7, 31)));
        assert_eq!(b.move_out, Some(date(2026, 7, 31)));
    }

    #[tokio::test]
    async fn visitor_and_guest_rows_are_passes_and_bad_ones_are_skipped() {
        let text = "external_id,first_name,last_name,unit,occupant_type,status,valid_from,valid_to,host,doors\n\
                    R-1,Ada,Host,101,primary,current,,,,\n\
                    G-1, Gus ,Guest,101,Guest,current,2030-03-07 10:00,2030-03-07T18:00:00-05:00,R-1,\n\
                    G-2,Vi,,,visitor,current,2030-03-07T10:00,2030-03-08 10:00,, lobby ; garage\n\
                    G-3,No,Window,101,visitor,current,,2030-03-08 10:00,R-1,\n\
                    G-4,Bad,Time,101,visitor,current,tomorrow,2030-03-08 10:00,R-1,\n";
        let pull = pull_file(text.as_bytes()).await.expect("pull");
        assert_eq!(pull.records.len(), 1);
        assert_eq!(pull.visitors.len(), 2, "{:?}", pull.skipped);
        let g1 = &pull.visitors[0];
        assert_eq!(g1.name, "Gus Guest");
        assert_eq!(g1.host.as_deref(), Some("R-1"));
        assert!(matches!(g1.from, super::super::fields::PassTime::Local(_)));
        assert!(matches!(g1.to, super::super::fields::PassTime::At(_)));
        assert!(g1.doors.is_empty());
        assert_eq!(pull.visitors[1].doors, ["lobby", "garage"]);
        assert_eq!(pull.skipped.len(), 2);
        assert_eq!(pull.skipped[0].external_id.as_deref(), Some("G-3"));
        assert_eq!(
            pull.skipped[0].reason,
            "valid_from: a visitor pass needs one"
        );
        assert!(
            pull.skipped[1]
                .reason
                .starts_with("valid_from: `tomorrow` is not a time"),
            "{}",
            pull.skipped[1].reason
        );
    }

    #[tokio::test]
    async fn columns_by_name_in_any_order_and_unknown_ones_ignored() {
        let text =
            "Status, Last_Name ,first_name,external_id,notes\ncurrent,Moss,Cy,X1,likes cats\n";
        let pull = pull_file(text.as_bytes()).await.expect("pull");
        let r = &pull.records[0];
        assert_eq!(
            (
                r.external_id.as_str(),
                r.first_name.as_str(),
                r.last_name.as_str()
            ),
            ("X1", "Cy", "Moss")
        );
        assert_eq!(r.unit, None);
    }

    #[tokio::test]
    async fn missing_required_column_fails_naming_it() {
        let text = "external_id,first_name,last_name,unit\nX1,Cy,Moss,101\n";
        let err = pull_file(text.as_bytes()).await.expect_err("no status");
        assert!(matches!(err, SourceError::File { .. }));
        assert!(
            err.to_string().ends_with("missing required column status"),
            "{err}"
        );

        let err = pull_file(b"unit,email\n").await.expect_err("several");
        assert!(
            err.to_string()
                .contains("missing required columns external_id, first_name, last_name, status"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn guarantors_and_bad_rows_are_skipped_with_reasons() {
        let text = roster(&[
            "T-1,P,A,101,Gia,Bond,,,guarantor,current,,,,,",
            "T-2,P,A,102,Hal,Reed,,,primary,current,2025-02-30,,,,",
            "T-3,P,A,103,Ivy,Lane,,,primary,current,01/15/2025,,,,",
            ",P,A,104,No,Id,,,primary,current,,,,,",
            "T-5,P,A,105,Jo,Park,,,tenant,current,,,,,",
            "T-6,P,A,106,Kit,Vale,,,Primary,,,,,,",
        ]);
        let pull = pull_file(text.as_bytes()).await.expect("pull");
        assert_eq!(pull.records.len(), 1);
        assert_eq!(pull.records[0].external_id, "T-3");
        assert_eq!(pull.records[0].lease_start, Some(date(2025, 1, 15)));
        let skipped: Vec<_> = pull
            .skipped
            .iter()
            .map(|s| (s.index, s.external_id.as_deref(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (0, Some("T-1"), "guarantor is not an occupant"),
                (
                    1,
                    Some("T-2"),
                    "lease_start: \"2025-02-30\" is not a date (expected YYYY-MM-DD or MM/DD/YYYY)"
                ),
                (3, None, "external_id: missing or empty"),
                (
                    4,
                    Some("T-5"),
                    "occupant_type: \"tenant\" is not one of primary, occupant, resident, guarantor, visitor, guest"
                ),
                (5, Some("T-6"), "status: missing or empty"),
            ]
        );
    }

    #[tokio::test]
    async fn header_only_is_an_empty_pull() {
        let pull = pull_file(format!("{HEADER}\n").as_bytes())
            .await
            .expect("pull");
        assert_eq!(pull, Pull::default());
    }

    #[tokio::test]
    async fn whole_file_failures() {
        let err = pull_file(b"").await.expect_err("empty file");
        assert!(err.to_string().contains("header row is missing"), "{err}");

        let text = roster(&["T-1,P,A,101,Gia,Bond,,,primary,current,,,,,", "T-2,P,A,10"]);
        let err = pull_file(text.as_bytes()).await.expect_err("truncated");
        assert!(
            err.to_string()
                .contains("row 2 has 4 fields but the header has 15"),
            "{err}"
        );

        let mut latin1 = roster(&["T-1,P,A,101,Jos,Bond,,,primary,current,,,,,"]).into_bytes();
        let at = latin1.len() - 24;
        latin1.insert(at, 0xE9);
        let err = pull_file(&latin1).await.expect_err("latin-1");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");

        let err = pull_file(b"external_id,first_name,last_name,status,Status\n")
            .await
            .expect_err("duplicate");
        assert!(
            err.to_string()
                .contains("column status appears more than once")
        );
    }

    #[tokio::test]
    async fn property_id_stands_in_for_a_missing_building_column() {
        let text =
            "external_id,property_id,first_name,last_name,status\nT-1, PROP02 ,Gia,Bond,current\n";
        let pull = pull_file(text.as_bytes()).await.expect("pull");
        assert_eq!(pull.records[0].building.as_deref(), Some("PROP02"));
    }

    #[tokio::test]
    async fn a_credential_id_value_fails_the_pull_naming_the_row() {
        let text = roster(&[
            "T-1,P,A,101,Gia,Bond,,,primary,current,,,,,",
            "T-2,P,A,102,Jo,Bond,,,primary,current,,,,,CARD-7",
        ]);
        let err = pull_file(text.as_bytes()).await.expect_err("credential");
        assert!(
            err.to_string().contains(
                "row 2: column credential_id is not supported (value \"CARD-7\"); leave it empty"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn missing_file_is_an_error() {
        let source = CsvSource::new(&CsvSourceConfig::new(
            "roster",
            "/nonexistent/lintel/roster.csv",
        ))
        .expect("source");
        let err = source.pull(PullKind::Full).await.expect_err("missing");
        assert!(matches!(err, SourceError::File { .. }));
        assert!(err.to_string().contains("/nonexistent/lintel/roster.csv"));
    }

    #[tokio::test]
    async fn a_partial_roster_is_changes_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("changes.csv");
        std::fs::write(
            &path,
            roster(&["T-1,P,A,101,Gia,Bond,,,primary,current,,,,,"]),
        )
        .expect("write");
        let full = CsvSource::new(&CsvSourceConfig::new("roster", &path)).expect("source");
        assert!(!full.pull(PullKind::Full).await.expect("pull").changes_only);
        let cfg: CsvSourceConfig = toml::from_str(&format!(
            "name = \"r\"\npath = {:?}\nfull_snapshot = false",
            path.display().to_string()
        ))
        .expect("parse");
        let partial = CsvSource::new(&cfg).expect("source");
        let pull = partial.pull(PullKind::Full).await.expect("pull");
        assert!(pull.changes_only);
        assert_eq!(pull.records.len(), 1);
    }

    #[tokio::test]
    async fn status_map_maps_the_roster_words_and_passes_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("roster.csv");
        std::fs::write(
            &path,
            "external_id,first_name,last_name,status\nT-1,Gia,Bond, In Residence \nT-2,Jo,Bond,Notice\n",
        )
        .expect("write");
        let cfg: CsvSourceConfig = toml::from_str(&format!(
            "name = \"r\"\npath = {:?}\n[status_map]\n\"in residence\" = \"Current\"",
            path.display().to_string()
        ))
        .expect("parse");
        let pull = CsvSource::new(&cfg)
            .expect("source")
            .pull(PullKind::Full)
            .await
            .expect("pull");
        let statuses: Vec<&str> = pull.records.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["current", "notice"]);

        let err = toml::from_str::<CsvSourceConfig>(
            "name = \"r\"\npath = \"p\"\n[status_map]\nresident = \"active\"",
        )
        .expect_err("unknown state");
        assert!(
            err.to_string().contains(
                "status_map: \"resident\" maps to \"active\", which is not a lintel lease status \
                 (one of applicant, pending, future, current, notice, evicting, past, cancelled)"
            ),
            "{err}"
        );
    }

    #[test]
    fn config_rejects_unknown_keys() {
        let cfg: CsvSourceConfig =
            toml::from_str("name = \"r\"\npath = \"/var/lib/lintel/roster.csv\"").expect("parse");
        assert!(cfg.enabled);
        assert!(cfg.full_snapshot);
        assert!(
            toml::from_str::<CsvSourceConfig>("name = \"r\"\npath = \"p\"\nsnapshot = true")
                .is_err()
        );
    }
}
