//! MQTT controllers end to end through a real broker (embedded rumqttd, or
//! `$LINTEL_TEST_BROKER`): an esp-rfid 2.x board and a native lintel-mqtt controller get their
//! residents' cards, a board that reboots having lost its users gets them replayed, swipes land
//! in the activity log, drift on a lintel-mqtt controller is caught by its digest, and a device
//! of either kind rebooting mid-batch (losing what it had not saved) converges.

mod common;
mod controllers_common;

use std::collections::BTreeMap;

use common::*;
use controllers_common::*;
use lintel::Daemon;
use lintel_hal::Credential;
use lintel_hal::mqtt::UidFormat;
use lintel_hal::sim::{
    EspRfidSimConfig, EspRfidSimHandle, LintelMqttSimConfig, LintelMqttSimHandle, spawn_esp_rfid,
    spawn_lintel_mqtt,
};

/// Topics unique per test process, so a shared external broker's retained messages from other
/// runs never leak in.
fn topic(name: &str) -> String {
    format!("lintel-e2e-{}/{name}", std::process::id())
}

fn board_cards(board: &EspRfidSimHandle) -> Vec<u64> {
    board.credentials(UidFormat::Hex).into_keys().collect()
}

async fn wait_for_board(board: &EspRfidSimHandle, want: &[u64]) {
    let want = want.to_vec();
    wait_on(
        board.commands(),
        &format!("board cards {want:?}"),
        || board_cards(board),
        |held| *held == want,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esp_rfid_board_gets_cards_and_a_reboot_replays_what_it_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(2)).expect("pms");
    let t = topic("bike");
    let board = spawn_esp_rfid(
        &sim_broker(),
        &format!("board-{}", std::process::id()),
        EspRfidSimConfig {
            topic: t.clone(),
            ip: "10.20.0.44".into(),
            hostname: "bike-room".into(),
            legacy: false,
            // The firmware's heartbeat is how the gateway learns the board's IP after a start.
            heartbeat_s: Some(1),
        },
    )
    .expect("board");
    let controllers = format!(
        "{}\n[[controller]]\nname = \"bike\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"{t}\"\nhostname = \"bike-room\"\nuid_format = \"hex\"\nack_timeout = \"2s\"\nlist_quiet = \"300ms\"\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["bike"],
    ))
    .await
    .expect("daemon starts");
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let cards = [0x0a1b_2c3d, 0x00c0_ffee];
    add_card(dir.path(), "R-1", cards[0]).await;
    add_card(dir.path(), "R-2", cards[1]).await;
    let mut want = cards.to_vec();
    want.sort_unstable();
    wait_for_board(&board, &want).await;
    let store = &daemon.engine().store;
    drained(store, "bike").await;
    let users = board.users();
    let record = &users["0a1b2c3d"];
    assert_eq!(record["acctype"], 1, "{record:?}");
    assert_eq!(record["pincode"], "", "{record:?}");

    // The board is reset behind the gateway's back, then rejoins: its boot message makes the
    // gateway read the list back and replay exactly what is missing.
    board.forget_users(|_| false);
    assert!(board_cards(&board).is_empty());
    board.reboot().await;
    wait_for_board(&board, &want).await;
    let flagged = wait_for_activity(dir.path(), "the board's drift", |a| {
        a["outcome"] == "flagged" && a["subject"] == "bike"
    })
    .await;
    let reason = flagged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("2 slot(s)") && reason.contains("card 169552957 missing"),
        "{reason}"
    );

    // Swipes reach the activity log with the uid and the verdict.
    board.swipe("deadbeef").await;
    let hit = wait_for_activity(dir.path(), "unknown swipe", |a| {
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("uid deadbeef"))
    })
    .await;
    assert_eq!(hit["outcome"], "processed");
    assert_eq!(hit["subject"], "bike");
    let reason = hit["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("unknown card") && reason.contains("refused"),
        "{reason}"
    );
    board.swipe("0a1b2c3d").await;
    let hit = wait_for_activity(dir.path(), "known swipe", |a| {
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("uid 0a1b2c3d"))
    })
    .await;
    let reason = hit["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("known") && reason.contains("door opened"),
        "{reason}"
    );

    let status = call(dir.path(), lintel::control::Request::Status).await;
    let bike = &status["controllers"][0];
    assert_eq!(bike["kind"], "esp-rfid", "{status}");
    assert_eq!(bike["online"], true, "{status}");
    assert_eq!(bike["credentials"], 2, "{status}");
    daemon.stop().await;
    board.shutdown();
}

fn table(sim: &LintelMqttSimHandle) -> BTreeMap<u64, Credential> {
    sim.table().into_iter().map(|(_, c)| (c.card, c)).collect()
}

async fn wait_for_table(sim: &LintelMqttSimHandle, want: &[u64]) {
    let want = want.to_vec();
    wait_on(
        sim.applied(),
        &format!("controller cards {want:?}"),
        || table(sim).into_keys().collect::<Vec<_>>(),
        |held| *held == want,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lintel_mqtt_controller_gets_batches_and_proves_it_is_in_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(30)).expect("pms");
    let t = topic("garage");
    let sim = spawn_lintel_mqtt(
        &sim_broker(),
        &format!("garage-{}", std::process::id()),
        LintelMqttSimConfig {
            topic: t.clone(),
            slots: 64,
            device: "garage-ctl".into(),
        },
    )
    .expect("controller");
    let controllers = format!(
        "{}\n[[controller]]\nname = \"garage\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"{t}\"\nack_timeout = \"2s\"\nmax_batch = 8\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["garage"],
    ))
    .await
    .expect("daemon starts");
    sync_now(dir.path()).await;
    let cards: Vec<u64> = (1..=30).map(|i| 70_000 + i).collect();
    for (i, card) in cards.iter().enumerate() {
        add_card(dir.path(), &format!("R-{}", i + 1), *card).await;
    }
    wait_for_table(&sim, &cards).await;
    let store = &daemon.engine().store;
    drained(store, "garage").await;
    // What the controller proves it holds is what the gateway recorded as acknowledged.
    let acked: Vec<(u16, Credential)> = store
        .acked("garage")
        .expect("acked")
        .into_values()
        .map(|a| (a.slot, a.credential))
        .collect();
    assert_eq!(
        sim.summary().digest,
        lintel_hal::mqtt::lintel::wire::digest(acked.iter().map(|(s, c)| (*s, c)))
    );

    // Tampering: a card removed, a stranger added; a new session makes the gateway check the
    // digest, read the table and repair exactly those slots.
    let (slot, _) = sim.table()[3];
    let removed = sim.table()[3].1.card;
    sim.set_slot(slot, None).await;
    let stranger = Credential {
        card: 4242,
        doors: 1,
        valid_from: 0,
        valid_until: None,
        pin: None,
    };
    sim.set_slot(60, Some(stranger)).await;
    sim.reboot().await;
    wait_for_table(&sim, &cards).await;
    let flagged = wait_for_activity(dir.path(), "garage drift", |a| {
        a["outcome"] == "flagged" && a["subject"] == "garage"
    })
    .await;
    let reason = flagged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("card {removed} missing"))
            && reason.contains("slot 60: unexpected card 4242"),
        "{reason}"
    );
    assert_eq!(
        sim.summary().digest,
        lintel_hal::mqtt::lintel::wire::digest(acked.iter().map(|(s, c)| (*s, c)))
    );

    sim.swipe(cards[0]).await;
    let hit = wait_for_activity(dir.path(), "garage swipe", |a| {
        a["subject"] == "garage"
            && a["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("card {}", cards[0])))
    })
    .await;
    assert!(
        hit["reason"]
            .as_str()
            .is_some_and(|r| r.contains("door opened")),
        "{hit}"
    );
    daemon.stop().await;
    sim.shutdown().await;
}

/// What the gateway recorded as acknowledged on `controller`, by card.
fn acked_cards(store: &lintel::store::Store, controller: &str) -> Vec<u64> {
    store
        .acked(controller)
        .expect("acked")
        .into_keys()
        .collect()
}

/// Grants in a reboot test: several hundred, so the reboot lands mid-batch.
const REBOOT_BATCH: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esp_rfid_board_rebooting_mid_batch_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(REBOOT_BATCH as usize)).expect("pms");
    let t = topic("reboot-board");
    let board = spawn_esp_rfid(
        &sim_broker(),
        &format!("reboot-board-{}", std::process::id()),
        EspRfidSimConfig {
            topic: t.clone(),
            hostname: "lobby".into(),
            // How the gateway learns the board's IP after a start.
            heartbeat_s: Some(1),
            ..EspRfidSimConfig::default()
        },
    )
    .expect("board");
    let controllers = format!(
        "{}\n[[controller]]\nname = \"lobby\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"{t}\"\nhostname = \"lobby\"\nuid_format = \"hex\"\nack_timeout = \"500ms\"\nlist_quiet = \"300ms\"\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["lobby"],
    ))
    .await
    .expect("daemon starts");
    sync_now(dir.path()).await;
    let cards: Vec<u64> = (1..=REBOOT_BATCH).map(|i| 0x00d0_0000 + i).collect();
    import_cards(dir.path(), 1, &cards).await;

    // A third of the way in, the board reboots: the command it was handed is lost unsaved (no
    // ack), and it announces itself with a boot message while the rest is still queued.
    let commands = wait_on(
        board.commands(),
        "a third of the batch",
        || *board.commands().borrow(),
        |n| *n >= REBOOT_BATCH / 3,
    )
    .await;
    board.drop_commands(1);
    board.reboot().await;
    let held_at_reboot = board_cards(&board).len();
    assert!(
        held_at_reboot < cards.len(),
        "the reboot must land mid-batch: {held_at_reboot} held after {commands} commands"
    );

    wait_for_board(&board, &cards).await;
    let store = &daemon.engine().store;
    drained(store, "lobby").await;
    // Exactly the desired table: one record per card (the board keys records by uid, so a card
    // granted twice would be a second uid), every one acknowledged, nothing else.
    let users = board.users();
    assert_eq!(users.len(), cards.len());
    assert_eq!(board_cards(&board), cards);
    assert_eq!(acked_cards(store, "lobby"), cards);
    daemon.stop().await;
    board.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lintel_mqtt_controller_rebooting_mid_batch_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(REBOOT_BATCH as usize)).expect("pms");
    let t = topic("reboot-ctl");
    let sim = spawn_lintel_mqtt(
        &sim_broker(),
        &format!("reboot-ctl-{}", std::process::id()),
        LintelMqttSimConfig {
            topic: t.clone(),
            slots: 512,
            device: "reboot-ctl".into(),
        },
    )
    .expect("controller");
    let controllers = format!(
        "{}\n[[controller]]\nname = \"vault\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"{t}\"\nack_timeout = \"500ms\"\nmax_batch = 20\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["vault"],
    ))
    .await
    .expect("daemon starts");
    sync_now(dir.path()).await;
    let cards: Vec<u64> = (1..=REBOOT_BATCH).map(|i| 80_000 + i).collect();
    import_cards(dir.path(), 1, &cards).await;

    // A third of the way in, the controller reboots: the batch it was handed is lost unsaved
    // (no reply), and it comes back with a new boot id while the rest is still queued.
    let applied = wait_on(
        sim.applied(),
        "a third of the batch",
        || *sim.applied().borrow(),
        |n| *n >= REBOOT_BATCH / 3,
    )
    .await;
    sim.drop_requests(1);
    sim.reboot().await;
    let held_at_reboot = sim.table().len();
    assert!(
        held_at_reboot < cards.len(),
        "the reboot must land mid-batch: {held_at_reboot} held after {applied} applied"
    );

    wait_for_table(&sim, &cards).await;
    let store = &daemon.engine().store;
    drained(store, "vault").await;
    // Exactly the desired table: as many slots in use as cards (no card in two slots), the
    // slots the gateway recorded, and the digest it expects.
    let table = sim.table();
    assert_eq!(table.len(), cards.len());
    let acked: Vec<(u16, Credential)> = store
        .acked("vault")
        .expect("acked")
        .into_values()
        .map(|a| (a.slot, a.credential))
        .collect();
    let mut by_slot = acked.clone();
    by_slot.sort_by_key(|(slot, _)| *slot);
    assert_eq!(table, by_slot);
    assert_eq!(acked_cards(store, "vault"), cards);
    assert_eq!(
        sim.summary().digest,
        lintel_hal::mqtt::lintel::wire::digest(acked.iter().map(|(s, c)| (*s, c)))
    );
    daemon.stop().await;
    sim.shutdown().await;
}
