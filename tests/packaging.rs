//! What the .deb ships: the annotated example config is a valid config that documents every key
//! the parser accepts (every commented-out key is valid where it stands and shows its default;
//! every commented-out example table is valid once uncommented), the systemd unit runs
//! check-config first and is sandboxed, and the cargo-deb metadata points at files that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use lintel::Config;
use lintel::config::{ControllerConfig, SourceConfig};

const CONFIG: &str = "packaging/lintel.toml";
const UNIT: &str = "systemd/lintel.service";

/// Every source and controller kind this version has (DESIGN.md names exactly these).
const SOURCE_KINDS: [&str; 5] = ["buildium", "appfolio", "entrata", "json", "csv"];
const CONTROLLER_KINDS: [&str; 4] = ["modbus-tcp", "modbus-rtu", "esp-rfid", "lintel-mqtt"];

/// Lines that start a commented-out example table.
const EXAMPLE_HEADERS: [&str; 3] = ["# [[source]]", "# [[controller]]", "# [[broker]]"];

/// Optional keys whose default cannot be written as a value: it is "none", or worked out from
/// other keys. The file shows them commented out with an example value, and the comment above
/// says "Default: …". Uncommented they must still be valid where they stand, but they are left
/// out of the "shows its default" comparison. Keep this list short: every other optional key
/// shows its real default.
const EXAMPLE_VALUES: [(&str, &str); 13] = [
    ("metrics.listen", "none: no metrics endpoint"),
    ("source(json).ca_file", "none: the built-in web roots only"),
    (
        "source(buildium).ca_file",
        "none: the built-in web roots only",
    ),
    (
        "source(appfolio).ca_file",
        "none: the built-in web roots only",
    ),
    (
        "source(entrata).ca_file",
        "none: the built-in web roots only",
    ),
    ("source(appfolio).base_url", "worked out from `database`"),
    ("source(appfolio).v0.client_id", "the reports `client_id`"),
    ("source(appfolio).v0.secret", "the reports `secret`"),
    (
        "source(entrata).base_url",
        "worked out from `subdomain` and `auth`",
    ),
    (
        "source(entrata).lease_status_type_ids",
        "worked out from the status map",
    ),
    (
        "controller(modbus-rtu).inter_frame_delay",
        "t3.5 at the configured `baud`",
    ),
    ("broker.client_cert_file", "none: no mutual TLS"),
    ("broker.client_key_file", "none: no mutual TLS"),
];

/// Tables whose keys are the operator's own (free-form maps), or secret references (whose
/// `file`/`env`/`credential` forms are documented in prose): key paths stop at them.
const OPAQUE: [&str; 5] = ["filters", "status_map", "status_ids", "secret", "password"];

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

/// The key a `key = value` line sets.
fn key_of(line: &str) -> &str {
    line.split(|c: char| c == '=' || c.is_whitespace())
        .next()
        .unwrap_or_default()
}

/// The commented-out example tables, as line ranges: each starts at an [`EXAMPLE_HEADERS`]
/// line and runs through the comment lines after it, up to the first line that is not a
/// comment (a blank line ends it).
fn example_tables(lines: &[&str]) -> Vec<Range<usize>> {
    let mut tables = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if EXAMPLE_HEADERS.contains(&lines[i].trim_end()) {
            let start = i;
            i += 1;
            while i < lines.len() && lines[i].starts_with('#') {
                i += 1;
            }
            tables.push(start..i);
        } else {
            i += 1;
        }
    }
    tables
}

/// `text` with the example tables that `pick` selects (by index) uncommented in place, one
/// comment level: `# [[source]]` → `[[source]]`, `# # key = value` → `# key = value`.
fn with_examples(text: &str, pick: impl Fn(usize, &[&str]) -> bool) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let tables = example_tables(&lines);
    let mut out: Vec<&str> = lines.clone();
    for (n, range) in tables.iter().enumerate() {
        if !pick(n, &lines[range.clone()]) {
            continue;
        }
        for i in range.clone() {
            let line = lines[i];
            out[i] = line
                .strip_prefix("# ")
                .or_else(|| (line == "#").then_some(""))
                .unwrap_or_else(|| {
                    panic!(
                        "{CONFIG} line {}: an example table's lines start with \"# \": {line:?}",
                        i + 1
                    )
                });
        }
    }
    out.join("\n")
}

/// `text` with every example table uncommented in place.
fn enabled(text: &str) -> String {
    with_examples(text, |_, _| true)
}

/// Which table a line of the file is in, to name the keys of commented-out lines as
/// [`key_paths`] does (`source(json).paging.size`, `broker.ca_file`).
#[derive(Default)]
struct Place {
    table: String,
    array: Option<String>,
    kind: Option<String>,
}

impl Place {
    /// Follows an active (uncommented) line.
    fn follow(&mut self, line: &str) {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            self.table = name.trim().to_string();
            self.array = Some(self.table.clone());
            self.kind = None;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            self.table = name.trim().to_string();
            let first = self.table.split('.').next().unwrap_or_default();
            if self.array.as_deref() != Some(first) {
                self.array = None;
            }
        } else if key_of(line) == "kind" && self.array.as_deref() == Some(self.table.as_str()) {
            let value = line.split_once('=').map(|(_, v)| v).unwrap_or_default();
            self.kind = Some(value.trim().trim_matches('"').to_string());
        }
    }

    fn path(&self, key: &str) -> String {
        match &self.array {
            Some(array) => {
                let head = match &self.kind {
                    Some(kind) => format!("{array}({kind})"),
                    None => array.clone(),
                };
                format!("{head}{}.{key}", &self.table[array.len()..])
            }
            None if self.table.is_empty() => key.to_string(),
            None => format!("{}.{key}", self.table),
        }
    }
}

fn is_example_value(path: &str) -> bool {
    EXAMPLE_VALUES.iter().any(|(p, _)| *p == path)
}

/// The config with its commented-out `# key = value` lines uncommented in place (example
/// tables are left alone): `full` uncomments all of them, `defaults` all but the
/// [`EXAMPLE_VALUES`], which must say "Default:" in the comment above them.
struct Uncommented {
    full: String,
    defaults: String,
    count: usize,
    examples: BTreeSet<String>,
}

fn uncommented(text: &str) -> Uncommented {
    let lines: Vec<&str> = text.lines().collect();
    let tables = example_tables(&lines);
    let mut place = Place::default();
    let mut full = Vec::new();
    let mut defaults = Vec::new();
    let mut count = 0;
    let mut examples = BTreeSet::new();
    for (i, &line) in lines.iter().enumerate() {
        let key_line = if tables.iter().any(|t| t.contains(&i)) {
            None
        } else {
            commented_key(line)
        };
        let Some(key_line) = key_line else {
            if !line.starts_with('#') {
                place.follow(line);
            }
            full.push(line);
            defaults.push(line);
            continue;
        };
        count += 1;
        full.push(key_line);
        let path = place.path(key_of(key_line));
        if !is_example_value(&path) {
            defaults.push(key_line);
            continue;
        }
        // The comment above (past the other example-value keys right above) says so.
        let mut j = i;
        while j > 0
            && commented_key(lines[j - 1]).is_some_and(|k| is_example_value(&place.path(key_of(k))))
        {
            j -= 1;
        }
        let mut says = false;
        while j > 0 && lines[j - 1].starts_with('#') && commented_key(lines[j - 1]).is_none() {
            j -= 1;
            says |= lines[j].contains("Default:");
        }
        assert!(
            says,
            "{CONFIG}: `{path}` shows an example value, so its comment must say \"Default: …\""
        );
        examples.insert(path);
        defaults.push(line);
    }
    Uncommented {
        full: full.join("\n"),
        defaults: defaults.join("\n"),
        count,
        examples,
    }
}

fn header(text: &str) -> String {
    text.lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
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

    // Active as shipped: what needs no hardware beyond an address. The other kinds are
    // commented-out examples (see example_tables_are_valid_and_show_every_kind).
    assert!(config.brokers.is_empty());
    assert_eq!(config.controllers.len(), 2);
    for controller in &config.controllers {
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
    assert_eq!(
        (
            config.pins.min_len,
            config.pins.max_len,
            config.pins.reject_weak
        ),
        (4, 4, true),
        "the shipped [pins] is the documented default"
    );
}

#[test]
fn every_commented_out_key_is_valid_in_place_and_shows_its_default() {
    let text = read(CONFIG);
    let mut examples = BTreeSet::new();
    // As shipped, and with every example table uncommented (its `# # key = value` lines then
    // being `# key = value` lines like any other).
    for (level, text) in [
        ("as shipped", text.clone()),
        ("examples on", enabled(&text)),
    ] {
        let u = uncommented(&text);
        assert!(
            u.count >= 40,
            "{level}: expected the optional keys as `# key = value` lines, found {}",
            u.count
        );
        let origin = format!("{CONFIG} ({level}) with every key uncommented");
        parse(&u.full, &origin);
        assert_eq!(
            parse(&u.defaults, &origin),
            parse(&text, CONFIG),
            "{level}: a commented-out `# key = value` in {CONFIG} does not show the key's default"
        );
        examples.extend(u.examples);
    }
    let listed: BTreeSet<String> = EXAMPLE_VALUES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        examples, listed,
        "EXAMPLE_VALUES must list exactly the keys shown with an example value"
    );
}

#[test]
fn example_tables_are_valid_and_show_every_kind() {
    let text = read(CONFIG);
    let lines: Vec<&str> = text.lines().collect();
    let tables = example_tables(&lines);
    assert!(tables.len() >= 9, "found {} example tables", tables.len());

    let all = enabled(&text);
    assert!(
        example_tables(&all.lines().collect::<Vec<_>>()).is_empty(),
        "example tables do not nest"
    );
    let config = parse(
        &all,
        "packaging/lintel.toml with every example table uncommented",
    );
    let sources: BTreeSet<&str> = config.sources.iter().map(|s| s.kind()).collect();
    let controllers: BTreeSet<&str> = config.controllers.iter().map(|c| c.kind()).collect();
    assert_eq!(sources, SOURCE_KINDS.into_iter().collect());
    assert_eq!(controllers, CONTROLLER_KINDS.into_iter().collect());
    assert!(!config.brokers.is_empty());
    for c in &config.controllers {
        if matches!(
            c,
            ControllerConfig::EspRfid(_) | ControllerConfig::LintelMqtt(_)
        ) {
            assert!(c.broker().is_some(), "{} names a [[broker]]", c.name());
        }
    }

    // What an operator does: uncomment one example (and the broker an MQTT controller needs)
    // and nothing else.
    let shipped = parse(&text, CONFIG);
    let tables_in = |c: &Config| c.sources.len() + c.controllers.len() + c.brokers.len();
    let is_broker = |range: &Range<usize>| lines[range.start] == "# [[broker]]";
    let brokers = tables.iter().filter(|r| is_broker(r)).count();
    for (n, range) in tables.iter().enumerate() {
        let one = with_examples(&text, |m, block| m == n || block[0] == "# [[broker]]");
        let origin = format!(
            "{CONFIG} with the example table at line {} uncommented",
            range.start + 1
        );
        let config = parse(&one, &origin);
        let added = brokers + usize::from(!is_broker(range));
        assert_eq!(
            tables_in(&config),
            tables_in(&shipped) + added,
            "{origin}: the example is one table"
        );
    }
}

/// Dotted paths of every key in a TOML document; `[[source]]` and `[[controller]]` entries are
/// named by their kind, e.g. `source(json).fields.email`. Free-form tables ([`OPAQUE`] but the
/// secrets) count as one key.
fn key_paths(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(_) if OPAQUE[..3].contains(&key.as_str()) => {
                out.insert(path);
            }
            toml::Value::Table(inner) => key_paths(&path, inner, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
            {
                for item in items {
                    let item = item.as_table().expect("checked above");
                    key_paths(&element_path(&path, item), item, out);
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
}

/// `source` → `source(json)`: an array-of-tables entry named by its kind, if it has one.
fn element_path(path: &str, item: &toml::Table) -> String {
    match item.get("kind").and_then(toml::Value::as_str) {
        Some(kind) => format!("{path}({kind})"),
        None => path.to_string(),
    }
}

const PROBE: &str = "zz_probe";

/// Every key the parser accepts in each table of `doc`, as `table.key` paths named like
/// [`key_paths`]: each table gets an unknown key, and serde's "unknown field, expected one of
/// …" error lists the fields it knows.
fn accepted_keys(doc: &toml::Table) -> BTreeSet<String> {
    // (how to reach the table, its path)
    fn tables(
        table: &toml::Table,
        steps: &mut Vec<toml::Value>,
        path: &str,
        out: &mut Vec<(Vec<toml::Value>, String)>,
    ) {
        out.push((steps.clone(), path.to_string()));
        for (key, value) in table {
            if OPAQUE.contains(&key.as_str()) {
                continue;
            }
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            steps.push(toml::Value::String(key.clone()));
            match value {
                toml::Value::Table(inner) => tables(inner, steps, &child, out),
                toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                    for (i, item) in items.iter().enumerate() {
                        let item = item.as_table().expect("checked above");
                        steps.push(toml::Value::Integer(i as i64));
                        tables(item, steps, &element_path(&child, item), out);
                        steps.pop();
                    }
                }
                _ => {}
            }
            steps.pop();
        }
    }
    let mut found = Vec::new();
    tables(doc, &mut Vec::new(), "", &mut found);

    // The document with `key = value` added to the table `steps` lead to.
    let with_key = |steps: &[toml::Value], key: &str, value: toml::Value| {
        let mut probe = toml::Value::Table(doc.clone());
        let mut at = &mut probe;
        for step in steps {
            at = match step {
                toml::Value::String(key) => at.get_mut(key.as_str()),
                toml::Value::Integer(i) => at.get_mut(*i as usize),
                _ => unreachable!(),
            }
            .expect("the step exists");
        }
        at.as_table_mut()
            .expect("a table")
            .insert(key.to_string(), value);
        toml::to_string(&probe).expect("serialise")
    };

    let mut accepted = BTreeSet::new();
    for (steps, path) in found {
        let text = with_key(&steps, PROBE, toml::Value::Integer(0));
        let message = match Config::parse(&text, "probe") {
            Ok(_) => panic!("{path}: an unknown key is accepted"),
            Err(e) => e.to_string(),
        };
        let unknown = format!("unknown field `{PROBE}`");
        let line = message
            .lines()
            .find_map(|l| l.split_once(&unknown).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("{path}: not an unknown-field error: {message}"));
        let mut fields: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        // `kind` and (for sources) the schedule keys are taken out before the kind's own keys
        // are parsed (src/config/kind.rs, src/config/sources.rs), so serde does not list them.
        // A schedule key counts where the config is valid with it (incremental_every is
        // refused by a source that cannot ask for changes only, e.g. csv).
        if path.starts_with("source(") && !path.contains('.') {
            fields.push("kind");
            for (key, sample) in [
                ("incremental_every", "1m"),
                ("full_reconcile", "0 3 * * *"),
                ("max_lookback", "24h"),
            ] {
                let text = with_key(&steps, key, toml::Value::String(sample.into()));
                if Config::parse(&text, "probe").is_ok() {
                    fields.push(key);
                }
            }
        }
        if path.starts_with("controller(") && !path.contains('.') {
            fields.push("kind");
        }
        assert!(!fields.is_empty(), "{path}: no fields listed in {message}");
        for field in fields {
            accepted.insert(if path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            });
        }
    }
    accepted
}

/// The keys the file documents, per kind: the list a reader can check against docs/.
fn documented_keys() -> BTreeSet<String> {
    let http = [
        "timeout",
        "max_body_bytes",
        "ca_file",
        "retries",
        "retry_min",
        "retry_max",
    ];
    let schedule = ["incremental_every", "full_reconcile", "max_lookback"];
    let profile = [
        "header_base",
        "slots_base",
        "slot_registers",
        "flags_offset",
        "card_offset",
        "card_registers",
        "valid_from_offset",
        "valid_until_offset",
        "pin_offset",
        "word_order",
        "max_write_registers",
        "max_read_registers",
        "max_pin",
    ]
    .map(|k| format!("profile.{k}"));
    let kinds: BTreeMap<&str, Vec<String>> = [
        (
            "source(json)",
            [
                "name",
                "kind",
                "enabled",
                "url",
                "auth",
                "auth_header",
                "status_map",
                "auth_scheme",
                "username",
                "secret.file",
                "records",
                "since_param",
                "paging.style",
                "paging.size",
                "paging.size_param",
                "paging.page_param",
                "paging.first_page",
                "paging.offset_param",
                "paging.cursor_param",
                "paging.next_cursor",
                "paging.next_link",
                "paging.total",
                "paging.total_header",
                "paging.max_pages",
                "fields.external_id",
                "fields.first_name",
                "fields.last_name",
                "fields.email",
                "fields.phone",
                "fields.unit",
                "fields.building",
                "fields.occupant_type",
                "fields.valid_from",
                "fields.valid_to",
                "fields.host",
                "fields.doors",
                "fields.status",
                "fields.lease_start",
                "fields.lease_end",
                "fields.move_in",
                "fields.move_out",
            ]
            .into_iter()
            .chain(http)
            .chain(schedule)
            .map(String::from)
            .collect(),
        ),
        (
            // incremental_every is refused for csv (it cannot ask for changes only).
            "source(csv)",
            [
                "name",
                "kind",
                "enabled",
                "path",
                "full_snapshot",
                "status_map",
                "full_reconcile",
                "max_lookback",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "source(buildium)",
            [
                "name",
                "kind",
                "enabled",
                "base_url",
                "client_id",
                "secret.file",
                "page_size",
                "lease_term_statuses",
                "property_ids",
            ]
            .into_iter()
            .chain(http)
            .chain(schedule)
            .map(String::from)
            .collect(),
        ),
        (
            "source(appfolio)",
            [
                "name",
                "kind",
                "enabled",
                "database",
                "base_url",
                "client_id",
                "secret.file",
                "rent_roll",
                "filters",
                "status_map",
                "v0.developer_id",
                "v0.base_url",
                "v0.client_id",
                "v0.secret.file",
                "v0.page_size",
            ]
            .into_iter()
            .chain(http)
            .chain(schedule)
            .map(String::from)
            .collect(),
        ),
        (
            "source(entrata)",
            [
                "name",
                "kind",
                "enabled",
                "subdomain",
                "auth",
                "username",
                "secret.file",
                "base_url",
                "property_ids",
                "time_zone",
                "per_page",
                "status_ids",
                "lease_status_type_ids",
                "window_ahead_days",
            ]
            .into_iter()
            .chain(http)
            .chain(schedule)
            .map(String::from)
            .collect(),
        ),
        (
            "controller(modbus-tcp)",
            [
                "name",
                "kind",
                "address",
                "unit",
                "timeout",
                "verify_every",
                "visitor_passes",
            ]
            .map(String::from)
            .into_iter()
            .chain(profile.clone())
            .collect(),
        ),
        (
            "controller(modbus-rtu)",
            [
                "name",
                "kind",
                "port",
                "baud",
                "parity",
                "stop_bits",
                "unit",
                "response_timeout",
                "inter_frame_delay",
                "verify_every",
                "rs485.enabled",
                "rs485.rts_on_send",
                "rs485.delay_before_send_ms",
                "rs485.delay_after_send_ms",
                "rs485.rx_during_tx",
                "rs485.terminate_bus",
                "visitor_passes",
            ]
            .map(String::from)
            .into_iter()
            .chain(profile)
            .collect(),
        ),
        (
            "controller(esp-rfid)",
            [
                "name",
                "kind",
                "broker",
                "topic",
                "hostname",
                "uid_format",
                "ack_timeout",
                "list_quiet",
                "liveness",
                "verify_every",
                "visitor_passes",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "controller(lintel-mqtt)",
            [
                "name",
                "kind",
                "broker",
                "topic",
                "ack_timeout",
                "max_batch",
                "verify_every",
                "visitor_passes",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "broker",
            [
                "name",
                "url",
                "client_id",
                "keepalive",
                "username",
                "password.file",
                "ca_file",
                "client_cert_file",
                "client_key_file",
                "reconnect_min",
                "reconnect_max",
            ]
            .map(String::from)
            .to_vec(),
        ),
    ]
    .into_iter()
    .collect();
    let rest = [
        "site.name",
        "site.timezone",
        "site.default_country",
        "store.path",
        "control.socket",
        "control.read_group",
        "log.level",
        "metrics.listen",
        "sync.interval",
        "policy.lease_statuses",
        "policy.exclude",
        "policy.require_identifier",
        "policy.require_unit",
        "policy.require_building",
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
        "access.grace",
        "access.room_digits",
        "pins.min_len",
        "pins.max_len",
        "pins.reject_weak",
        "dispatch.retry_min",
        "dispatch.retry_max",
        "dispatch.batch",
        "dispatch.probe_every",
        "door.name",
        "door.controller",
        "door.index",
        "group.name",
        "group.match.person_type",
        "group.match.buildings",
        "group.match.units",
        "group.match.floors",
        "group.match.tags",
        "group.doors",
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, keys)| keys.into_iter().map(move |k| format!("{kind}.{k}")))
        .chain(rest.map(String::from))
        .collect()
}

#[test]
fn every_key_the_parser_accepts_is_documented() {
    let text = enabled(&read(CONFIG));
    let table: toml::Table = toml::from_str(&uncommented(&text).full).expect("TOML");
    let mut found = BTreeSet::new();
    key_paths("", &table, &mut found);

    // The file shows exactly the keys this test lists …
    let expected = documented_keys();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{CONFIG} must show every key: missing {missing:?}; not in this test's list \
         {unexpected:?}"
    );

    // … and they are every key the parser accepts, in every table the file has: a key added to
    // a config struct and not to the file fails here. (A documented key the parser refuses
    // already fails to parse above.)
    let accepted = accepted_keys(&table);
    let covers = |key: &str, path: &str| {
        path == key || path.starts_with(&format!("{key}.")) || path.starts_with(&format!("{key}("))
    };
    let undocumented: Vec<_> = accepted
        .iter()
        .filter(|key| !found.iter().any(|path| covers(key, path)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "the parser accepts keys {CONFIG} does not show: {undocumented:?}"
    );
    let refused: Vec<_> = found
        .iter()
        .filter(|path| !accepted.iter().any(|key| covers(key, path)))
        .collect();
    assert!(
        refused.is_empty(),
        "not accepted by the parser: {refused:?}"
    );
}

/// The kinds an error message lists after "this version has".
fn kinds_listed(message: &str) -> BTreeSet<String> {
    let line = message
        .lines()
        .find_map(|l| l.split_once("this version has").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the error lists the supported kinds: {message}"));
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn every_kind_is_implemented_and_an_unknown_kind_is_refused_listing_them() {
    let text = read(CONFIG);
    let header = header(&text);
    assert!(
        !header.to_lowercase().contains("planned"),
        "every kind is implemented now; the header must not call any planned"
    );
    for kind in SOURCE_KINDS.iter().chain(&CONTROLLER_KINDS) {
        assert!(
            header.contains(&format!("\"{kind}\"")),
            "header names {kind}"
        );
    }
    assert!(header.contains("[[broker]]"), "header names [[broker]]");

    for (active, unknown, kinds) in [
        ("kind = \"json\"", "yardi", &SOURCE_KINDS[..]),
        ("kind = \"modbus-tcp\"", "bacnet", &CONTROLLER_KINDS[..]),
    ] {
        // The first active line, not a comment mentioning it.
        let variant = text.replacen(
            &format!("\n{active}\n"),
            &format!("\nkind = \"{unknown}\"\n"),
            1,
        );
        assert_ne!(variant, text);
        let message = match Config::parse(&variant, CONFIG) {
            Ok(_) => panic!("kind {unknown} is accepted"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(unknown), "names the kind: {message}");
        assert_eq!(
            kinds_listed(&message),
            kinds.iter().map(|k| k.to_string()).collect(),
            "the kinds the parser lists are the ones {CONFIG} shows"
        );
    }
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

#[test]
fn check_config_accepts_every_example_table_once_their_secrets_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = enabled(&read(CONFIG));
    let files: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once("{ file = \"").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('"').map(|(path, _)| path.to_string()))
        .collect();
    assert!(files.len() >= 6, "secret files: {files:?}");
    for file in &files {
        let name = Path::new(file).file_name().expect("a file name");
        let local = dir.path().join(name);
        std::fs::write(&local, "token\n").expect("write secret");
        text = text.replace(
            &format!("\"{file}\""),
            &format!("{:?}", local.display().to_string()),
        );
    }
    let config = dir.path().join("lintel.toml");
    std::fs::write(&config, &text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run lintel");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-config: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = parse(&text, "the config with every example table");
    assert!(
        stdout.contains(&format!(
            "{} source(s), {} controller(s)",
            parsed.sources.len(),
            parsed.controllers.len()
        )),
        "{stdout}"
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

    // The daemon reloads its config on SIGHUP and sends watchdog keep-alives
    // (src/daemon/reload.rs, src/daemon/watchdog.rs), so the unit uses both.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ExecReload=") && l.contains("-HUP $MAINPID")),
        "{UNIT}: `systemctl reload lintel` sends SIGHUP"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("WatchdogSec=")),
        "{UNIT}: the daemon sends watchdog keep-alives"
    );
    assert!(text.contains("#LoadCredential=pms.secret:/etc/lintel/pms.secret"));
    assert!(text.contains("secret = { credential = \"pms.secret\" }"));
    assert!(text.contains("#LoadCredential=mqtt.secret:/etc/lintel/mqtt.secret"));
    assert!(text.contains("password = { credential = \"mqtt.secret\" }"));

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
