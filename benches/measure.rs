//! Scripted measurements for docs/BENCHMARKS.md — not a criterion bench (`harness = false`), a
//! small program run through cargo so it is built in release with the `lintel` binary beside it:
//!
//! ```text
//! cargo bench --bench measure -- pure 100000          # peak RSS of the in-memory reconciliation
//! cargo bench --bench measure -- daemon 10000 60      # `lintel run`: READY time, idle RSS/CPU,
//!                                                     # sync-now time and peak RSS
//! cargo bench --bench measure -- store 100000         # the store's own memory once every tree
//!                                                     # the daemon reads has been read; the
//!                                                     # time to convert it from schema 1
//! cargo bench --bench measure -- libraries 10000      # serde_json reading a listing whole or as
//!                                                     # it streams in; phonenumber's heap
//! cargo bench --bench measure -- latency tcp 100      # PMS change → controller applied, 1 s poll
//! cargo bench --bench measure -- latency rtu 100      #   (also mqtt)
//! cargo bench --bench measure -- rtu 19200            # RTU throughput vs the line-rate ceiling
//! cargo bench --bench measure -- revocation up 50     # window end → revoked at the door
//! cargo bench --bench measure -- revocation down 50   #   with the PMS answering 503
//! ```
//!
//! `scripts/measure.sh` runs them all. Every result line starts with `RESULT`. `daemon` runs the
//! `lintel` built beside it, or the one `MEASURE_LINTEL` names (to compare two builds turn
//! about on the same machine).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/controllers_common/mod.rs"]
mod controllers_common;
#[path = "common/mod.rs"]
mod site;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use lintel::control::Request;
use lintel::control::client::request;
use lintel::demo::pms::PmsServer;
use lintel::store::{AckedSlot, CredentialRecord, Person, Store};
use lintel_hal::modbus::timing::{SPEC_CHAR_BITS, t35, wire_time};
use lintel_hal::modbus::{ModbusRtu, RtuBus, SerialSettings};
use lintel_hal::sim::{
    LineEmulation, LintelMqttSimConfig, LintelMqttSimHandle, PtyMaster, RtuSim, SimConfig,
    SimController, SimDevice, spawn_lintel_mqtt,
};
use lintel_hal::{Change, Controller, Credential, Op, RegisterProfile};
use rand::Rng;
use tokio::net::{TcpListener, UnixDatagram};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The daemon's allocator (src/main.rs), so that memory measured in this process compares.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // cargo bench passes `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, default: usize| {
        arg(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(default)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match arg(0) {
        Some("pure") => pure(num(1, 100_000)),
        Some("daemon") => rt.block_on(daemon(num(1, 10_000), num(2, 60), num(3, 5))),
        Some("store") => rt.block_on(store(num(1, 100_000))),
        Some("store-read") => store_read(Path::new(arg(1).expect("a store path")), &args[2..]),
        Some("store-open") => store_open(Path::new(arg(1).expect("a store path"))),
        Some("libraries") => libraries(num(1, 10_000)),
        Some("latency") => rt.block_on(latency(arg(1).unwrap_or("tcp"), num(2, 100))),
        Some("rtu") => rt.block_on(rtu(num(1, 19_200) as u32, num(2, 0))),
        Some("revocation") => rt.block_on(revocation(arg(1) == Some("down"), num(2, 50))),
        None => {
            // `cargo bench` with no filter runs every bench target: stay quick and quiet.
            println!("measure: nothing asked; see benches/measure.rs or scripts/measure.sh");
        }
        Some(other) => {
            eprintln!("measure: unknown mode {other:?}; see benches/measure.rs");
            std::process::exit(2);
        }
    }
}

// ---- reporting ------------------------------------------------------------------------------

/// Prints `RESULT name n= min= p50= p99= max=` for `values` in `unit`.
fn report(name: &str, unit: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        println!("RESULT {name} n=0");
        return;
    }
    let at = |q: f64| values[((q * (n - 1) as f64).round() as usize).min(n - 1)];
    println!(
        "RESULT {name} n={n} min={:.3}{unit} median={:.3}{unit} p99={:.3}{unit} max={:.3}{unit}",
        values[0],
        at(0.5),
        at(0.99),
        values[n - 1]
    );
}

fn one(name: &str, value: impl std::fmt::Display) {
    println!("RESULT {name} {value}");
}

/// A `/proc/PID/status` field in kB (VmRSS, VmHWM…).
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux `clear_refs` 5).
fn reset_peak(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("cannot reset the peak RSS of {pid}: {e}");
    }
}

/// User + system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn ticks_per_second() -> f64 {
    // getconf CLK_TCK is 100 on every Linux this runs on; ask anyway.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn mb(kb: u64) -> String {
    format!("{:.1}MB", kb as f64 / 1024.0)
}

// ---- pure: peak RSS of the in-memory reconciliation -----------------------------------------

fn pure(n: usize) {
    let pid = std::process::id();
    let snapshot = site::Snapshot::new(n);
    let setup_peak = status_kb(pid, "VmHWM");
    let live = status_kb(pid, "VmRSS");
    reset_peak(pid);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(snapshot.reconcile());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let peak = status_kb(pid, "VmHWM");
    report(&format!("pure_reconcile_{n}_time"), "ms", &mut times);
    one(
        &format!("pure_reconcile_{n}_rss"),
        format!(
            "live_before={} peak_during={} extra={} (setup peak {})",
            mb(live),
            mb(peak),
            mb(peak.saturating_sub(live)),
            mb(setup_peak)
        ),
    );
}

// ---- daemon: `lintel run` with N people stored ----------------------------------------------

/// Starts `lintel run`; returns it and the time from spawn to READY=1 on its notify socket.
async fn start_daemon(dir: &Path, config: &Path) -> (Child, Duration) {
    let notify_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    let started = Instant::now();
    let lintel = std::env::var_os("MEASURE_LINTEL").unwrap_or(env!("CARGO_BIN_EXE_lintel").into());
    let child = Command::new(lintel)
        .args(["run", "--config"])
        .arg(config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn lintel");
    let mut buf = vec![0u8; 4096];
    let ready = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            let n = notify.recv(&mut buf).await.expect("notify recv");
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                return started.elapsed();
            }
        }
    })
    .await
    .expect("lintel became ready");
    (child, ready)
}

async fn stop_daemon(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    let _ = child.kill().await;
}

/// Waits until `pid` used under 1 % of a core for two consecutive seconds (bounded).
async fn settle(pid: u32) {
    let hz = ticks_per_second();
    let mut quiet = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = cpu_ticks(pid);
    while quiet < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cpu_ticks(pid);
        if ((now - last) as f64 / hz) < 0.01 {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
}

/// Fills a simulated controller's table with what `store` says it acknowledged.
fn preload(device: &SimDevice, store: &Store, controller: &str) {
    let profile = RegisterProfile::default();
    let acked = store.acked(controller).expect("acked");
    let count = acked.values().map(|a| a.slot + 1).max().unwrap_or(0);
    let mut regs = vec![0u16; usize::from(count) * usize::from(profile.slot_registers)];
    for a in acked.values() {
        let at = usize::from(a.slot) * usize::from(profile.slot_registers);
        regs[at..at + usize::from(profile.slot_registers)]
            .copy_from_slice(&profile.encode_slot(Some(&a.credential)));
    }
    device.poke(profile.slots_base, &regs);
    assert_eq!(device.table().len(), acked.len());
}

async fn daemon(n: usize, idle_secs: usize, starts: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listing = site::listing(n);
    let pms = PmsServer::start(listing.clone()).expect("pms");
    let names = site::controllers(n);
    let loads = site::load(n);
    let mut sims = Vec::new();
    let mut controllers = Vec::new();
    for (name, &load) in names.iter().zip(&loads) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sim = SimController::spawn(
            listener,
            SimConfig {
                slots: u16::try_from(load.max(1)).expect("a controller's load fits its slots"),
                ..SimConfig::default()
            },
        )
        .expect("sim");
        controllers.push((name.as_str(), sim.local_addr().to_string()));
        sims.push(sim);
    }
    println!(
        "{} controllers, {} to {} cards each",
        names.len(),
        loads.iter().min().unwrap_or(&0),
        loads.iter().max().unwrap_or(&0)
    );
    let text = site::config_text(dir.path(), &pms.url(), &controllers);
    let config_path = dir.path().join("lintel.toml");
    std::fs::write(&config_path, &text).expect("config");
    let config = lintel::Config::parse(&text, "measure").expect("config");
    let pull = site::json_source(&config)
        .parse(&site::body(&listing))
        .expect("parse");
    {
        std::fs::create_dir_all(&config.store.path).expect("store dir");
        let store = Store::open(&config.store.path).expect("store");
        let t = Instant::now();
        site::seed_store(&store, &config, &pull, Timestamp::now()).await;
        println!("seeded {n} people in {:.1}s", t.elapsed().as_secs_f64());
        for (sim, name) in sims.iter().zip(&names) {
            preload(sim, &store, name);
        }
        store.flush().await.expect("flush");
        println!("store on disk: {}", mb(store.size_on_disk() / 1024));
    }
    let socket = dir.path().join("control.sock");
    let mut ready = Vec::new();
    for i in 0..starts.max(1) {
        let (child, took) = start_daemon(dir.path(), &config_path).await;
        ready.push(took.as_secs_f64() * 1000.0);
        let pid = child.id().expect("pid");
        if i + 1 < starts {
            stop_daemon(child).await;
            continue;
        }
        settle(pid).await;
        let hz = ticks_per_second();
        let before = cpu_ticks(pid);
        let t = Instant::now();
        let mut rss = Vec::new();
        while t.elapsed() < Duration::from_secs(idle_secs as u64) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss.push(status_kb(pid, "VmRSS") as f64 / 1024.0);
        }
        let cpu = (cpu_ticks(pid) - before) as f64 / hz;
        let wall = t.elapsed().as_secs_f64();
        report(&format!("daemon_{n}_idle_rss"), "MB", &mut rss);
        one(
            &format!("daemon_{n}_idle_cpu"),
            format!(
                "{:.3}% of one core over {wall:.0}s ({cpu:.2}s CPU)",
                100.0 * cpu / wall
            ),
        );
        // Full reconciliation with no changes, on the running daemon. Nine, as a pass's time
        // moves ±15 % from run to run on the standard machine.
        let mut took = Vec::new();
        let mut peaks = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..9 {
            reset_peak(pid);
            let ticks = cpu_ticks(pid);
            let t = Instant::now();
            let passes = request(&socket, &Request::SyncNow { dry_run: false })
                .await
                .expect("sync-now");
            let (wall_ms, cpu_ms) = (
                t.elapsed().as_secs_f64() * 1000.0,
                (cpu_ticks(pid) - ticks) as f64 / hz * 1000.0,
            );
            println!(
                "sync-now {}: {wall_ms:.1} ms, {cpu_ms:.0} ms CPU",
                took.len() + 1
            );
            took.push(wall_ms);
            cpu.push(cpu_ms);
            peaks.push(status_kb(pid, "VmHWM") as f64 / 1024.0);
            let pass = &passes[0];
            assert!(
                pass["ok"] == true
                    && pass["added"] == 0
                    && pass["updated"] == 0
                    && pass["disabled"] == 0,
                "not a no-change pass: {pass}"
            );
        }
        report(&format!("daemon_{n}_sync_now"), "ms", &mut took);
        report(&format!("daemon_{n}_sync_now_cpu"), "ms", &mut cpu);
        report(&format!("daemon_{n}_sync_now_peak_rss"), "MB", &mut peaks);
        one(
            &format!("daemon_{n}_rss_after_sync"),
            mb(status_kb(pid, "VmRSS")),
        );
        stop_daemon(child).await;
    }
    report(&format!("daemon_{n}_start_to_ready"), "ms", &mut ready);
    drop(sims);
}

// ---- store: what sled itself keeps in memory ------------------------------------------------

/// Seeds a store of `n` people as `daemon` does, then reads it in a fresh process of this
/// program with nothing else of lintel in it: the heap the store alone holds is the floor under
/// the daemon's idle and peak RSS.
async fn store(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listing = site::listing(n);
    let config = site::config(dir.path(), "http://127.0.0.1:9/", n);
    let pull = site::json_source(&config)
        .parse(&site::body(&listing))
        .expect("parse");
    drop(listing);
    {
        std::fs::create_dir_all(&config.store.path).expect("store dir");
        let store = Store::open(&config.store.path).expect("store");
        site::seed_store(&store, &config, &pull, Timestamp::now()).await;
        store.flush().await.expect("flush");
        println!("store on disk: {}", mb(store.size_on_disk() / 1024));
    }
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .arg("store-read")
        .arg(&config.store.path)
        .args(config.controllers.iter().map(|c| c.name()))
        .status()
        .expect("run store-read");
    assert!(status.success(), "store-read failed: {status}");
    downgrade_to_schema_1(&config.store.path);
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .arg("store-open")
        .arg(&config.store.path)
        .status()
        .expect("run store-open");
    assert!(status.success(), "store-open failed: {status}");
}

/// Rewrites the store as lintel before schema 2 wrote it: people, credentials and acknowledged
/// slots as JSON and its schema version as 1, so that the next `Store::open` converts them.
fn downgrade_to_schema_1(path: &Path) {
    let db = sled::open(path).expect("raw store");
    rewrite_as_json::<Person>(&db, "people");
    rewrite_as_json::<CredentialRecord>(&db, "credentials");
    rewrite_as_json::<AckedSlot>(&db, "acked");
    let meta = db.open_tree("meta").expect("meta tree");
    meta.insert("schema_version", b"1").expect("raw insert");
    db.flush().expect("raw flush");
}

fn rewrite_as_json<T: serde::Serialize + serde::de::DeserializeOwned>(db: &sled::Db, tree: &str) {
    let tree = db.open_tree(tree).expect("tree");
    for entry in tree.iter() {
        let (key, value) = entry.expect("raw read");
        let value: T = postcard::from_bytes(&value).expect("postcard");
        let json = serde_json::to_vec(&value).expect("as JSON");
        tree.insert(key, json).expect("raw insert");
    }
}

/// Opens (and so converts) a schema-1 store in a fresh process, as a daemon upgraded in place
/// does before READY.
fn store_open(path: &Path) {
    let started = Instant::now();
    let store = Store::open(path).expect("store");
    let took = started.elapsed();
    let people = store.people().expect("people").len();
    one("store_schema_1_conversion", format!("{:.0} ms", ms(took)));
    println!("converted {people} people");
}

/// Opens the store at `path` and reads every tree the daemon reads whole, reporting the
/// process's anonymous (heap) RSS after each step.
fn store_read(path: &Path, controllers: &[String]) {
    let pid = std::process::id();
    let heap = |step: &str| one(&format!("store_heap_{step}"), mb(status_kb(pid, "RssAnon")));
    heap("before_open");
    let store = Store::open(path).expect("store");
    heap("opened");
    let people = store.people().expect("people").len();
    let credentials = store.credentials().expect("credentials").len();
    let passes = store.passes().expect("passes").len();
    for controller in controllers {
        std::hint::black_box(store.acked(controller).expect("acked"));
        std::hint::black_box(store.slots(controller).expect("slots"));
        std::hint::black_box(store.outbox(controller).expect("outbox"));
    }
    println!("read {people} people, {credentials} credentials, {passes} visitor passes");
    // The values read are gone; jemalloc hands their pages back within its 1 s decay.
    std::thread::sleep(Duration::from_secs(3));
    heap("after_reading_every_tree");
}

// ---- libraries: what two dependencies cost the daemon ---------------------------------------

/// The heap phonenumber holds once the `n` demo residents' phones are normalised (its metadata
/// and compiled patterns stay loaded for the process's life), and serde_json reading their
/// listing whole, as the daemon does, against reading it as it arrives (a reader fed 16 KiB at
/// a time): what streaming the body would cost a pass.
fn libraries(n: usize) {
    let listing = site::listing(n);
    let pid = std::process::id();
    // Let jemalloc hand back what building the listing left behind (1 s decay).
    std::thread::sleep(Duration::from_secs(3));
    one("heap_before_phonenumber", mb(status_kb(pid, "RssAnon")));
    let phones = listing
        .iter()
        .filter_map(|r| r.get("phone").and_then(|p| p.as_str()))
        .filter_map(|p| lintel::sync::e164(p, Some(phonenumber::country::Id::US)))
        .count();
    std::thread::sleep(Duration::from_secs(3));
    one("heap_after_phonenumber", mb(status_kb(pid, "RssAnon")));
    println!("{phones} phones normalised");

    let body = site::body(&listing);
    println!("listing body: {}", mb(body.len() as u64 / 1024));
    let (mut whole, mut streamed) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let started = Instant::now();
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&body).expect("parses"));
        whole.push(ms(started.elapsed()));
        let started = Instant::now();
        let reader = std::io::BufReader::with_capacity(16 * 1024, Drip(&body));
        std::hint::black_box(
            serde_json::from_reader::<_, serde_json::Value>(reader).expect("parses"),
        );
        streamed.push(ms(started.elapsed()));
    }
    report(&format!("json_{n}_from_slice"), "ms", &mut whole);
    report(&format!("json_{n}_from_reader"), "ms", &mut streamed);
}

/// A body read as a socket gives it: at most 16 KiB per read.
struct Drip<'a>(&'a [u8]);

impl std::io::Read for Drip<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(16 * 1024).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

// ---- latency: a change at the PMS → the controller applied it -------------------------------

enum Door {
    Modbus(SimDevice),
    Mqtt(LintelMqttSimHandle),
}

impl Door {
    fn holds(&self, card: u64) -> bool {
        let table: Vec<(u16, Credential)> = match self {
            Door::Modbus(d) => d.table(),
            Door::Mqtt(d) => d.table(),
        };
        table.iter().any(|(_, c)| c.card == card)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        match self {
            Door::Modbus(d) => d.subscribe(),
            Door::Mqtt(d) => d.applied(),
        }
    }

    /// Waits (bounded) until the door holds `card` or not.
    async fn wait(&self, card: u64, held: bool) {
        let mut rx = self.changes();
        let ok = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if self.holds(card) == held {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            ok.is_ok() && self.holds(card) == held,
            "card {card} never became held={held}"
        );
    }
}

async fn latency(transport: &str, samples: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let people = 20;
    let pms = PmsServer::start(common::residents(people)).expect("pms");
    let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let (controllers, door) = match transport {
        "tcp" => {
            let sim = common::sim(64).await;
            let toml = format!(
                "\n[[controller]]\nname = \"door\"\nkind = \"modbus-tcp\"\naddress = \"{}\"\ntimeout = \"2s\"\n",
                sim.local_addr()
            );
            let device: SimDevice = (*sim).clone();
            keep.push(Box::new(sim));
            (toml, Door::Modbus(device))
        }
        "rtu" => {
            let pty = PtyMaster::open().expect("pty");
            let port = pty.path().display().to_string();
            // The line rate of a real 19200-baud bus, emulated by the simulator.
            let bus = RtuSim::spawn(
                pty,
                vec![SimConfig {
                    unit: 1,
                    slots: 64,
                    ..SimConfig::default()
                }],
                LineEmulation {
                    baud: Some(19_200),
                    turnaround_us: 0,
                },
            )
            .expect("bus");
            let device = bus.unit(1).expect("unit").clone();
            keep.push(Box::new(bus));
            (
                format!(
                    "\n[[controller]]\nname = \"door\"\nkind = \"modbus-rtu\"\nport = \"{port}\"\nbaud = 19200\nunit = 1\nresponse_timeout = \"500ms\"\n"
                ),
                Door::Modbus(device),
            )
        }
        "mqtt" => {
            let topic = format!("measure/{}/door", std::process::id());
            let sim = spawn_lintel_mqtt(
                &controllers_common::sim_broker(),
                &format!("measure-door-{}", std::process::id()),
                LintelMqttSimConfig {
                    topic: topic.clone(),
                    slots: 64,
                    device: "door".into(),
                },
            )
            .expect("mqtt controller");
            (
                format!(
                    "{}\n[[controller]]\nname = \"door\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"{topic}\"\nack_timeout = \"2s\"\n",
                    controllers_common::broker_toml("local")
                ),
                Door::Mqtt(sim),
            )
        }
        other => panic!("unknown transport {other}"),
    };
    let mut config =
        controllers_common::building_config(dir.path(), &pms.url(), &controllers, &["door"]);
    config.sync.interval = Duration::from_secs(1);
    let daemon = lintel::Daemon::start(config).await.expect("daemon");
    common::sync_now(dir.path()).await;
    let card = |i: usize| 70_000 + i as u64;
    for i in 1..=people {
        common::add_card(dir.path(), &format!("R-{i}"), card(i)).await;
    }
    for i in 1..=people {
        door.wait(card(i), true).await;
    }
    let mut listed = vec![true; people + 1];
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    let mut rng = rand::rng();
    for s in 0..samples {
        // A random phase against the 1 s poll.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1000))).await;
        // Each person is removed, then listed again: grants and revocations alternate.
        let i = (s / 2) % people + 1;
        let id = format!("R-{i}");
        let t = Instant::now();
        if listed[i] {
            assert!(pms.remove(&id));
        } else {
            pms.push(common::resident(&id, "current"));
        }
        listed[i] = !listed[i];
        door.wait(card(i), listed[i]).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if listed[i] { &mut grants } else { &mut revokes }.push(ms);
    }
    let mut all: Vec<f64> = grants.iter().chain(&revokes).copied().collect();
    report(&format!("latency_{transport}_all"), "ms", &mut all);
    report(&format!("latency_{transport}_grant"), "ms", &mut grants);
    report(&format!("latency_{transport}_revoke"), "ms", &mut revokes);
    daemon.stop().await;
    drop(keep);
}

// ---- RTU throughput against the emulated line rate ------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Seconds one transaction of `request` + `reply` bytes takes on the wire at `baud`, with the
/// 3.5-character silence after each frame (reference/modbus.md's model, turnaround 0).
fn transaction(request: usize, reply: usize, baud: u32) -> f64 {
    (wire_time(request + reply, SPEC_CHAR_BITS, baud) + 2 * t35(baud)).as_secs_f64()
}

async fn rtu(baud: u32, total: usize) {
    let profile = RegisterProfile::default();
    let per_frame = usize::from(profile.slots_per_write());
    let regs = per_frame * usize::from(profile.slot_registers);
    let fc16_req = 9 + 2 * regs;
    let fc16_reply = 8;
    let bump_req = 9 + 2 * 2;
    let bump_reply = 8;
    // Ceiling 1: reference/modbus.md's model, FC16 transactions only.
    let fc16 = transaction(fc16_req, fc16_reply, baud);
    let ceiling_fc16 = per_frame as f64 / fc16;
    println!(
        "baud {baud}: t_char = 11/baud = {:.4} ms, t3.5 = {:.3} ms; FC16 of {per_frame} slots = \
         {fc16_req}+{fc16_reply} bytes → ({fc16_req}+{fc16_reply})·t_char + 2·t3.5 = {:.2} ms → \
         ceiling {ceiling_fc16:.1} credentials/s",
        11_000.0 / f64::from(baud),
        ms(t35(baud)),
        fc16 * 1000.0
    );
    let pty = PtyMaster::open().expect("pty");
    let port = pty.path().display().to_string();
    let slots = 8190u16;
    let bus = RtuSim::spawn(
        pty,
        vec![SimConfig {
            unit: 1,
            slots,
            ..SimConfig::default()
        }],
        LineEmulation {
            baud: Some(baud),
            turnaround_us: 0,
        },
    )
    .expect("sim bus");
    let mut settings = SerialSettings::new(port);
    settings.baud = baud;
    let rtu_bus = RtuBus::new(settings).expect("bus");
    let mut driver =
        ModbusRtu::new(&rtu_bus, 1, profile.clone(), Duration::from_secs(5)).expect("driver");
    driver.probe().await.expect("probe");
    let total = if total == 0 {
        if baud >= 100_000 { 3_000 } else { 600 }
    } else {
        total
    };
    for batch in [per_frame, 60] {
        let frames = batch.div_ceil(per_frame);
        // Ceiling 2: the driver's own sequence: the FC16 frames of every batch, and one
        // generation bump at the end of the round (the header is read once per connection, by
        // the probe above).
        let batches = total.div_ceil(batch);
        let per_batch =
            frames as f64 * fc16 + transaction(bump_req, bump_reply, baud) / batches as f64;
        let ceiling_driver = batch as f64 / per_batch;
        let mut rates = Vec::new();
        for round in 0..3 {
            let t = Instant::now();
            let mut slot = 0u16;
            let mut sent = 0usize;
            while sent < total {
                let ops: Vec<Op> = (0..batch)
                    .map(|k| Op {
                        slot: (slot + k as u16) % slots,
                        change: Change::Grant(Credential {
                            card: 1_000_000 + (round * total + sent + k) as u64,
                            doors: 1,
                            valid_from: 0,
                            valid_until: None,
                            pin: None,
                        }),
                    })
                    .collect();
                driver.apply(&ops).await.expect("apply");
                slot = (slot + batch as u16) % slots;
                sent += batch;
            }
            // What the dispatch worker does once the outbox is empty.
            driver.finish_update().await.expect("generation bump");
            rates.push(sent as f64 / t.elapsed().as_secs_f64());
        }
        let stats = *bus.stats().borrow();
        report(&format!("rtu_{baud}_batch{batch}_rate"), "/s", &mut rates);
        let median = rates[rates.len() / 2];
        one(
            &format!("rtu_{baud}_batch{batch}_ratio"),
            format!(
                "{:.1}% of the FC16-only ceiling {ceiling_fc16:.1}/s, {:.1}% of the driver-sequence \
                 ceiling {ceiling_driver:.1}/s ({frames} FC16 per batch, one generation bump per round); bad frames {}",
                100.0 * median / ceiling_fc16,
                100.0 * median / ceiling_driver,
                stats.bad_frames
            ),
        );
    }
    bus.shutdown();
}

// ---- revocation lateness after a window end -------------------------------------------------

async fn revocation(pms_down: bool, samples: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
    let clock = Arc::new(lintel::clock::ManualClock::new(start));
    // Resident i moves out on day i of 2026: every window ends on a different day.
    let listing: Vec<serde_json::Value> = (1..=samples)
        .map(|i| {
            let mut r = common::resident(&format!("R-{i}"), "current");
            let day = jiff::civil::date(2026, 1, 2)
                .checked_add(jiff::Span::new().days(i as i64))
                .expect("date");
            r["move_out"] = serde_json::json!(day.to_string());
            r
        })
        .collect();
    let pms = PmsServer::start(listing).expect("pms");
    let sim = common::sim((samples + 8) as u16).await;
    let mut config = common::config(dir.path(), &pms, &[("door", &sim)]);
    config.sync.interval = Duration::from_secs(1);
    let daemon = lintel::Daemon::start_with_clock(config, clock.clone())
        .await
        .expect("daemon");
    common::sync_now(dir.path()).await;
    let engine = daemon.engine().clone();
    let card = |i: usize| 80_000 + i as u64;
    for i in 1..=samples {
        engine
            .add_credential(&format!("R-{i}"), &card(i).to_string())
            .await
            .expect("card");
    }
    let want: Vec<u64> = (1..=samples).map(card).collect();
    common::wait_for_cards(&sim, &want).await;
    if pms_down {
        pms.fail_with(Some(503));
    }
    let ends: Vec<Timestamp> = (1..=samples)
        .map(|i| {
            let person = engine.resolve_person(&format!("R-{i}")).expect("person");
            engine.policy.window(&person).until.expect("a window end")
        })
        .collect();
    let device: SimDevice = (*sim).clone();
    let door = Door::Modbus(device);
    let mut late = Vec::new();
    for (i, end) in ends.iter().enumerate() {
        // One second before the end: nothing may go yet.
        clock.set(
            end.checked_sub(jiff::SignedDuration::from_secs(1))
                .expect("ts"),
        );
        assert!(door.holds(card(i + 1)), "revoked early");
        let t = Instant::now();
        clock.set(*end);
        door.wait(card(i + 1), false).await;
        late.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let which = if pms_down { "pms_down" } else { "pms_up" };
    report(&format!("revocation_lateness_{which}"), "ms", &mut late);
    daemon.stop().await;
}
