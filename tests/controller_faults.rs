//! Controller faults at daemon level (docs/RELIABILITY.md): offline for a simulated day,
//! flapping under a stream of changes, and a noisy RS-485 line. A watcher on each controller's
//! change feed checks every table it passes through: no card in two slots, no card granted
//! twice, nobody who should keep access losing it.

mod common;
mod controllers_common;

use std::sync::Arc;

use common::watch::{Watch, assert_one_slot_per_card};
use common::*;
use controllers_common::*;
use jiff::SignedDuration;
use jiff::civil::date;
use lintel::clock::ManualClock;
use lintel_hal::sim::{Corruption, LineEmulation, PtyMaster, RtuSim, SimConfig};

/// The controller is unreachable for a whole (simulated) day while two move-outs fall due and
/// a card is issued. On its return the first frame is a revocation, and the table converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_for_a_day_revocations_first_on_return() {
    let tz = "America/New_York";
    let at = |d: i8, h: i8| {
        date(2030, 6, d)
            .at(h, 0, 0, 0)
            .in_tz(tz)
            .expect("tz")
            .timestamp()
    };
    let clock = Arc::new(ManualClock::new(at(15, 12)));
    let mut leaving_today = resident("R-1", "notice");
    leaving_today["move_out"] = "2030-06-15".into();
    let mut leaving_tomorrow = resident("R-2", "notice");
    leaving_tomorrow["move_out"] = "2030-06-16".into();
    let listing = vec![
        leaving_today,
        leaving_tomorrow,
        resident("R-3", "current"),
        resident("R-4", "current"),
    ];
    let b = Building::start_with_clock(listing, 16, clock.clone()).await;
    b.issue(&[("R-1", 1), ("R-2", 2), ("R-3", 3)]).await;
    let watch = Watch::start(&b.door);

    b.door.set_online(false);
    add_card(b.path(), "R-4", 4).await;
    // A day and a bit passes, hour by hour, with a pass each hour; both move-outs (16:00 on
    // the 15th and the 16th) fall due while the door is away.
    for hour in 0..=30 {
        clock.set(at(15, 12) + SignedDuration::from_hours(hour));
        let passes = sync_now(b.path()).await;
        assert_eq!(passes[0]["ok"], true, "{passes}");
    }
    eventually("both revocations queued", || async {
        b.store().outbox_len("door") >= 3
    })
    .await;
    assert_eq!(held(&b.door).keys().copied().collect::<Vec<_>>(), [1, 2, 3]);

    b.door.clear_requests();
    b.door.set_online(true);
    wait_for_cards(&b.door, &[3, 4]).await;
    drained(b.store(), "door").await;
    let writes = b.door.writes();
    let first = writes.first().expect("a write");
    assert!(
        first.start >= 16 && first.values.iter().all(|v| *v == 0),
        "the first frame after the outage clears a slot: {writes:?}"
    );
    watch.assert_clean("offline day", &[3]);
    assert_one_slot_per_card("offline day", &b.door);
    b.daemon.stop().await;
}

/// The controller drops off and comes back 30 times while cards are issued and residents move
/// out; it ends holding exactly the right cards, never a card in two slots, never a card
/// granted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_controller_converges_without_duplicates() {
    let b = Building::start(residents(40), 64).await;
    let watch = Watch::start(&b.door);
    let mut want = std::collections::BTreeSet::new();
    for i in 1..=30u64 {
        b.door.set_online(i % 2 == 0);
        add_card(b.path(), &format!("R-{i}"), 1000 + i).await;
        want.insert(1000 + i);
        if i % 6 == 0 {
            // A move-out of someone already carded, mid-flap.
            let gone = i - 3;
            assert!(b.pms.remove(&format!("R-{gone}")));
            sync_now(b.path()).await;
            want.remove(&(1000 + gone));
        }
        if i % 4 == 0 {
            // Online: every fourth round lets the backlog drain before the next drop; the
            // others drop it mid-flight.
            drained(b.store(), "door").await;
        }
    }
    b.door.set_online(true);
    let want: Vec<u64> = want.into_iter().collect();
    wait_for_cards(&b.door, &want).await;
    drained(b.store(), "door").await;
    watch.assert_clean("flapping", &want);
    assert_one_slot_per_card("flapping", &b.door);
    b.daemon.stop().await;
}

/// Replies on the RS-485 line arrive with bad CRCs or flipped bytes for a stretch: the driver
/// retries, the bus carries on, the table converges with each card in one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_rtu_line_is_retried_and_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(12)).expect("pms");
    let pty = PtyMaster::open().expect("pty");
    let port = pty.path().display().to_string();
    let bus = RtuSim::spawn(
        pty,
        vec![SimConfig {
            unit: 1,
            slots: 32,
            ..SimConfig::default()
        }],
        LineEmulation::default(),
    )
    .expect("bus");
    let device = bus.unit(1).expect("unit 1").clone();
    let controller = format!(
        "\n[[controller]]\nname = \"rtu\"\nkind = \"modbus-rtu\"\nport = \"{port}\"\nbaud = 38400\nunit = 1\nresponse_timeout = \"200ms\"\n"
    );
    let daemon = lintel::Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controller,
        &["rtu"],
    ))
    .await
    .expect("daemon starts");
    let store = &daemon.engine().store;
    let watch = Watch::start(&device);
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");

    let mut want = Vec::new();
    for (round, how) in [
        Corruption::BadCrc,
        Corruption::FlippedByte,
        Corruption::BadCrc,
    ]
    .into_iter()
    .enumerate()
    {
        bus.corrupt_replies(3, how);
        for i in 1..=4u64 {
            let n = round as u64 * 4 + i;
            add_card(dir.path(), &format!("R-{n}"), 7000 + n).await;
            want.push(7000 + n);
        }
        wait_for_device_cards(&device, &want).await;
        drained(store, "rtu").await;
    }
    let stats = *bus.stats().borrow();
    assert_eq!(stats.corrupted, 9, "every corruption was served: {stats:?}");
    assert_eq!(stats.bad_frames, 0, "requests stay clean: {stats:?}");
    watch.assert_clean("noisy line", &want);
    assert_one_slot_per_card("noisy line", &device);
    daemon.stop().await;
    bus.shutdown();
}
