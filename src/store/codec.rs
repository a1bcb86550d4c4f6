//! How values are written to the trees. Most are JSON: readable with any sled tool, and an
//! added field reads from older values through `#[serde(default)]`. People are postcard,
//! because every sync pass decodes every one of them: as JSON that decoding was a third of a
//! 10k-person pass (docs/BENCHMARKS.md). postcard is not self-describing, so a field added to
//! `Person` needs a schema bump and a migration like [`super::Store::people_to_postcard`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Person, StoreError};

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own plain-data types always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e.to_string()))
}

pub(super) fn encode_person(person: &Person) -> Vec<u8> {
    // Plain data: strings, dates, flags; nothing postcard cannot write.
    postcard::to_allocvec(person).unwrap_or_default()
}

pub(super) fn decode_person(bytes: &[u8]) -> Result<Person, StoreError> {
    match postcard::take_from_bytes::<Person>(bytes) {
        Ok((person, [])) => Ok(person),
        Ok((_, rest)) => Err(corrupt(
            "person",
            format!("{} bytes after the record", rest.len()),
        )),
        Err(e) => Err(corrupt("person", e.to_string())),
    }
}

fn corrupt(what: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PersonType, SourceLink};

    fn someone() -> Person {
        Person {
            id: "p000001".into(),
            link: Some(SourceLink {
                source: "pms".into(),
                external_id: "R-1".into(),
            }),
            first_name: "Zoë".into(),
            last_name: "O'Brien".into(),
            email: Some("zoe@example.com".into()),
            phone: Some("+14155550123".into()),
            unit: Some("4B".into()),
            building: None,
            status: "current".into(),
            lease_start: Some(jiff::civil::date(2025, 1, 1)),
            lease_end: Some(jiff::civil::date(2026, 12, 31)),
            move_in: None,
            move_out: None,
            person_type: PersonType::Staff,
            access_enabled: true,
            decoupled: false,
            pin: Some("4711".into()),
            tags: vec!["night shift".into()],
            notes: "".into(),
            grants: vec!["garage".into()],
            denials: vec![],
            at_source: true,
            removed_at: None,
            excluded: None,
            created_at: "2025-01-01T08:00:00.123456789Z"
                .parse()
                .expect("a timestamp"),
            updated_at: "2026-12-07T05:08:58Z".parse().expect("a timestamp"),
        }
    }

    #[test]
    fn a_person_reads_back_as_written() {
        let p = someone();
        assert_eq!(decode_person(&encode_person(&p)).expect("decodes"), p);
    }

    #[test]
    fn a_truncated_padded_or_json_person_is_corrupt() {
        let bytes = encode_person(&someone());
        let mut padded = bytes.clone();
        padded.push(0);
        let json = serde_json::to_vec(&someone()).expect("encodes");
        for bad in [&bytes[..bytes.len() - 1], &padded[..], &json[..], &[][..]] {
            match decode_person(bad) {
                Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "person"),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }
}
