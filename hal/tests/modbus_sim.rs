//! The Modbus TCP driver against the simulated controller, over real sockets on 127.0.0.1.

use std::time::Duration;

use lintel_hal::{
    BatchError, Change, Check, Controller, Credential, ErrorKind, Op, RegisterProfile, SlotDrift,
    WordOrder,
    modbus::ModbusTcp,
    sim::{ExceptionCode, SimConfig, SimController, SimHandle},
};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn sim(slots: u16, profile: RegisterProfile) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    SimController::spawn(
        listener,
        SimConfig {
            unit: 1,
            slots,
            profile,
        },
    )
    .expect("sim config")
}

fn driver(sim: &SimHandle, profile: RegisterProfile) -> ModbusTcp {
    ModbusTcp::new(sim.local_addr(), 1, profile, TIMEOUT).expect("driver config")
}

fn credential(n: u32) -> Credential {
    Credential {
        card: u64::from(0x00A0_0000 + n),
        doors: (n % 255) as u8 + 1,
        valid_from: 1_700_000_000 + n,
        valid_until: if n % 3 == 0 {
            None
        } else {
            Some(1_800_000_000 + n)
        },
        pin: if n % 2 == 0 {
            Some((n * 37 % 10_000) as u16)
        } else {
            None
        },
    }
}

fn grant(slot: u16) -> Op {
    Op {
        slot,
        change: Change::Grant(credential(u32::from(slot))),
    }
}

fn revoke(slot: u16) -> Op {
    Op {
        slot,
        change: Change::Revoke {
            card: credential(u32::from(slot)).card,
        },
    }
}

fn batch_error(result: Result<(), BatchError>) -> BatchError {
    result.expect_err("the batch should fail")
}

#[tokio::test]
async fn grants_and_revokes_round_trip_in_coalesced_frames() {
    let profile = RegisterProfile::default();
    let sim = sim(64, profile.clone()).await;
    let mut driver = driver(&sim, profile.clone());

    let info = driver.probe().await.expect("probe");
    assert_eq!((info.slots, info.generation), (Some(64), Some(0)));

    let grants: Vec<Op> = (0..40).map(grant).collect();
    driver.apply(&grants).await.expect("grant 40");

    let writes = sim.writes();
    assert!(
        writes.iter().all(|w| w.values.len() <= 123),
        "FC16 over 123 registers"
    );
    let frames: Vec<(u16, usize)> = writes.iter().map(|w| (w.start, w.values.len())).collect();
    // 15 slots of 8 registers per frame; the generation bump waits for the end of the update.
    assert_eq!(frames, vec![(16, 120), (136, 120), (256, 80)]);
    driver.finish_update().await.expect("bump");
    driver.finish_update().await.expect("nothing to bump");
    let writes = sim.writes();
    let bumps: Vec<(u16, &[u16])> = writes[3..]
        .iter()
        .map(|w| (w.start, w.values.as_slice()))
        .collect();
    assert_eq!(bumps, vec![(4, &[0u16, 1][..])], "one bump, generation 1");

    let expected: Vec<(u16, Credential)> = (0..40).map(|s| (s, credential(u32::from(s)))).collect();
    assert_eq!(driver.read_table().await.expect("read back"), expected);
    assert_eq!(sim.table(), expected);

    let info = driver.probe().await.expect("probe");
    assert_eq!(info.generation, Some(1));
    let checksum = profile.table_checksum(64, expected.iter().map(|(s, c)| (*s, c)));
    assert_eq!(info.checksum, checksum.ok());

    sim.clear_requests();
    let revokes = [revoke(3), revoke(4), revoke(5), revoke(20), revoke(39)];
    driver.apply(&revokes).await.expect("revoke");
    let frames: Vec<(u16, usize)> = sim
        .writes()
        .iter()
        .map(|w| (w.start, w.values.len()))
        .collect();
    assert_eq!(frames, vec![(40, 24), (176, 8), (328, 8)]);

    let remaining: Vec<(u16, Credential)> = expected
        .into_iter()
        .filter(|(s, _)| ![3, 4, 5, 20, 39].contains(s))
        .collect();
    assert_eq!(driver.read_table().await.expect("read back"), remaining);
    assert_eq!(sim.table(), remaining);
    assert_eq!(driver.probe().await.expect("probe").generation, Some(2));
}

#[tokio::test]
async fn read_back_spans_several_reads() {
    // 100 slots = 800 registers: seven FC03 reads of at most 15 slots (120 registers).
    let profile = RegisterProfile::default();
    let sim = sim(100, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let ops = [grant(0), grant(14), grant(15), grant(99)];
    driver.apply(&ops).await.expect("grant");
    let slots: Vec<u16> = driver
        .read_table()
        .await
        .expect("read")
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(slots, vec![0, 14, 15, 99]);
}

#[tokio::test]
async fn refused_write_maps_to_config_and_changes_nothing() {
    let profile = RegisterProfile::default();
    let sim = sim(32, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    driver.apply(&[grant(1)]).await.expect("first grant");
    let before = sim.info();

    sim.fail_writes(Some(ExceptionCode::IllegalDataAddress));
    let err = batch_error(driver.apply(&[grant(2), grant(3)]).await);
    assert_eq!(err.error.kind(), ErrorKind::Config);
    assert_eq!(err.applied, 0);
    assert_eq!(sim.table(), vec![(1, credential(1))]);
    assert_eq!(sim.info(), before);

    sim.fail_writes(Some(ExceptionCode::ServerDeviceBusy));
    let err = batch_error(driver.apply(&[grant(2)]).await);
    assert_eq!(err.error.kind(), ErrorKind::Busy);
    assert!(err.error.kind().is_retryable());

    // The exception left the connection usable.
    sim.fail_writes(None);
    driver
        .apply(&[grant(2)])
        .await
        .expect("after the fault clears");
    assert_eq!(sim.table().len(), 2);
}

#[tokio::test]
async fn offline_device_is_unreachable_until_it_returns() {
    let profile = RegisterProfile::default();
    let sim = sim(32, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    driver.probe().await.expect("connects while online");

    sim.set_online(false);
    // The connection the driver holds is cut too.
    let err = batch_error(driver.apply(&[grant(1)]).await);
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Unreachable, 0));
    let err = driver.probe().await.expect_err("still offline");
    assert_eq!(err.kind(), ErrorKind::Unreachable);

    sim.set_online(true);
    driver.apply(&[grant(1)]).await.expect("reconnects");
    assert_eq!(sim.table(), vec![(1, credential(1))]);
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut driver =
        ModbusTcp::new(addr, 1, RegisterProfile::default(), TIMEOUT).expect("driver config");
    let err = driver.probe().await.expect_err("nobody there");
    assert_eq!(err.kind(), ErrorKind::Unreachable);
}

#[tokio::test]
async fn profile_mismatch_is_a_config_error() {
    let device_profile = RegisterProfile {
        slot_registers: 10,
        ..RegisterProfile::default()
    };
    let sim = sim(8, device_profile).await;
    let mut driver = driver(&sim, RegisterProfile::default());
    let err = driver.probe().await.expect_err("slot size differs");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message().contains("expected 8") && err.message().contains("10"),
        "{err}"
    );

    // Looking for the header in the wrong place finds no magic.
    let shifted = RegisterProfile {
        header_base: 2,
        slots_base: 18,
        ..RegisterProfile::default()
    };
    let mut driver = ModbusTcp::new(sim.local_addr(), 1, shifted, TIMEOUT).expect("config");
    let err = driver.probe().await.expect_err("no magic");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("magic"), "{err}");
}

#[tokio::test]
async fn low_word_first_round_trips() {
    let profile = RegisterProfile {
        word_order: WordOrder::LowFirst,
        ..RegisterProfile::default()
    };
    let sim = sim(16, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let c = Credential {
        card: 0x0001_0002,
        doors: 3,
        valid_from: 0x0003_0004,
        valid_until: Some(0x0005_0006),
        pin: None,
    };
    driver
        .apply(&[
            Op {
                slot: 0,
                change: Change::Grant(c),
            },
            grant(1),
        ])
        .await
        .expect("grant");
    driver.finish_update().await.expect("generation bump");
    assert_eq!(sim.registers(16, 8), vec![0x0303, 2, 1, 4, 3, 6, 5, 0xFFFF]);
    assert_eq!(
        sim.registers(4, 2),
        vec![1, 0],
        "generation is low word first too"
    );
    assert_eq!(
        driver.read_table().await.expect("read"),
        vec![(0, c), (1, credential(1))]
    );
    assert_eq!(driver.probe().await.expect("probe").generation, Some(1));
}

#[tokio::test]
async fn seven_byte_uids_round_trip_in_a_ten_register_slot() {
    let profile = RegisterProfile {
        slot_registers: 10,
        card_registers: 4,
        valid_from_offset: 5,
        valid_until_offset: 7,
        pin_offset: 9,
        word_order: WordOrder::LowFirst,
        ..RegisterProfile::default()
    };
    let sim = sim(24, profile.clone()).await;
    let mut driver = driver(&sim, profile.clone());
    let uid = Credential {
        card: 0x0004_A1B2_C3D4_E5F6,
        doors: 1,
        valid_from: 0,
        valid_until: None,
        pin: None,
    };
    // Slot 12 starts at 16 + 12 · 10; the last of the 12 grants lands in the second frame.
    let mut ops: Vec<Op> = (0..12).map(grant).collect();
    ops.push(Op {
        slot: 12,
        change: Change::Grant(uid),
    });
    driver.apply(&ops).await.expect("grant");
    assert_eq!(
        sim.registers(136, 5),
        vec![0x0103, 0xE5F6, 0xC3D4, 0xA1B2, 0x0004],
        "the card spans four registers, least significant first"
    );
    let table = driver.read_table().await.expect("read");
    assert_eq!(table.last(), Some(&(12, uid)));
    assert_eq!(table.len(), 13);
}

#[tokio::test]
async fn card_wider_than_the_profile_is_rejected_before_it_is_sent() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let wiegand37 = Credential {
        card: 0x10_0000_0001,
        ..credential(1)
    };
    let err = batch_error(
        driver
            .apply(&[
                grant(0),
                Op {
                    slot: 1,
                    change: Change::Grant(wiegand37),
                },
            ])
            .await,
    );
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Rejected, 1));
    assert!(err.error.message().contains("32-bit"), "{}", err.error);
    assert_eq!(sim.table(), vec![(0, credential(0))]);
}

#[tokio::test]
async fn slot_beyond_the_device_is_a_config_error_naming_it() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let err = batch_error(driver.apply(&[grant(2), grant(16), grant(3)]).await);
    driver.finish_update().await.expect("nothing to bump");
    assert_eq!(err.error.kind(), ErrorKind::Config);
    assert!(err.error.message().contains("slot 16"), "{err}");
    // The op before it was written and confirmed; nothing after it was.
    assert_eq!(err.applied, 1);
    assert_eq!(sim.table(), vec![(2, credential(2))]);
    assert_eq!(
        sim.info().generation,
        Some(0),
        "an incomplete batch does not bump the generation"
    );
}

#[tokio::test]
async fn held_writes_wait_until_released() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let mut arrivals = sim.arrivals();
    let mut applied = sim.subscribe();

    sim.hold_writes();
    let task = tokio::spawn(async move { driver.apply(&[grant(0)]).await });
    arrivals.wait_for(|n| *n >= 1).await.expect("write arrives");
    assert!(sim.table().is_empty(), "held write is not applied");

    sim.release_writes();
    task.await.expect("task").expect("apply");
    // The slot frame (the bump waits for the end of the update).
    applied.wait_for(|n| *n >= 1).await.expect("applied");
    assert_eq!(sim.table(), vec![(0, credential(0))]);
}

#[tokio::test]
async fn unanswered_request_times_out_and_the_next_call_reconnects() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver =
        ModbusTcp::new(sim.local_addr(), 1, profile, Duration::from_millis(200)).expect("config");
    sim.hold_writes();
    let err = batch_error(driver.apply(&[grant(0)]).await);
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Timeout, 0));
    let mut applied = sim.subscribe();
    sim.release_writes();
    driver.apply(&[grant(1)]).await.expect("fresh connection");
    // The released slot-0 write and the slot-1 write.
    applied.wait_for(|n| *n >= 2).await.expect("applied");
    assert_eq!(
        sim.table().len(),
        2,
        "the timed-out write still landed, as on a real device"
    );
}

#[tokio::test]
async fn wrong_unit_id_times_out_like_an_absent_gateway_target() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver = ModbusTcp::new(sim.local_addr(), 2, profile, TIMEOUT).expect("config");
    let err = driver.probe().await.expect_err("unit 2 is not there");
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[test]
fn constructor_rejects_bad_arguments() {
    let p = RegisterProfile::default;
    let kind = |r: Result<ModbusTcp, lintel_hal::Error>| r.err().map(|e| e.kind());
    assert_eq!(
        kind(ModbusTcp::new("10.0.0.5", 1, p(), TIMEOUT)),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        kind(ModbusTcp::new("10.0.0.5:502", 0, p(), TIMEOUT)),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        kind(ModbusTcp::new("10.0.0.5:502", 248, p(), TIMEOUT)),
        Some(ErrorKind::Config)
    );
    let bad = RegisterProfile {
        max_write_registers: 200,
        ..p()
    };
    assert_eq!(
        kind(ModbusTcp::new("10.0.0.5:502", 1, bad, TIMEOUT)),
        Some(ErrorKind::Config)
    );
    assert!(ModbusTcp::new("controller.local:502", 247, p(), TIMEOUT).is_ok());
}

fn expected(slots: std::ops::Range<u16>) -> Vec<(u16, Credential)> {
    slots.map(|s| (s, credential(u32::from(s)))).collect()
}

#[tokio::test]
async fn verify_trusts_a_matching_digest_without_reading_slots() {
    let profile = RegisterProfile::default();
    let sim = sim(32, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    driver
        .apply(&(0..5).map(grant).collect::<Vec<_>>())
        .await
        .expect("grant");
    let drift = driver.verify(&expected(0..5)).await.expect("verify");
    assert_eq!(drift.check, Check::Digest);
    assert_eq!(drift.generation, Some(1));
    assert!(drift.in_sync());
    // A gateway that expects one card fewer sees a mismatch and the one extra slot.
    let drift = driver.verify(&expected(0..4)).await.expect("verify");
    assert_eq!(drift.check, Check::FullRead);
    assert_eq!(
        drift.slots,
        vec![SlotDrift::Unexpected {
            slot: 4,
            found: credential(4)
        }]
    );
}

#[tokio::test]
async fn verify_reports_each_kind_of_drift_by_slot() {
    let profile = RegisterProfile::default();
    let sim = sim(40, profile.clone()).await;
    let mut driver = driver(&sim, profile.clone());
    driver
        .apply(&(0..20).map(grant).collect::<Vec<_>>())
        .await
        .expect("grant");
    let slot = |i: u16| 16 + 8 * i;
    sim.poke(slot(3), &[0; 8]); // cleared behind our back
    sim.poke(slot(17), &[0x0303]); // door mask changed
    sim.poke(slot(25), &profile.encode_slot(Some(&credential(99)))); // planted card
    sim.poke(slot(30), &[0, 0, 7]); // unused slot with leftovers
    sim.poke(slot(8), &[0x0109, 0, 7, 0, 0, 0, 0, 0xFFFF]); // has-PIN flag, no PIN
    let drift = driver.verify(&expected(0..20)).await.expect("verify");
    assert_eq!(drift.check, Check::FullRead);
    let kinds: Vec<(u16, &str)> = drift
        .slots
        .iter()
        .map(|d| {
            let kind = match d {
                SlotDrift::Missing { .. } => "missing",
                SlotDrift::Unexpected { .. } => "unexpected",
                SlotDrift::Different { .. } => "different",
                SlotDrift::Garbled { .. } => "garbled",
            };
            (d.slot(), kind)
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (3, "missing"),
            (8, "garbled"),
            (17, "different"),
            (25, "unexpected"),
            (30, "garbled"),
        ]
    );
    assert_eq!(drift.slots[1].expected(), Some(&credential(8)));
    assert_eq!(drift.slots[4].expected(), None);
    // Repairing exactly the drifted slots brings the digest back.
    let repair: Vec<Op> = drift
        .slots
        .iter()
        .map(|d| Op {
            slot: d.slot(),
            change: match d.expected() {
                Some(c) => Change::Grant(*c),
                None => Change::Revoke { card: 0 },
            },
        })
        .collect();
    driver.apply(&repair).await.expect("repair");
    let after = driver.verify(&expected(0..20)).await.expect("verify");
    assert_eq!((after.check, after.in_sync()), (Check::Digest, true));
}

#[tokio::test]
async fn verify_after_a_factory_reset_reports_everything_missing() {
    let profile = RegisterProfile::default();
    let sim = sim(16, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    driver.apply(&[grant(0), grant(9)]).await.expect("grant");
    driver.finish_update().await.expect("bump");
    sim.wipe();
    let drift = driver.verify(&expected(0..1)).await.expect("verify");
    assert_eq!(drift.generation, Some(0));
    assert_eq!(
        drift.slots,
        vec![SlotDrift::Missing {
            slot: 0,
            expected: credential(0)
        }]
    );
    let err = driver
        .verify(&expected(15..17))
        .await
        .expect_err("slot 16 is beyond 16 slots");
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn the_header_is_read_once_per_connection_and_again_after_an_error() {
    let profile = RegisterProfile::default();
    let sim = sim(32, profile.clone()).await;
    let mut driver = driver(&sim, profile);
    let reads = sim.reads();
    for slot in 0..3 {
        driver.apply(&[grant(slot)]).await.expect("batch");
    }
    assert_eq!(*reads.borrow(), 1, "three batches, one header read");
    assert_eq!(sim.info().generation, Some(0), "no bump between batches");
    driver.finish_update().await.expect("bump");
    assert_eq!(
        sim.info().generation,
        Some(1),
        "one bump for the run of batches"
    );

    sim.fail_writes(Some(ExceptionCode::ServerDeviceFailure));
    batch_error(driver.apply(&[grant(3)]).await);
    sim.fail_writes(None);
    driver
        .apply(&[grant(3)])
        .await
        .expect("batch after the error");
    assert_eq!(
        *reads.borrow(),
        2,
        "the header is read again after an error"
    );
    driver.finish_update().await.expect("bump");
    assert_eq!(sim.info().generation, Some(2));
    assert_eq!(sim.table(), expected(0..4));
}
