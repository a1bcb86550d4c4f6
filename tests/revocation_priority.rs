//! Revocations never wait behind grants: with a backlog of grants queued for a controller that
//! does not answer, the first change it receives when it answers again is the revocation, alone
//! (on Modbus only the header read every new connection starts with comes before it).
//! On Modbus the backlog is 8,000 (near the most one controller on the default register profile
//! holds: 8 registers a slot after a 16-register header fill the 16-bit address space at 8,189
//! slots); on lintel-mqtt, whose tables are bounded only by 16-bit slot numbers, it is 10,000.

mod common;
mod controllers_common;

use common::*;
use controllers_common::*;
use lintel::control::Request;
use lintel_hal::sim::{LintelMqttSimConfig, SimRequest, spawn_lintel_mqtt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_the_first_frame_after_an_outage() {
    const BACKLOG: u64 = 8_000;
    let b = Building::start(residents(BACKLOG as usize + 1), 8_100).await;
    b.issue(&[("R-1", 1)]).await;
    let (dir, door) = (&b.dir, &b.door);
    let slot = b.store().acked("door").expect("acked")[&1].slot;

    door.set_online(false);
    // The backlog arrives as one fob inventory import: one commit, 8,000 queued grants.
    let backlog: Vec<u64> = (2..=BACKLOG + 1).collect();
    import_cards(dir.path(), 2, &backlog).await;
    call(dir.path(), Request::CredentialsRemove { card: 1 }).await;
    assert_eq!(b.store().outbox_len("door"), BACKLOG as usize + 1);

    // Two more connection attempts after the revocation was queued: the later one's batch was
    // read after it, so no batch of grants alone is still on its way.
    let mut attempts = door.connections();
    let seen = *attempts.borrow_and_update();
    tokio::time::timeout(PATIENCE, attempts.wait_for(|n| *n >= seen + 2))
        .await
        .expect("retries")
        .expect("sim");

    door.clear_requests();
    door.set_online(true);
    wait_for_cards(door, &backlog).await;

    // A new connection's first request reads the header (docs/registers.md); nothing else,
    // neither a read nor a write, may come before the revocation.
    let requests = door.requests();
    let profile = lintel_hal::RegisterProfile::default();
    assert_eq!(
        requests.first(),
        Some(&SimRequest::Read {
            start: profile.header_base,
            count: lintel_hal::profile::HEADER_LEN,
        }),
        "first request after the outage: {:?}",
        requests.first()
    );
    let Some(SimRequest::Write(first)) = requests.get(1) else {
        panic!(
            "second request is not the revocation: {:?}",
            requests.get(1)
        );
    };
    assert_eq!(
        first.start,
        profile.slot_address(slot).expect("address"),
        "first frame: {first:?}"
    );
    assert!(
        first.values.iter().all(|v| *v == 0),
        "first frame must clear the slot: {first:?}"
    );
    assert_eq!(
        first.values.len(),
        usize::from(profile.slot_registers),
        "the revocation travels alone"
    );
    assert!(!held(door).contains_key(&1));
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_the_first_command_after_an_outage_on_lintel_mqtt() {
    const BACKLOG: u64 = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(BACKLOG as usize + 1)).expect("pms");
    let topic = format!("lintel-e2e-{}/revocation", std::process::id());
    let sim = spawn_lintel_mqtt(
        &sim_broker(),
        &format!("revocation-{}", std::process::id()),
        LintelMqttSimConfig {
            topic: topic.clone(),
            slots: 10_100,
            device: "revocation-ctl".into(),
        },
    )
    .expect("controller");
    // max_batch at its limit: the request size cap (16 KiB) makes each carry ~95 changes.
    let controllers = format!(
        "{}\n[[controller]]\nname = \"door\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"{topic}\"\nack_timeout = \"2s\"\nmax_batch = 500\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = lintel::Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["door"],
    ))
    .await
    .expect("daemon starts");
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 1).await;
    let store = &daemon.engine().store;
    drained(store, "door").await;
    let slot = store.acked("door").expect("acked")[&1].slot;

    // The outage: the controller stays connected but answers nothing, so every attempt is a
    // request that times out and is counted.
    sim.drop_requests(u32::MAX);
    let backlog: Vec<u64> = (2..=BACKLOG + 1).collect();
    import_cards(dir.path(), 2, &backlog).await;
    call(dir.path(), Request::CredentialsRemove { card: 1 }).await;
    assert_eq!(store.outbox_len("door"), BACKLOG as usize + 1);

    // Two more requests after the revocation was queued: the later one was planned after it, so
    // no batch of grants alone is still on its way.
    let seen = *sim.requests().borrow();
    wait_on(
        sim.requests(),
        "retries after the revocation",
        || *sim.requests().borrow(),
        |n| *n >= seen + 2,
    )
    .await;

    sim.clear_applies();
    sim.drop_requests(0);
    // ~11 s in a debug build on 2 cores: each wait is for progress, not the whole backlog.
    loop {
        let held = sim.table().len();
        if held == backlog.len() {
            break;
        }
        wait_on(
            sim.applied(),
            "progress on the backlog",
            || sim.table().len(),
            |n| *n > held,
        )
        .await;
    }
    let applies = sim.applies();
    assert_eq!(
        applies.first().map(Vec::as_slice),
        Some(&[(slot, None)][..]),
        "the first command after the outage carries the revocation alone"
    );
    assert!(
        applies[1..].iter().flatten().all(|(_, c)| c.is_some()),
        "everything after it is a grant"
    );
    // A batch whose ack came late is sent again: the same changes to the same slots, so every
    // grant applied is one the table ends up holding.
    let table: std::collections::BTreeMap<u16, lintel_hal::Credential> =
        sim.table().into_iter().collect();
    assert!(
        applies[1..]
            .iter()
            .flatten()
            .all(|(slot, c)| table.get(slot) == c.as_ref()),
        "a grant went to a slot that does not keep it"
    );
    let mut held: Vec<u64> = sim.table().into_iter().map(|(_, c)| c.card).collect();
    held.sort_unstable();
    assert_eq!(held, backlog);
    drained(store, "door").await;
    daemon.stop().await;
    sim.shutdown().await;
}
