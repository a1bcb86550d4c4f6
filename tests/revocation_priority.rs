//! Revocations never wait behind grants: with a backlog of grants queued for an unreachable
//! controller, the first frame it receives when it comes back is the revocation.

mod common;

use common::*;
use lintel::control::Request;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_the_first_frame_after_an_outage() {
    let b = Building::start(residents(151), 512).await;
    b.issue(&[("R-1", 1)]).await;
    let (dir, door) = (&b.dir, &b.door);
    let slot = b.store().acked("door").expect("acked")[&1].slot;

    door.set_online(false);
    for i in 2..=151 {
        add_card(dir.path(), &format!("R-{i}"), i).await;
    }
    call(dir.path(), Request::CredentialsRemove { card: 1 }).await;
    assert_eq!(b.store().outbox_len("door"), 151);

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
    let want: Vec<u64> = (2..=151).collect();
    wait_for_cards(door, &want).await;

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
    assert!(!held(door).contains_key(&1));
    b.daemon.stop().await;
}
