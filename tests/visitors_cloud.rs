//! Visitor passes listed by a source (origin `cloud`) and controllers that take no visitor
//! passes (`visitor_passes = false`): refusal, `--keep-local`, and automatic keep-local for
//! cloud passes.

mod common;

use std::sync::Arc;

use common::*;
use jiff::civil::date;
use lintel::clock::ManualClock;
use lintel::demo::pms::PmsServer;
use lintel_hal::sim::SimHandle;
use serde_json::{Value, json};

const TZ: &str = "America/New_York";

fn at(day: i8, hour: i8) -> jiff::Timestamp {
    date(2030, 3, day)
        .at(hour, 0, 0, 0)
        .in_tz(TZ)
        .expect("tz")
        .timestamp()
}

fn unix(t: jiff::Timestamp) -> u32 {
    u32::try_from(t.as_second()).expect("fits")
}

fn guest(id: &str, from: &str, to: &str) -> Value {
    json!({
        "id": id,
        "first_name": "Gus",
        "last_name": format!("Guest {id}"),
        "type": "guest",
        "status": "current",
        "unit": "101",
        "host": "R-1",
        "valid_from": from,
        "valid_to": to,
    })
}

struct Site {
    dir: tempfile::TempDir,
    pms: PmsServer,
    door: SimHandle,
    gate: SimHandle,
    daemon: lintel::Daemon,
}

impl Site {
    /// Two controllers: `door` takes visitor passes, `gate` does not. The JSON source reads
    /// the `type` field as the occupant type.
    async fn start(listing: Vec<Value>) -> Site {
        let clock = Arc::new(ManualClock::new(at(7, 9)));
        let dir = tempfile::tempdir().expect("tempdir");
        let pms = PmsServer::start(listing).expect("pms");
        let (door, gate) = (sim(16).await, sim(16).await);
        let text = config_text(
            dir.path(),
            &pms.url(),
            &[
                ("door", door.local_addr().to_string()),
                ("gate", gate.local_addr().to_string()),
            ],
        )
        .replacen(
            "timeout = \"5s\"\n",
            "timeout = \"5s\"\n[source.fields]\noccupant_type = \"type\"\n",
            1,
        )
        .replacen(
            "name = \"gate\"\nkind = \"modbus-tcp\"\n",
            "name = \"gate\"\nkind = \"modbus-tcp\"\nvisitor_passes = false\n",
            1,
        );
        let config = lintel::Config::parse(&text, "test").expect("valid config");
        let daemon = lintel::Daemon::start_with_clock(config, clock)
            .await
            .expect("daemon starts");
        sync_now(dir.path()).await;
        add_card(dir.path(), "R-1", 11).await;
        wait_for_cards(&door, &[11]).await;
        wait_for_cards(&gate, &[11]).await;
        Site {
            dir,
            pms,
            door,
            gate,
            daemon,
        }
    }

    async fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        let socket = socket(self.dir.path());
        let mut all = args.to_vec();
        all.extend(["--socket", socket.to_str().expect("utf-8")]);
        lintel_cli(&all).await
    }

    async fn cloud_passes(&self) -> Vec<Value> {
        let (code, out) = self
            .cli(&["visitors", "list", "--origin", "cloud", "--json"])
            .await;
        assert_eq!(code, Some(0), "{out}");
        serde_json::from_str::<Vec<Value>>(&out).expect("passes as JSON")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_from_the_source_follows_it_and_keeps_off_a_controller_without_visitors() {
    let mut listing = residents(1);
    listing.push(guest("G-1", "2030-03-07 10:00", "2030-03-07 18:00"));
    let s = Site::start(listing).await;

    let passes = s.cloud_passes().await;
    assert_eq!(passes.len(), 1, "{passes:?}");
    let pass = &passes[0];
    assert_eq!(pass["origin"], "cloud");
    assert_eq!(pass["link"]["external_id"], "G-1");
    assert_eq!(pass["kept_local"], json!(["gate-door"]), "{pass}");
    let id = pass["id"].as_str().expect("id").to_string();
    let (_, out) = s.cli(&["activity", "--search", &id]).await;
    assert!(
        out.contains("kept local: door `gate-door` on controller `gate`"),
        "{out}"
    );

    // A card assigned to the pass opens in exactly its window, and never on the gate.
    let (code, out) = s.cli(&["credentials", "add", &id, "--card", "77"]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for(&s.door, "the pass's card in its window", |t| {
        t.get(&77).is_some_and(|c| {
            (c.valid_from, c.valid_until) == (unix(at(7, 10)), Some(unix(at(7, 18))))
        })
    })
    .await;
    drained(&s.daemon.engine().store, "gate").await;
    assert!(
        !held(&s.gate).contains_key(&77),
        "the gate takes no visitor passes"
    );

    // The source moves the window: the card follows.
    assert!(s.pms.update("G-1", |g| g["valid_to"] =
        json!("2030-03-08T12:00:00-05:00")));
    sync_now(s.dir.path()).await;
    wait_for(&s.door, "the moved window", |t| {
        t.get(&77)
            .is_some_and(|c| c.valid_until == Some(unix(at(8, 12))))
    })
    .await;

    // The source owns the window: extend is refused, naming the source.
    let (code, out) = s
        .cli(&["visitors", "extend", &id, "--to", "2030-03-09 12:00"])
        .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("comes from source `pms`"), "{out}");

    // A failing pull and an empty one change nothing.
    s.pms.fail_with(Some(503));
    sync_now(s.dir.path()).await;
    s.pms.fail_with(None);
    let all = s.pms.residents();
    s.pms.set_residents(Vec::new());
    sync_now(s.dir.path()).await;
    assert_eq!(s.cloud_passes().await[0]["cancelled_at"], Value::Null);
    drained(&s.daemon.engine().store, "door").await;
    assert!(
        held(&s.door).contains_key(&77),
        "still held after failed pulls"
    );
    s.pms.set_residents(all);

    // Removed at the source: cancelled, the card revoked at once; listed again: revived.
    assert!(s.pms.remove("G-1"));
    sync_now(s.dir.path()).await;
    wait_for_cards(&s.door, &[11]).await;
    let pass = &s.cloud_passes().await[0];
    assert_ne!(pass["cancelled_at"], Value::Null);
    assert_eq!(pass["removed_at_source"], true);
    s.pms
        .push(guest("G-1", "2030-03-07 10:00", "2030-03-07 18:00"));
    sync_now(s.dir.path()).await;
    wait_for_cards(&s.door, &[11, 77]).await;

    // Cancelled here (a lost card): a later pull does not revive it.
    let (code, out) = s.cli(&["visitors", "cancel", &id]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for_cards(&s.door, &[11]).await;
    sync_now(s.dir.path()).await;
    let pass = &s.cloud_passes().await[0];
    assert_ne!(pass["cancelled_at"], Value::Null, "{pass}");
    assert_eq!(pass["removed_at_source"], false);
    let (_, out) = s.cli(&["activity", "--search", "not revived"]).await;
    assert!(out.contains(&id), "{out}");
    drained(&s.daemon.engine().store, "door").await;
    assert_eq!(held(&s.door).keys().copied().collect::<Vec<_>>(), [11]);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_on_a_controller_without_visitors_is_refused_unless_kept_local() {
    let s = Site::start(residents(1)).await;
    let add = |extra: &'static [&'static str]| {
        let mut args = vec![
            "visitors",
            "add",
            "Vera Visit",
            "--host",
            "R-1",
            "--from",
            "2030-03-07 09:00",
            "--to",
            "2030-03-07 18:00",
            "--json",
        ];
        args.extend_from_slice(extra);
        args
    };

    // The host's doors include the gate: refused, naming controller, door, switch and the way out.
    let (code, out) = s.cli(&add(&[])).await;
    assert_eq!(code, Some(1), "{out}");
    for part in [
        "controller `gate`",
        "door `gate-door`",
        "visitor_passes = false",
        "--keep-local",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    assert!(
        s.cli(&["visitors", "list"])
            .await
            .1
            .contains("no visitor passes")
    );

    // Only doors on that controller: nothing would be left, refused even with --keep-local.
    let (code, out) = s.cli(&add(&["--doors", "gate-door", "--keep-local"])).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("nothing would be left"), "{out}");

    // --keep-local: issued without the gate, which is recorded and shown.
    let (code, out) = s.cli(&add(&["--keep-local", "--card", "55"])).await;
    assert_eq!(code, Some(0), "{out}");
    let pass: Value = serde_json::from_str(&out).expect("pass");
    assert_eq!(pass["kept_local"], json!(["gate-door"]));
    let id = pass["id"].as_str().expect("id");
    wait_for_cards(&s.door, &[11, 55]).await;
    drained(&s.daemon.engine().store, "gate").await;
    assert_eq!(held(&s.gate).keys().copied().collect::<Vec<_>>(), [11]);
    let (_, out) = s.cli(&["visitors", "list"]).await;
    assert!(out.contains("KEPT LOCAL (not on gate-door)"), "{out}");
    let (_, out) = s.cli(&["activity", "--search", id]).await;
    assert!(out.contains("kept local"), "{out}");

    // Extending keeps what was kept local without asking again.
    let (code, out) = s
        .cli(&["visitors", "extend", id, "--to", "2030-03-07 20:00"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_pass_decisions_and_changes_nothing() {
    let mut listing = residents(1);
    listing.push(guest("G-1", "2030-03-07 10:00", "2030-03-07 18:00"));
    let s = Site::start(listing).await;
    let store = &s.daemon.engine().store;
    let before = s.cloud_passes().await;
    assert_eq!(before.len(), 1, "{before:?}");
    let g1 = before[0]["id"].as_str().expect("id").to_string();

    // The source drops G-1 and lists a new G-2.
    assert!(s.pms.remove("G-1"));
    s.pms
        .push(guest("G-2", "2030-03-08 10:00", "2030-03-08 18:00"));
    drained(store, "door").await;
    drained(store, "gate").await;
    let activity = store.activity(usize::MAX).expect("activity").len();
    let id_before = store.next_id().expect("id");

    let (code, out) = s.cli(&["sync-now", "--dry-run"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("added pms:G-2 (new): visitor pass for Gus Guest G-2 from `pms`"),
        "the new pass, named by its record: {out}"
    );
    assert!(
        out.contains("kept local: door `gate-door` on controller `gate`"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "disabled {g1}: visitor pass for Gus Guest G-1 no longer listed"
        )),
        "the cancellation: {out}"
    );

    // Nothing stored, no id used up.
    assert_eq!(store.next_id().expect("id"), id_before + 1);
    assert_eq!(s.cloud_passes().await, before);
    assert_eq!(
        store.activity(usize::MAX).expect("activity").len(),
        activity
    );
    assert!(store.outbox("door").expect("outbox").is_empty());

    // Applied for real, the same decisions are made.
    sync_now(s.dir.path()).await;
    let after = s.cloud_passes().await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after
            .iter()
            .any(|p| p["id"] == g1.as_str() && p["removed_at_source"] == true)
    );
    assert!(
        after
            .iter()
            .any(|p| p["link"]["external_id"] == "G-2" && p["cancelled_at"].is_null())
    );
    s.daemon.stop().await;
}
