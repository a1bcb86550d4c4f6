//! The technician's commands, run as the real binary against a running daemon.

mod common;

use std::process::Output;

use common::*;
use lintel::Daemon;
use lintel::demo::pms::PmsServer;

async fn lintel(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(args)
        .env_remove("LINTEL_SOCKET")
        .output()
        .await
        .expect("run lintel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_health_in_its_exit_code_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(2)).expect("pms");
    let door = sim(16).await;
    let daemon = Daemon::start(config(dir.path(), &pms, &[("door", &door)]))
        .await
        .expect("daemon");
    let socket = socket(dir.path());
    let socket = socket.to_str().expect("utf-8 path");

    let out = lintel(&["sync-now", "--socket", socket]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("pms: ok — "),
        "{}",
        output_text(&out)
    );
    let out = lintel(&[
        "credentials",
        "add",
        "R-1",
        "--card",
        "77",
        "--socket",
        socket,
    ])
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    wait_for_cards(&door, &[77]).await;
    eventually("the controller to be seen online", || async {
        lintel(&["status", "--socket", socket]).await.status.code() == Some(0)
    })
    .await;

    let out = lintel(&["status", "--json", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
    for key in [
        "version",
        "uptime_s",
        "healthy",
        "sources",
        "people",
        "controllers",
        "alerts",
    ] {
        assert!(status.get(key).is_some(), "status lacks {key}: {status}");
    }
    for key in [
        "name",
        "kind",
        "enabled",
        "last_success_at",
        "last_error",
        "people_in_scope",
    ] {
        assert!(
            status["sources"][0].get(key).is_some(),
            "source lacks {key}"
        );
    }
    for key in ["total", "active", "disabled", "pending_review"] {
        assert!(status["people"].get(key).is_some(), "people lacks {key}");
    }
    for key in [
        "name",
        "kind",
        "online",
        "pending_ops",
        "credentials",
        "last_ack_at",
        "last_error",
    ] {
        assert!(
            status["controllers"][0].get(key).is_some(),
            "controller lacks {key}"
        );
    }
    assert_eq!(status["controllers"][0]["credentials"], 1);

    let out = lintel(&["status", "--socket", socket]).await;
    assert!(
        output_text(&out).starts_with("OK\n"),
        "{}",
        output_text(&out)
    );

    // A failing source makes the box degraded, and says why on the first line.
    pms.fail_with(Some(502));
    let out = lintel(&["sync-now", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let out = lintel(&["status", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let first = output_text(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(first.starts_with("DEGRADED: source pms failing"), "{first}");

    daemon.stop().await;
    let out = lintel(&["status", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("not reachable"),
        "{}",
        output_text(&out)
    );
}
