//! Interop with a third-party Modbus implementation: pymodbus (pinned in `.ci/run`) serving
//! lintel's register profile as an RTU device on one end of a socat pty pair, driven by the
//! RTU driver from the other end. Runs only when `.ci/run` sets `LINTEL_PYMODBUS_PORT` (our end
//! of the pair) and `LINTEL_PYMODBUS_DUMP` (where pymodbus writes its own decoding of its
//! registers per docs/registers.md).

use std::time::Duration;

use lintel_hal::{
    Change, Check, Controller, Credential, Op, RegisterProfile,
    modbus::{ModbusRtu, Parity, RtuBus, SerialSettings},
};
use serde_json::Value;

fn credential(card: u64, doors: u8, until: Option<u32>, pin: Option<u16>) -> Credential {
    Credential {
        card,
        doors,
        valid_from: 1_735_689_600,
        valid_until: until,
        pin,
    }
}

fn dumped(path: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("pymodbus dump");
    serde_json::from_str(&text).expect("dump is JSON")
}

#[tokio::test]
async fn pymodbus_holds_the_table_lintel_pushed() {
    let (Ok(port), Ok(dump)) = (
        std::env::var("LINTEL_PYMODBUS_PORT"),
        std::env::var("LINTEL_PYMODBUS_DUMP"),
    ) else {
        eprintln!(
            "skipped: LINTEL_PYMODBUS_PORT / LINTEL_PYMODBUS_DUMP not set (.ci/run sets them)"
        );
        return;
    };
    let mut settings = SerialSettings::new(port);
    settings.response_timeout_ms = 2_000;
    // What .ci/pymodbus_rtu_server.py opens its end with (a pty ignores it, but keep them equal).
    settings.parity = Parity::None;
    settings.stop_bits = 2;
    let bus = RtuBus::new(settings).expect("bus");
    let mut driver = ModbusRtu::new(&bus, 1, RegisterProfile::default(), Duration::from_secs(5))
        .expect("driver");

    let info = driver
        .probe()
        .await
        .expect("pymodbus answers with lintel's header");
    assert_eq!(info.slots, Some(64));

    // 20 grants (two FC16 frames of up to 15 slots), then two revocations.
    let mut expected: Vec<(u16, Credential)> = (0..20u16)
        .map(|i| {
            let pin = (i % 3 == 0).then_some(1000 + i);
            let until = (i % 2 == 0).then_some(1_800_000_000 + u32::from(i));
            (i, credential(0x00A1_B2C3 + u64::from(i), 0b101, until, pin))
        })
        .collect();
    let ops: Vec<Op> = expected
        .iter()
        .map(|(slot, c)| Op {
            slot: *slot,
            change: Change::Grant(*c),
        })
        .collect();
    driver.apply(&ops).await.expect("grants");
    let revoked: Vec<Op> = [4u16, 11]
        .iter()
        .map(|slot| Op {
            slot: *slot,
            change: Change::Revoke {
                card: expected[usize::from(*slot)].1.card,
            },
        })
        .collect();
    driver.apply(&revoked).await.expect("revocations");
    driver.finish_update().await.expect("generation bump");
    expected.retain(|(slot, _)| *slot != 4 && *slot != 11);

    // pymodbus's CRC over its registers matches the gateway's expectation: in sync by digest.
    let drift = driver.verify(&expected).await.expect("verify");
    assert!(drift.in_sync(), "{drift:?}");
    assert_eq!(drift.check, Check::Digest);
    assert_eq!(
        drift.generation,
        Some(1),
        "one bump for the run of two batches"
    );
    assert_eq!(driver.read_table().await.expect("read back"), expected);

    // What pymodbus decoded from its own registers, following docs/registers.md.
    let dump = dumped(&dump);
    assert_eq!(dump["generation"], 1, "{dump}");
    let table = dump["table"].as_array().expect("table");
    assert_eq!(table.len(), expected.len(), "{dump}");
    for (entry, (slot, c)) in table.iter().zip(&expected) {
        assert_eq!(entry["slot"], *slot, "{entry}");
        assert_eq!(entry["card"], c.card, "{entry}");
        assert_eq!(entry["doors"], c.doors, "{entry}");
        assert_eq!(entry["valid_from"], c.valid_from, "{entry}");
        assert_eq!(
            entry["valid_until"].as_u64(),
            c.valid_until.map(u64::from),
            "{entry}"
        );
        assert_eq!(entry["pin"].as_u64(), c.pin.map(u64::from), "{entry}");
    }
}
