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
