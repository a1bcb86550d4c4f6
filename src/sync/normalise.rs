//! One canonical form per field before anything is compared: units by the site's rules, emails
//! trimmed and lower-cased, phones in E.164 with the site's default country.

use phonenumber::Mode;
use phonenumber::country::Id;
use sha2::{Digest, Sha256};

use crate::config::UnitRules;
use crate::sources::SourceRecord;
use crate::store::Person;

/// Normalises `record`; returns notes on values that had to be dropped. `linked` is the person
/// sync last wrote for this record: a phone they already hold is kept without parsing it again.
/// That is a raw phone equal to theirs (E.164 already: [`e164`] gives its own output back), or
/// one whose [`listed_phone`] fingerprint they hold (read the same way last time). Parsing was
/// a fifth of a no-change pass, and once it has run the parser's metadata stays loaded for the
/// process's life (docs/BENCHMARKS.md).
pub fn normalise(
    record: &SourceRecord,
    units: &UnitRules,
    country: Option<Id>,
    linked: Option<&Person>,
) -> (SourceRecord, Vec<String>) {
    let mut notes = Vec::new();
    let mut phone_listed = 0;
    let stored = linked.and_then(|p| p.phone.as_deref());
    // Field by field rather than a clone overwritten: a pass normalises every record.
    let phone = match record
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(raw) if stored == Some(raw) => Some(raw.to_string()),
        Some(raw) => {
            let listed = listed_phone(raw, country);
            let read = (linked.filter(|p| p.phone_listed == listed))
                .and_then(|p| p.phone.clone())
                .or_else(|| e164(raw, country));
            match read {
                Some(p) => {
                    if p != raw {
                        phone_listed = listed;
                    }
                    Some(p)
                }
                None => {
                    notes.push(format!("phone `{raw}` is not a phone number; left out"));
                    None
                }
            }
        }
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
        phone_listed,
    };
    (out, notes)
}

/// A fingerprint of the raw phone `raw` read with the default country `country`: what sync
/// keeps to know the next listing's phone is the same (64 bits of SHA-256, stable across
/// builds; two raw phones of one person sharing it by chance is a 2^-64 event, and would only
/// keep their old phone).
pub fn listed_phone(raw: &str, country: Option<Id>) -> u64 {
    let mut hash = Sha256::new();
    if let Some(country) = country {
        hash.update(country.as_ref());
    }
    hash.update([0]);
    hash.update(raw);
    let digest = hash.finalize();
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

pub fn e164(raw: &str, country: Option<Id>) -> Option<String> {
    let number = phonenumber::parse(country, raw).ok()?;
    Some(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    /// SHA-256 of `US`, a zero byte and `(212) 555-0142`, its first 8 bytes little-endian.
    const FINGERPRINT: u64 = 15_515_519_379_273_255_849;

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

    fn record(phone: &str) -> SourceRecord {
        SourceRecord {
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
            phone_listed: 0,
        }
    }

    /// The person sync wrote for `record(raw)`, holding `phone`.
    fn linked(raw: &str, phone: &str, phone_listed: u64) -> Person {
        Person {
            phone: Some(phone.into()),
            phone_listed,
            ..crate::sync::new_person("p1".into(), "pms", &record(raw), Timestamp::UNIX_EPOCH)
        }
    }

    #[test]
    fn a_raw_phone_equal_to_the_stored_one_is_kept_and_any_other_is_parsed() {
        let units = UnitRules::default();
        let stored = linked("+12125550142", "+12125550142", 0);
        for (raw, expected) in [
            ("+12125550142", Some("+12125550142")),
            (" +12125550142 ", Some("+12125550142")),
            ("(212) 555-0199", Some("+12125550199")),
            ("+12125550199", Some("+12125550199")),
            ("call me", None),
        ] {
            let (out, _) = normalise(&record(raw), &units, Some(Id::US), Some(&stored));
            assert_eq!(out.phone.as_deref(), expected, "{raw}");
        }
    }

    /// The person's phone is deliberately not what parsing gives, so a kept phone shows the
    /// parser was not asked.
    #[test]
    fn a_phone_read_the_same_way_before_is_not_parsed_again() {
        let units = UnitRules::default();
        let raw = "(212) 555-0142";
        let us = Some(Id::US);
        let known = linked(raw, "+19999999999", listed_phone(raw, us));
        let kept = |raw: &str, country| {
            let (out, _) = normalise(&record(raw), &units, country, Some(&known));
            (out.phone.expect("a phone"), out.phone_listed)
        };
        assert_eq!(
            kept(raw, us),
            ("+19999999999".into(), listed_phone(raw, us))
        );
        assert_eq!(kept(" (212) 555-0142 ", us).0, "+19999999999");
        // Another raw phone, or the same one read with another default country, is parsed.
        let other = "212-555-0142";
        assert_eq!(
            kept(other, us),
            ("+12125550142".into(), listed_phone(other, us))
        );
        let gb = Some(Id::GB);
        assert_eq!(kept(raw, gb).1, listed_phone(raw, gb));
        assert_ne!(kept(raw, gb).0, "+19999999999");
        // A phone already E.164 needs no fingerprint: it is its own.
        assert_eq!(kept("+12125550142", us), ("+12125550142".into(), 0));
        // Nor does one that is not a phone; it is left out.
        let (out, notes) = normalise(&record("call me"), &units, us, Some(&known));
        assert_eq!((out.phone, out.phone_listed, notes.len()), (None, 0, 1));
    }

    #[test]
    fn the_fingerprint_is_stable_and_tells_the_country_apart() {
        // What stores already hold: it must not move with a build or a dependency.
        assert_eq!(listed_phone("(212) 555-0142", Some(Id::US)), FINGERPRINT);
        assert_ne!(listed_phone("(212) 555-0142", Some(Id::CA)), FINGERPRINT);
        assert_ne!(listed_phone("(212) 555-0142", None), FINGERPRINT);
        assert_ne!(listed_phone("(212) 555-0143", Some(Id::US)), FINGERPRINT);
    }
}
