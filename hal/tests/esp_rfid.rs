//! The esp-rfid 2.x driver against the simulated board, through a real (embedded) broker.

mod support;

use std::time::Duration;

use lintel_hal::{
    Change, Check, Controller, Credential, DeviceEvent, ErrorKind, Op, SlotDrift,
    mqtt::{EspRfid, EspRfidSettings, UidFormat},
    sim::{EspRfidSimConfig, EspRfidSimHandle, spawn_esp_rfid},
};
use serde_json::json;
use tokio::sync::watch;

/// Failure bound for every wait; nothing sleeps.
const WAIT: Duration = Duration::from_secs(10);

async fn wait<T>(rx: &mut watch::Receiver<T>, what: &str, f: impl FnMut(&T) -> bool) {
    tokio::time::timeout(WAIT, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|_| panic!("{what}: sender gone"));
}

fn board(topic: &str, ip: &str, hostname: &str) -> EspRfidSimHandle {
    let config = EspRfidSimConfig {
        topic: topic.into(),
        ip: ip.into(),
        hostname: hostname.into(),
        ..EspRfidSimConfig::default()
    };
    spawn_esp_rfid(&support::broker(), &format!("board-{hostname}"), config).expect("board")
}

fn settings(topic: &str) -> EspRfidSettings {
    EspRfidSettings {
        ack_timeout_ms: 2_000,
        list_quiet_ms: 300,
        ..EspRfidSettings::new(topic)
    }
}

/// A driver that has heard `board` boot, so it knows the IP to address.
async fn driver(settings: EspRfidSettings, board: &EspRfidSimHandle, name: &str) -> EspRfid {
    let driver = EspRfid::connect(&support::broker(), name, settings).expect("driver");
    wait(&mut driver.broker_connected(), "driver subscribed", |c| *c).await;
    wait(&mut board.connected(), "board subscribed", |c| *c).await;
    board.reboot().await;
    wait(&mut driver.state(), "board's IP", |s| s.ip.is_some()).await;
    driver
}

fn card(card: u64, doors: u8) -> Credential {
    Credential {
        card,
        doors,
        valid_from: 1_700_000_000,
        valid_until: Some(1_900_000_000),
        pin: None,
    }
}

fn grant(slot: u16, c: Credential) -> Op {
    Op {
        slot,
        change: Change::Grant(c),
    }
}

#[tokio::test]
async fn grants_revokes_and_reads_back_through_the_board() {
    let board = board("/t/roundtrip", "10.20.0.31", "lobby");
    let mut d = driver(settings("/t/roundtrip"), &board, "roundtrip").await;
    let with_pin = Credential {
        pin: Some(42),
        valid_until: None,
        ..card(0x0a1b_2c3d, 0b11)
    };
    let later = Credential {
        valid_from: 4_000_000_000,
        ..card(0x04_a1b2_c3d4_e5f6, 1)
    };
    let ops = [
        grant(0, with_pin),
        grant(1, card(0xdead_beef, 1)),
        grant(2, later),
        Op {
            slot: 1,
            change: Change::Revoke { card: 0xdead_beef },
        },
    ];
    d.apply(&ops).await.expect("apply");

    let users = board.users();
    let record = users
        .get("0a1b2c3d")
        .expect("stored under the MFRC522-style uid");
    assert_eq!(record["doorip"], json!("10.20.0.31"));
    assert_eq!(record["pincode"], json!("0042"));
    assert_eq!(
        record["validuntil"],
        json!(4_102_444_800u64),
        "no end is 2100-01-01"
    );
    assert_eq!(
        record["validsince"],
        json!(0),
        "a start in the past is sent as 0"
    );
    assert_eq!(
        (record["acctype"].clone(), record["acctype2"].clone()),
        (json!(1), json!(1))
    );
    assert!(users.contains_key("04a1b2c3d4e5f6"));
    assert!(!users.contains_key("deadbeef"), "revoked with deletuid");
    assert_eq!(
        users["04a1b2c3d4e5f6"]["validsince"],
        json!(4_000_000_000u64)
    );

    let table = d.read_table().await.expect("getuserlist");
    let mut cards: Vec<u64> = table.iter().map(|(_, c)| c.card).collect();
    cards.sort_unstable();
    assert_eq!(cards, vec![0x0a1b_2c3d, 0x04_a1b2_c3d4_e5f6]);

    let expected = [(0, with_pin), (2, later)];
    let drift = d.verify(&expected).await.expect("verify");
    assert_eq!(
        (drift.check, drift.slots.clone()),
        (Check::FullRead, vec![])
    );
    assert_eq!(
        d.probe().await.expect("probe").peer.as_deref(),
        Some("10.20.0.31 (lobby)")
    );
}

#[tokio::test]
async fn verify_finds_missing_unexpected_different_and_garbled_users() {
    let board = board("/t/verify", "10.20.0.40", "verify");
    let mut d = driver(settings("/t/verify"), &board, "verify").await;
    let (a, b, c) = (card(0xa, 1), card(0xb, 1), card(0xc, 1));
    d.apply(&[grant(0, a), grant(1, b), grant(2, c)])
        .await
        .expect("apply");
    // Behind the gateway's back: a user added in the web UI, one changed, one unreadable.
    let mut planted = serde_json::Map::new();
    planted.insert("user".into(), json!("web ui"));
    planted.insert("acctype".into(), json!(1));
    planted.insert("validuntil".into(), json!(4_102_444_800u64));
    board.add_user("000000ff", planted);
    let mut changed = board.users()["0000000b"].clone();
    changed.insert("acctype".into(), json!(0));
    board.add_user("0000000b", changed);
    let mut broken = board.users()["0000000c"].clone();
    broken.remove("validuntil");
    board.add_user("0000000c", broken);
    let d_card = card(0xd, 1);
    let drift = d
        .verify(&[(0, a), (1, b), (2, c), (3, d_card)])
        .await
        .expect("verify");
    let mut kinds: Vec<(u16, &str)> = drift
        .slots
        .iter()
        .map(|s| match s {
            SlotDrift::Missing { slot, .. } => (*slot, "missing"),
            SlotDrift::Unexpected { found, .. } => (found.card as u16, "unexpected"),
            SlotDrift::Different { slot, .. } => (*slot, "different"),
            SlotDrift::Garbled { slot, .. } => (*slot, "garbled"),
        })
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![
            (1, "different"),
            (2, "garbled"),
            (3, "missing"),
            (0xff, "unexpected")
        ]
    );
    let missing = drift
        .slots
        .iter()
        .find(|s| s.slot() == 3)
        .and_then(|s| s.expected());
    assert_eq!(
        missing,
        Some(&d_card),
        "the caller's credential, not a normalised copy"
    );
}

#[tokio::test]
async fn a_board_not_yet_heard_from_is_unreachable() {
    let mut d =
        EspRfid::connect(&support::broker(), "silent", settings("/t/nobody")).expect("driver");
    wait(&mut d.broker_connected(), "driver subscribed", |c| *c).await;
    let err = d.apply(&[grant(0, card(1, 1))]).await.expect_err("no IP");
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Unreachable, 0));
    assert!(
        err.error.message().contains("not heard from"),
        "{}",
        err.error
    );
    assert_eq!(
        d.probe().await.expect_err("no IP").kind(),
        ErrorKind::Unreachable
    );
}

#[tokio::test]
async fn a_new_ip_silences_commands_until_the_board_announces_it() {
    let board = board("/t/dhcp", "10.20.0.50", "dhcp");
    let mut d = driver(
        EspRfidSettings {
            ack_timeout_ms: 300,
            ..settings("/t/dhcp")
        },
        &board,
        "dhcp",
    )
    .await;
    board.set_ip("10.20.0.77");
    let mut commands = board.commands();
    let err = d
        .apply(&[grant(0, card(5, 1))])
        .await
        .expect_err("wrong doorip");
    assert_eq!(err.error.kind(), ErrorKind::Timeout);
    wait(&mut commands, "the command reached the board", |n| *n >= 1).await;
    assert!(board.users().is_empty(), "dropped for the wrong doorip");
    board.heartbeat().await;
    wait(&mut d.state(), "the new IP", |s| {
        s.ip.as_deref() == Some("10.20.0.77")
    })
    .await;
    d.apply(&[grant(0, card(5, 1))])
        .await
        .expect("addressed to the new IP");
    assert!(board.users().contains_key("00000005"));
}

#[tokio::test]
async fn a_lost_command_times_out_and_the_retry_lands() {
    let board = board("/t/lossy", "10.20.0.60", "lossy");
    let mut d = driver(
        EspRfidSettings {
            ack_timeout_ms: 300,
            ..settings("/t/lossy")
        },
        &board,
        "lossy",
    )
    .await;
    board.drop_commands(1);
    let ops = [grant(0, card(1, 1)), grant(1, card(2, 1))];
    let err = d.apply(&ops).await.expect_err("first command dropped");
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Timeout, 0));
    d.apply(&ops[err.applied..]).await.expect("retry");
    assert_eq!(board.credentials(UidFormat::Hex).len(), 2);
}

#[tokio::test]
async fn credentials_the_board_cannot_hold_are_rejected_before_sending() {
    let board = board("/t/reject", "10.20.0.61", "reject");
    let mut d = driver(settings("/t/reject"), &board, "reject").await;
    let sent_before = *board.commands().borrow();
    let err = d
        .apply(&[grant(0, card(1, 0b10))])
        .await
        .expect_err("relay 1 only");
    assert_eq!((err.error.kind(), err.applied), (ErrorKind::Rejected, 0));
    let mut decimal = EspRfid::connect(
        &support::broker(),
        "reject-dec",
        EspRfidSettings {
            uid_format: UidFormat::Decimal,
            ..settings("/t/reject")
        },
    )
    .expect("driver");
    wait(&mut decimal.broker_connected(), "subscribed", |c| *c).await;
    board.heartbeat().await;
    wait(&mut decimal.state(), "IP", |s| s.ip.is_some()).await;
    let err = decimal
        .apply(&[grant(0, card(u64::MAX, 1))])
        .await
        .expect_err("20 decimal digits");
    assert_eq!(err.error.kind(), ErrorKind::Rejected);
    assert_eq!(*board.commands().borrow(), sent_before, "nothing was sent");
}

async fn next(events: &mut tokio::sync::broadcast::Receiver<DeviceEvent>) -> DeviceEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

#[tokio::test]
async fn boots_and_swipes_arrive_as_events() {
    let board = board("/t/events", "10.20.0.70", "events");
    let mut d = driver(settings("/t/events"), &board, "events").await;
    let mut events = d.events().expect("esp-rfid has events");
    // The boot the helper waited for may still be on its way to the channel: settle on a
    // heartbeat first, so the next event is the reboot's.
    board.heartbeat().await;
    while !matches!(next(&mut events).await, DeviceEvent::Heartbeat { .. }) {}
    board.reboot().await;
    assert_eq!(
        next(&mut events).await,
        DeviceEvent::Booted {
            ip: "10.20.0.70".into(),
            hostname: "events".into()
        }
    );
    board.swipe("cafe0001").await;
    match next(&mut events).await {
        DeviceEvent::Access {
            card,
            known,
            granted,
            access,
            ..
        } => assert_eq!(
            (card, known, granted, access.as_str()),
            (Some(0xcafe_0001), false, false, "Denied")
        ),
        other => panic!("expected an access event, got {other:?}"),
    }
    let open = Credential {
        valid_from: 0,
        valid_until: None,
        ..card(0xcafe_0001, 1)
    };
    d.apply(&[grant(0, open)]).await.expect("grant");
    board.swipe("cafe0001").await;
    match next(&mut events).await {
        DeviceEvent::Access { known, granted, .. } => assert_eq!((known, granted), (true, true)),
        other => panic!("expected an access event, got {other:?}"),
    }
}

#[tokio::test]
async fn legacy_firmware_is_reported_as_unsupported() {
    let legacy = spawn_esp_rfid(
        &support::broker(),
        "legacy-board",
        EspRfidSimConfig {
            topic: "/t/legacy".into(),
            legacy: true,
            ..EspRfidSimConfig::default()
        },
    )
    .expect("board");
    let mut d =
        EspRfid::connect(&support::broker(), "legacy", settings("/t/legacy")).expect("driver");
    let mut events = d.events().expect("events");
    wait(&mut d.broker_connected(), "subscribed", |c| *c).await;
    wait(&mut legacy.connected(), "board connected", |c| *c).await;
    legacy.reboot().await;
    wait(&mut d.state(), "firmware verdict", |s| {
        s.unsupported.is_some()
    })
    .await;
    let err = d.probe().await.expect_err("1.3.x");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message().contains("unsupported firmware 1.3.x"),
        "{err}"
    );
    let err = d.apply(&[grant(0, card(1, 1))]).await.expect_err("1.3.x");
    assert_eq!(err.error.kind(), ErrorKind::Config);
    let event = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("event")
        .expect("open");
    assert!(
        matches!(event, DeviceEvent::Unsupported { .. }),
        "{event:?}"
    );
}

#[tokio::test]
async fn boards_sharing_a_topic_are_told_apart_by_hostname() {
    let front = board("/t/shared", "10.20.0.81", "front");
    let back = board("/t/shared", "10.20.0.82", "back");
    let mut d = driver(
        EspRfidSettings {
            hostname: Some("back".into()),
            ..settings("/t/shared")
        },
        &back,
        "shared-back",
    )
    .await;
    front.reboot().await;
    back.heartbeat().await;
    wait(&mut d.state(), "back's heartbeat", |s| {
        s.boots >= 1 && s.hostname.as_deref() == Some("back")
    })
    .await;
    assert_eq!(d.state().borrow().ip.as_deref(), Some("10.20.0.82"));
    d.apply(&[grant(0, card(9, 1))]).await.expect("grant");
    assert!(back.users().contains_key("00000009"));
    assert!(front.users().is_empty(), "front dropped it: not its doorip");
}

#[tokio::test]
async fn a_broker_that_is_down_makes_the_board_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let mut broker = support::broker();
    broker.url = format!("mqtt://{closed}");
    let mut d = EspRfid::connect(&broker, "down", settings("/t/down")).expect("driver");
    assert!(!*d.broker_connected().borrow());
    let err = d.probe().await.expect_err("never heard");
    assert_eq!(err.kind(), ErrorKind::Unreachable);
}
