//! `lintel demo`, as a first-time user runs it: the real binary prints how to reach it, and the
//! `status` command it suggests answers healthy.

mod common;

use std::process::Stdio;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_status_command_that_answers_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo");
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["demo", "--dir"])
        .arg(&demo_dir)
        .env_remove("LINTEL_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn lintel demo");

    let mut lines = BufReader::new(demo.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let suggested = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            printed.push(line.clone());
            if line.contains(" status --socket ") {
                return Some(line);
            }
        }
        None
    })
    .await;
    let line = suggested
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no `status --socket` line; printed {printed:?}"));
    let socket = line
        .split_once(" status --socket ")
        .map(|(_, socket)| socket.trim().to_string())
        .expect("a socket path");
    let want = demo_dir.join("control.sock");
    assert_eq!(socket, want.display().to_string(), "{line}");

    // The demo has just issued its cards: status says OK once the controllers confirmed them.
    eventually("the suggested status command to answer OK", || async {
        lintel_cli(&["status", "--socket", &socket]).await.0 == Some(0)
    })
    .await;
    let (_, out) = lintel_cli(&["status", "--socket", &socket]).await;
    assert!(out.starts_with("OK\n"), "{out}");
    assert!(
        out.contains("lobby-panel") && out.contains("garage-panel"),
        "{out}"
    );

    // SIGTERM stops it cleanly, as Ctrl-C does.
    let pid = demo.id().expect("running") as i32;
    kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
    let exit = tokio::time::timeout(PATIENCE, demo.wait())
        .await
        .expect("the demo stops")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}
