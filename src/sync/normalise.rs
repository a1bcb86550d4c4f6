//! One canonical form per field before anything is compared: units by the site's rules, emails
//! trimmed and lower-cased, phones in E.164 with the site's default country.

use phonenumber::Mode;
use phonenumber::country::Id;

use crate::config::UnitRules;
use crate::sources::SourceRecord;

/// Normalises `record`; returns notes on values that had to be dropped. `stored_phone` is the
/// phone sync last wrote for this record's person: a raw phone equal to it is already E.164 and
/// is kept without parsing it again ([`e164`] gives its own output back). Parsing was a fifth of
/// a no-change pass over a PMS that hands out E.164 phones (docs/BENCHMARKS.md).
pub fn normalise(
    record: &SourceRecord,
    units: &UnitRules,
    country: Option<Id>,
    stored_phone: Option<&str>,
) -> (SourceRecord, Vec<String>) {
    let mut notes = Vec::new();
    // Field by field rather than a clone overwritten: a pass normalises every record.
    let phone = match record
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(raw) if stored_phone == Some(raw) => Some(raw.to_string()),
        Some(raw) => match e164(raw, country) {
            Some(p) => Some(p),
            None => {
                notes.push(format!("phone `{raw}` is not a phone number; left out"));
                None
            }
        },
    };
    let out = SourceRecord {
        external_id: record.external_id.clone(),
        first_name: record.first_name.trim().to_string(),
        last_name: record.last_name.trim().to_string(),
        email: record
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()),
        phone,
        unit: record
            .unit
            .as_deref()
            .map(|u| units.canonical(u))
            .filter(|u| !u.is_empty()),
        // A blank building is no building: it must not pass `policy.require_building`.
        building: record
            .building
            .as_deref()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty()),
        status: record.status.trim().to_lowercase(),
        lease_start: record.lease_start,
        lease_end: record.lease_end,
        move_in: record.move_in,
        move_out: record.move_out,
    };
    (out, notes)
}

pub fn e164(raw: &str, country: Option<Id>) -> Option<String> {
    let number = phonenumber::parse(country, raw).ok()?;
    Some(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164_with_the_default_country() {
        assert_eq!(
            e164("(212) 555-0142", Some(Id::US)).as_deref(),
            Some("+12125550142")
        );
        assert_eq!(
            e164("+44 20 7946 0958", Some(Id::US)).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            e164("020 7946 0958", Some(Id::GB)).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(e164("call me", Some(Id::US)), None);
    }

    /// What lets `normalise` keep a raw phone equal to the stored one without parsing it.
    #[test]
    fn e164_gives_its_own_output_back() {
        let raws = [
            ("(212) 555-0142", Id::US),
            ("+44 20 7946 0958", Id::US),
            ("020 7946 0958", Id::GB),
            ("+39 06 6982 0000", Id::US),
            ("06 6982 0000", Id::IT),
            ("+1 555 010 0042", Id::US),
            ("+49 (0)30 123456", Id::DE),
        ];
        for (raw, country) in raws {
            let once = e164(raw, Some(country)).expect(raw);
            for again in [Some(country), Some(Id::US), None] {
                assert_eq!(e164(&once, again).as_deref(), Some(once.as_str()), "{raw}");
            }
        }
    }

    #[test]
    fn a_raw_phone_equal_to_the_stored_one_is_kept_and_any_other_is_parsed() {
        let record = |phone: &str| SourceRecord {
            external_id: "T-1".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: None,
            phone: Some(phone.into()),
            unit: None,
            building: None,
            status: "current".into(),
            lease_start: None,
            lease_end: None,
            move_in: None,
            move_out: None,
        };
        let units = UnitRules::default();
        let stored = Some("+12125550142");
        for (raw, expected) in [
            ("+12125550142", Some("+12125550142")),
            (" +12125550142 ", Some("+12125550142")),
            ("(212) 555-0199", Some("+12125550199")),
            ("+12125550199", Some("+12125550199")),
            ("call me", None),
        ] {
            let (out, _) = normalise(&record(raw), &units, Some(Id::US), stored);
            assert_eq!(out.phone.as_deref(), expected, "{raw}");
        }
    }
}
