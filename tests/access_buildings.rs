//! Access groups by building, end to end: two buildings' residents, listed by the JSON source,
//! get different doors; moving a resident to the other building at the source moves their doors.

mod common;

use common::*;
use lintel::Config;
use lintel::demo::pms::PmsServer;
use serde_json::{Value, json};

fn in_building(id: &str, building: &str) -> Value {
    let mut r = resident(id, "current");
    r["building"] = json!(building);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_of_two_buildings_get_their_own_doors_and_follow_a_move() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(vec![
        in_building("E-1", "East Tower"),
        in_building("W-1", " west "),
    ])
    .expect("pms");
    let door = sim(16).await;
    let mut text = config_text(
        dir.path(),
        &pms.url(),
        &[("door", door.local_addr().to_string())],
    );
    text.push_str(
        r#"
[[door]]
name = "east-lobby"
controller = "door"
index = 1

[[door]]
name = "west-lobby"
controller = "door"
index = 2

[[group]]
name = "east"
doors = ["east-lobby"]
match = { buildings = ["east tower"] }

[[group]]
name = "west"
doors = ["west-lobby"]
match = { buildings = ["West"] }
"#,
    );
    let config = Config::parse(&text, "test").expect("valid config");
    let daemon = lintel::Daemon::start(config).await.expect("daemon starts");
    sync_now(dir.path()).await;
    add_card(dir.path(), "E-1", 21).await;
    add_card(dir.path(), "W-1", 22).await;
    // Everyone has the shared door (bit 0); each building adds its own lobby.
    wait_for(&door, "each building's lobby", |t| {
        t.get(&21).is_some_and(|c| c.doors == 0b011) && t.get(&22).is_some_and(|c| c.doors == 0b101)
    })
    .await;

    drained(&daemon.engine().store, "door").await;
    let listed = call(dir.path(), lintel::control::Request::PeopleList).await;
    let west = listed
        .as_array()
        .expect("people")
        .iter()
        .find(|p| p["link"]["external_id"] == "W-1")
        .expect("W-1 listed");
    assert_eq!(west["building"], "west", "trimmed, as the source gave it");

    let socket = socket(dir.path());
    let socket = socket.to_str().expect("utf-8");
    let (code, out) =
        lintel_cli(&["explain", "E-1", "--door", "east-lobby", "--socket", socket]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("building East Tower"), "{out}");
    assert!(
        out.contains("via group `east` (building `East Tower`)"),
        "explain names the building rule: {out}"
    );

    // E-1 moves to the west building at the source: the next pass moves their doors.
    assert!(pms.update("E-1", |r| r["building"] = json!("West")));
    sync_now(dir.path()).await;
    wait_for(&door, "E-1 on the west lobby", |t| {
        t.get(&21).is_some_and(|c| c.doors == 0b101)
    })
    .await;
    let (_, out) = lintel_cli(&["activity", "--socket", socket]).await;
    assert!(
        out.contains("changed building"),
        "the move is logged: {out}"
    );
    daemon.stop().await;
}
