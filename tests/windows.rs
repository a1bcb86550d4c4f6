//! The gateway enforces window ends itself: at move-out time the card is revoked at the door,
//! to the second, with the PMS unreachable. Time comes from an injected clock.

mod common;

use std::sync::Arc;

use common::*;
use jiff::civil::date;
use lintel::Daemon;
use lintel::clock::ManualClock;
use lintel::demo::pms::PmsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_is_revoked_at_move_out_time_even_with_the_pms_down() {
    let tz = "America/New_York";
    let move_out = date(2030, 6, 15).at(16, 0, 0, 0).in_tz(tz).expect("tz").timestamp();
    let clock = Arc::new(ManualClock::new(date(2030, 6, 15).at(15, 59, 0, 0).in_tz(tz).expect("tz").timestamp()));

    let mut leaving = resident("R-1", "notice");
    leaving["move_out"] = "2030-06-15".into();
    let pms = PmsServer::start(vec![leaving, resident("R-2", "current")]).expect("pms");
    let door = sim(16).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with_clock(config(dir.path(), &pms, &[("door", &door)]), clock.clone())
        .await
        .expect("daemon");
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 1).await;
    add_card(dir.path(), "R-2", 2).await;
    wait_for_cards(&door, &[1, 2]).await;
    // The controller also holds the end, so it refuses the card on its own if we go offline.
    assert_eq!(held(&door)[&1].valid_until, Some(u32::try_from(move_out.as_second()).expect("u32")));

    pms.fail_with(Some(503));
    clock.set(move_out.checked_sub(jiff::SignedDuration::from_secs(1)).expect("ts"));
    assert_eq!(daemon.engine().next_change(), Some(move_out));
    assert_eq!(daemon.engine().store.outbox_len("door"), 0, "nothing is due a second early");

    clock.set(move_out);
    wait_for_cards(&door, &[2]).await;
    let person = daemon.engine().store.person_by_external("pms", "R-1").expect("store").expect("kept");
    assert!(person.at_source, "the person is still listed; only their window ended");
    daemon.stop().await;
}
