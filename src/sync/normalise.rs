//! One canonical form per field before anything is compared: units by the site's rules, emails
//! trimmed and lower-cased, phones in E.164 with the site's default country.

use phonenumber::Mode;
use phonenumber::country::Id;

use crate::config::UnitRules;
use crate::sources::SourceRecord;

/// Normalises `record`; returns notes on values that had to be dropped.
pub fn normalise(
    record: &SourceRecord,
    units: &UnitRules,
    country: Option<Id>,
) -> (SourceRecord, Vec<String>) {
    let mut out = record.clone();
    let mut notes = Vec::new();
    out.first_name = record.first_name.trim().to_string();
    out.last_name = record.last_name.trim().to_string();
    out.status = record.status.trim().to_lowercase();
    out.email = record
        .email
        .as_deref()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    out.unit = record
        .unit
        .as_deref()
        .map(|u| units.canonical(u))
        .filter(|u| !u.is_empty());
    // A blank building is no building: it must not pass `policy.require_building`.
    out.building = record
        .building
        .as_deref()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty());
    out.phone = match record
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(raw) => match e164(raw, country) {
            Some(p) => Some(p),
            None => {
                notes.push(format!("phone `{raw}` is not a phone number; left out"));
                None
            }
        },
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
}
