//! Fuzz-lite: the cargo-fuzz entry points (`lintel::fuzzing`, `lintel_hal::fuzzing`) under
//! proptest, so plain `cargo test` feeds every untrusted-input parser arbitrary bytes and
//! mutated real documents. Each must answer `Ok` or an error that says something; a panic fails
//! the test. The long runs are cargo-fuzz's (fuzz/, scripts/fuzz-ci.sh; docs/RELIABILITY.md).

use lintel::fuzzing;
use lintel::sources::fixtures::{appfolio, buildium, entrata};
use lintel_hal::mqtt::UidFormat;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Keys the parsers look for, so generated objects reach past the first `get`.
const KEYS: &[&str] = &[
    "residents",
    "id",
    "Id",
    "first_name",
    "last_name",
    "email",
    "unit",
    "status",
    "lease_start",
    "lease_end",
    "move_in",
    "move_out",
    "Leases",
    "Tenants",
    "Status",
    "LeaseStatus",
    "response",
    "code",
    "result",
    "leases",
    "lease",
    "customers",
    "customer",
    "occupancy_id",
    "uid",
    "type",
    "cmd",
    "ip",
    "acctype",
    "validuntil",
    "v",
    "ok",
    "entries",
    "card",
    "slot",
    "doors",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        "[0-9]{1,22}".prop_map(Value::from),
        "(19|20|99)[0-9]{2}-[01][0-9]-[0-3][0-9](T[0-2][0-9]:00:00Z)?".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// `seed` with a few bytes overwritten, removed or the tail cut: nearly valid documents.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    (
        prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..6),
        0..=len,
    )
        .prop_map(move |(edits, cut)| {
            let mut bytes = seed.clone();
            for (at, byte, how) in edits {
                let at = at.min(bytes.len().saturating_sub(1));
                match how {
                    0 if !bytes.is_empty() => bytes[at] = byte,
                    1 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, byte),
                }
            }
            bytes.truncate(cut.max(bytes.len() / 2));
            bytes
        })
}

fn bytes_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialise")
}

fn said<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(
            !e.to_string().trim().is_empty(),
            "an error must say what is wrong"
        );
    }
    Ok(())
}

fn json_seed() -> Vec<u8> {
    bytes_of(&json!({"residents": lintel::demo::pms::demo_residents(3)}))
}

fn buildium_seed() -> Vec<u8> {
    bytes_of(&Value::from(buildium::tenants(3)))
}

fn appfolio_seed() -> Vec<u8> {
    let d = appfolio::data(3);
    bytes_of(&json!([d.directory, d.rent_roll]))
}

fn entrata_seed() -> Vec<u8> {
    bytes_of(
        &json!({"response": {"code": 200, "result": {"leases": {"lease": entrata::leases(3)}}}}),
    )
}

const CSV_SEED: &str = "id,first_name,last_name,email,unit,status,lease_start,lease_end\n\
                        R-1,Ana,Núñez,ana@example.com,101,current,2025-01-01,\n\
                        R-2,\"Li, Wei\",李,li@example.com,102,notice,2024-05-01,2026-04-30\n";

const ESP_SEED: &[u8] =
    br#"{"command":"userfile","uid":"0a1b2c3d","user":"x","acctype":1,"validsince":0,"validuntil":4294967295}"#;

const WIRE_SEED: &[u8] = br#"{"v":1,"id":"r1","ok":true,"entries":[{"slot":0,"card":"55","doors":1,"valid_from":0,"valid_until":null,"pin":null}]}"#;

fn config_seed() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/lintel.toml"
    ))
    .expect("packaging/lintel.toml")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn json_source_body(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(json_seed()),
        json_value().prop_map(|v| bytes_of(&json!({"residents": v}))),
    ]) {
        said(fuzzing::json_source(&bytes))?;
    }

    #[test]
    fn csv_roster(bytes in prop_oneof![any::<Vec<u8>>(), mutated(CSV_SEED.as_bytes().to_vec())]) {
        said(fuzzing::csv_roster(&bytes))?;
    }

    #[test]
    fn buildium_tenants(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(buildium_seed()),
        json_value().prop_map(|v| bytes_of(&v)),
    ]) {
        said(fuzzing::buildium_tenants(&bytes))?;
    }

    #[test]
    fn appfolio_reports(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(appfolio_seed()),
        (json_value(), json_value()).prop_map(|(a, b)| bytes_of(&json!([[a], [b]]))),
    ]) {
        said(fuzzing::appfolio_reports(&bytes))?;
    }

    #[test]
    fn entrata_leases(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(entrata_seed()),
        json_value().prop_map(|v| bytes_of(&json!({"response": {"code": 200, "result": {"leases": {"lease": v}}}}))),
    ]) {
        said(fuzzing::entrata_leases(&bytes))?;
    }

    #[test]
    fn config_text(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(config_seed()),
    ]) {
        said(fuzzing::config(&String::from_utf8_lossy(&bytes)))?;
    }

    #[test]
    fn register_codec(bytes in any::<Vec<u8>>()) {
        let result = lintel_hal::fuzzing::register_codec(&bytes);
        if let Err(e) = &result {
            prop_assert!(!e.to_string().contains("round trip"), "{e}");
        }
        said(result)?;
    }

    #[test]
    fn esp_rfid_payload(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(ESP_SEED.to_vec()),
        json_value().prop_map(|v| bytes_of(&v)),
    ]) {
        for format in [UidFormat::Hex, UidFormat::Decimal] {
            said(lintel_hal::fuzzing::esp_rfid_payload(&bytes, format))?;
        }
    }

    #[test]
    fn lintel_mqtt_payload(bytes in prop_oneof![
        any::<Vec<u8>>(),
        mutated(WIRE_SEED.to_vec()),
        json_value().prop_map(|v| bytes_of(&v)),
    ]) {
        said(lintel_hal::fuzzing::lintel_mqtt_payload(&bytes))?;
    }
}

/// The register codec's fuzz entry point does reach the decoder: the default profile's bytes
/// with a written slot decode to that credential (so a fuzz run is not all "too short").
#[test]
fn register_codec_decodes_a_real_slot() {
    let profile = lintel_hal::RegisterProfile::default();
    let credential = lintel_hal::Credential {
        card: 0xDEAD_BEEF,
        doors: 1,
        valid_from: 10,
        valid_until: None,
        pin: Some(1234),
    };
    // The 16 profile bytes that rebuild the default profile in `register_codec`.
    let mut bytes = vec![0, 6, 8, 0, 1, 2, 3, 5, 7, 0, 120, 125];
    bytes.extend(9999u16.to_be_bytes());
    bytes.extend([0, 0]);
    for word in profile.encode_slot(Some(&credential)) {
        bytes.extend(word.to_be_bytes());
    }
    assert_eq!(
        lintel_hal::fuzzing::register_codec(&bytes).expect("decodes"),
        Some(credential)
    );
}
