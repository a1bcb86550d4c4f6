//! A test building: the fixture PMS, simulated Modbus controllers on loopback and a config
//! pointing the daemon at them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lintel::Config;
use lintel::control::Request;
use lintel::control::client::request;
use lintel::demo::pms::PmsServer;
use lintel_hal::Credential;
use lintel_hal::sim::{SimConfig, SimController, SimHandle};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub mod tls;
pub mod watch;

/// The bound on every wait: a failure after this long, never a synchronisation device.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn resident(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "first_name": "Test",
        "last_name": format!("Resident {id}"),
        "email": format!("{}@example.com", id.to_lowercase()),
        "unit": "101",
        "status": status,
        "lease_start": "2025-01-01",
        "lease_end": null,
        "move_in": "2025-01-01",
        "move_out": null,
    })
}

pub fn residents(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| resident(&format!("R-{i}"), "current"))
        .collect()
}

pub async fn sim(slots: u16) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sim");
    SimController::spawn(
        listener,
        SimConfig {
            slots,
            ..SimConfig::default()
        },
    )
    .expect("start sim")
}

/// The sections every test building shares: site, store and control socket under `dir`, an
/// hourly sync and fast dispatch retries. Sources, controllers, doors and groups follow.
pub fn base_text(dir: &Path) -> String {
    format!(
        r#"
[site]
name = "Test Court"
timezone = "America/New_York"

[store]
path = "{store}"

[control]
socket = "{socket}"

[sync]
interval = "1h"

[dispatch]
retry_min = "10ms"
retry_max = "50ms"
probe_every = "1h"
"#,
        store = dir.join("store").display(),
        socket = dir.join("control.sock").display(),
    )
}

/// Config text for a building with one JSON source and one door per controller.
pub fn config_text(dir: &Path, pms_url: &str, controllers: &[(&str, String)]) -> String {
    let mut text = base_text(dir);
    text.push_str(&format!(
        r#"
[[source]]
name = "pms"
kind = "json"
url = "{pms_url}"
records = "residents"
timeout = "5s"
"#
    ));
    let mut doors = Vec::new();
    for (name, addr) in controllers {
        text.push_str(&format!(
            "\n[[controller]]\nname = \"{name}\"\nkind = \"modbus-tcp\"\naddress = \"{addr}\"\ntimeout = \"2s\"\n\n[[door]]\nname = \"{name}-door\"\ncontroller = \"{name}\"\nindex = 0\n"
        ));
        doors.push(format!("\"{name}-door\""));
    }
    text.push_str(&format!(
        "\n[[group]]\nname = \"residents\"\ndoors = [{}]\n",
        doors.join(", ")
    ));
    text
}

pub fn config(dir: &Path, pms: &PmsServer, sims: &[(&str, &SimHandle)]) -> Config {
    let controllers: Vec<(&str, String)> = sims
        .iter()
        .map(|(n, s)| (*n, s.local_addr().to_string()))
        .collect();
    Config::parse(&config_text(dir, &pms.url(), &controllers), "test").expect("valid test config")
}

pub fn socket(dir: &Path) -> PathBuf {
    dir.join("control.sock")
}

pub async fn call(dir: &Path, req: Request) -> Value {
    request(&socket(dir), &req)
        .await
        .unwrap_or_else(|e| panic!("{req:?} failed: {e}"))
}

pub async fn sync_now(dir: &Path) -> Value {
    call(dir, Request::SyncNow { dry_run: false }).await
}

pub async fn add_card(dir: &Path, person: &str, card: u64) {
    call(
        dir,
        Request::CredentialsAdd {
            person: person.to_string(),
            card: card.to_string(),
        },
    )
    .await;
}

/// Issues `cards` to residents `R-{first}`, `R-{first + 1}`, … as one fob-inventory import: a
/// single commit, so every grant is queued before the first one goes out.
pub async fn import_cards(dir: &Path, first: usize, cards: &[u64]) {
    let mut csv = String::from("person,card\n");
    for (i, card) in cards.iter().enumerate() {
        csv.push_str(&format!("R-{},{card}\n", first + i));
    }
    let imported = call(
        dir,
        Request::CredentialsImport {
            csv,
            dry_run: false,
        },
    )
    .await;
    assert_eq!(
        imported["issued"].as_array().map(Vec::len),
        Some(cards.len()),
        "{imported}"
    );
}

/// Cards the simulated controller holds, by card.
pub fn held(sim: &SimHandle) -> BTreeMap<u64, Credential> {
    sim.table().into_iter().map(|(_, c)| (c.card, c)).collect()
}

/// Waits until the controller's table satisfies `done`, woken by each write it applies.
pub async fn wait_for(
    sim: &SimHandle,
    what: &str,
    done: impl Fn(&BTreeMap<u64, Credential>) -> bool,
) {
    let mut changes = sim.subscribe();
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            if done(&held(sim)) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(
        waited.is_ok() && done(&held(sim)),
        "timed out waiting for {what}; controller holds {:?}",
        held(sim).keys().collect::<Vec<_>>()
    );
}

/// Waits until the controller holds exactly `cards`.
pub async fn wait_for_cards(sim: &SimHandle, cards: &[u64]) {
    let want: Vec<u64> = cards.to_vec();
    wait_for(sim, &format!("cards {want:?}"), |t| {
        t.keys().copied().collect::<Vec<_>>() == want
    })
    .await;
}

/// Starts a daemon on the store of one that was just stopped. sled's I/O threads let go of the
/// directory lock a moment after `Daemon::stop` returns (see src/store/tests.rs), so a start
/// refused for the lock is tried again, within [`PATIENCE`].
pub async fn restart(config: &Config) -> lintel::Daemon {
    let started = tokio::time::timeout(PATIENCE, async {
        loop {
            let clock = std::sync::Arc::new(lintel::clock::SystemClock);
            match lintel::Daemon::start_with_clock(config.clone(), clock).await {
                Err(e) if e.to_string().contains("could not acquire lock") => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
    })
    .await;
    started
        .expect("the store lock was never released")
        .expect("daemon restarts")
}

/// Polls status (woken by nothing better than the daemon's own answer) until `done`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let ok = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for {what}");
}

/// The usual test building: the fixture PMS listing `listing`, one controller named "door",
/// and a running daemon that has synced once.
pub struct Building {
    pub dir: tempfile::TempDir,
    pub pms: PmsServer,
    pub door: SimHandle,
    pub daemon: lintel::Daemon,
}

impl Building {
    pub async fn start(listing: Vec<Value>, slots: u16) -> Building {
        Building::start_with_clock(
            listing,
            slots,
            std::sync::Arc::new(lintel::clock::SystemClock),
        )
        .await
    }

    pub async fn start_with_clock(
        listing: Vec<Value>,
        slots: u16,
        clock: std::sync::Arc<dyn lintel::clock::Clock>,
    ) -> Building {
        let dir = tempfile::tempdir().expect("tempdir");
        let pms = PmsServer::start(listing).expect("pms");
        let door = sim(slots).await;
        let daemon =
            lintel::Daemon::start_with_clock(config(dir.path(), &pms, &[("door", &door)]), clock)
                .await
                .expect("daemon starts");
        sync_now(dir.path()).await;
        Building {
            dir,
            pms,
            door,
            daemon,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> &lintel::store::Store {
        &self.daemon.engine().store
    }

    /// Issues `cards` (person, card) through the control socket and waits until the door
    /// holds every card issued so far and the daemon recorded its acknowledgements.
    pub async fn issue(&self, cards: &[(&str, u64)]) {
        for (person, card) in cards {
            add_card(self.path(), person, *card).await;
        }
        let mut all: Vec<u64> = self
            .store()
            .credentials()
            .expect("credentials")
            .iter()
            .map(|c| c.card)
            .collect();
        all.sort_unstable();
        wait_for_cards(&self.door, &all).await;
        drained(self.store(), "door").await;
        // The update ends with the generation bump (register 4 of the default profile), sent
        // once the outbox is empty: a test that counts frames from here on must not see it.
        eventually("the generation bump after the last batch", || async {
            self.door.writes().last().map(|w| w.start) == Some(4)
        })
        .await;
    }
}

/// Waits until the daemon recorded every acknowledgement from `controller` (the device can
/// apply a write a moment before the daemon stores its ack).
pub async fn drained(store: &lintel::store::Store, controller: &str) {
    eventually(&format!("{controller}'s outbox to drain"), || async {
        store.outbox_len(controller) == 0
    })
    .await;
}

/// Runs the real `lintel` binary; returns its exit code and everything it printed.
/// What a finished `lintel` process printed, stdout then stderr.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub async fn lintel_cli(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(args)
        .env_remove("LINTEL_SOCKET")
        .output()
        .await
        .expect("run lintel");
    (out.status.code(), output_text(&out))
}

impl Building {
    /// Runs a client verb of the real binary against this building's daemon.
    pub async fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        let socket = socket(self.path());
        let mut all: Vec<&str> = args.to_vec();
        let socket = socket.to_str().expect("utf-8 path").to_string();
        all.extend(["--socket", &socket]);
        lintel_cli(&all).await
    }
}

/// Starts `lintel run` as a child and returns once it told the notify socket READY=1, as
/// systemd would see it.
pub async fn start_lintel(dir: &Path, config: &Path) -> tokio::process::Child {
    start_lintel_with_env(dir, config, &[]).await
}

/// [`start_lintel`] with extra environment variables for the child (secrets given by `env`).
pub async fn start_lintel_with_env(
    dir: &Path,
    config: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> tokio::process::Child {
    let notify_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let notify = tokio::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--config"])
        .arg(config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn lintel");
    let mut buf = vec![0u8; 4096];
    let ready = tokio::time::timeout(PATIENCE, async {
        loop {
            let n = notify.recv(&mut buf).await.expect("notify recv");
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                return;
            }
        }
    })
    .await;
    assert!(ready.is_ok(), "lintel did not become ready");
    child
}

/// A building on the Buildium fixture at `base_url` (secret from a file) with one Modbus door;
/// `settings` are extra lines of the `[[source]]` table (timeouts, retries, paging).
pub fn buildium_config(dir: &Path, base_url: &str, door: &str, settings: &str) -> Config {
    use lintel::sources::fixtures::buildium;
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
{settings}

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
    Config::parse(&text, "test").expect("valid config")
}
