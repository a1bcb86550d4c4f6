//! The gateway enforces window ends itself: at move-out time the card is revoked at the door,
//! to the second, with the PMS unreachable. Time comes from an injected clock.

mod common;

use std::sync::Arc;

use common::*;
use jiff::civil::date;
use lintel::clock::ManualClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_is_revoked_at_move_out_time_even_with_the_pms_down() {
    let tz = "America/New_York";
    let move_out = date(2030, 6, 15)
        .at(16, 0, 0, 0)
        .in_tz(tz)
        .expect("tz")
        .timestamp();
    let clock = Arc::new(ManualClock::new(
        date(2030, 6, 15)
            .at(15, 59, 0, 0)
            .in_tz(tz)
            .expect("tz")
            .timestamp(),
    ));

    let mut leaving = resident("R-1", "notice");
    leaving["move_out"] = "2030-06-15".into();
    let b =
        Building::start_with_clock(vec![leaving, resident("R-2", "current")], 16, clock.clone())
            .await;
    b.issue(&[("R-1", 1), ("R-2", 2)]).await;
    let door = &b.door;
    // The controller also holds the end, so it refuses the card on its own if we go offline.
    assert_eq!(
        held(door)[&1].valid_until,
        Some(u32::try_from(move_out.as_second()).expect("u32"))
    );

    b.pms.fail_with(Some(503));
    clock.set(
        move_out
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .expect("ts"),
    );
    assert_eq!(b.daemon.engine().next_change(), Some(move_out));
    assert_eq!(
        b.store().outbox_len("door"),
        0,
        "nothing is due a second early"
    );

    let active = || {
        b.daemon
            .engine()
            .status(std::time::Instant::now())
            .expect("status")
            .people
            .active
    };
    assert_eq!(active(), 2);
    clock.set(move_out);
    // Whether or not the window scheduler has re-planned yet, the count follows the clock.
    assert_eq!(active(), 1, "status counts the window end at once");
    wait_for_cards(door, &[2]).await;
    // An NTP step backwards does not bring the card back when something else re-plans.
    clock.set(
        move_out
            .checked_sub(jiff::SignedDuration::from_secs(60))
            .expect("ts"),
    );
    add_card(b.path(), "R-2", 3).await;
    wait_for_cards(door, &[2, 3]).await;
    drained(b.store(), "door").await;
    assert!(!held(door).contains_key(&1), "the revocation is not undone");
    let person = b
        .store()
        .person_by_external("pms", "R-1")
        .expect("store")
        .expect("kept");
    assert!(
        person.at_source,
        "the person is still listed; only their window ended"
    );
    b.daemon.stop().await;
}
