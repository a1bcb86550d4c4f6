//! What the .deb ships: the annotated example config is a valid config that documents every key
//! (and every commented-out key is valid where it stands), the systemd unit runs check-config
//! first and is sandboxed, and the cargo-deb metadata points at files that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lintel::Config;
use lintel::config::{ControllerConfig, SourceConfig};

const CONFIG: &str = "packaging/lintel.toml";
const UNIT: &str = "systemd/lintel.service";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn parse(text: &str, origin: &str) -> Config {
    Config::parse(text, origin).unwrap_or_else(|e| panic!("{origin} must be valid: {e}"))
}

/// `# key = value` → `key = value`: the lines the file offers as optional keys.
fn commented_key(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .unwrap_or(rest.len());
    (key_len > 0 && rest[key_len..].trim_start().starts_with('=')).then_some(rest)
}

/// The config with every commented-out `# key = value` line uncommented in place.
fn uncommented(text: &str) -> (String, usize) {
    let mut count = 0;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| match commented_key(line) {
            Some(key_line) => {
                count += 1;
                key_line
            }
            None => line,
        })
        .collect();
    (lines.join("\n"), count)
}

#[test]
fn shipped_config_parses_and_validates() {
    let config = parse(&read(CONFIG), CONFIG);
    assert_eq!(config.site.timezone, "America/New_York");

    let sources: Vec<_> = config
        .sources
        .iter()
        .map(|s| (s.name(), s.kind(), s.enabled()))
        .collect();
    assert_eq!(sources, [("pms", "json", true), ("roster", "csv", false)]);
    let SourceConfig::Json(json) = &config.sources[0] else {
        panic!("the first source is the JSON one");
    };
    assert_eq!(
        json.secret,
        Some(lintel::config::secret::SecretRef::File(
            "/etc/lintel/pms.secret".into()
        ))
    );

    assert_eq!(config.controllers.len(), 2);
    for controller in &config.controllers {
        // modbus-tcp is the only kind today; others would fail the address check below.
        #[allow(irrefutable_let_patterns)]
        let ControllerConfig::ModbusTcp(tcp) = controller else {
            panic!("{} is not modbus-tcp", controller.name());
        };
        assert!(
            tcp.address.starts_with("192.0.2."),
            "controllers use documentation addresses: {}",
            tcp.address
        );
    }
    assert_eq!(config.doors.len(), 3);
    assert_eq!(config.groups.len(), 1);
    assert_eq!(config.groups[0].name, "residents");
}

#[test]
fn every_commented_out_key_is_valid_in_place_and_shows_its_default() {
    let text = read(CONFIG);
    let (full, count) = uncommented(&text);
    assert!(
        count >= 40,
        "expected the optional keys as `# key = value` lines, found {count}"
    );
    let shipped = parse(&text, CONFIG);
    let mut all = parse(&full, "packaging/lintel.toml with every key uncommented");

    // The file says a commented-out value is the default, except for keys whose default is
    // none; ca_file is the one such key shown commented out.
    let SourceConfig::Json(json) = &mut all.sources[0] else {
        panic!("the first source is the JSON one");
    };
    assert!(json.ca_file.is_some());
    json.ca_file = None;
    assert_eq!(
        all, shipped,
        "a commented-out `# key = value` in {CONFIG} does not show the key's default"
    );
}

/// Dotted paths of every key in a TOML document; `[[source]]` and `[[controller]]` entries are
/// named by their kind, e.g. `source(json).fields.email`.
fn key_paths(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => key_paths(&path, inner, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
            {
                for item in items {
                    let item = item.as_table().expect("checked above");
                    let name = match item.get("kind").and_then(toml::Value::as_str) {
                        Some(kind) => format!("{path}({kind})"),
                        None => path.clone(),
                    };
                    key_paths(&name, item, out);
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
}

#[test]
fn every_key_the_parser_accepts_is_documented() {
    let (full, _) = uncommented(&read(CONFIG));
    let table: toml::Table = toml::from_str(&full).expect("TOML");
    let mut found = BTreeSet::new();
    key_paths("", &table, &mut found);

    let json = [
        "name",
        "kind",
        "enabled",
        "url",
        "auth_header",
        "auth_scheme",
        "secret.file",
        "ca_file",
        "records",
        "timeout",
        "max_body_bytes",
        "fields.external_id",
        "fields.first_name",
        "fields.last_name",
        "fields.email",
        "fields.phone",
        "fields.unit",
        "fields.status",
        "fields.lease_start",
        "fields.lease_end",
        "fields.move_in",
        "fields.move_out",
    ]
    .map(|k| format!("source(json).{k}"));
    let csv = ["name", "kind", "enabled", "path"].map(|k| format!("source(csv).{k}"));
    let modbus_tcp = [
        "name",
        "kind",
        "address",
        "unit",
        "timeout",
        "profile.header_base",
        "profile.slots_base",
        "profile.slot_registers",
        "profile.flags_offset",
        "profile.card_offset",
        "profile.card_registers",
        "profile.valid_from_offset",
        "profile.valid_until_offset",
        "profile.pin_offset",
        "profile.word_order",
        "profile.max_write_registers",
        "profile.max_read_registers",
        "profile.max_pin",
    ]
    .map(|k| format!("controller(modbus-tcp).{k}"));
    let rest = [
        "site.name",
        "site.timezone",
        "site.default_country",
        "store.path",
        "control.socket",
        "control.read_group",
        "log.level",
        "sync.interval",
        "policy.lease_statuses",
        "policy.exclude",
        "policy.require_identifier",
        "policy.require_unit",
        "policy.match_key",
        "policy.mass_disable.max_count",
        "policy.mass_disable.max_percent",
        "policy.units.strip_prefixes",
        "policy.units.remove",
        "policy.units.uppercase",
        "activity.max_entries",
        "activity.max_age",
        "access.start_time",
        "access.end_time",
        "dispatch.retry_min",
        "dispatch.retry_max",
        "dispatch.batch",
        "dispatch.probe_every",
        "door.name",
        "door.controller",
        "door.index",
        "group.name",
        "group.match.person_type",
        "group.doors",
    ]
    .map(String::from);
    let expected: BTreeSet<String> = json
        .into_iter()
        .chain(csv)
        .chain(modbus_tcp)
        .chain(rest)
        .collect();

    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{CONFIG} must show every key: missing {missing:?}; not in this test's list \
         {unexpected:?}"
    );
}

#[test]
fn kinds_the_header_calls_planned_are_rejected() {
    let text = read(CONFIG);
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    for (active, planned) in [
        ("kind = \"modbus-tcp\"", "modbus-rtu"),
        ("kind = \"modbus-tcp\"", "esp-rfid"),
        ("kind = \"modbus-tcp\"", "lintel-mqtt"),
        ("kind = \"json\"", "buildium"),
        ("kind = \"json\"", "appfolio"),
        ("kind = \"json\"", "entrata"),
    ] {
        assert!(header.contains(&format!("\"{planned}\"")), "{planned}");
        // The first active line, not a comment mentioning it.
        let variant = text.replacen(
            &format!("\n{active}\n"),
            &format!("\nkind = \"{planned}\"\n"),
            1,
        );
        assert_ne!(variant, text);
        assert!(
            Config::parse(&variant, CONFIG).is_err(),
            "kind {planned} is accepted now: update the header of {CONFIG}"
        );
    }
    let with_broker = format!("{text}\n[[broker]]\nname = \"local\"\n");
    assert!(
        Config::parse(&with_broker, CONFIG).is_err(),
        "[[broker]] is accepted now: update the header of {CONFIG}"
    );
}

#[test]
fn check_config_accepts_the_shipped_file_once_its_secret_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("pms.secret");
    let config = dir.path().join("lintel.toml");
    let text = read(CONFIG);
    assert!(text.contains("\"/etc/lintel/pms.secret\""));
    std::fs::write(
        &config,
        text.replace(
            "\"/etc/lintel/pms.secret\"",
            &format!("{:?}", secret.display().to_string()),
        ),
    )
    .expect("write config");
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_lintel"))
            .arg("check-config")
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run lintel")
    };

    // check-config builds every source, so a missing secret file is named.
    let out = check();
    assert!(!out.status.success(), "no secret yet must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&secret.display().to_string()),
        "the error names the secret file: {stderr}"
    );

    std::fs::write(&secret, "token\n").expect("write secret");
    let out = check();
    assert!(
        out.status.success(),
        "check-config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The active `Key=Value` lines of a unit file, trimmed.
fn unit_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .collect()
}

#[test]
fn systemd_unit_checks_the_config_first_and_is_sandboxed() {
    let text = read(UNIT);
    let lines = unit_lines(&text);
    let config = lintel::config::DEFAULT_CONFIG_PATH;
    let required = [
        "[Service]".to_string(),
        "Type=notify".to_string(),
        format!("ExecStartPre=/usr/bin/lintel check-config --config {config}"),
        format!("ExecStart=/usr/bin/lintel run --config {config}"),
        "Restart=on-failure".to_string(),
        "User=lintel".to_string(),
        "Group=lintel".to_string(),
        "SupplementaryGroups=dialout".to_string(),
        "StateDirectory=lintel".to_string(),
        "RuntimeDirectory=lintel".to_string(),
        "ConfigurationDirectory=lintel".to_string(),
        "UMask=0077".to_string(),
        "ProtectSystem=strict".to_string(),
        "ProtectHome=true".to_string(),
        "PrivateTmp=true".to_string(),
        "NoNewPrivileges=true".to_string(),
        "DevicePolicy=closed".to_string(),
        "DeviceAllow=char-ttyS rw".to_string(),
        "DeviceAllow=char-ttyUSB rw".to_string(),
        "DeviceAllow=char-ttyACM rw".to_string(),
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6".to_string(),
        "TimeoutStopSec=20".to_string(),
        "WantedBy=multi-user.target".to_string(),
    ];
    for line in &required {
        assert!(lines.contains(&line.as_str()), "{UNIT} lacks `{line}`");
    }

    // Not implemented in this version: a reload that re-reads the config, watchdog pings.
    for key in ["ExecReload=", "WatchdogSec="] {
        assert!(
            !lines.iter().any(|l| l.starts_with(key)),
            "{UNIT} sets {key}, which this version does not implement"
        );
    }
    assert!(text.contains("#LoadCredential=pms.secret:/etc/lintel/pms.secret"));
    assert!(text.contains("secret = { credential = \"pms.secret\" }"));

    // The directories systemd provides are the daemon's defaults.
    let socket = Path::new(lintel::config::DEFAULT_SOCKET_PATH);
    assert_eq!(socket.parent(), Some(Path::new("/run/lintel")));
    assert_eq!(
        lintel::config::StoreConfig::default().path,
        Path::new("/var/lib/lintel")
    );
    assert_eq!(Path::new(config).parent(), Some(Path::new("/etc/lintel")));
}

#[test]
fn deb_metadata_points_at_files_that_exist() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    let deb = manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]");

    let units = deb["systemd-units"].as_table().expect("systemd-units");
    assert_eq!(units["enable"].as_bool(), Some(false), "installed disabled");
    assert_eq!(
        units["start"].as_bool(),
        Some(false),
        "not started unconfigured"
    );
    let unit_dir = units["unit-scripts"].as_str().expect("unit-scripts");
    assert!(repo(unit_dir).join("lintel.service").is_file());

    let mut destinations = Vec::new();
    for asset in deb["assets"].as_array().expect("assets") {
        let asset = asset.as_array().expect("[source, destination, mode]");
        let source = asset[0].as_str().expect("source");
        destinations.push(asset[1].as_str().expect("destination").to_string());
        // Build outputs appear after `cargo build --release`.
        if source.starts_with("target/") {
            continue;
        }
        assert!(repo(source).is_file(), "asset {source} does not exist");
    }
    for conf in deb["conf-files"].as_array().expect("conf-files") {
        let conf = conf.as_str().expect("path");
        assert!(
            destinations.iter().any(|d| format!("/{d}") == conf),
            "conf-file {conf} is not an asset destination"
        );
    }

    let scripts = repo(
        deb["maintainer-scripts"]
            .as_str()
            .expect("maintainer-scripts"),
    );
    for name in ["postinst", "postrm"] {
        let path = scripts.join(name);
        let text = std::fs::read_to_string(&path).expect("maintainer script");
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        assert_eq!(
            text.matches("#DEBHELPER#").count(),
            1,
            "{name}: cargo-deb replaces every occurrence of the token, comments included"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{name} must be executable");
        }
    }
}
