//! Revocations never wait behind grants: with a backlog of grants queued for an unreachable
//! controller, the first frame it receives when it comes back is the revocation.

mod common;

use common::*;
use lintel::Daemon;
use lintel::control::Request;
use lintel::demo::pms::PmsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_the_first_frame_after_an_outage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(151)).expect("pms");
    let door = sim(512).await;
    let daemon = Daemon::start(config(dir.path(), &pms, &[("door", &door)]))
        .await
        .expect("daemon");
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 1).await;
    wait_for_cards(&door, &[1]).await;
    let store = daemon.engine().store.clone();
    eventually("the grant to be acknowledged", || {
        let store = store.clone();
        async move { store.outbox_len("door") == 0 }
    })
    .await;
    let slot = daemon.engine().store.acked("door").expect("acked")[&1].slot;

    door.set_online(false);
    for i in 2..=151 {
        add_card(dir.path(), &format!("R-{i}"), i).await;
    }
    call(dir.path(), Request::CredentialsRemove { card: 1 }).await;
    assert_eq!(daemon.engine().store.outbox_len("door"), 151);

    // Two more connection attempts after the revocation was queued: the later one's batch was
    // read after it, so no batch of grants alone is still on its way.
    let mut attempts = door.connections();
    let seen = *attempts.borrow_and_update();
    tokio::time::timeout(PATIENCE, attempts.wait_for(|n| *n >= seen + 2))
        .await
        .expect("retries")
        .expect("sim");

    door.clear_writes();
    door.set_online(true);
    let want: Vec<u32> = (2..=151).collect();
    wait_for_cards(&door, &want).await;

    let writes = door.writes();
    let profile = lintel_hal::RegisterProfile::default();
    let first = &writes[0];
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
    assert!(!held(&door).contains_key(&1));
    daemon.stop().await;
}
