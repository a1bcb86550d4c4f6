//! How values are written to the trees. Most are JSON: readable with any sled tool, and an
//! added field reads from older values through `#[serde(default)]`. People, credentials and
//! acknowledged slots are postcard, because every sync pass reads those trees whole: as JSON,
//! decoding people was a third of a 10k-person pass, and the larger values cost memory twice,
//! in sled's pages and in what a pass holds (docs/BENCHMARKS.md). postcard is not
//! self-describing, so a field added to one of those types needs a schema bump and a
//! migration like [`super::Store::upgrade`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own plain-data types always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e.to_string()))
}

pub(super) fn encode_compact<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data: strings, numbers, dates, flags; nothing postcard cannot write.
    postcard::to_allocvec(value).unwrap_or_default()
}

pub(super) fn decode_compact<T: DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(corrupt(
            what,
            format!("{} bytes after the record", rest.len()),
        )),
        Err(e) => Err(corrupt(what, e.to_string())),
    }
}

fn corrupt(what: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason,
    }
}
