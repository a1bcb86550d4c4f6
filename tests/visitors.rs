//! A visitor pass end to end: add → the card opens in exactly the pass's window → extend → the
//! window moves → cancel → revoked at once; and a pass that simply ends is revoked on time by
//! the gateway's own scheduler.

mod common;

use std::sync::Arc;

use common::*;
use jiff::civil::date;
use lintel::clock::ManualClock;
use lintel::control::Request;

fn unix(t: jiff::Timestamp) -> u32 {
    u32::try_from(t.as_second()).expect("fits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_pass_lives_add_extend_cancel() {
    let tz = "America/New_York";
    let start = date(2030, 3, 7)
        .at(9, 0, 0, 0)
        .in_tz(tz)
        .expect("tz")
        .timestamp();
    let clock = Arc::new(ManualClock::new(start));
    let b = Building::start_with_clock(residents(2), 16, clock.clone()).await;
    b.issue(&[("R-1", 11)]).await;

    let (code, out) = b
        .cli(&[
            "visitors",
            "add",
            "Grace Guest",
            "--host",
            "R-1",
            "--from",
            "2030-03-07 09:00",
            "--to",
            "2030-03-07 18:00",
            "--card",
            "w26:12:3456",
            "--json",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let pass: serde_json::Value = serde_json::from_str(&out).expect("the pass as JSON");
    let id = pass["id"].as_str().expect("id").to_string();
    let card = (12u64 << 16) | 3456;
    wait_for_cards(&b.door, &[11, card]).await;
    let held_card = held(&b.door)[&card];
    let to = date(2030, 3, 7)
        .at(18, 0, 0, 0)
        .in_tz(tz)
        .expect("tz")
        .timestamp();
    assert_eq!(
        (held_card.valid_from, held_card.valid_until),
        (unix(start), Some(unix(to)))
    );
    assert_eq!(
        held_card.doors,
        held(&b.door)[&11].doors,
        "the host's doors"
    );

    // Extend: the controller's window moves with the pass, across the DST change on 03-10.
    let later = date(2030, 3, 10)
        .at(12, 0, 0, 0)
        .in_tz(tz)
        .expect("tz")
        .timestamp();
    let (code, out) = b
        .cli(&["visitors", "extend", &id, "--to", "2030-03-10 12:00"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    wait_for(&b.door, "the extended window", |t| {
        t.get(&card)
            .is_some_and(|c| c.valid_until == Some(unix(later)))
    })
    .await;

    // Cancel: revoked at once, the host keeps their card.
    let (code, out) = b.cli(&["visitors", "cancel", &id]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("CANCELLED"), "{out}");
    wait_for_cards(&b.door, &[11]).await;
    let (_, out) = b.cli(&["visitors", "list", "--origin", "local"]).await;
    assert!(
        out.contains("Grace Guest") && out.contains("CANCELLED"),
        "{out}"
    );
    let (code, out) = b
        .cli(&["visitors", "extend", &id, "--to", "2030-03-11 12:00"])
        .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cancelled"), "{out}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_that_ends_is_revoked_at_its_end_with_the_pms_down() {
    let tz = "America/New_York";
    let start = date(2030, 11, 2)
        .at(22, 0, 0, 0)
        .in_tz(tz)
        .expect("tz")
        .timestamp();
    let clock = Arc::new(ManualClock::new(start));
    let b = Building::start_with_clock(residents(1), 16, clock.clone()).await;
    // Ends during the night the clocks go back (2030-11-03 01:00-ish happens twice).
    let added = call(
        b.path(),
        Request::VisitorsAdd(lintel::daemon::engine::NewPass {
            name: "Night Nurse".into(),
            host: None,
            unit: Some("101".into()),
            from: "2030-11-02T22:00:00-04:00".into(),
            to: "2030-11-03T01:30:00-05:00".into(),
            doors: vec!["door-door".into()],
            card: Some("uid:04A1B2C3".into()),
            keep_local: false,
        }),
    )
    .await;
    let end: jiff::Timestamp = added["to"]
        .as_str()
        .expect("to")
        .parse()
        .expect("timestamp");
    wait_for_cards(&b.door, &[0x04A1_B2C3]).await;
    b.pms.fail_with(Some(503));
    clock.set(
        end.checked_sub(jiff::SignedDuration::from_secs(1))
            .expect("ts"),
    );
    assert_eq!(b.daemon.engine().next_change(), Some(end));
    clock.set(end);
    wait_for_cards(&b.door, &[]).await;

    // Bad input is refused with the reason.
    let refused = lintel::control::client::request(
        &socket(b.path()),
        &Request::VisitorsAdd(lintel::daemon::engine::NewPass {
            name: "Nobody".into(),
            host: None,
            unit: Some("101".into()),
            from: "2030-11-04 10:00".into(),
            to: "2030-11-04 09:00".into(),
            doors: vec!["door-door".into()],
            card: None,
            keep_local: false,
        }),
    )
    .await
    .expect_err("to before from");
    assert!(
        refused.to_string().contains("must be after --from"),
        "{refused}"
    );
    b.daemon.stop().await;
}
