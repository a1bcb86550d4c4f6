//! The native lintel MQTT profile on the wire (`docs/mqtt.md`, "Native lintel profile"): JSON
//! requests with ids, replies carrying the id, a retained state message with the table digest,
//! and events. Shared by the driver and the simulator, and the reference for integrators.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Change, Credential, Op};

/// The profile version this crate speaks (`"v"` in every message).
pub const VERSION: u32 = 1;

/// Topic suffixes under the controller's base topic.
pub const REQUEST: &str = "req";
pub const REPLY: &str = "res";
pub const STATE: &str = "state";
pub const EVENT: &str = "event";

/// Card numbers travel as decimal strings: 56- and 64-bit UIDs do not survive a JSON parser
/// that reads numbers as doubles.
mod card_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(card: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&card.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("card `{text}` is not a decimal number")))
    }
}

/// One slot's content as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub slot: u16,
    #[serde(with = "card_string")]
    pub card: u64,
    /// Bit i = door/relay i.
    pub doors: u8,
    /// Unix seconds.
    pub valid_from: u32,
    /// Unix seconds; `null` = no end.
    pub valid_until: Option<u32>,
    /// `null` = no PIN.
    pub pin: Option<u16>,
}

impl Entry {
    pub fn new(slot: u16, c: &Credential) -> Self {
        Entry {
            slot,
            card: c.card,
            doors: c.doors,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            pin: c.pin,
        }
    }

    pub fn credential(&self) -> Credential {
        Credential {
            card: self.card,
            doors: self.doors,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            pin: self.pin,
        }
    }
}

/// One change in an `apply` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum WireChange {
    /// Write the credential into `slot` (replacing whatever was there).
    Grant {
        slot: u16,
        #[serde(with = "card_string")]
        card: u64,
        doors: u8,
        valid_from: u32,
        valid_until: Option<u32>,
        pin: Option<u16>,
    },
    /// Clear `slot`, which held `card`.
    Revoke {
        slot: u16,
        #[serde(with = "card_string")]
        card: u64,
    },
}

impl From<&Op> for WireChange {
    fn from(op: &Op) -> Self {
        match op.change {
            Change::Grant(c) => WireChange::Grant {
                slot: op.slot,
                card: c.card,
                doors: c.doors,
                valid_from: c.valid_from,
                valid_until: c.valid_until,
                pin: c.pin,
            },
            Change::Revoke { card } => WireChange::Revoke {
                slot: op.slot,
                card,
            },
        }
    }
}

impl WireChange {
    pub fn slot(&self) -> u16 {
        match self {
            WireChange::Grant { slot, .. } | WireChange::Revoke { slot, .. } => *slot,
        }
    }

    /// What the slot holds after the change.
    pub fn credential(&self) -> Option<Credential> {
        match *self {
            WireChange::Grant {
                card,
                doors,
                valid_from,
                valid_until,
                pin,
                ..
            } => Some(Credential {
                card,
                doors,
                valid_from,
                valid_until,
                pin,
            }),
            WireChange::Revoke { .. } => None,
        }
    }
}

/// What the gateway publishes on `TOPIC/req` (QoS 1, never retained).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Apply `changes` in order; reply once with how many were applied.
    Apply {
        v: u32,
        id: String,
        changes: Vec<WireChange>,
    },
    /// Reply with the table summary (slots, count, generation, digest).
    Status { v: u32, id: String },
    /// Reply with every slot in use, in pages.
    Read { v: u32, id: String },
}

impl Request {
    pub fn id(&self) -> &str {
        match self {
            Request::Apply { id, .. } | Request::Status { id, .. } | Request::Read { id, .. } => id,
        }
    }
}

/// Why a controller refused (part of) a request, as `error` in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The slot is beyond the controller's table.
    SlotOutOfRange,
    /// The change is malformed or cannot be stored (e.g. a door the controller lacks).
    Invalid,
    /// Temporarily unable (storage busy, write in progress): retry later.
    Busy,
    /// The request's `v` is not one the controller speaks.
    Version,
    /// Anything else.
    #[serde(other)]
    Other,
}

/// What the controller publishes on `TOPIC/res` (QoS 1, never retained): one per `apply` and
/// `status`, one or more pages per `read`. Fields a reply does not need are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    /// The request's id, verbatim.
    pub id: String,
    pub ok: bool,
    /// `apply`: how many leading changes were applied (all of them when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `apply` and `status`: the table after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSummary>,
    /// `read`: this page (0-based) of `pages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<Entry>>,
}

/// A controller's table in four numbers: what it proves it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Slots the controller has.
    pub slots: u16,
    /// Slots in use.
    pub count: usize,
    /// Bumped by the controller after every `apply` that changed something; 0 after a reset.
    pub generation: u32,
    /// [`digest`] of the slots in use.
    pub digest: String,
}

/// What the controller publishes on `TOPIC/state` (QoS 1, **retained**) at every connect and
/// after every applied change, and as its last will with `online: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub v: u32,
    pub online: bool,
    /// Changes whenever the controller starts a new MQTT session (power-on or reconnect):
    /// anything sent while it was away is lost, so the gateway verifies and replays.
    pub boot: String,
    /// A name for logs (hostname, serial number).
    #[serde(default)]
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSummary>,
}

/// What the controller publishes on `TOPIC/event` (QoS 1, never retained).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A card was presented.
    Access {
        v: u32,
        #[serde(with = "card_string")]
        card: u64,
        /// Whether the table holds the card.
        known: bool,
        /// Whether a door opened.
        granted: bool,
        #[serde(default)]
        door: Option<u8>,
        /// Unix seconds, controller clock.
        #[serde(default)]
        time: Option<u64>,
    },
}

/// The table digest: SHA-256, lower-case hex, over one line per slot in use, in ascending slot
/// order: `slot:card:doors:valid_from:valid_until:pin` then `\n`, every number in decimal and
/// `-` for no end / no PIN. An empty table digests the empty string.
pub fn digest<'a>(table: impl IntoIterator<Item = (u16, &'a Credential)>) -> String {
    let mut entries: Vec<(u16, &Credential)> = table.into_iter().collect();
    entries.sort_by_key(|(slot, _)| *slot);
    let mut hasher = Sha256::new();
    let mut line = String::new();
    for (slot, c) in entries {
        line.clear();
        let until = c.valid_until.map_or("-".to_string(), |v| v.to_string());
        let pin = c.pin.map_or("-".to_string(), |v| v.to_string());
        // Writing to a String cannot fail.
        let _ = writeln!(
            line,
            "{slot}:{}:{}:{}:{until}:{pin}",
            c.card, c.doors, c.valid_from
        );
        hasher.update(line.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(card: u64) -> Credential {
        Credential {
            card,
            doors: 0b101,
            valid_from: 1_735_689_600,
            valid_until: None,
            pin: Some(1234),
        }
    }

    #[test]
    fn documented_digests() {
        // docs/mqtt.md quotes these.
        assert_eq!(
            digest([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let one = c(10_597_059);
        let two = Credential {
            valid_until: Some(1_767_225_600),
            pin: None,
            ..c(42)
        };
        let d = digest([(7, &two), (0, &one)]);
        assert_eq!(d, digest([(0, &one), (7, &two)]), "order-independent input");
        let mut h = Sha256::new();
        h.update(b"0:10597059:5:1735689600:-:1234\n7:42:5:1735689600:1767225600:-\n");
        let expect: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(d, expect);
    }

    #[test]
    fn requests_round_trip_as_documented() {
        let ops = [
            Op {
                slot: 0,
                change: Change::Grant(c(u64::MAX)),
            },
            Op {
                slot: 4,
                change: Change::Revoke { card: 42 },
            },
        ];
        let request = Request::Apply {
            v: VERSION,
            id: "g1-7".into(),
            changes: ops.iter().map(WireChange::from).collect(),
        };
        let text = serde_json::to_string(&request).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"op":"apply","v":1,"id":"g1-7","changes":[{"action":"grant","slot":0,"card":"18446744073709551615","doors":5,"valid_from":1735689600,"valid_until":null,"pin":1234},{"action":"revoke","slot":4,"card":"42"}]}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).ok(), Some(request));
        let reply: Reply =
            serde_json::from_str(r#"{"v":1,"id":"x","ok":false,"applied":1,"error":"weird"}"#)
                .unwrap_or_default();
        assert_eq!(reply.error, Some(ErrorCode::Other));
        assert_eq!(reply.applied, Some(1));
    }
}
