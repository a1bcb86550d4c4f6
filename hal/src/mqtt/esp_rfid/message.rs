//! esp-rfid 2.x payloads (`reference/esp-rfid-mqtt.md`): building commands from credentials,
//! reading list entries back, and classifying what the device publishes.

use serde_json::{Map, Value, json};

use crate::{Credential, Error, ErrorKind};

/// Largest payload the firmware reassembles safely (its buffer is 2048 bytes, unchecked).
pub const MAX_PAYLOAD: usize = 2047;
/// `adduser` is stored raw and re-parsed into a 512-byte document at swipe time; stay well
/// under that.
pub const MAX_ADDUSER: usize = 300;
/// The firmware truncates `uid` to 19 characters.
pub const MAX_UID_CHARS: usize = 19;
/// `validuntil` meaning "no end": 2100-01-01 (a missing key would read as expired).
pub const NO_END: u32 = 4_102_444_800;
/// Relays an esp-rfid board drives (`acctype`, `acctype2`…`acctype4`).
pub const RELAYS: u32 = 4;

/// How a card number is written as the `uid` the reader reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UidFormat {
    /// Lower-case hex, two digits per byte, zero-padded to a 4-byte UID (8 digits) or, for
    /// larger numbers, a 7-byte UID (14 digits) — what an MFRC522 reader reports.
    #[default]
    Hex,
    /// Decimal, as Wiegand readers report by default.
    Decimal,
}

impl UidFormat {
    pub fn format(self, card: u64) -> String {
        match self {
            UidFormat::Hex if card <= 0xFFFF_FFFF => format!("{card:08x}"),
            UidFormat::Hex if card <= 0x00FF_FFFF_FFFF_FFFF => format!("{card:014x}"),
            UidFormat::Hex => format!("{card:016x}"),
            UidFormat::Decimal => card.to_string(),
        }
    }

    pub fn parse(self, uid: &str) -> Option<u64> {
        match self {
            UidFormat::Hex => u64::from_str_radix(uid, 16).ok(),
            UidFormat::Decimal => uid.parse().ok(),
        }
    }
}

fn rejected(card: u64, message: String) -> Error {
    Error::new(ErrorKind::Rejected, format!("card {card}: {message}"))
}

/// The `acctype` fields for a door mask: relay r opens iff bit r is set. The firmware checks
/// validity only through `acctype`, so a card for any relay must include relay 0.
fn acctypes(c: &Credential) -> Result<[u8; 4], Error> {
    if u32::from(c.doors) >> RELAYS != 0 {
        return Err(rejected(
            c.card,
            format!(
                "door mask {:#010b} names relays beyond the board's {RELAYS}",
                c.doors
            ),
        ));
    }
    if c.doors != 0 && c.doors & 1 == 0 {
        return Err(rejected(
            c.card,
            format!(
                "door mask {:#06b} leaves out relay 0, but esp-rfid judges every card by its \
                 relay-0 acctype and would refuse it",
                c.doors
            ),
        ));
    }
    Ok([0, 1, 2, 3].map(|r| u8::from(c.doors >> r & 1 == 1)))
}

/// What the device is asked to store for `c`, with `valid_from` already decided (see
/// [`sent_valid_from`]).
pub fn adduser(
    c: &Credential,
    uid_format: UidFormat,
    user: &str,
    doorip: &str,
    valid_from: u32,
) -> Result<Vec<u8>, Error> {
    let [a1, a2, a3, a4] = acctypes(c)?;
    let uid = uid(c.card, uid_format)?;
    let payload = json!({
        "cmd": "adduser",
        "doorip": doorip,
        "uid": uid,
        "user": user,
        "acctype": a1,
        "acctype2": a2,
        "acctype3": a3,
        "acctype4": a4,
        "validsince": valid_from,
        "validuntil": c.valid_until.unwrap_or(NO_END),
        "pincode": c.pin.map(|p| format!("{p:04}")).unwrap_or_default(),
    });
    let bytes = payload.to_string().into_bytes();
    if bytes.len() > MAX_ADDUSER {
        return Err(rejected(
            c.card,
            format!(
                "adduser would be {} bytes; esp-rfid re-parses stored users into 512 bytes, \
                 so lintel keeps them to {MAX_ADDUSER}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// `validsince` to send: 0 once `valid_from` has passed, so a board whose clock is not yet
/// synchronised does not refuse cards that are already valid; the real start otherwise.
pub fn sent_valid_from(valid_from: u32, now: u64) -> u32 {
    if u64::from(valid_from) <= now {
        0
    } else {
        valid_from
    }
}

pub fn uid(card: u64, format: UidFormat) -> Result<String, Error> {
    let uid = format.format(card);
    if uid.len() > MAX_UID_CHARS {
        return Err(rejected(
            card,
            format!("uid `{uid}` is longer than the {MAX_UID_CHARS} characters esp-rfid keeps"),
        ));
    }
    Ok(uid)
}

/// A command with no fields beyond `cmd` and `doorip` (plus `uid` when given).
pub fn simple(cmd: &str, doorip: &str, uid: Option<&str>) -> Vec<u8> {
    let mut payload = json!({ "cmd": cmd, "doorip": doorip });
    if let (Some(uid), Some(map)) = (uid, payload.as_object_mut()) {
        map.insert("uid".into(), Value::from(uid));
    }
    payload.to_string().into_bytes()
}

/// An int field the firmware accepts as a number or a numeric string.
fn int(map: &Map<String, Value>, key: &str) -> Option<u64> {
    match map.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A `getuserlist` entry back as a credential; `Err` says what does not fit.
pub fn list_entry(entry: &Map<String, Value>, uid_format: UidFormat) -> Result<Credential, String> {
    let uid = entry
        .get("uid")
        .and_then(Value::as_str)
        .ok_or("no uid string")?;
    let card = uid_format
        .parse(uid)
        .ok_or_else(|| format!("uid `{uid}` is not {uid_format:?}"))?;
    let mut doors = 0u8;
    for (relay, key) in ["acctype", "acctype2", "acctype3", "acctype4"]
        .iter()
        .enumerate()
    {
        if int(entry, key) == Some(1) {
            doors |= 1 << relay;
        }
    }
    let valid_from = int(entry, "validsince").unwrap_or(0);
    let valid_from = u32::try_from(valid_from).map_err(|_| format!("validsince {valid_from}"))?;
    let valid_until = match int(entry, "validuntil") {
        None => return Err("no validuntil (the device reads it as expired)".into()),
        Some(v) if v == u64::from(NO_END) => None,
        Some(v) => Some(u32::try_from(v).map_err(|_| format!("validuntil {v}"))?),
    };
    let pin = match entry.get("pincode") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.parse::<u16>().map_err(|_| format!("pincode `{s}`"))?),
        Some(other) => return Err(format!("pincode {other} is not a string")),
    };
    Ok(Credential {
        card,
        doors,
        valid_from,
        valid_until,
        pin,
    })
}

/// What a message on `TOPIC/send` is.
#[derive(Debug, PartialEq)]
pub enum Message {
    Boot {
        ip: String,
        hostname: String,
    },
    Heartbeat {
        ip: String,
        hostname: String,
    },
    Access(Map<String, Value>),
    /// `type` = the command acknowledged.
    Ack {
        cmd: String,
        ip: String,
    },
    /// A stored user (has `uid`, no `type`).
    ListEntry(Map<String, Value>),
    Other,
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn classify(map: Map<String, Value>) -> Message {
    let kind = map.get("type").and_then(Value::as_str).map(str::to_string);
    match kind.as_deref() {
        Some("boot") => Message::Boot {
            ip: text(&map, "ip"),
            hostname: text(&map, "hostname"),
        },
        Some("heartbeat") => Message::Heartbeat {
            ip: text(&map, "ip"),
            hostname: text(&map, "hostname"),
        },
        Some("access") => Message::Access(map),
        // Event-log records (`"cmd":"event"`) carry INFO/WARN/ERRO as their type.
        Some("INFO" | "WARN" | "ERRO") => Message::Other,
        Some(cmd) if map.get("ip").is_some_and(Value::is_string) => Message::Ack {
            cmd: cmd.to_string(),
            ip: text(&map, "ip"),
        },
        None if map.contains_key("uid") => Message::ListEntry(map),
        _ => Message::Other,
    }
}

/// A 1.3.x boot or heartbeat, published on `TOPIC` itself.
pub fn is_legacy(map: &Map<String, Value>) -> bool {
    map.contains_key("Wifi SSID") || map.contains_key("Local IP")
}

/// A field that multi-relay boards send as an array, joined for display.
pub fn joined(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(card: u64, doors: u8) -> Credential {
        Credential {
            card,
            doors,
            valid_from: 0,
            valid_until: Some(1_798_761_600),
            pin: None,
        }
    }

    fn object(bytes: &[u8]) -> Map<String, Value> {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    #[test]
    fn adduser_matches_the_documented_example() {
        let bytes = adduser(
            &card(0x0a1b_2c3d, 1),
            UidFormat::Hex,
            "Resident 4B-1",
            "10.20.0.31",
            0,
        )
        .expect("fits");
        let got = object(&bytes);
        let want = object(
            br#"{"cmd":"adduser","doorip":"10.20.0.31","uid":"0a1b2c3d","user":"Resident 4B-1",
                "acctype":1,"acctype2":0,"acctype3":0,"acctype4":0,"validsince":0,
                "validuntil":1798761600,"pincode":""}"#,
        );
        assert_eq!(got, want);
        assert_eq!(list_entry(&got, UidFormat::Hex), Ok(card(0x0a1b_2c3d, 1)));
    }

    #[test]
    fn uid_formats() {
        assert_eq!(UidFormat::Hex.format(0x001b_2c3d), "001b2c3d");
        assert_eq!(UidFormat::Hex.format(0x04_a1b2_c3d4_e5f6), "04a1b2c3d4e5f6");
        assert_eq!(UidFormat::Decimal.format(0x1F_FFFF_FFFF), "137438953471");
        assert_eq!(UidFormat::Hex.parse("0A1B2C3D"), Some(0x0a1b_2c3d));
        assert_eq!(UidFormat::Decimal.parse("0a"), None);
        let err = uid(u64::MAX, UidFormat::Decimal).expect_err("20 digits");
        assert_eq!(err.kind(), ErrorKind::Rejected);
        assert!(uid(u64::MAX, UidFormat::Hex).is_ok(), "16 hex digits fit");
    }

    #[test]
    fn doors_map_to_acctypes_and_back() {
        let c = Credential {
            pin: Some(42),
            valid_until: None,
            ..card(7, 0b1011)
        };
        let bytes = adduser(&c, UidFormat::Decimal, "lintel 3", "10.0.0.9", 0).expect("fits");
        let map = object(&bytes);
        assert_eq!(
            (
                map["acctype"].clone(),
                map["acctype2"].clone(),
                map["acctype3"].clone()
            ),
            (json!(1), json!(1), json!(0))
        );
        assert_eq!(
            (map["pincode"].clone(), map["validuntil"].clone()),
            (json!("0042"), json!(NO_END))
        );
        assert_eq!(list_entry(&map, UidFormat::Decimal), Ok(c));
        for doors in [0b1_0000, 0b10] {
            let err = adduser(&card(7, doors), UidFormat::Hex, "u", "ip", 0).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::Rejected, "{doors:#b}");
        }
    }

    #[test]
    fn oversized_adduser_is_refused() {
        let name = "x".repeat(250);
        let err = adduser(&card(1, 1), UidFormat::Hex, &name, "10.0.0.1", 0).expect_err("big");
        assert!(err.message().contains("300"), "{err}");
    }

    #[test]
    fn valid_from_in_the_past_is_sent_as_zero() {
        assert_eq!(sent_valid_from(1_700_000_000, 1_800_000_000), 0);
        assert_eq!(sent_valid_from(1_900_000_000, 1_800_000_000), 1_900_000_000);
    }

    #[test]
    fn classifies_the_documented_messages() {
        let m = |s: &str| classify(serde_json::from_str(s).unwrap_or_default());
        assert_eq!(
            m(
                r#"{"type":"boot","time":1767225600,"uptime":"0","ip":"10.20.0.31","hostname":"lobby-door"}"#
            ),
            Message::Boot {
                ip: "10.20.0.31".into(),
                hostname: "lobby-door".into()
            }
        );
        assert!(matches!(
            m(r#"{"type":"heartbeat","time":1,"uptime":180,"ip":"10.20.0.31","hostname":"h"}"#),
            Message::Heartbeat { .. }
        ));
        assert_eq!(
            m(r#"{"type":"deletuid","ip":"10.20.0.31","hostname":"lobby-door"}"#),
            Message::Ack {
                cmd: "deletuid".into(),
                ip: "10.20.0.31".into()
            }
        );
        assert!(matches!(
            m(
                r#"{"uid":"0a1b2c3d","username":"R","access":"Always","time":1,"doorName":"door","type":"access","isKnown":"true","hostname":"h"}"#
            ),
            Message::Access(_)
        ));
        assert!(matches!(
            m(r#"{"command":"userfile","uid":"01","user":"x"}"#),
            Message::ListEntry(_)
        ));
        assert_eq!(
            m(r#"{"type":"WARN","src":"mqtt","cmd":"event","ip":"1.2.3.4"}"#),
            Message::Other
        );
        assert!(is_legacy(&object(
            br#"{"Wifi SSID":"x","Local IP":"10.0.0.1"}"#
        )));
    }

    #[test]
    fn list_entries_that_do_not_fit_say_why() {
        let e = |s: &str| list_entry(&object(s.as_bytes()), UidFormat::Hex);
        assert!(e(r#"{"uid":"zz","validuntil":1}"#).is_err());
        assert!(
            e(r#"{"uid":"0a","acctype":1}"#)
                .err()
                .unwrap_or_default()
                .contains("validuntil")
        );
        assert_eq!(
            e(r#"{"uid":"0a","acctype":"1","validsince":"5","validuntil":"9","pincode":""}"#).ok(),
            Some(Credential {
                card: 10,
                doors: 1,
                valid_from: 5,
                valid_until: Some(9),
                pin: None
            })
        );
    }
}
