//! Entry points for the cargo-fuzz targets (fuzz/) and the fuzz-lite proptests: the decoders
//! that read what a controller or a broker sends, reachable without a device. Not an API.

use serde_json::{Map, Value};

use crate::mqtt::esp_rfid::{Message, UidFormat, classify, list_entry};
use crate::mqtt::lintel::wire;
use crate::profile::{RegisterProfile, WordOrder};
use crate::{Credential, Error, ErrorKind};

/// A profile built from the first 16 bytes (small offsets, so many are valid), then the rest as
/// big-endian registers: `validate`, `decode_header` and `decode_slot` on them, and for a slot
/// that decodes to a writable credential, encode → decode must give it back.
pub fn register_codec(bytes: &[u8]) -> Result<Option<Credential>, Error> {
    let Some((head, rest)) = bytes.split_at_checked(16) else {
        return Err(Error::new(ErrorKind::Protocol, "too short"));
    };
    let small = |i: usize| u16::from(head[i] % 24);
    let wide = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let profile = RegisterProfile {
        header_base: small(0),
        slots_base: small(1) + 10,
        slot_registers: small(2),
        flags_offset: small(3),
        card_offset: small(4),
        card_registers: small(5) % 6,
        valid_from_offset: small(6),
        valid_until_offset: small(7),
        pin_offset: small(8),
        word_order: if head[9] & 1 == 0 {
            WordOrder::HighFirst
        } else {
            WordOrder::LowFirst
        },
        max_write_registers: u16::from(head[10]),
        max_read_registers: u16::from(head[11]),
        max_pin: wide(12),
    };
    profile.validate()?;
    let regs: Vec<u16> = rest
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    // The header check may refuse; either way it must answer, not panic.
    if let Ok(header) = profile.decode_header(&regs) {
        let _ = profile.check_header(&header);
    }
    let slot = regs
        .get(..usize::from(profile.slot_registers))
        .unwrap_or(&regs);
    let decoded = profile.decode_slot(slot)?;
    if let Some(credential) = decoded
        && profile.check_credential(&credential).is_ok()
    {
        let again = profile.decode_slot(&profile.encode_slot(Some(&credential)))?;
        if again != Some(credential) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("round trip changed {credential:?} into {again:?}"),
            ));
        }
    }
    Ok(decoded)
}

/// An esp-rfid payload on `TOPIC/send` as the driver reads it: `Err` when it is not a JSON
/// object or is a user-list entry that does not convert; a list entry's credential otherwise.
pub fn esp_rfid_payload(
    payload: &[u8],
    uid_format: UidFormat,
) -> Result<Option<Credential>, String> {
    let map: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|e| format!("not a JSON object: {e}"))?;
    match classify(map) {
        Message::ListEntry(entry) => list_entry(&entry, uid_format).map(Some),
        Message::Access(map) => {
            if let Some(uid) = map.get("uid").and_then(Value::as_str) {
                let _ = uid_format.parse(uid.trim());
            }
            Ok(None)
        }
        Message::Boot { .. } | Message::Heartbeat { .. } | Message::Ack { .. } | Message::Other => {
            Ok(None)
        }
    }
}

/// A lintel-mqtt message (reply, state, event, or a request as the simulator reads it): the
/// first kind it parses as, or every parse error.
pub fn lintel_mqtt_payload(payload: &[u8]) -> Result<&'static str, String> {
    let reply = match serde_json::from_slice::<wire::Reply>(payload) {
        Ok(reply) => {
            for entry in reply.entries.iter().flatten() {
                let _ = entry.credential();
            }
            return Ok("reply");
        }
        Err(e) => e,
    };
    let state = match serde_json::from_slice::<wire::State>(payload) {
        Ok(_) => return Ok("state"),
        Err(e) => e,
    };
    let event = match serde_json::from_slice::<wire::Event>(payload) {
        Ok(_) => return Ok("event"),
        Err(e) => e,
    };
    match serde_json::from_slice::<wire::Request>(payload) {
        Ok(wire::Request::Apply { changes, .. }) => {
            for change in &changes {
                let _ = (change.slot(), change.credential());
            }
            Ok("request")
        }
        Ok(_) => Ok("request"),
        Err(request) => Err(format!(
            "reply: {reply}; state: {state}; event: {event}; request: {request}"
        )),
    }
}
