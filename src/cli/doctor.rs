//! `lintel doctor`: the checks troubleshooting guides tell people to do by hand, each with a
//! concrete fix when it fails. Runs locally, reading the config like `check-config`, and asks
//! the daemon over its socket when it is up (the daemon holds the store and the controller
//! connections, so doctor never opens those behind its back).
//!
//! Exit 0 when every check passes (or cannot be decided, like a clock without `timedatectl`),
//! 1 when any fails.

use std::fmt::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, ControllerConfig, DEFAULT_SOCKET_PATH};
use crate::control::Request;
use crate::control::client::{ClientError, request};
use crate::daemon::status::Status;
use crate::sources::{PullKind, SourceError};

/// How long one network check may take.
const NET_TIMEOUT: Duration = Duration::from_secs(15);
/// Below this much free space the store is at risk.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;
/// Serial device classes the shipped unit's DeviceAllow= lets the service open.
const ALLOWED_TTY_CLASSES: [&str; 3] = ["ttyS", "ttyUSB", "ttyACM"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Fail,
    /// Could not be decided here; not a failure.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        verdict: Verdict::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        verdict: Verdict::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn unknown(check: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        verdict: Verdict::Unknown,
        detail: detail.into(),
        fix: None,
    }
}

pub async fn run(config_path: &Path, socket: &Path, json: bool) -> ExitCode {
    let checks = checks(config_path, socket).await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&checks).unwrap_or_default()
        );
    } else {
        print!("{}", render(config_path, &checks));
    }
    ExitCode::from(u8::from(checks.iter().any(|c| c.verdict == Verdict::Fail)))
}

pub fn render(config_path: &Path, checks: &[Check]) -> String {
    let mut out = format!("lintel doctor: {}\n", config_path.display());
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "?   ",
        };
        let _ = writeln!(out, "{mark}  {:<24} {}", c.check, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "      fix: {fix}");
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if failed == 0 {
        out.push_str("\nAll checks passed.\n");
    } else {
        let _ = writeln!(out, "\n{failed} check(s) failed.");
    }
    out
}

/// Runs every check.
pub async fn checks(config_path: &Path, socket: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match Config::load(config_path) {
        Ok(config) => {
            checks.push(ok(
                "config",
                format!(
                    "valid: {} source(s), {} controller(s), {} door(s), {} group(s)",
                    config.sources.len(),
                    config.controllers.len(),
                    config.doors.len(),
                    config.groups.len()
                ),
            ));
            config
        }
        Err(e) => {
            checks.push(fail(
                "config",
                e.to_string(),
                format!(
                    "edit {} (packaging/lintel.toml documents every key), then run `lintel \
                     check-config`",
                    config_path.display()
                ),
            ));
            return checks;
        }
    };
    // --socket (or $LINTEL_SOCKET) wins; otherwise the config's socket.
    let socket = if socket == Path::new(DEFAULT_SOCKET_PATH) {
        config.control.socket.clone()
    } else {
        socket.to_path_buf()
    };
    let status = daemon(&socket, &mut checks).await;
    sources(&config, &mut checks).await;
    serial_ports(&config, &mut checks);
    brokers(&config, &mut checks).await;
    checks.push(clock());
    checks.push(disk(&config.store.path));
    checks.push(store(&config, status.as_ref()));
    controllers(&config, status.as_ref(), &mut checks).await;
    checks
}

async fn daemon(socket: &Path, checks: &mut Vec<Check>) -> Option<Status> {
    let answer = tokio::time::timeout(NET_TIMEOUT, request(socket, &Request::Status)).await;
    let result = match answer {
        Err(_) => {
            checks.push(fail(
                "daemon",
                format!("no answer on {} within {NET_TIMEOUT:?}", socket.display()),
                "the daemon is stuck: `journalctl -u lintel -e` shows why; `systemctl restart \
                 lintel` (the outbox is kept)",
            ));
            return None;
        }
        Ok(r) => r,
    };
    match result.map(serde_json::from_value::<Status>) {
        Ok(Ok(s)) => {
            checks.push(ok(
                "daemon",
                format!(
                    "running (lintel {}, up {}s): {}",
                    s.version, s.uptime_s, s.summary
                ),
            ));
            Some(s)
        }
        Ok(Err(e)) => {
            checks.push(fail(
                "daemon",
                format!("answered something unreadable: {e}"),
                "the daemon and this command are different versions: `systemctl restart lintel`",
            ));
            None
        }
        Err(ClientError::Unreachable { reason, .. }) => {
            checks.push(fail(
                "daemon",
                format!("not reachable at {}: {reason}", socket.display()),
                "start it with `systemctl enable --now lintel` (`journalctl -u lintel -e` says \
                 why it stopped), or pass --socket if it listens elsewhere",
            ));
            None
        }
        Err(ClientError::Refused(e)) => {
            checks.push(fail(
                "daemon",
                e,
                "run doctor as root, as the lintel user, or as a member of the lintel group",
            ));
            None
        }
        Err(e) => {
            checks.push(fail("daemon", e.to_string(), "`systemctl restart lintel`"));
            None
        }
    }
}

/// Where a source's secret lives, for fixes (never its value).
fn secret_hint(source: &crate::config::SourceConfig) -> String {
    let text = format!("{source:?}");
    for (marker, what) in [
        ("File(\"", "file "),
        ("Env(\"", "$"),
        ("Credential(\"", "credential "),
    ] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            if let Some(end) = rest.find('"') {
                return format!("{what}{}", &rest[..end]);
            }
        }
    }
    "its secret".to_string()
}

async fn sources(config: &Config, checks: &mut Vec<Check>) {
    for source in &config.sources {
        let name = format!("source {}", source.name());
        if !source.enabled() {
            checks.push(unknown(name, "disabled in the config; not checked"));
            continue;
        }
        let adapter = match source.build() {
            Ok(a) => a,
            Err(e) => {
                checks.push(fail(
                    name,
                    e.to_string(),
                    format!(
                        "make {} readable by the lintel user (or use LoadCredential= and \
                         secret = {{ credential = … }}); `lintel check-config` checks it",
                        secret_hint(source)
                    ),
                ));
                continue;
            }
        };
        let pulled = tokio::time::timeout(NET_TIMEOUT, adapter.pull(PullKind::Full)).await;
        let check = match pulled {
            Err(_) => fail(
                name,
                format!("no complete answer within {NET_TIMEOUT:?}"),
                "the PMS is slow or a firewall drops the traffic: try `curl -v` to the URL from \
                 this box",
            ),
            Ok(Ok(pull)) => ok(
                name,
                format!(
                    "reachable and authorised: {} record(s){}",
                    pull.records.len(),
                    if pull.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} unreadable", pull.skipped.len())
                    }
                ),
            ),
            Ok(Err(e)) => {
                let fix = source_fix(&e, source);
                fail(name, e.to_string(), fix)
            }
        };
        checks.push(check);
    }
}

fn source_fix(e: &SourceError, source: &crate::config::SourceConfig) -> String {
    match e {
        SourceError::Status {
            status: 401 | 403, ..
        } => format!(
            "the PMS refused the credentials: check {} (and the client id, if the kind has one) \
             against the PMS's API settings; the key may have been rotated or lack read access",
            secret_hint(source)
        ),
        SourceError::Status { status: 404, .. } => {
            "the URL is wrong: check base_url / url (and the API version) in the config".into()
        }
        SourceError::Status { status: 429, .. } => {
            "the PMS is rate-limiting this key: lengthen incremental_every / sync.interval, or ask \
             the vendor for a higher limit"
                .into()
        }
        SourceError::Status { status, .. } if *status >= 500 => {
            "the PMS itself is failing; nobody loses access meanwhile. Check the vendor's status \
             page and try again later"
                .into()
        }
        SourceError::Status { .. } => "check the URL and the credentials in the config".into(),
        SourceError::Http { .. } => {
            "this box cannot reach the PMS: check DNS (`resolvectl query HOST`), the default \
             route, any proxy or firewall for outbound HTTPS, and ca_file for a private CA"
                .into()
        }
        SourceError::File { .. } => {
            "check the file exists and the lintel user can read it (`sudo -u lintel cat PATH`)"
                .into()
        }
        SourceError::Secret(_) => {
            format!("make {} readable by the lintel user", secret_hint(source))
        }
        SourceError::Body { .. } | SourceError::Api { .. } | SourceError::Incomplete { .. } => {
            "the PMS answered, but not with the listing expected: check kind, url and records / \
             fields in the config"
                .into()
        }
        SourceError::Config(_) => "fix the source's keys in the config".into(),
    }
}

/// The name /proc/devices gives a character device major number (e.g. `ttyUSB`).
fn char_driver(major: u64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let chars = text.split("Block devices:").next()?;
    chars.lines().find_map(|line| {
        let (num, name) = line.trim().split_once(' ')?;
        (num.parse::<u64>().ok()? == major).then(|| name.trim().to_string())
    })
}

fn major(rdev: u64) -> u64 {
    ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0000_0fff)
}

fn serial_ports(config: &Config, checks: &mut Vec<Check>) {
    let mut seen = std::collections::BTreeSet::new();
    for c in &config.controllers {
        let ControllerConfig::ModbusRtu(rtu) = c else {
            continue;
        };
        if !seen.insert(rtu.port.clone()) {
            continue;
        }
        checks.push(serial_port(&rtu.port));
    }
}

fn serial_port(port: &str) -> Check {
    let name = format!("serial {port}");
    let meta = match std::fs::metadata(port) {
        Ok(m) => m,
        Err(e) => {
            return fail(
                name,
                format!("cannot open: {e}"),
                "check the adapter is plugged in (`dmesg | grep tty`, `ls -l /dev/serial/by-id/`) \
                 and name it by its /dev/serial/by-id/ path, which survives re-plugging",
            );
        }
    };
    if !meta.file_type().is_char_device() {
        return fail(
            name,
            "is not a character device",
            "point port at the serial device itself, e.g. /dev/ttyUSB0",
        );
    }
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if let Some(driver) = char_driver(major(meta.rdev()))
        && !ALLOWED_TTY_CLASSES.contains(&driver.as_str())
    {
        problems.push(format!(
            "its driver class `{driver}` is not in lintel.service's DeviceAllow="
        ));
        fixes.push(format!(
            "`systemctl edit lintel` and add [Service] DeviceAllow=char-{driver} rw"
        ));
    }
    let mode = meta.mode();
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    match nix::unistd::User::from_name("lintel").ok().flatten() {
        None => {
            if problems.is_empty() {
                return unknown(
                    name,
                    format!(
                        "exists (group {group}, mode {:o}); no lintel user here to check \
                         access for (the .deb creates it)",
                        mode & 0o777
                    ),
                );
            }
        }
        Some(user) => {
            // The unit runs with Group=lintel and SupplementaryGroups=dialout.
            let mut gids = vec![user.gid.as_raw()];
            if let Ok(Some(g)) = nix::unistd::Group::from_name("dialout") {
                gids.push(g.gid.as_raw());
            }
            let member = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
                .ok()
                .flatten()
                .is_some_and(|g| g.mem.contains(&user.name));
            let bits = if meta.uid() == user.uid.as_raw() {
                (mode >> 6) & 0o7
            } else if gids.contains(&meta.gid()) || member {
                (mode >> 3) & 0o7
            } else {
                mode & 0o7
            };
            if bits & 0o6 != 0o6 {
                problems.push(format!(
                    "the lintel user cannot read and write it (group {group}, mode {:o})",
                    mode & 0o777
                ));
                fixes.push(
                    "give it to the dialout group with a udev rule, e.g. /etc/udev/rules.d/\
                     60-lintel.rules: SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*\", GROUP=\"dialout\", \
                     MODE=\"0660\", then `udevadm trigger`"
                        .to_string(),
                );
            }
        }
    }
    if problems.is_empty() {
        ok(
            name,
            format!(
                "present; the lintel user can read and write it (group {group}, mode {:o})",
                mode & 0o777
            ),
        )
    } else {
        fail(name, problems.join("; "), fixes.join("; "))
    }
}

async fn brokers(config: &Config, checks: &mut Vec<Check>) {
    for broker in &config.brokers {
        let name = format!("broker {}", broker.name);
        let password = match &broker.password {
            None => None,
            Some(secret) => match secret.load() {
                Ok(s) => Some(s.expose().to_string()),
                Err(e) => {
                    checks.push(fail(
                        name,
                        format!("password: {e}"),
                        "make the password secret readable by the lintel user",
                    ));
                    continue;
                }
            },
        };
        let settings = broker.settings(password);
        let tls = broker.url.starts_with("mqtts://");
        let suffix = format!("doctor-{}", std::process::id());
        let check = match settings.check(&suffix, NET_TIMEOUT).await {
            Ok(()) => ok(
                name,
                format!(
                    "{}: connected{} and accepted",
                    broker.url,
                    if tls { ", TLS verified" } else { "" }
                ),
            ),
            Err((stage, e)) => {
                use lintel_hal::mqtt::BrokerStage as S;
                let fix = match stage {
                    S::Settings => "fix the broker's url / TLS files in the config".to_string(),
                    S::Connect => "check the broker runs and this box reaches its host and port \
                                   (`nc -vz HOST PORT`); firewalls often drop 8883"
                        .to_string(),
                    S::Tls => "the TLS handshake failed: set ca_file to the CA that signed the \
                               broker's certificate, check the URL's host matches the \
                               certificate, and the box's clock"
                        .to_string(),
                    S::Refused => "the broker refused the login: check username and password \
                                   (and the broker's ACL for this client)"
                        .to_string(),
                    S::Timeout => "no answer: a firewall may drop the traffic, or the port is \
                                   not an MQTT listener"
                        .to_string(),
                };
                fail(name, e.to_string(), fix)
            }
        };
        checks.push(check);
    }
}

fn clock() -> Check {
    let out = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output();
    match out {
        Ok(out) if out.status.success() => match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => ok("clock", "synchronised (NTP)"),
            "no" => fail(
                "clock",
                format!(
                    "not synchronised; the box says it is {}",
                    jiff::Timestamp::now()
                ),
                "a wrong clock breaks every access window: `timedatectl set-ntp true`, and let \
                     systemd-timesyncd (or chrony) reach an NTP server on UDP 123",
            ),
            other => unknown("clock", format!("timedatectl said {other:?}")),
        },
        Ok(out) => unknown(
            "clock",
            format!(
                "timedatectl failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(_) => unknown(
            "clock",
            format!(
                "timedatectl is not available; check the time by hand (the box says {})",
                jiff::Timestamp::now()
            ),
        ),
    }
}

fn disk(path: &Path) -> Check {
    // The store directory, or the nearest parent that exists (before the first start).
    let mut at: PathBuf = path.to_path_buf();
    while !at.exists() {
        match at.parent() {
            Some(p) => at = p.to_path_buf(),
            None => break,
        }
    }
    match nix::sys::statvfs::statvfs(&at) {
        // The field types are narrower on some 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        Ok(s) => {
            let free = s.blocks_available() as u64 * s.fragment_size() as u64;
            let total = s.blocks() as u64 * s.fragment_size() as u64;
            let mib = |b: u64| b / (1024 * 1024);
            let detail = format!(
                "{} MiB free of {} MiB at {}",
                mib(free),
                mib(total),
                at.display()
            );
            if free < MIN_FREE_BYTES {
                fail(
                    "disk",
                    detail,
                    format!(
                        "free space on the file system holding {} (at least {} MiB): old logs \
                         (`journalctl --vacuum-size=100M`), apt caches (`apt-get clean`)",
                        path.display(),
                        mib(MIN_FREE_BYTES)
                    ),
                )
            } else {
                ok("disk", detail)
            }
        }
        Err(e) => unknown("disk", format!("cannot stat {}: {e}", at.display())),
    }
}

fn store(config: &Config, status: Option<&Status>) -> Check {
    let path = &config.store.path;
    if let Some(s) = status {
        return ok(
            "store",
            format!(
                "open in the daemon: {} bytes, {} people, {} card(s)",
                s.store.size_bytes, s.people.total, s.store.credentials
            ),
        );
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return unknown(
            "store",
            format!(
                "{} does not exist yet (the daemon creates it on first start)",
                path.display()
            ),
        );
    };
    // Opening it as another user could leave files the service cannot write.
    if meta.uid() != nix::unistd::Uid::effective().as_raw() {
        return unknown(
            "store",
            format!(
                "{} belongs to another user; run `sudo -u lintel lintel doctor` to open it",
                path.display()
            ),
        );
    }
    match crate::store::Store::open(path) {
        Ok(store) => {
            let people = store.people().map(|p| p.len()).unwrap_or_default();
            ok(
                "store",
                format!("opens: {} bytes, {people} people", store.size_on_disk()),
            )
        }
        Err(e) => {
            let text = e.to_string();
            let fix = if text.contains("lock") || text.contains("WouldBlock") {
                "another process holds the store: a lintel daemon whose control socket is not \
                 where doctor looked? (`ps -C lintel -o pid,args`)"
                    .to_string()
            } else {
                format!(
                    "the store cannot be opened: stop lintel, move {} aside and restore a backup \
                     (or start empty: every controller is re-sent its table)",
                    path.display()
                )
            };
            fail("store", text, fix)
        }
    }
}

fn controller_fix(c: &ControllerConfig) -> String {
    match c {
        ControllerConfig::ModbusTcp(t) => format!(
            "check the controller is powered and on the network (`ping`, `nc -vz` to {}), and \
             that unit = {} and the register profile match its manual",
            t.address, t.unit
        ),
        ControllerConfig::ModbusRtu(r) => format!(
            "check RS-485 wiring (A/B polarity, termination, common ground), that baud = {} and \
             parity match the device, and that unit = {} is its address",
            r.baud, r.unit
        ),
        ControllerConfig::EspRfid(_) | ControllerConfig::LintelMqtt(_) => {
            "check the board is powered, joined to Wi-Fi and connected to the same broker and \
             topic as the config says"
                .to_string()
        }
    }
}

async fn controllers(config: &Config, status: Option<&Status>, checks: &mut Vec<Check>) {
    for c in &config.controllers {
        let name = format!("controller {}", c.name());
        let check = match status {
            Some(s) => match s.controllers.iter().find(|r| r.name == c.name()) {
                Some(r) if r.online => ok(
                    name,
                    format!(
                        "online: holds {} credential(s), {} change(s) queued",
                        r.credentials, r.pending_ops
                    ),
                ),
                Some(r) => fail(
                    name,
                    format!(
                        "not answering the daemon: {}",
                        r.last_error.as_deref().unwrap_or("not contacted yet")
                    ),
                    controller_fix(c),
                ),
                None => unknown(
                    name,
                    "the running daemon does not know it: `systemctl reload lintel` to apply \
                     the config",
                ),
            },
            None => match crate::daemon::probe::probe(c, NET_TIMEOUT).await {
                Ok(info) => ok(
                    name,
                    format!(
                        "answers a probe{}",
                        info.slots
                            .map(|s| format!(" ({s} slots)"))
                            .unwrap_or_default()
                    ),
                ),
                Err(e) => fail(name, e, controller_fix(c)),
            },
        };
        checks.push(check);
    }
}
