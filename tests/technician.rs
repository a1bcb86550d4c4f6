//! The technician's tools against a running daemon over its real socket: `controllers
//! list|verify|resync` (with resync progress in status), the Prometheus endpoint, and
//! `lintel doctor`.

mod common;

use common::*;
use lintel::Daemon;
use lintel::demo::pms::PmsServer;
use serde_json::Value;

async fn cli_json(b: &Building, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out) = b.cli(&all).await;
    let start = out
        .find(['{', '['])
        .unwrap_or_else(|| panic!("no JSON in {out}"));
    let value = serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_list_verify_and_resync_with_progress() {
    let b = Building::start(residents(3), 16).await;
    b.issue(&[("R-1", 101), ("R-2", 102), ("R-3", 103)]).await;

    let (code, out) = b.cli(&["controllers", "list"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("door") && out.contains("online"), "{out}");
    assert!(
        out.contains("holds 3") && out.contains("should hold 3"),
        "{out}"
    );
    assert!(out.contains(&b.door.local_addr().to_string()), "{out}");

    let (code, out) = b.cli(&["controllers", "verify", "door"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("door: in sync"), "{out}");
    let (code, out) = b.cli(&["controllers", "verify", "nope"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no controller is named `nope`"), "{out}");

    // The controller is replaced by a blank one: verify sees it.
    b.door.wipe();
    let (code, out) = b.cli(&["controllers", "verify", "door"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("3 difference(s)"), "{out}");
    // The daemon repairs it on its own after a readback; wait, then wipe again for the resync.
    wait_for_cards(&b.door, &[101, 102, 103]).await;
    drained(b.store(), "door").await;

    // A resync while the controller holds every write: progress 0/3 in status and the list.
    b.door.wipe();
    b.door.hold_writes();
    let (code, queued) = cli_json(&b, &["controllers", "resync", "door", "--no-wait"]).await;
    assert_eq!(code, Some(0), "{queued}");
    assert_eq!(queued["total"], 3, "{queued}");
    assert_eq!(queued["done"], 0, "{queued}");
    let (_, status) = cli_json(&b, &["status"]).await;
    assert_eq!(status["controllers"][0]["resync"]["total"], 3, "{status}");
    assert_eq!(status["controllers"][0]["resync"]["done"], 0, "{status}");
    let (_, out) = b.cli(&["status"]).await;
    assert!(out.contains("resync door: 0/3 (0%)"), "{out}");

    // Released: the waiting form follows it to the end.
    b.door.release_writes();
    let (code, out) = b.cli(&["controllers", "resync", "door"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 credential(s) queued for door"), "{out}");
    assert!(out.contains("resync door: 3/3 (100%) done"), "{out}");
    wait_for_cards(&b.door, &[101, 102, 103]).await;
    let (_, rows) = cli_json(&b, &["controllers", "list"]).await;
    assert_eq!(rows[0]["resync"]["done"], 3, "{rows}");
    assert_eq!(rows[0]["pending_ops"], 0, "{rows}");
}

/// A timestamp field of a status JSON.
fn instant(value: &Value) -> jiff::Timestamp {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_next_run_and_drift_behind_lintels_back() {
    let started = jiff::Timestamp::now();
    let b = Building::start(residents(3), 16).await;
    b.issue(&[("R-1", 201), ("R-2", 202), ("R-3", 203)]).await;

    // The poll loop pulled at start and plans its next pull one sync.interval (1h) later.
    eventually("the next run to be planned", || async {
        let (_, status) = cli_json(&b, &["status"]).await;
        !status["sources"][0]["next_run_at"].is_null()
    })
    .await;
    let (_, status) = cli_json(&b, &["status"]).await;
    let next = instant(&status["sources"][0]["next_run_at"]);
    let hour = jiff::SignedDuration::from_hours(1);
    assert!(
        next >= started + hour && next <= jiff::Timestamp::now() + hour,
        "next run {next} is not one interval after a pass since {started}"
    );
    let (_, out) = b.cli(&["status"]).await;
    assert!(out.contains(&format!("next run {next}")), "{out}");

    let (code, out) = b.cli(&["controllers", "verify", "door"]).await;
    assert_eq!(code, Some(0), "{out}");
    let (_, status) = cli_json(&b, &["status"]).await;
    assert_eq!(status["controllers"][0]["drift"], 0, "{status}");

    // Someone clears R-2's slot at the controller itself: the next readback finds it.
    let slot = b.store().acked("door").expect("acked")[&202].slot;
    let profile = lintel_hal::RegisterProfile::default();
    b.door.poke(
        profile.slot_address(slot).expect("address"),
        &vec![0; usize::from(profile.slot_registers)],
    );
    let (code, out) = b.cli(&["controllers", "verify", "door"]).await;
    assert_eq!(code, Some(1), "{out}");
    let (_, status) = cli_json(&b, &["status"]).await;
    assert_eq!(status["controllers"][0]["drift"], 1, "{status}");
    let (_, out) = b.cli(&["status"]).await;
    assert!(out.contains("drift 1"), "{out}");

    // The worker repairs the slot; the readback after that finds nothing.
    wait_for_cards(&b.door, &[201, 202, 203]).await;
    drained(b.store(), "door").await;
    let (code, out) = b.cli(&["controllers", "verify", "door"]).await;
    assert_eq!(code, Some(0), "{out}");
    let (_, status) = cli_json(&b, &["status"]).await;
    assert_eq!(status["controllers"][0]["drift"], 0, "{status}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_counts_queues_and_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(4)).expect("pms");
    let door = sim(16).await;
    let text = config_text(
        dir.path(),
        &pms.url(),
        &[("door", door.local_addr().to_string())],
    ) + "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
    let config = lintel::Config::parse(&text, "test").expect("config");
    let daemon = Daemon::start(config).await.expect("daemon");
    let addr = daemon.metrics_addr().expect("metrics listening");
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 7).await;
    wait_for_cards(&door, &[7]).await;
    drained(&daemon.engine().store, "door").await;

    let url = format!("http://{addr}/metrics");
    let scrape = || async {
        let response = reqwest::get(&url).await.expect("scrape");
        assert_eq!(response.status(), 200);
        response.text().await.expect("body")
    };
    let body = scrape().await;
    for line in [
        "lintel_people{state=\"total\"} 4",
        "lintel_people{state=\"active\"} 4",
        "lintel_credentials 1",
        "lintel_controller_online{controller=\"door\",kind=\"modbus-tcp\"} 1",
        "lintel_controller_queue_depth{controller=\"door\"} 0",
        "lintel_controller_credentials{controller=\"door\"} 1",
        "lintel_controller_ack_latency_seconds_count{controller=\"door\"} 1",
        "lintel_controller_ops_confirmed_total{controller=\"door\"} 1",
        "lintel_source_failing{source=\"pms\"} 0",
        "lintel_core_loops_alive 1",
        "# TYPE lintel_controller_ack_latency_seconds histogram",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing `{line}` in\n{body}"
        );
    }
    assert!(
        body.lines().any(
            |l| l.starts_with("lintel_source_last_success_timestamp_seconds{source=\"pms\"} 1")
        ),
        "{body}"
    );

    // Queue depth follows an offline controller.
    door.set_online(false);
    add_card(dir.path(), "R-2", 8).await;
    eventually("the queue depth to show the change", || async {
        scrape()
            .await
            .lines()
            .any(|l| l == "lintel_controller_queue_depth{controller=\"door\"} 1")
    })
    .await;
    daemon.stop().await;
    assert!(reqwest::get(&url).await.is_err(), "stops with the daemon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_a_healthy_box_and_names_a_fix_for_each_failure() {
    let b = Building::start(residents(2), 16).await;
    let config_path = b.path().join("lintel.toml");
    let pms_url = b.pms.url();
    let door_addr = b.door.local_addr().to_string();
    std::fs::write(
        &config_path,
        config_text(b.path(), &pms_url, &[("door", door_addr.clone())]),
    )
    .expect("config");
    let config = config_path.to_str().expect("utf-8");
    eventually("the controller to be seen online", || async {
        b.cli(&["status"]).await.0 == Some(0)
    })
    .await;

    let (code, out) = lintel_cli(&["doctor", "--config", config]).await;
    assert_eq!(code, Some(0), "{out}");
    for want in [
        "ok    config",
        "ok    daemon",
        "ok    source pms               reachable and authorised: 2 record(s)",
        "ok    disk",
        "ok    store                    open in the daemon",
        "ok    controller door          online",
        "All checks passed.",
    ] {
        assert!(out.contains(want), "`{want}` in\n{out}");
    }

    // Now break things: the PMS wants a key we do not send, a serial port that is not there,
    // a broker nobody runs, and then the daemon is gone.
    b.pms.require_header("X-Api-Key", "expected");
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    let broken = config_text(b.path(), &pms_url, &[("door", door_addr)])
        + &format!(
            "\n[[broker]]\nname = \"local\"\nurl = \"mqtt://127.0.0.1:{dead_port}\"\n\n\
             [[controller]]\nname = \"side\"\nkind = \"modbus-rtu\"\nport = \"{}\"\nunit = 2\n",
            b.path().join("ttyUSB9").display()
        );
    std::fs::write(&config_path, broken).expect("config");
    let (code, out) = lintel_cli(&["doctor", "--config", config]).await;
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "FAIL  source pms",
        "answered HTTP 401",
        "fix: the PMS refused the credentials",
        "FAIL  serial ",
        "fix: check the adapter is plugged in",
        "FAIL  broker local",
        "fix: check the broker runs",
        "check(s) failed.",
    ] {
        assert!(out.contains(want), "`{want}` in\n{out}");
    }

    let (code, json) = {
        let (code, out) = lintel_cli(&["doctor", "--config", config, "--json"]).await;
        (
            code,
            serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
        )
    };
    assert_eq!(code, Some(1));
    let failed: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .filter_map(|c| c["check"].as_str())
        .collect();
    assert!(
        failed.contains(&"source pms") && failed.contains(&"broker local"),
        "{json}"
    );
    assert!(
        json.as_array()
            .expect("array")
            .iter()
            .all(|c| c["verdict"] != "fail" || c["fix"].is_string()),
        "every failure has a fix: {json}"
    );

    // An invalid config stops at the first check, naming the key.
    std::fs::write(
        &config_path,
        "[site]\nname = \"x\"\ntimezone = \"Mars/Olympus\"\n",
    )
    .expect("config");
    let (code, out) = lintel_cli(&["doctor", "--config", config]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  config") && out.contains("timezone"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_without_a_daemon_probes_the_controllers_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(1)).expect("pms");
    let door = sim(16).await;
    let config_path = dir.path().join("lintel.toml");
    std::fs::write(
        &config_path,
        config_text(
            dir.path(),
            &pms.url(),
            &[("door", door.local_addr().to_string())],
        ),
    )
    .expect("config");
    let config = config_path.to_str().expect("utf-8");
    let (code, out) = lintel_cli(&["doctor", "--config", config]).await;
    assert_eq!(code, Some(1), "the daemon is not running: {out}");
    assert!(
        out.contains("FAIL  daemon") && out.contains("systemctl enable --now lintel"),
        "{out}"
    );
    assert!(
        out.contains("ok    controller door          answers a probe (16 slots)"),
        "{out}"
    );
    assert!(out.contains("does not exist yet"), "store: {out}");
    door.set_online(false);
    let (_, out) = lintel_cli(&["doctor", "--config", config]).await;
    assert!(out.contains("FAIL  controller door"), "{out}");
    assert!(
        out.contains("fix: check the controller is powered"),
        "{out}"
    );
}
