//! Revocations never wait behind grants: with a backlog of 8,000 grants queued for an
//! unreachable controller, the first frame it receives when it comes back is the revocation.
//! (8,000 is near the most one controller on the default register profile holds: 8 registers a
//! slot after a 16-register header fill the 16-bit address space at 8,189 slots.)

mod common;

use common::*;
use lintel::control::Request;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_the_first_frame_after_an_outage() {
    const BACKLOG: u64 = 8_000;
    let b = Building::start(residents(BACKLOG as usize + 1), 8_100).await;
    b.issue(&[("R-1", 1)]).await;
    let (dir, door) = (&b.dir, &b.door);
    let slot = b.store().acked("door").expect("acked")[&1].slot;

    door.set_online(false);
    // The backlog arrives as one fob inventory import: one commit, 10,000 queued grants.
    let mut csv = String::from("person,card\n");
    for i in 2..=BACKLOG + 1 {
        csv.push_str(&format!("R-{i},{i}\n"));
    }
    let imported = call(
        dir.path(),
        Request::CredentialsImport {
            csv,
            dry_run: false,
        },
    )
    .await;
    assert_eq!(
        imported["issued"].as_array().map(Vec::len),
        Some(BACKLOG as usize)
    );
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

    door.clear_writes();
    door.set_online(true);
    let want: Vec<u64> = (2..=BACKLOG + 1).collect();
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
