//! Golden tests of `lintel status`, human and JSON, against a running daemon in the four states a
//! technician meets: healthy, PMS failing, controller offline, mass change held. Volatile parts
//! (times, ports, sizes, paths) are masked; `LINTEL_BLESS=1 cargo test --test status_golden`
//! rewrites the golden files after an intended change.

mod common;

use std::path::PathBuf;

use common::*;
use lintel::control::Request;
use regex::Regex;

fn mask(text: &str, dir: &std::path::Path) -> String {
    let text = text.replace(&dir.display().to_string(), "<dir>");
    let rules = [
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
        (r#"up \d+s"#, "up <n>s"),
        (r#""uptime_s": \d+"#, r#""uptime_s": <n>"#),
        (r#"\(\d+ bytes"#, "(<n> bytes"),
        (r#""size_bytes": \d+"#, r#""size_bytes": <n>"#),
        (r"lintel \d+\.\d+\.\d+", "lintel <version>"),
        (r#""version": "[^"]+""#, r#""version": "<version>""#),
        (r"alert \d+", "alert <id>"),
        // How a dropped connection surfaces (reset, refused, EOF) depends on timing.
        (r#"unreachable: [^"\n]*"#, "unreachable: <detail>"),
    ];
    rules.iter().fold(text, |t, (pattern, with)| {
        Regex::new(pattern)
            .expect("pattern")
            .replace_all(&t, *with)
            .into_owned()
    })
}

/// Waits until the source's poll loop planned its next run and the controller's first
/// readback finished: both race the test's own requests after a start.
async fn settled(b: &Building) {
    eventually("the next run and the first readback", || async {
        let s = call(b.path(), Request::Status).await;
        !s["sources"][0]["next_run_at"].is_null() && !s["controllers"][0]["drift"].is_null()
    })
    .await;
}

async fn check(b: &Building, state: &str, exit: i32) {
    let (code, human) = b.cli(&["status"]).await;
    assert_eq!(code, Some(exit), "{state}: {human}");
    let json = call(b.path(), Request::Status).await;
    let json = serde_json::to_string_pretty(&json).expect("json");
    for (ext, body) in [("txt", human), ("json", json)] {
        let got = mask(&body, b.path());
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/golden/status-{state}.{ext}"));
        if std::env::var_os("LINTEL_BLESS").is_some() {
            std::fs::write(&path, &got).expect("bless");
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with LINTEL_BLESS=1)", path.display()));
        assert_eq!(
            got,
            want,
            "status {state} ({ext}) differs from {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_and_pms_failing() {
    let b = Building::start(residents(3), 16).await;
    b.issue(&[("R-1", 1), ("R-2", 2), ("R-3", 3)]).await;
    settled(&b).await;
    check(&b, "healthy", 0).await;
    b.pms.fail_with(Some(500));
    sync_now(b.path()).await;
    check(&b, "pms-failing", 1).await;
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_offline() {
    let b = Building::start(residents(2), 16).await;
    b.issue(&[("R-1", 1)]).await;
    settled(&b).await;
    b.door.set_online(false);
    add_card(b.path(), "R-2", 2).await;
    eventually("the controller to be seen offline", || async {
        let s = call(b.path(), Request::Status).await;
        s["controllers"][0]["online"] == false
    })
    .await;
    check(&b, "controller-offline", 1).await;
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_change_held() {
    let b = Building::start(residents(30), 64).await;
    settled(&b).await;
    b.pms.set_residents(residents(18));
    sync_now(b.path()).await;
    check(&b, "mass-change-held", 1).await;
    b.daemon.stop().await;
}
