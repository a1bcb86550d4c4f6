//! Modbus RTU end to end: the fixture PMS → daemon → two controllers sharing one RS-485 bus,
//! served by the simulator on a real pseudo-terminal pair (so tokio-serial does real I/O), and
//! drift on either unit detected by readback, logged and repaired.

mod common;
mod controllers_common;

use common::*;
use controllers_common::*;
use lintel::Daemon;
use lintel_hal::sim::{LineEmulation, PtyMaster, RtuSim, SimConfig};

fn rtu_controller(name: &str, port: &str, unit: u8) -> String {
    format!(
        "\n[[controller]]\nname = \"{name}\"\nkind = \"modbus-rtu\"\nport = \"{port}\"\nbaud = 38400\nunit = {unit}\nresponse_timeout = \"500ms\"\nverify_every = \"1s\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_units_on_one_bus_get_their_cards_and_drift_is_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(3)).expect("pms");
    let pty = PtyMaster::open().expect("pty");
    let port = pty.path().display().to_string();
    let unit = |unit| SimConfig {
        unit,
        slots: 32,
        ..SimConfig::default()
    };
    let bus = RtuSim::spawn(pty, vec![unit(1), unit(2)], LineEmulation::default()).expect("bus");
    let (east, west) = (
        bus.unit(1).expect("unit 1").clone(),
        bus.unit(2).expect("unit 2").clone(),
    );
    let controllers = format!(
        "{}{}",
        rtu_controller("east", &port, 1),
        rtu_controller("west", &port, 2)
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["east", "west"],
    ))
    .await
    .expect("daemon starts");

    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let cards = [9001, 9002, 9003];
    for (i, card) in cards.iter().enumerate() {
        add_card(dir.path(), &format!("R-{}", i + 1), *card).await;
    }
    wait_for_device_cards(&east, &cards).await;
    wait_for_device_cards(&west, &cards).await;
    let store = &daemon.engine().store;
    drained(store, "east").await;
    drained(store, "west").await;
    let stats = *bus.stats().borrow();
    assert_eq!(
        stats.bad_frames, 0,
        "frames interleaved or broken: {stats:?}"
    );
    assert!(stats.replies > 0);

    // The update is finished (a reset must come after the bump, or it would count it).
    wait_for_generation_bump(&west).await;
    // Behind the gateway's back: east's slot holding 9002 is cleared, west is factory reset.
    let slot = store.acked("east").expect("acked")[&9002].slot;
    east.poke(16 + 8 * slot, &[0; 8]);
    west.wipe();
    assert_eq!(cards_of(&east), [9001, 9003]);
    assert!(cards_of(&west).is_empty());

    // Periodic readback (verify_every = 1s) finds both and re-sends exactly the lost slots.
    west.clear_requests();
    wait_for_device_cards(&east, &cards).await;
    wait_for_device_cards(&west, &cards).await;
    let flagged = wait_for_activity(dir.path(), "east's drift", |a| {
        a["outcome"] == "flagged" && a["subject"] == "east"
    })
    .await;
    let reason = flagged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("slot {slot}: card 9002 missing")) && reason.contains("1 slot(s)"),
        "{reason}"
    );
    let flagged = wait_for_activity(dir.path(), "west's drift", |a| {
        a["outcome"] == "flagged" && a["subject"] == "west"
    })
    .await;
    let reason = flagged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3 slot(s)") && reason.contains("generation 0"),
        "{reason}"
    );
    // The repairs went through the outbox like any change, and were acknowledged.
    drained(store, "west").await;
    drained(store, "east").await;
    // Only the three lost slots were written (in one batched frame), nothing else.
    let slot_writes: Vec<_> = west
        .writes()
        .into_iter()
        .filter(|w| w.start >= 16)
        .collect();
    assert_eq!(
        slot_writes.iter().map(|w| w.values.len()).sum::<usize>(),
        3 * 8,
        "{slot_writes:?}"
    );
    assert_eq!(bus.stats().borrow().bad_frames, 0);
    daemon.stop().await;
    bus.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs485_mode_the_port_lacks_shows_in_status_naming_port_and_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(1)).expect("pms");
    let pty = PtyMaster::open().expect("pty");
    let port = pty.path().display().to_string();
    let bus =
        RtuSim::spawn(pty, vec![SimConfig::default()], LineEmulation::default()).expect("bus");
    let controller = format!(
        "{}[controller.rs485]\nenabled = true\n",
        rtu_controller("door", &port, 1)
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controller,
        &["door"],
    ))
    .await
    .expect("the config is valid: only opening the port can tell");
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 9001).await;

    let wanted = format!("{port}: cannot apply rs485.enabled = true");
    eventually("the RS-485 refusal to reach status", || async {
        let status = call(dir.path(), lintel::control::Request::Status).await;
        status["controllers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("config: ") && e.contains(&wanted))
    })
    .await;
    // A port that cannot be set up leaves the controller unusable: not online, and health
    // names it.
    let status = call(dir.path(), lintel::control::Request::Status).await;
    assert_eq!(status["controllers"][0]["online"], false, "{status}");
    assert_eq!(status["healthy"], false, "{status}");
    let summary = status["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("DEGRADED: controller door: config: ") && summary.contains(&wanted),
        "{summary}"
    );
    // Nothing reached the line, and the grant is still queued rather than lost.
    assert_eq!(bus.stats().borrow().requests, 0);
    assert_eq!(daemon.engine().store.outbox_len("door"), 1);
    daemon.stop().await;
    bus.shutdown();
}

fn cards_of(device: &lintel_hal::sim::SimDevice) -> Vec<u64> {
    controllers_common::cards(device)
}
