//! The Modbus RTU driver over a real pseudo-terminal pair: tokio-serial opens the slave side like
//! any serial port, the simulated bus serves the master side.

use std::time::{Duration, Instant};

use lintel_hal::{
    Change, Controller, Credential, ErrorKind, Op, RegisterProfile,
    modbus::{ModbusRtu, Rs485Settings, RtuBus, SerialSettings, timing},
    sim::{Corruption, ExceptionCode, LineEmulation, PtyMaster, RtuSim, RtuSimHandle, SimConfig},
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn unit(unit: u8, slots: u16) -> SimConfig {
    SimConfig {
        unit,
        slots,
        profile: RegisterProfile::default(),
    }
}

/// A simulated bus with `units` on a fresh pty, and a gateway-side bus on its slave path.
fn bus(
    units: Vec<SimConfig>,
    line: LineEmulation,
    response_timeout_ms: u64,
) -> (RtuSimHandle, RtuBus) {
    let pty = PtyMaster::open().expect("pty");
    let mut settings = SerialSettings::new(pty.path().to_string_lossy());
    settings.response_timeout_ms = response_timeout_ms;
    // The master keeps the silences of the line the simulator emulates, as on a real bus.
    if let Some(baud) = line.baud {
        settings.baud = baud;
    }
    let sim = RtuSim::spawn(pty, units, line).expect("sim");
    (sim, RtuBus::new(settings).expect("settings"))
}

fn driver(bus: &RtuBus, unit: u8) -> ModbusRtu {
    ModbusRtu::new(bus, unit, RegisterProfile::default(), TIMEOUT).expect("driver")
}

fn credential(n: u32) -> Credential {
    Credential {
        card: u64::from(0x00B0_0000 + n),
        doors: 1 << (n % 8),
        valid_from: 1_700_000_000,
        valid_until: (n % 2 == 0).then_some(1_900_000_000 + n),
        pin: (n % 3 == 0).then_some((n % 10_000) as u16),
    }
}

fn grants(range: std::ops::Range<u16>, salt: u32) -> Vec<Op> {
    range
        .map(|slot| Op {
            slot,
            change: Change::Grant(credential(u32::from(slot) + salt)),
        })
        .collect()
}

#[tokio::test]
async fn two_units_share_one_bus_without_interleaving_frames() {
    let (sim, bus) = bus(
        vec![unit(1, 64), unit(2, 64)],
        LineEmulation::default(),
        1000,
    );
    let (mut one, mut two) = (driver(&bus, 1), driver(&bus, 2));
    // Both drivers run at once; only the bus lock keeps their frames apart on the one pty.
    let (a, b) = tokio::join!(
        async {
            for chunk in grants(0..60, 0).chunks(7) {
                one.apply(chunk).await.map_err(|e| e.error)?;
            }
            one.read_table().await
        },
        async {
            for chunk in grants(0..60, 1000).chunks(5) {
                two.apply(chunk).await.map_err(|e| e.error)?;
            }
            two.read_table().await
        },
    );
    let (a, b) = (a.expect("unit 1"), b.expect("unit 2"));
    let expected = |salt| -> Vec<(u16, Credential)> {
        (0..60)
            .map(|slot| (slot, credential(u32::from(slot) + salt)))
            .collect()
    };
    assert_eq!(a, expected(0));
    assert_eq!(b, expected(1000));
    let units = |u| sim.unit(u).expect("unit").table();
    assert_eq!(units(1), expected(0));
    assert_eq!(units(2), expected(1000));
    // The last reply reaches the driver a moment before the simulator counts it.
    let mut watch = sim.stats();
    let stats = *tokio::time::timeout(TIMEOUT, watch.wait_for(|s| s.replies == s.requests))
        .await
        .expect("every request answered")
        .expect("sim alive");
    assert_eq!(stats.bad_frames, 0, "{stats:?}");
    // Per unit: the header read its connection starts with, one FC16 per batch (9 and 12
    // batches), then read_table's generation bump, header read and five reads of 64 slots.
    assert_eq!(stats.requests, (1 + 9 + 7) + (1 + 12 + 7), "{stats:?}");
}

#[tokio::test]
async fn exceptions_arrive_over_rtu_and_map_to_kinds() {
    let (sim, bus) = bus(vec![unit(7, 16)], LineEmulation::default(), 1000);
    let mut d = driver(&bus, 7);
    let device = sim.unit(7).expect("unit 7");
    device.fail_writes(Some(ExceptionCode::ServerDeviceBusy));
    let err = d.apply(&grants(0..2, 0)).await.expect_err("busy");
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Busy, 0));
    assert!(err.error.message().contains("unit 7"), "{}", err.error);
    device.fail_writes(None);
    let err = d.apply(&grants(16..17, 0)).await.expect_err("beyond");
    assert_eq!(err.error.kind(), ErrorKind::Config);
    d.apply(&grants(0..2, 0))
        .await
        .expect("recovers on the same port");
    assert_eq!(device.table().len(), 2);
}

#[tokio::test]
async fn noisy_replies_fail_retryably_and_the_next_request_is_clean() {
    let (sim, bus) = bus(vec![unit(1, 16)], LineEmulation::default(), 200);
    let mut d = driver(&bus, 1);
    d.apply(&grants(0..3, 0)).await.expect("clean line");
    for how in [Corruption::BadCrc, Corruption::FlippedByte] {
        sim.corrupt_replies(1, how);
        let err = d
            .probe()
            .await
            .expect_err("corrupted reply is never accepted");
        assert!(err.kind().is_retryable(), "{how:?}: {err}");
        let info = d.probe().await.expect("next reply is clean");
        assert_eq!(info.slots, Some(16));
    }
    // A burst of noise spoils two replies: two attempts fail retryably, the third lands.
    sim.corrupt_replies(2, Corruption::BadCrc);
    for attempt in 0..2 {
        let err = d.apply(&grants(3..6, 0)).await.expect_err("noise");
        assert!(
            err.error.kind().is_retryable(),
            "attempt {attempt}: {}",
            err.error
        );
    }
    d.apply(&grants(3..6, 0)).await.expect("retry");
    assert_eq!(d.read_table().await.expect("read").len(), 6);
    assert_eq!(sim.stats().borrow().corrupted, 4);
}

#[tokio::test]
async fn a_silent_unit_times_out_without_blocking_the_other() {
    let (sim, bus) = bus(vec![unit(1, 8), unit(2, 8)], LineEmulation::default(), 150);
    let (mut one, mut two) = (driver(&bus, 1), driver(&bus, 2));
    sim.unit(2).expect("unit 2").set_online(false);
    let err = two.probe().await.expect_err("silent");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    one.apply(&grants(0..4, 0))
        .await
        .expect("unit 1 unaffected");
    let mut absent = driver(&bus, 9);
    assert_eq!(
        absent.probe().await.expect_err("nobody").kind(),
        ErrorKind::Timeout
    );
    sim.unit(2).expect("unit 2").set_online(true);
    assert_eq!(two.probe().await.expect("back").slots, Some(8));
}

#[tokio::test]
async fn emulated_line_rate_sets_a_floor_on_transaction_time() {
    let baud = 9600;
    let line = LineEmulation {
        baud: Some(baud),
        turnaround_us: 2_000,
    };
    let (_sim, bus) = bus(vec![unit(1, 32)], line, 1000);
    let mut d = driver(&bus, 1);
    let started = Instant::now();
    d.apply(&grants(0..15, 0)).await.expect("apply");
    d.finish_update().await.expect("generation bump");
    let elapsed = started.elapsed();
    // Header read (8 + 25 bytes), one 15-slot FC16 (249 + 8), generation bump (13 + 8),
    // three turnarounds, the t3.5 silence before each of the three replies and the two the
    // master keeps between frames.
    let wire = timing::wire_time(8 + 25 + 249 + 8 + 13 + 8, timing::SPEC_CHAR_BITS, baud);
    let floor = wire + 3 * Duration::from_millis(2) + 5 * timing::t35(baud);
    assert!(elapsed >= floor, "{elapsed:?} < modelled {floor:?}");
}

#[tokio::test]
async fn a_missing_port_is_unreachable_and_names_it() {
    let bus = RtuBus::new(SerialSettings::new("/dev/lintel-no-such-port")).expect("settings");
    let err = driver(&bus, 1).probe().await.expect_err("no port");
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    assert!(
        err.message().contains("/dev/lintel-no-such-port unit 1"),
        "{err}"
    );
}

#[tokio::test]
async fn rs485_mode_on_a_port_without_it_is_a_config_error_naming_port_and_setting() {
    let pty = PtyMaster::open().expect("pty");
    let path = pty.path().to_string_lossy().into_owned();
    let sim = RtuSim::spawn(pty, vec![unit(1, 8)], LineEmulation::default()).expect("sim");

    // A pty has no RS-485 mode (the kernel answers ENOTTY): refused, and not worth retrying.
    let mut settings = SerialSettings::new(&path);
    settings.rs485 = Some(Rs485Settings::enabled());
    let refusing = RtuBus::new(settings).expect("valid settings");
    let err = driver(&refusing, 1)
        .probe()
        .await
        .expect_err("no RS-485 on a pty");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.kind().is_retryable());
    assert!(
        err.message()
            .contains(&format!("{path}: cannot apply rs485.enabled = true")),
        "{err}"
    );
    assert!(err.message().contains("no RS-485 mode"), "{err}");
    assert_eq!(sim.stats().borrow().requests, 0, "nothing went on the wire");

    // Without an [rs485] table the port is left alone and the same unit answers.
    let plain = RtuBus::new(SerialSettings::new(&path)).expect("defaults");
    assert_eq!(
        driver(&plain, 1).probe().await.expect("answers").slots,
        Some(8)
    );
}

#[test]
fn bad_bus_arguments_are_config_errors() {
    let mut s = SerialSettings::new("/dev/ttyUSB0");
    let bus = RtuBus::new(s.clone()).expect("defaults");
    assert_eq!(
        bus.connector(0).err().map(|e| e.kind()),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        bus.connector(248).err().map(|e| e.kind()),
        Some(ErrorKind::Config)
    );
    s.stop_bits = 3;
    assert_eq!(
        RtuBus::new(s).err().map(|e| e.kind()),
        Some(ErrorKind::Config)
    );
}
