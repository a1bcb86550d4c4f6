//! The native lintel MQTT profile: driver against the simulated controller through a real
//! (embedded, or `$LINTEL_TEST_BROKER`) broker.

mod support;

use std::time::Duration;

use lintel_hal::{
    Change, Check, Controller, Credential, DeviceEvent, ErrorKind, Op, SlotDrift,
    mqtt::{
        LintelMqtt, LintelMqttSettings,
        lintel::wire::{self, ErrorCode},
    },
    sim::{LintelMqttSimConfig, LintelMqttSimHandle, spawn_lintel_mqtt},
};
use tokio::sync::{broadcast, watch};

const WAIT: Duration = Duration::from_secs(10);

async fn wait<T>(rx: &mut watch::Receiver<T>, what: &str, f: impl FnMut(&T) -> bool) {
    tokio::time::timeout(WAIT, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|_| panic!("{what}: sender gone"));
}

async fn next_event(
    rx: &mut broadcast::Receiver<DeviceEvent>,
    f: impl Fn(&DeviceEvent) -> bool,
) -> DeviceEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await
    .expect("event in time")
}

fn controller(topic: &str, slots: u16) -> LintelMqttSimHandle {
    let config = LintelMqttSimConfig {
        topic: topic.into(),
        slots,
        device: format!("dev{}", topic.replace('/', "-")),
    };
    spawn_lintel_mqtt(
        &support::broker(),
        &format!("sim{}", topic.replace('/', "-")),
        config,
    )
    .expect("sim")
}

async fn driver(topic: &str, max_batch: usize, sim: &LintelMqttSimHandle) -> LintelMqtt {
    wait(&mut sim.connected(), "controller subscribed", |c| *c).await;
    let settings = LintelMqttSettings {
        ack_timeout_ms: 1_000,
        max_batch,
        ..LintelMqttSettings::new(topic)
    };
    let name = format!("gw{}", topic.replace('/', "-"));
    let d = LintelMqtt::connect(&support::broker(), &name, settings).expect("driver");
    wait(&mut d.broker_connected(), "driver subscribed", |c| *c).await;
    wait(&mut d.state(), "retained state", |s| {
        s.state.as_ref().is_some_and(|s| s.online)
    })
    .await;
    d
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
async fn batches_acks_and_digest_in_sync() {
    let topic = "lt/batches";
    let sim = controller(topic, 300);
    let mut d = driver(topic, 50, &sim).await;
    let mut requests = sim.requests();
    requests.borrow_and_update();
    // 120 grants in batches of 50 (three requests), one of them a 64-bit card.
    let mut ops: Vec<Op> = (0..120u16)
        .map(|i| grant(i, card(1000 + u64::from(i), 1)))
        .collect();
    ops[7] = grant(7, card(u64::MAX - 1, 0b11));
    d.apply(&ops).await.expect("applied");
    assert_eq!(*requests.borrow(), 3, "three apply requests");
    let expected: Vec<(u16, Credential)> = ops
        .iter()
        .map(|o| match o.change {
            Change::Grant(c) => (o.slot, c),
            Change::Revoke { .. } => unreachable!(),
        })
        .collect();
    assert_eq!(sim.table(), expected);
    assert_eq!(
        sim.summary().digest,
        wire::digest(expected.iter().map(|(s, c)| (*s, c)))
    );
    let drift = d.verify(&expected).await.expect("verify");
    assert!(drift.in_sync(), "{drift:?}");
    assert_eq!(drift.check, Check::Digest);
    assert_eq!(drift.generation, Some(3));
    // Revoke two; read back pages (120 entries > one page).
    d.apply(&[
        Op {
            slot: 7,
            change: Change::Revoke { card: u64::MAX - 1 },
        },
        Op {
            slot: 0,
            change: Change::Revoke { card: 1000 },
        },
    ])
    .await
    .expect("revoked");
    let table = d.read_table().await.expect("read");
    assert_eq!(table.len(), 118);
    assert_eq!(table, sim.table());
    let info = d.probe().await.expect("probe");
    assert_eq!(info.slots, Some(300));
}

#[tokio::test]
async fn drift_is_found_slot_by_slot_and_repaired() {
    let topic = "lt/drift";
    let sim = controller(topic, 16);
    let mut d = driver(topic, 10, &sim).await;
    let expected: Vec<(u16, Credential)> =
        (0..4u16).map(|i| (i, card(50 + u64::from(i), 1))).collect();
    let ops: Vec<Op> = expected.iter().map(|(s, c)| grant(*s, *c)).collect();
    d.apply(&ops).await.expect("applied");

    sim.set_slot(1, None).await;
    sim.set_slot(2, Some(card(52, 0b11))).await;
    sim.set_slot(9, Some(card(99, 1))).await;
    let drift = d.verify(&expected).await.expect("verify");
    assert_eq!(drift.check, Check::FullRead);
    let kinds: Vec<(u16, &str)> = drift
        .slots
        .iter()
        .map(|s| match s {
            SlotDrift::Missing { slot, .. } => (*slot, "missing"),
            SlotDrift::Different { slot, .. } => (*slot, "different"),
            SlotDrift::Unexpected { slot, .. } => (*slot, "unexpected"),
            SlotDrift::Garbled { slot, .. } => (*slot, "garbled"),
        })
        .collect();
    assert_eq!(kinds, [(1, "missing"), (2, "different"), (9, "unexpected")]);
    let repairs: Vec<Op> = drift.slots.iter().map(SlotDrift::repair).collect();
    d.apply(&repairs).await.expect("repaired");
    assert_eq!(sim.table(), expected);
    assert!(d.verify(&expected).await.expect("verify").in_sync());

    sim.wipe().await;
    let drift = d.verify(&expected).await.expect("verify");
    assert_eq!(drift.generation, Some(0));
    assert_eq!(drift.slots.len(), 4);
}

#[tokio::test]
async fn boots_swipes_and_going_offline() {
    let topic = "lt/events";
    let sim = controller(topic, 8);
    let mut d = driver(topic, 10, &sim).await;
    let mut events = d.events().expect("events");
    d.apply(&[grant(0, card(77, 1))]).await.expect("granted");

    sim.swipe(77).await;
    let e = next_event(&mut events, |e| matches!(e, DeviceEvent::Access { .. })).await;
    assert!(
        matches!(
            e,
            DeviceEvent::Access {
                card: Some(77),
                known: true,
                granted: true,
                ..
            }
        ),
        "{e:?}"
    );
    sim.swipe(78).await;
    let e = next_event(&mut events, |e| matches!(e, DeviceEvent::Access { .. })).await;
    assert!(
        matches!(
            e,
            DeviceEvent::Access {
                card: Some(78),
                known: false,
                granted: false,
                ..
            }
        ),
        "{e:?}"
    );

    sim.reboot().await;
    next_event(&mut events, |e| matches!(e, DeviceEvent::Booted { .. })).await;

    sim.go_offline().await;
    wait(&mut d.state(), "offline state", |s| {
        s.state.as_ref().is_some_and(|s| !s.online)
    })
    .await;
    let err = d
        .apply(&[grant(1, card(79, 1))])
        .await
        .expect_err("offline");
    assert_eq!(err.error.kind(), ErrorKind::Unreachable, "{err}");
    assert_eq!(err.applied, 0);
    sim.reboot().await;
    wait(&mut d.state(), "online again", |s| {
        s.state.as_ref().is_some_and(|s| s.online)
    })
    .await;
    d.apply(&[grant(1, card(79, 1))]).await.expect("back");
}

#[tokio::test]
async fn lost_and_refused_requests_are_errors_with_the_applied_count() {
    let topic = "lt/faults";
    let sim = controller(topic, 4);
    let mut d = driver(topic, 2, &sim).await;
    sim.drop_requests(1);
    let err = d.apply(&[grant(0, card(1, 1))]).await.expect_err("dropped");
    assert_eq!(err.error.kind(), ErrorKind::Timeout, "{err}");
    d.apply(&[grant(0, card(1, 1))]).await.expect("retry works");

    // Three ops in batches of two; the third change is refused as busy.
    sim.refuse_changes(1, ErrorCode::Busy);
    let ops = [
        grant(1, card(2, 1)),
        grant(2, card(3, 1)),
        grant(3, card(4, 1)),
    ];
    let err = d.apply(&ops).await.expect_err("busy");
    assert_eq!(err.applied, 0, "{err}");
    assert_eq!(err.error.kind(), ErrorKind::Busy);
    d.apply(&ops[..2]).await.expect("applied");
    sim.refuse_changes(0, ErrorCode::Busy);
    let err = d
        .apply(&[grant(3, card(4, 1)), grant(9, card(5, 1))])
        .await
        .expect_err("slot 9 beyond 4");
    assert_eq!(err.applied, 1, "{err}");
    assert_eq!(err.error.kind(), ErrorKind::Config);
    assert_eq!(sim.table().len(), 4);
}
