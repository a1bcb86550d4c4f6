//! A resident at the PMS opens a door: fixture HTTP server → `Daemon` → simulated Modbus TCP
//! controllers, over real sockets.

mod common;

use common::*;
use lintel::Daemon;
use lintel::control::Request;
use lintel::demo::pms::PmsServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_reach_the_controllers_and_removal_revokes_but_keeps_the_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(12)).expect("pms");
    let lobby = sim(64).await;
    let garage = sim(64).await;
    let daemon = Daemon::start(config(
        dir.path(),
        &pms,
        &[("lobby", &lobby), ("garage", &garage)],
    ))
    .await
    .expect("daemon starts");

    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let cards: Vec<u64> = (1..=12).map(|i| 5000 + i).collect();
    for (i, card) in cards.iter().enumerate() {
        add_card(dir.path(), &format!("R-{}", i + 1), *card).await;
    }
    wait_for_cards(&lobby, &cards).await;
    wait_for_cards(&garage, &cards).await;

    // The window pushed is move-in 10:00 New York time, open-ended.
    let held = held(&lobby);
    let r1 = held[&5001];
    assert_eq!(r1.doors, 0b1);
    assert_eq!(
        i64::from(r1.valid_from),
        jiff::civil::date(2025, 1, 1)
            .at(10, 0, 0, 0)
            .in_tz("America/New_York")
            .expect("tz")
            .timestamp()
            .as_second()
    );
    assert_eq!(r1.valid_until, None);

    // R-3 leaves the PMS: revoked at both doors, still a (disabled) person with history.
    assert!(pms.remove("R-3"));
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["disabled"], 1, "{passes}");
    let remaining: Vec<u64> = cards.iter().copied().filter(|c| *c != 5003).collect();
    wait_for_cards(&lobby, &remaining).await;
    wait_for_cards(&garage, &remaining).await;
    let store = &daemon.engine().store;
    let gone = store
        .person_by_external("pms", "R-3")
        .expect("store")
        .expect("person kept");
    assert!(!gone.at_source);
    assert!(
        store.credential(5003).expect("store").is_some(),
        "the card stays assigned, only revoked"
    );
    let activity = call(
        dir.path(),
        Request::Activity {
            limit: 500,
            search: None,
        },
    )
    .await;
    assert!(
        activity
            .as_array()
            .expect("list")
            .iter()
            .any(|a| a["outcome"] == "disabled" && a["subject"] == gone.id.as_str()),
        "removal must be in the activity log: {activity}"
    );

    // Status says it all.
    drained(store, "lobby").await;
    drained(store, "garage").await;
    let status = call(dir.path(), Request::Status).await;
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["people"]["total"], 12);
    assert_eq!(status["people"]["disabled"], 1);
    assert_eq!(status["controllers"][0]["credentials"], 11);
    assert_eq!(status["controllers"][0]["pending_ops"], 0);
    assert_eq!(status["sources"][0]["people_in_scope"], 11);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_empty_pull_leaves_every_credential_in_place() {
    let b = Building::start(residents(5), 16).await;
    b.issue(&[
        ("R-1", 701),
        ("R-2", 702),
        ("R-3", 703),
        ("R-4", 704),
        ("R-5", 705),
    ])
    .await;
    let cards = [701, 702, 703, 704, 705];
    let (dir, pms, door) = (&b.dir, &b.pms, &b.door);

    pms.fail_with(Some(500));
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], false);
    assert!(
        passes[0]["error"].as_str().expect("error").contains("500"),
        "{passes}"
    );
    let status = call(dir.path(), Request::Status).await;
    assert_eq!(status["healthy"], false);
    assert!(
        status["summary"].as_str().expect("summary").contains("pms"),
        "{status}"
    );

    pms.fail_with(None);
    pms.set_residents(vec![]);
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], false);
    assert!(
        passes[0]["error"]
            .as_str()
            .expect("error")
            .contains("no readable records"),
        "{passes}"
    );

    pms.serve_raw(Some(
        r#"{"residents": [{"id": "R-1", "first_na"#.to_string(),
    ));
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], false, "{passes}");

    // Nothing was revoked: the store has no pending change and the controller still holds all.
    let store = b.store();
    assert_eq!(store.outbox_len("door"), 0);
    assert!(store.people().expect("people").iter().all(|p| p.at_source));
    assert_eq!(held(door).keys().copied().collect::<Vec<_>>(), cards);
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_an_id_is_skipped_with_its_reason_and_revokes_nobody() {
    let b = Building::start(residents(3), 16).await;
    b.issue(&[("R-1", 41), ("R-2", 42), ("R-3", 43)]).await;
    let (dir, pms, door) = (&b.dir, &b.pms, &b.door);

    // R-2 comes back without its id, and a new resident arrives.
    let mut listing = residents(3);
    listing[1].as_object_mut().expect("object").remove("id");
    listing.push(resident("R-4", "current"));
    pms.set_residents(listing);
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    assert_eq!(passes[0]["added"], 1);
    assert_eq!(passes[0]["skipped"], 1);
    assert_eq!(
        passes[0]["disabled"], 0,
        "an unreadable record must not look like a move-out"
    );

    let activity = call(
        dir.path(),
        Request::Activity {
            limit: 100,
            search: None,
        },
    )
    .await;
    let skipped: Vec<_> = activity
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{activity}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("id"),
        "{}",
        json!(skipped)
    );
    assert!(
        b.store()
            .person_by_external("pms", "R-2")
            .expect("store")
            .expect("kept")
            .at_source
    );
    assert_eq!(
        held(door).keys().copied().collect::<Vec<_>>(),
        vec![41, 42, 43]
    );
    b.daemon.stop().await;
}
