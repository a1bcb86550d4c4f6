//! Normalisation shared by the source adapters: every adapter reads raw text per field into
//! [`RawFields`], and [`RawFields::normalise`] turns that into a [`SourceRecord`] or a
//! [`SkippedRecord`] with the same rules and the same reasons everywhere.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde::{Deserialize, Serialize};

use super::{SkippedRecord, SourceRecord, VisitorRecord};

/// The raw text of one record's fields, as read by an adapter (untrimmed; `None` when the field
/// is absent or null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawFields {
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<String>,
    pub building: Option<String>,
    pub status: Option<String>,
    pub lease_start: Option<String>,
    pub lease_end: Option<String>,
    pub move_in: Option<String>,
    pub move_out: Option<String>,
    /// Visitor rows only: the pass's window, its host's external id and its doors (separated
    /// by `;` or `,`).
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub host: Option<String>,
    pub doors: Option<String>,
}

/// What an occupant-type word makes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant {
    Resident,
    Visitor,
}

/// Reads an occupant type: empty, `primary`, `occupant` or `resident` → a resident; `visitor` or
/// `guest` → a visitor pass. The error (guarantors, unknown words) is the reason to skip.
pub fn occupant(word: Option<&str>) -> Result<Occupant, String> {
    let word = word.map(|w| w.trim().to_lowercase()).unwrap_or_default();
    match word.as_str() {
        "" | "primary" | "occupant" | "resident" => Ok(Occupant::Resident),
        "visitor" | "guest" => Ok(Occupant::Visitor),
        "guarantor" => Err("guarantor is not an occupant".to_string()),
        other => Err(format!(
            "occupant_type: {other:?} is not one of primary, occupant, resident, guarantor, visitor, guest"
        )),
    }
}

/// A pass's start or end as the source wrote it: an instant (RFC 3339) or a site-local date and
/// time, resolved in the site's time zone by the engine (sources do not know it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PassTime {
    At(Timestamp),
    Local(DateTime),
}

impl PassTime {
    /// RFC 3339 (`2026-11-22T18:00:00-05:00`) or site-local `2026-11-22 18:00` / `…T18:00`.
    pub fn parse(text: &str) -> Result<PassTime, String> {
        let text = text.trim();
        if let Ok(t) = text.parse::<Timestamp>() {
            return Ok(PassTime::At(t));
        }
        text.replacen(' ', "T", 1)
            .parse::<DateTime>()
            .map(PassTime::Local)
            .map_err(|_| {
                format!("`{text}` is not a time like 2026-11-22T18:00 or 2026-11-22T18:00:00-05:00")
            })
    }

    /// The instant, reading a local time in `tz`.
    pub fn resolve(self, tz: &jiff::tz::TimeZone) -> Result<Timestamp, String> {
        match self {
            PassTime::At(t) => Ok(t),
            PassTime::Local(civil) => civil
                .to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .map_err(|e| format!("`{civil}`: {e}")),
        }
    }
}

impl RawFields {
    /// The trimmed external id, if there is a non-empty one.
    pub fn external_id(&self) -> Option<String> {
        non_empty(self.external_id.as_deref())
    }

    /// Normalises one record found at `index` of the source's listing.
    ///
    /// Rules: the external id is required (trimmed, non-empty); names are trimmed (absent → "");
    /// the email is trimmed and lower-cased (empty → `None`); phone, unit and building are trimmed
    /// (empty → `None`); the status is required, trimmed and lower-cased; dates are `YYYY-MM-DD` or
    /// `MM/DD/YYYY` (empty → `None`).
    pub fn normalise(mut self, index: usize) -> Result<SourceRecord, SkippedRecord> {
        // By value: most fields arrive trimmed and lower-cased already and are moved, not
        // copied again (a sixth of taking a record in, by callgrind; docs/BENCHMARKS.md).
        let id = self.take_id(index)?;
        let skip = |reason| skipped(index, &id, reason);
        let Some(status) = non_empty_owned(self.status) else {
            return Err(skip("status: missing or empty".to_string()));
        };
        let date = |field: &str, value: Option<String>| {
            parse_optional_date(value.as_deref())
                .map_err(|reason| skip(format!("{field}: {reason}")))
        };
        let lease_start = date("lease_start", self.lease_start)?;
        let lease_end = date("lease_end", self.lease_end)?;
        let move_in = date("move_in", self.move_in)?;
        let move_out = date("move_out", self.move_out)?;
        Ok(SourceRecord {
            external_id: id,
            first_name: non_empty_owned(self.first_name).unwrap_or_default(),
            last_name: non_empty_owned(self.last_name).unwrap_or_default(),
            email: non_empty_owned(self.email).map(lower_case),
            phone: non_empty_owned(self.phone),
            unit: non_empty_owned(self.unit),
            building: non_empty_owned(self.building),
            status: lower_case(status),
            lease_start,
            lease_end,
            move_in,
            move_out,
            phone_listed: 0,
        })
    }
}

impl RawFields {
    /// The record's external id, required (trimmed, non-empty), moved out of the record.
    fn take_id(&mut self, index: usize) -> Result<String, SkippedRecord> {
        non_empty_owned(self.external_id.take()).ok_or_else(|| SkippedRecord {
            index,
            external_id: None,
            reason: "external_id: missing or empty".to_string(),
        })
    }

    /// Reads a visitor row found at `index`: it needs an external id, a name and a window.
    pub fn visitor(mut self, index: usize) -> Result<VisitorRecord, SkippedRecord> {
        let id = self.take_id(index)?;
        let skip = |reason| skipped(index, &id, reason);
        let name = format!(
            "{} {}",
            trimmed(self.first_name.as_deref()),
            trimmed(self.last_name.as_deref())
        )
        .trim()
        .to_string();
        if name.is_empty() {
            return Err(skip(
                "visitor: first_name and last_name are both empty".into(),
            ));
        }
        let time = |field: &str, value: &Option<String>| match non_empty(value.as_deref()) {
            None => Err(skip(format!("{field}: a visitor pass needs one"))),
            Some(text) => PassTime::parse(&text).map_err(|e| skip(format!("{field}: {e}"))),
        };
        let from = time("valid_from", &self.valid_from)?;
        let to = time("valid_to", &self.valid_to)?;
        Ok(VisitorRecord {
            external_id: id,
            name,
            unit: non_empty_owned(self.unit),
            host: non_empty_owned(self.host),
            from,
            to,
            doors: self
                .doors
                .as_deref()
                .unwrap_or_default()
                .split([';', ','])
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// The record with external id `id`, found at `index`, skipped for `reason`.
fn skipped(index: usize, id: &str, reason: String) -> SkippedRecord {
    SkippedRecord {
        index,
        external_id: Some(id.to_string()),
        reason,
    }
}

/// Trimmed text; absent → "".
pub fn trimmed(value: Option<&str>) -> String {
    value.map(str::trim).unwrap_or_default().to_string()
}

/// Trimmed text; absent or blank → `None`.
pub fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// [`non_empty`], keeping the string when it has nothing to trim.
fn non_empty_owned(value: Option<String>) -> Option<String> {
    let value = value?;
    match value.trim() {
        "" => None,
        trimmed if trimmed.len() == value.len() => Some(value),
        trimmed => Some(trimmed.to_string()),
    }
}

/// Lower case, keeping the string when it has no upper-case letter (ASCII without one is
/// checked; anything else is lower-cased).
fn lower_case(value: String) -> String {
    if value
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        value
    } else {
        value.to_lowercase()
    }
}

/// A date as `YYYY-MM-DD` or `MM/DD/YYYY` (month and day may have one digit); absent or blank →
/// `None`. The error is a reason fit for a [`SkippedRecord`] (without the field name).
pub fn parse_optional_date(value: Option<&str>) -> Result<Option<Date>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => parse_date(text).map(Some),
    }
}

/// A date as `YYYY-MM-DD` or `MM/DD/YYYY` (month and day may have one digit).
pub fn parse_date(text: &str) -> Result<Date, String> {
    let bad = || format!("{text:?} is not a date (expected YYYY-MM-DD or MM/DD/YYYY)");
    let slashed = text.contains('/');
    let mut parts = text.split(if slashed { '/' } else { '-' });
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (year, month, day) = if slashed {
        if !(1..=2).contains(&a.len()) || !(1..=2).contains(&b.len()) || c.len() != 4 {
            return Err(bad());
        }
        (c, a, b)
    } else {
        if a.len() != 4 || b.len() != 2 || c.len() != 2 {
            return Err(bad());
        }
        (a, b, c)
    };
    let number = |s: &str| -> Option<i16> {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (number(year), number(month), number(day)) else {
        return Err(bad());
    };
    let (Ok(month), Ok(day)) = (i8::try_from(month), i8::try_from(day)) else {
        return Err(bad());
    };
    Date::new(year, month, day).map_err(|_| bad())
}

/// A generic source's `status_map`: its own status words (compared trimmed, lower-case) onto
/// lintel's lease statuses. Words it does not list pass through unchanged (records lower-case
/// every status afterwards).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "std::collections::BTreeMap<String, String>")]
pub struct StatusMap(std::collections::BTreeMap<String, String>);

impl TryFrom<std::collections::BTreeMap<String, String>> for StatusMap {
    type Error = String;

    fn try_from(map: std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        let mut out = std::collections::BTreeMap::new();
        for (word, state) in map {
            let state = state.trim().to_lowercase();
            if !super::status::ALL.contains(&state.as_str()) {
                return Err(format!(
                    "status_map: {word:?} maps to {state:?}, which is not a lintel lease status \
                     (one of {})",
                    super::status::ALL.join(", ")
                ));
            }
            out.insert(word.trim().to_lowercase(), state);
        }
        Ok(StatusMap(out))
    }
}

impl StatusMap {
    /// The lintel status for a source's `status` value (unchanged when unlisted or absent).
    pub fn apply(&self, status: Option<String>) -> Option<String> {
        status.map(|s| self.0.get(&s.trim().to_lowercase()).cloned().unwrap_or(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn raw(id: &str, status: &str) -> RawFields {
        RawFields {
            external_id: Some(id.to_string()),
            status: Some(status.to_string()),
            ..RawFields::default()
        }
    }

    #[test]
    fn dates_accept_iso_and_us_forms() {
        assert_eq!(parse_date("2025-08-01"), Ok(date(2025, 8, 1)));
        assert_eq!(parse_date("08/01/2025"), Ok(date(2025, 8, 1)));
        assert_eq!(parse_date("8/1/2025"), Ok(date(2025, 8, 1)));
        assert_eq!(parse_date("02/29/2024"), Ok(date(2024, 2, 29)));
        assert_eq!(parse_optional_date(Some("  ")), Ok(None));
        assert_eq!(parse_optional_date(None), Ok(None));
        assert_eq!(
            parse_optional_date(Some(" 2026-07-31 ")),
            Ok(Some(date(2026, 7, 31)))
        );
    }

    #[test]
    fn dates_reject_everything_else() {
        for bad in [
            "2025-8-1",
            "2025-13-01",
            "02/29/2025",
            "13/01/2025",
            "01/02/25",
            "2025/08/01",
            "+2025-08-01",
            "2025-08-01T00:00:00",
            "soon",
            "01-02-2025",
            "1/2/3/2025",
            "-1/02/2025",
        ] {
            let err = parse_date(bad).expect_err(bad);
            assert!(err.contains("expected YYYY-MM-DD or MM/DD/YYYY"), "{err}");
        }
    }

    #[test]
    fn normalise_trims_and_lowercases() {
        let record = RawFields {
            external_id: Some(" R-1 ".into()),
            first_name: Some(" Ada ".into()),
            last_name: None,
            email: Some(" Ada@Example.COM ".into()),
            phone: Some("  ".into()),
            unit: Some(" 101 ".into()),
            status: Some(" Current ".into()),
            lease_start: Some("2025-01-01".into()),
            move_out: Some("".into()),
            ..RawFields::default()
        }
        .normalise(0)
        .expect("valid");
        assert_eq!(record.external_id, "R-1");
        assert_eq!(record.first_name, "Ada");
        assert_eq!(record.last_name, "");
        assert_eq!(record.email.as_deref(), Some("ada@example.com"));
        assert_eq!(record.phone, None);
        assert_eq!(record.unit.as_deref(), Some("101"));
        assert_eq!(record.status, "current");
        assert_eq!(record.lease_start, Some(date(2025, 1, 1)));
        assert_eq!(record.move_out, None);
    }

    #[test]
    fn normalise_keeps_what_is_already_clean_and_lowercases_any_letter() {
        let record = RawFields {
            external_id: Some("R-2".into()),
            first_name: Some("Zoë".into()),
            email: Some("ÉVA@exemple.fr".into()),
            status: Some("notice".into()),
            ..RawFields::default()
        }
        .normalise(1)
        .expect("valid");
        assert_eq!(record.first_name, "Zoë");
        assert_eq!(record.email.as_deref(), Some("éva@exemple.fr"));
        assert_eq!(record.status, "notice");
    }

    #[test]
    fn missing_id_status_and_bad_dates_are_skipped_with_reasons() {
        let skipped = raw("  ", "current").normalise(3).expect_err("no id");
        assert_eq!(skipped.index, 3);
        assert_eq!(skipped.external_id, None);
        assert_eq!(skipped.reason, "external_id: missing or empty");

        let skipped = raw("R-2", "").normalise(4).expect_err("no status");
        assert_eq!(skipped.external_id.as_deref(), Some("R-2"));
        assert_eq!(skipped.reason, "status: missing or empty");

        let mut bad_date = raw("R-3", "current");
        bad_date.lease_end = Some("31/12/2025".into());
        let skipped = bad_date.normalise(5).expect_err("bad date");
        assert_eq!(
            skipped.reason,
            "lease_end: \"31/12/2025\" is not a date (expected YYYY-MM-DD or MM/DD/YYYY)"
        );
    }
}
