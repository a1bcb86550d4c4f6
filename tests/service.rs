//! `lintel run` as systemd runs it: the real binary as a child under a fake NOTIFY_SOCKET and
//! WATCHDOG_USEC. It must say READY=1, send keep-alives and STATUS= lines, refuse a bad config
//! on SIGHUP (keeping the old one), apply a good one (its log level included) without losing the
//! outbox, stop on SIGTERM within its bound, and never log a secret.

mod common;
mod controllers_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use lintel::demo::pms::PmsServer;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::process::{Child, Command};

const SECRET: &str = "planted-S3CRET-6f1e2d-never-log-me";
const BROKER_SECRET: &str = "planted-BR0KER-9c4a7b-never-log-me";

/// What the daemon tells the notify socket, line by line.
struct Notes {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notes {
    fn bind(dir: &Path) -> (Notes, PathBuf) {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("notify socket");
        (
            Notes {
                socket,
                seen: Vec::new(),
            },
            path,
        )
    }

    /// Reads notes until one satisfies `want`; returns it. Everything read is kept in `seen`.
    async fn until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let mut buf = vec![0u8; 8192];
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                let n = self.socket.recv(&mut buf).await.expect("notify recv");
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let mut hit = None;
                for line in text.lines() {
                    self.seen.push(line.to_string());
                    if hit.is_none() && want(line) {
                        hit = Some(line.to_string());
                    }
                }
                if let Some(line) = hit {
                    return line;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}; saw {:?}", self.seen))
    }

    /// The first note since `seen[mark]` that satisfies `want`, waiting for it if none has
    /// come yet: for notes that two tasks send, whose order is not fixed.
    async fn since(&mut self, mark: usize, what: &str, want: impl Fn(&str) -> bool) -> String {
        match self.seen[mark..].iter().find(|l| want(l)) {
            Some(line) => line.clone(),
            None => self.until(what, want).await,
        }
    }
}

fn config_with_secret(dir: &Path, pms: &PmsServer, controllers: &[(&str, String)]) -> String {
    let secret = dir.join("pms.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
    config_text(dir, &pms.url(), controllers).replacen(
        "timeout = \"5s\"\n",
        &format!(
            "timeout = \"5s\"\nauth_header = \"X-Api-Key\"\nsecret = {{ file = {:?} }}\n",
            secret.display().to_string()
        ),
        1,
    )
}

fn spawn(dir: &Path, config: &Path, notify: &Path, rust_log: &str) -> Child {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--config"])
        .arg(config)
        .env("NOTIFY_SOCKET", notify)
        // 400 ms: keep-alives every 100 ms.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn lintel")
}

fn signal(child: &Child, sig: Signal) {
    let pid = child.id().expect("running") as i32;
    kill(Pid::from_raw(pid), sig).expect("signal");
}

async fn status_json(dir: &Path) -> serde_json::Value {
    let socket = socket(dir);
    let (code, out) = lintel_cli(&[
        "status",
        "--json",
        "--socket",
        socket.to_str().expect("utf-8"),
    ])
    .await;
    assert!(matches!(code, Some(0 | 1)), "status: {code:?} {out}");
    let json = out.find('{').map(|i| &out[i..]).expect("json");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A TCP port nothing listens on.
async fn dead_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_keepalives_status_reload_and_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let pms = PmsServer::start(residents(3)).expect("pms");
    pms.require_header("X-Api-Key", SECRET);
    // "gone" never answers, so what is queued for it stays in the outbox.
    let gone = dead_address().await;
    let config_path = dir.join("lintel.toml");
    // No RUST_LOG: the config's log.level rules, and the good reload below raises it.
    let quiet = "\n[log]\nlevel = \"warn\"\n";
    std::fs::write(
        &config_path,
        config_with_secret(dir, &pms, &[("gone", gone.clone())]) + quiet,
    )
    .expect("config");
    let (mut notes, notify) = Notes::bind(dir);
    let mut child = spawn(dir, &config_path, &notify, "");

    notes.until("READY=1", |l| l == "READY=1").await;
    let status = notes.until("STATUS=", |l| l.starts_with("STATUS=")).await;
    assert!(
        status.contains("controllers 0/1 online") || status.contains("DEGRADED"),
        "{status}"
    );
    for _ in 0..3 {
        notes.until("WATCHDOG=1", |l| l == "WATCHDOG=1").await;
    }

    // Queue three grants for the dead controller.
    let sock = socket(dir);
    let sock = sock.to_str().expect("utf-8");
    let (code, out) = lintel_cli(&["sync-now", "--socket", sock]).await;
    assert_eq!(code, Some(0), "{out}");
    for (person, card) in [("R-1", "101"), ("R-2", "102"), ("R-3", "103")] {
        let (code, out) = lintel_cli(&[
            "credentials",
            "add",
            person,
            "--card",
            card,
            "--socket",
            sock,
        ])
        .await;
        assert_eq!(code, Some(0), "{out}");
    }
    let before = status_json(dir).await;
    assert_eq!(before["controllers"][0]["pending_ops"], 3, "{before}");

    // A bad config is refused and the old one stays in force.
    let good = std::fs::read_to_string(&config_path).expect("read config");
    let bad = good.replacen("interval = \"1h\"\n", "interval = \"1h\"\nbogus = 1\n", 1);
    assert_ne!(bad, good);
    std::fs::write(&config_path, bad).expect("bad config");
    signal(&child, Signal::SIGHUP);
    notes.until("RELOADING=1", |l| l == "RELOADING=1").await;
    let mark = notes.seen.len();
    notes
        .until("READY=1 after the refusal", |l| l == "READY=1")
        .await;
    // The status task may announce the refusal before or after READY=1.
    let refused = notes
        .since(mark, "a refusal", |l| {
            l.starts_with("STATUS=") && l.contains("reload refused")
        })
        .await;
    assert!(
        refused.contains("lintel.toml") && refused.contains("bogus"),
        "names the file and the key: {refused}"
    );
    let after = status_json(dir).await;
    assert_eq!(after["controllers"].as_array().map(Vec::len), Some(1));
    assert_eq!(after["controllers"][0]["pending_ops"], 3, "{after}");
    assert!(child.try_wait().expect("wait").is_none(), "still running");

    // A good one is applied in place: the new controller gets the cards, the old one keeps its
    // queue.
    let door = sim(16).await;
    let controllers = [
        ("gone", gone.clone()),
        ("door", door.local_addr().to_string()),
    ];
    let verbose = "\n[log]\nlevel = \"debug\"\n";
    std::fs::write(
        &config_path,
        config_with_secret(dir, &pms, &controllers) + verbose,
    )
    .expect("config");
    signal(&child, Signal::SIGHUP);
    notes.until("RELOADING=1", |l| l == "RELOADING=1").await;
    notes
        .until("READY=1 after the reload", |l| l == "READY=1")
        .await;
    wait_for_cards(&door, &[101, 102, 103]).await;
    let after = status_json(dir).await;
    let names: Vec<&str> = after["controllers"]
        .as_array()
        .expect("controllers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["gone", "door"]);
    assert_eq!(
        after["controllers"][0]["pending_ops"], 3,
        "outbox kept: {after}"
    );
    assert!(
        after["uptime_s"].as_u64() >= before["uptime_s"].as_u64(),
        "uptime carries over"
    );
    notes
        .until("a STATUS= without the refusal", |l| {
            l.starts_with("STATUS=") && !l.contains("reload refused")
        })
        .await;

    // SIGTERM: STOPPING=1 and a clean exit within the bound, even with a controller down.
    let asked = Instant::now();
    signal(&child, Signal::SIGTERM);
    notes.until("STOPPING=1", |l| l == "STOPPING=1").await;
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within 15 s")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
    assert!(asked.elapsed() < Duration::from_secs(15));
    assert!(!socket(dir).exists(), "socket removed");
    let log = std::fs::read_to_string(dir.join("daemon.log")).expect("log");
    assert!(log.contains("reload refused"), "{log}");
    assert!(log.contains("bogus"), "the refusal names the key: {log}");
    // The reload's log.level took effect: its info line and the new controller's debug
    // readback line were written, neither of which warn lets through.
    assert!(log.contains("log level changed"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("readback")),
        "{log}"
    );

    // The queue for the dead controller survived the reload and the stop.
    let store = lintel::store::Store::open(&dir.join("store")).expect("store");
    assert_eq!(store.outbox_len("gone"), 3);
}

/// A full daemon run at the most verbose level, with the source's secret in a file: the secret
/// appears nowhere in the logs, the notify messages or the control socket's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_ever_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let pms = PmsServer::start(residents(2)).expect("pms");
    pms.require_header("X-Api-Key", SECRET);
    let door = sim(16).await;
    let config_path = dir.join("lintel.toml");
    let controllers = [("door", door.local_addr().to_string())];
    // A lintel-mqtt controller on the test broker, logging in with a password from a file.
    let broker_secret = dir.join("mqtt.secret");
    std::fs::write(&broker_secret, format!("{BROKER_SECRET}\n")).expect("secret");
    let mqtt = format!(
        "{}username = \"gw\"\npassword = {{ file = {:?} }}\n\n[[controller]]\nname = \"garage\"\n\
         kind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"lintel/secret-{}\"\n\n\
         [[door]]\nname = \"garage-door\"\ncontroller = \"garage\"\nindex = 0\n",
        controllers_common::broker_toml("local"),
        broker_secret.display().to_string(),
        std::process::id()
    );
    let text = config_with_secret(dir, &pms, &controllers) + &mqtt;
    std::fs::write(&config_path, text).expect("config");
    let (mut notes, notify) = Notes::bind(dir);
    let mut child = spawn(dir, &config_path, &notify, "trace");
    notes.until("READY=1", |l| l == "READY=1").await;

    let sock = socket(dir);
    let sock = sock.to_str().expect("utf-8");
    let mut answers = String::new();
    let (code, out) = lintel_cli(&["sync-now", "--socket", sock]).await;
    assert_eq!(code, Some(0), "authorised pull: {out}");
    answers.push_str(&out);
    let (_, out) = lintel_cli(&[
        "credentials",
        "add",
        "R-1",
        "--card",
        "55",
        "--socket",
        sock,
    ])
    .await;
    answers.push_str(&out);
    wait_for_cards(&door, &[55]).await;
    // Rejected: the error path.
    pms.require_header("X-Api-Key", "something-else");
    let (code, out) = lintel_cli(&["sync-now", "--socket", sock]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("401"), "{out}");
    answers.push_str(&out);
    for args in [
        &["status", "--json"][..],
        &["status"],
        &["activity", "--limit", "100"],
        &["activity", "--json", "--limit", "100"],
        &["people", "list"],
        &["doctor", "--config", config_path.to_str().expect("utf-8")],
    ] {
        let mut all = args.to_vec();
        all.extend(["--socket", sock]);
        answers.push_str(&lintel_cli(&all).await.1);
    }
    // Reload (unchanged and changed config) and stop.
    signal(&child, Signal::SIGHUP);
    notes.until("READY=1", |l| l == "READY=1").await;
    signal(&child, Signal::SIGTERM);
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(exit.success());

    let log = std::fs::read_to_string(dir.join("daemon.log")).expect("log");
    assert!(
        log.contains("sync pass") && log.contains("TRACE"),
        "the log is the verbose one: {}",
        &log[..log.len().min(2000)]
    );
    assert!(log.lines().count() > 50, "trace logging is on");
    for (what, text) in [
        ("the log", log.as_str()),
        ("the notify messages", &notes.seen.join("\n")),
        ("the control answers", answers.as_str()),
    ] {
        assert!(!text.contains(SECRET), "{what} leak the PMS secret");
        assert!(
            !text.contains(BROKER_SECRET),
            "{what} leak the broker password"
        );
    }
}
