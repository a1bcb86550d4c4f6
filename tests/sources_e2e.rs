//! Buildium fixture → `lintel::Daemon` → simulated Modbus TCP controller: every source fault
//! fails the pass visibly and revokes nobody; incremental polls pick up a move-out.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use lintel::control::Request;
use lintel::sources::fixtures::Fault;
use lintel::sources::fixtures::buildium::{self, BuildiumServer};
use serde_json::json;

/// (what, faults by request number (0 = every request), what the error must say)
type FaultCase = (&'static str, Vec<(usize, Fault)>, &'static str);

fn config(dir: &Path, base_url: &str, door: &str, incremental_every: &str) -> lintel::Config {
    let secret = dir.join("buildium.secret");
    std::fs::write(&secret, format!("{}\n", buildium::CLIENT_SECRET)).expect("secret");
    let text = base_text(dir)
        + &format!(
            r#"
[[source]]
name = "buildium"
kind = "buildium"
base_url = "{base_url}"
client_id = "{client_id}"
secret = {{ file = "{secret}" }}
page_size = 7
timeout = "500ms"
retries = 1
retry_min = "1ms"
retry_max = "20ms"
incremental_every = "{incremental_every}"

[[controller]]
name = "door"
kind = "modbus-tcp"
address = "{door}"
timeout = "2s"

[[door]]
name = "front"
controller = "door"
index = 0

[[group]]
name = "residents"
doors = ["front"]
"#,
            client_id = buildium::CLIENT_ID,
            secret = secret.display(),
        );
    lintel::Config::parse(&text, "test").expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_fault_fails_the_pass_and_revokes_nobody() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20 tenants, 18 with access (one future, one evicting: not in the default allow list).
    let server = BuildiumServer::start(buildium::tenants(20)).expect("fixture");
    let door = sim(64).await;
    let daemon = lintel::Daemon::start(config(
        dir.path(),
        &server.base_url(),
        &door.local_addr().to_string(),
        "1h",
    ))
    .await
    .expect("daemon starts");
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");

    let ids = ["1001", "1002", "1003", "1004", "1005", "1011"];
    for (i, id) in ids.iter().enumerate() {
        add_card(dir.path(), id, 900 + i as u64).await;
    }
    // 1001–1005 are current or on notice, 1011 current: six cards at the door.
    let store = &daemon.engine().store;
    wait_for(&door, "the first cards", |t| t.len() == ids.len()).await;
    drained(store, "door").await;
    let baseline: BTreeSet<u64> = held(&door).keys().copied().collect();
    assert_eq!(baseline.len(), ids.len());

    let faults: Vec<FaultCase> = vec![
        ("5xx", vec![(0, Fault::Status(503))], "answered HTTP 503"),
        (
            "429 with a long Retry-After",
            vec![(
                0,
                Fault::RateLimited {
                    retry_after: Some("600".into()),
                },
            )],
            "retry_max",
        ),
        (
            "timeout",
            vec![(0, Fault::Delay(std::time::Duration::from_secs(3)))],
            "timed out",
        ),
        (
            "invalid JSON",
            vec![(2, Fault::RawBody("[{\"Id\": 1008,".into()))],
            "invalid JSON",
        ),
        (
            "oversized body",
            vec![(1, Fault::Oversize(20 * 1024 * 1024))],
            "max_body_bytes",
        ),
        (
            "missing page",
            vec![(2, Fault::ShortPage(1))],
            "a page is missing",
        ),
        (
            "404 page",
            vec![(2, Fault::Status(404))],
            "answered HTTP 404",
        ),
    ];
    for (what, plan, needle) in faults {
        server.common().reset();
        for (n, fault) in plan {
            if n == 0 {
                server.common().fault_always(Some(fault));
            } else {
                server.common().fault_on(n, fault);
            }
        }
        let passes = sync_now(dir.path()).await;
        assert_eq!(passes[0]["ok"], false, "{what}: {passes}");
        let error = passes[0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{what}: {error}");
        assert!(
            !error.contains(buildium::CLIENT_SECRET),
            "{what}: secret in {error}"
        );

        let status = call(dir.path(), Request::Status).await;
        let source = &status["sources"][0];
        assert!(
            source["last_error"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{what}: status shows the failure: {status}"
        );
        assert!(!status.to_string().contains(buildium::CLIENT_SECRET));
        drained(store, "door").await;
        let now: BTreeSet<u64> = held(&door).keys().copied().collect();
        assert_eq!(now, baseline, "{what}: no credential may be revoked");
        let people = store.people().expect("people");
        assert!(
            people.iter().all(|p| p.at_source),
            "{what}: nobody marked removed"
        );
    }

    // The same pipeline does revoke when the source really says so.
    server.common().reset();
    assert!(server.remove(1002));
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    assert_eq!(passes[0]["disabled"], 1, "{passes}");
    let expected: Vec<u64> = baseline.iter().copied().filter(|c| *c != 901).collect();
    wait_for_cards(&door, &expected).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_polls_pick_up_a_move_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(6)).expect("fixture");
    let door = sim(64).await;
    let daemon = lintel::Daemon::start(config(
        dir.path(),
        &server.base_url(),
        &door.local_addr().to_string(),
        "50ms",
    ))
    .await
    .expect("daemon starts");
    let store = &daemon.engine().store;

    // The first poll is a full pull; the next ones ask for changes only.
    eventually("an incremental poll", || async {
        server
            .common()
            .log()
            .iter()
            .any(|r| r.param("lastupdatedfrom").is_some())
    })
    .await;
    let log = server.common().log();
    assert_eq!(
        log[0].param("lastupdatedfrom"),
        None,
        "the first pull is full"
    );
    add_card(dir.path(), "1002", 4242).await;
    wait_for_cards(&door, &[4242]).await;

    // Empty incremental pulls are successes: the source stays healthy.
    let status = call(dir.path(), Request::Status).await;
    assert_eq!(
        status["sources"][0]["last_error"],
        serde_json::Value::Null,
        "{status}"
    );

    // 1002 moves out at the PMS.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert!(server.update(1002, |t| {
        let lease = &mut t["Leases"][0];
        lease["LeaseStatus"] = json!("Past");
        lease["Tenants"][0]["Status"] = json!("MovedOut");
        lease["LastUpdatedDateTime"] = json!(now);
    }));
    wait_for_cards(&door, &[]).await;
    let person = store
        .person_by_external("buildium", "1002")
        .expect("store")
        .expect("kept");
    assert_eq!(person.status, "past");
    assert!(
        person.at_source,
        "a changes-only pull never marks anyone removed"
    );
    daemon.stop().await;
}
