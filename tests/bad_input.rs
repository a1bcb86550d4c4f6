//! Bad input gets a clear error naming what is wrong, and nothing is half-applied.

mod common;

use std::collections::BTreeMap;

use common::*;
use lintel::control::Request;
use lintel_hal::Credential;
use lintel_hal::sim::ExceptionCode;

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lintel.toml");
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run lintel");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn valid() -> String {
    config_text(
        std::path::Path::new("/tmp/lintel-test"),
        "http://127.0.0.1:9/residents",
        &[("lobby", "127.0.0.1:502".to_string())],
    )
}

#[test]
fn check_config_accepts_a_good_file_and_names_the_bad_key() {
    let (ok, out) = check_config(&valid());
    assert!(ok, "{out}");
    assert!(out.contains("OK"), "{out}");

    let cases = [
        (
            valid().replace("[sync]", "[sync]\nintervall = \"5s\""),
            "intervall",
        ),
        (
            valid().replace("America/New_York", "Mars/Olympus"),
            "site.timezone",
        ),
        (valid().replace("index = 0", "index = 9"), "door[0].index"),
        (
            valid().replace("doors = [\"lobby-door\"]", "doors = [\"roof\"]"),
            "roof",
        ),
        (
            valid().replace("interval = \"1h\"", "interval = \"soon\""),
            "soon",
        ),
        (
            valid().replace(
                "url = \"http://127.0.0.1:9/residents\"",
                "url = \"ftp://pms\"",
            ),
            "source[0].url",
        ),
        (
            valid().replace("kind = \"modbus-tcp\"", "kind = \"modbus-tcp\"\nunit = 0"),
            "controller[0].unit",
        ),
        ("[site\nname = 1".to_string(), "lintel.toml"),
    ];
    for (text, named) in cases {
        let (ok, out) = check_config(&text);
        assert!(!ok, "accepted a bad config that should mention {named}");
        assert!(
            out.contains(named),
            "error for {named} does not name it: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modbus_exception_is_reported_and_nothing_is_half_applied() {
    let b = Building::start(residents(3), 16).await;
    b.issue(&[("R-1", 11)]).await;
    let (dir, door) = (&b.dir, &b.door);

    door.fail_writes(Some(ExceptionCode::IllegalDataValue));
    let mut arrivals = door.arrivals();
    let before = *arrivals.borrow_and_update();
    add_card(dir.path(), "R-2", 12).await;
    tokio::time::timeout(PATIENCE, arrivals.wait_for(|n| *n > before))
        .await
        .expect("write refused")
        .expect("sim");

    // The refusal is visible and the change is still queued, not recorded as held.
    let store = b.store();
    eventually("the failure to reach status", || async {
        let status = call(dir.path(), Request::Status).await;
        status["controllers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected"))
    })
    .await;
    assert_eq!(store.outbox_len("door"), 1);
    assert!(!store.acked("door").expect("acked").contains_key(&12));
    let activity = call(
        dir.path(),
        Request::Activity {
            limit: 50,
            search: None,
        },
    )
    .await;
    assert!(
        activity
            .as_array()
            .expect("list")
            .iter()
            .any(|a| a["outcome"] == "failed" && a["subject"] == "door"),
        "{activity}"
    );
    assert_eq!(held(door).keys().copied().collect::<Vec<_>>(), vec![11]);

    // Once the device accepts again the queued grant lands.
    door.fail_writes(None);
    wait_for_cards(door, &[11, 12]).await;
    b.daemon.stop().await;
}

type Table = BTreeMap<u64, (u16, Credential)>;

/// What the store says the door acknowledged and what the door holds, by card.
fn acked_and_held(b: &Building) -> (Table, Table) {
    let acked = b.store().acked("door").expect("acked");
    let acked = acked
        .iter()
        .map(|(card, a)| (*card, (a.slot, a.credential)))
        .collect();
    let held = b
        .door
        .table()
        .into_iter()
        .map(|(slot, c)| (c.card, (slot, c)))
        .collect();
    (acked, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_partway_through_a_batch_acks_only_the_frames_that_landed() {
    const CARDS: usize = 40;
    let b = Building::start(residents(CARDS), 64).await;
    let cards: Vec<u64> = (1001..).take(CARDS).collect();
    let slot_registers = usize::from(lintel_hal::RegisterProfile::default().slot_registers);

    // Two frames land, the third and every later write is refused.
    b.door.clear_requests();
    b.door
        .fail_writes_after(2, ExceptionCode::ServerDeviceFailure);
    let mut arrivals = b.door.arrivals();
    let before = *arrivals.borrow_and_update();
    import_cards(b.path(), 1, &cards).await;
    tokio::time::timeout(PATIENCE, arrivals.wait_for(|n| *n >= before + 3))
        .await
        .expect("the third write")
        .expect("sim");
    let writes = b.door.writes();
    let landed: usize = writes[..2].iter().map(|w| w.values.len()).sum::<usize>() / slot_registers;
    assert!(
        landed > 0 && landed < CARDS,
        "the batch must span more than two frames: {landed} of {CARDS} in two"
    );

    // Exactly what landed is acknowledged; the rest waits in the outbox.
    let store = b.store();
    eventually("the landed frames to be acknowledged", || async {
        store.acked("door").expect("acked").len() == landed
    })
    .await;
    assert_eq!(store.outbox_len("door"), CARDS - landed);
    let (acked, held) = acked_and_held(&b);
    assert_eq!(acked, held, "the store's acked state is the door's table");

    // Once the door accepts again it converges.
    b.door.fail_writes(None);
    wait_for_cards(&b.door, &cards).await;
    drained(store, "door").await;
    let (acked, held) = acked_and_held(&b);
    assert_eq!(acked, held);
    assert_eq!(acked.len(), CARDS);
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_requests_with_bad_arguments_are_refused_clearly() {
    let b = Building::start(residents(2), 16).await;
    b.issue(&[("r-1@example.com", 21)]).await;
    let socket = socket(b.path());
    let refused = |req: Request| {
        let socket = socket.clone();
        async move {
            lintel::control::client::request(&socket, &req)
                .await
                .expect_err("must be refused")
                .to_string()
        }
    };
    let e = refused(Request::CredentialsAdd {
        person: "nobody".into(),
        card: "22".into(),
    })
    .await;
    assert!(e.contains("no person matches `nobody`"), "{e}");
    let e = refused(Request::CredentialsAdd {
        person: "R-2".into(),
        card: "21".into(),
    })
    .await;
    assert!(e.contains("card 21 already belongs"), "{e}");
    let e = refused(Request::CredentialsRemove { card: 99 }).await;
    assert!(e.contains("card 99 is not assigned"), "{e}");
    assert_eq!(b.store().credentials().expect("creds").len(), 1);
    b.daemon.stop().await;
}
