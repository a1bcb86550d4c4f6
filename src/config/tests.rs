use std::path::Path;
use std::time::Duration;

use super::{Config, ConfigError, ControllerConfig, DEFAULT_SOCKET_PATH};

const SITE: &str = "[site]\nname = \"test\"\ntimezone = \"America/New_York\"\n";

fn controller(name: &str) -> String {
    format!(
        "[[controller]]\nname = \"{name}\"\nkind = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n"
    )
}

fn door(name: &str, controller: &str, index: u8) -> String {
    format!("[[door]]\nname = \"{name}\"\ncontroller = \"{controller}\"\nindex = {index}\n")
}

fn group(name: &str, doors: &str) -> String {
    format!("[[group]]\nname = \"{name}\"\ndoors = [{doors}]\n")
}

fn csv_source(name: &str) -> String {
    format!("[[source]]\nname = \"{name}\"\nkind = \"csv\"\npath = \"/srv/roster.csv\"\n")
}

fn parse(text: &str) -> Config {
    match Config::parse(text, "test") {
        Ok(config) => config,
        Err(e) => panic!("config should be valid, got {e}\n---\n{text}"),
    }
}

/// The key a validation error names (panics on any other outcome).
fn invalid_key(text: &str) -> String {
    match Config::parse(text, "test") {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}\n---\n{text}"),
    }
}

/// The message of a TOML parse error (panics on any other outcome).
fn parse_error(text: &str) -> String {
    match Config::parse(text, "test") {
        Err(ConfigError::Parse { origin, message }) => {
            assert_eq!(origin, "test");
            message
        }
        other => panic!("expected a parse error, got {other:?}\n---\n{text}"),
    }
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let config = parse(SITE);
    assert_eq!(config.site.name, "test");
    assert_eq!(config.site.timezone, "America/New_York");
    assert_eq!(config.store.path, Path::new("/var/lib/lintel"));
    assert_eq!(config.control.socket, Path::new(DEFAULT_SOCKET_PATH));
    assert_eq!(config.control.socket, Path::new("/run/lintel/control.sock"));
    assert_eq!(config.control.read_group.as_deref(), Some("lintel"));
    assert_eq!(config.log.level, "info");
    assert_eq!(config.sync.interval, Duration::from_secs(60));
    assert_eq!(
        config.policy.lease_statuses,
        ["pending", "current", "notice"]
    );
    assert_eq!(config.access.start_time, "10:00");
    assert_eq!(config.access.end_time, "16:00");
    assert_eq!(config.dispatch.batch, 60);
    assert_eq!(config.dispatch.retry_min, Duration::from_secs(1));
    assert_eq!(config.dispatch.retry_max, Duration::from_secs(60));
    assert_eq!(config.dispatch.probe_every, Duration::from_secs(30));
    assert!(config.sources.is_empty());
    assert!(config.controllers.is_empty());
    assert!(config.doors.is_empty());
    assert!(config.groups.is_empty());
    assert_eq!(
        config.time_zone(),
        jiff::tz::TimeZone::get("America/New_York").expect("known zone")
    );
}

#[test]
fn controller_defaults() {
    let config = parse(&format!("{SITE}{}", controller("c")));
    let ControllerConfig::ModbusTcp(m) = &config.controllers[0] else {
        panic!("expected a modbus-tcp controller");
    };
    assert_eq!(m.name, "c");
    assert_eq!(m.address, "127.0.0.1:502");
    assert_eq!(m.unit, 1);
    assert_eq!(m.timeout, Duration::from_secs(1));
    assert_eq!(m.profile, lintel_hal::RegisterProfile::default());
    assert_eq!(config.controllers[0].kind(), "modbus-tcp");
}

#[test]
fn full_config_parses_every_section() {
    let text = format!(
        "{SITE}\
[store]\npath = \"/data/lintel\"\n\
[control]\nsocket = \"/tmp/l.sock\"\n\
[sync]\ninterval = \"1h 30m\"\n\
[policy]\nlease_statuses = [\"current\"]\n\
[access]\nstart_time = \"08:05\"\nend_time = \"23:59\"\n\
[dispatch]\nretry_min = \"500ms\"\nretry_max = \"2m\"\nbatch = 5\nprobe_every = \"10s\"\n\
{}{}unit = 247\ntimeout = \"250ms\"\n[controller.profile]\nmax_pin = 999\n\
{}{}{}",
        csv_source("roster"),
        controller("c"),
        door("front", "c", 0),
        door("back", "c", 7),
        group("all", "\"front\", \"back\""),
    );
    let config = parse(&text);
    assert_eq!(config.store.path, Path::new("/data/lintel"));
    assert_eq!(config.control.socket, Path::new("/tmp/l.sock"));
    assert_eq!(config.sync.interval, Duration::from_secs(5_400));
    assert_eq!(config.policy.lease_statuses, ["current"]);
    assert_eq!(config.access.start_time, "08:05");
    assert_eq!(config.dispatch.retry_min, Duration::from_millis(500));
    assert_eq!(config.dispatch.retry_max, Duration::from_secs(120));
    assert_eq!(config.dispatch.batch, 5);
    assert_eq!(config.sources[0].name(), "roster");
    assert_eq!(config.sources[0].kind(), "csv");
    assert!(config.sources[0].enabled());
    let ControllerConfig::ModbusTcp(m) = &config.controllers[0] else {
        panic!("expected a modbus-tcp controller");
    };
    assert_eq!(m.unit, 247);
    assert_eq!(m.timeout, Duration::from_millis(250));
    assert_eq!(m.profile.max_pin, 999);
    assert_eq!(
        m.profile.slot_registers, 8,
        "unnamed profile fields default"
    );
    assert_eq!(config.doors[1].index, 7);
    assert_eq!(config.groups[0].doors, ["front", "back"]);
}

#[test]
fn missing_site_is_an_error() {
    let message = parse_error("[store]\npath = \"/x\"\n");
    assert!(message.contains("site"), "{message}");
}

#[test]
fn unknown_top_level_key_is_named() {
    let message = parse_error(&format!("bogus = 1\n{SITE}"));
    assert!(message.contains("unknown field `bogus`"), "{message}");
}

#[test]
fn unknown_key_in_site_is_named() {
    let message = parse_error(&format!("{SITE}colour = \"blue\"\n"));
    assert!(message.contains("unknown field `colour`"), "{message}");
}

#[test]
fn unknown_key_in_other_sections_is_named() {
    for (section, key) in [
        ("store", "paths"),
        ("control", "sockets"),
        ("log", "levels"),
        ("sync", "intervals"),
        ("policy", "lease_status"),
        ("access", "start"),
        ("dispatch", "batch_size"),
    ] {
        let message = parse_error(&format!("{SITE}[{section}]\n{key} = \"x\"\n"));
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "[{section}] {key}: {message}"
        );
    }
}

#[test]
fn unknown_key_in_controller_is_named() {
    let message = parse_error(&format!("{SITE}{}speed = 9600\n", controller("c")));
    assert!(message.contains("unknown field `speed`"), "{message}");
}

#[test]
fn unknown_key_in_controller_profile_is_named() {
    let message = parse_error(&format!(
        "{SITE}{}[controller.profile]\nbogus_offset = 3\n",
        controller("c")
    ));
    assert!(
        message.contains("unknown field `bogus_offset`"),
        "{message}"
    );
}

#[test]
fn unknown_key_in_source_door_and_group_is_named() {
    let message = parse_error(&format!("{SITE}{}extra = 1\n", csv_source("s")));
    assert!(message.contains("unknown field `extra`"), "{message}");

    let message = parse_error(&format!(
        "{SITE}{}{}relay = 2\n",
        controller("c"),
        door("d", "c", 0)
    ));
    assert!(message.contains("unknown field `relay`"), "{message}");

    let message = parse_error(&format!(
        "{SITE}{}{}{}match = {{ person_kind = \"staff\" }}\n",
        controller("c"),
        door("d", "c", 0),
        group("g", "\"d\"")
    ));
    assert!(message.contains("unknown field `person_kind`"), "{message}");
}

#[test]
fn unknown_controller_or_source_kind_is_an_error() {
    let text =
        format!("{SITE}[[controller]]\nname = \"c\"\nkind = \"bacnet\"\naddress = \"h:1\"\n");
    let message = parse_error(&text);
    assert!(message.contains("bacnet"), "{message}");
    let text = format!("{SITE}[[source]]\nname = \"s\"\nkind = \"ldap\"\n");
    let message = parse_error(&text);
    assert!(message.contains("ldap"), "{message}");
}

#[test]
fn duplicate_source_names_are_named() {
    let text = format!(
        "{SITE}{}{}{}",
        csv_source("a"),
        csv_source("b"),
        csv_source("a")
    );
    assert_eq!(invalid_key(&text), "source[2].name");
}

#[test]
fn duplicate_controller_names_are_named() {
    let text = format!("{SITE}{}{}", controller("c"), controller("c"));
    assert_eq!(invalid_key(&text), "controller[1].name");
}

#[test]
fn duplicate_door_names_are_named() {
    let text = format!(
        "{SITE}{}{}{}",
        controller("c"),
        door("d", "c", 0),
        door("d", "c", 1)
    );
    assert_eq!(invalid_key(&text), "door[1].name");
}

#[test]
fn duplicate_group_names_are_named() {
    let text = format!(
        "{SITE}{}{}{}{}",
        controller("c"),
        door("d", "c", 0),
        group("g", "\"d\""),
        group("g", "")
    );
    assert_eq!(invalid_key(&text), "group[1].name");
}

#[test]
fn empty_names_are_errors() {
    assert_eq!(
        invalid_key("[site]\nname = \" \"\ntimezone = \"UTC\"\n"),
        "site.name"
    );
    assert_eq!(
        invalid_key(&format!("{SITE}{}", controller(""))),
        "controller[0].name"
    );
}

#[test]
fn unknown_time_zone_is_named() {
    assert_eq!(
        invalid_key("[site]\nname = \"t\"\ntimezone = \"Mars/Olympus\"\n"),
        "site.timezone"
    );
}

#[test]
fn bad_sync_interval_names_its_key() {
    let message = parse_error(&format!("{SITE}[sync]\ninterval = \"soon\"\n"));
    assert!(message.contains("interval"), "{message}");
    assert!(message.contains("`soon` is not a duration"), "{message}");
    assert_eq!(
        invalid_key(&format!("{SITE}[sync]\ninterval = \"0s\"\n")),
        "sync.interval"
    );
}

#[test]
fn bad_dispatch_durations_name_their_key() {
    for key in ["retry_min", "retry_max", "probe_every"] {
        let message = parse_error(&format!("{SITE}[dispatch]\n{key} = \"2 fortnights\"\n"));
        assert!(message.contains(key), "{key}: {message}");
        assert!(message.contains("not a duration"), "{key}: {message}");
    }
    // A number is not a duration either: durations carry their unit.
    let message = parse_error(&format!("{SITE}[dispatch]\nretry_min = 5\n"));
    assert!(message.contains("retry_min"), "{message}");
}

#[test]
fn bad_controller_values_name_their_key() {
    let message = parse_error(&format!("{SITE}{}timeout = \"soon\"\n", controller("c")));
    assert!(message.contains("`timeout`"), "{message}");
    let message = parse_error(&format!("{SITE}{}unit = 256\n", controller("c")));
    assert!(message.contains("`unit`"), "{message}");
}

#[test]
fn unknown_and_planned_kinds_say_what_this_version_has() {
    let message = parse_error(&format!(
        "{SITE}[[controller]]\nname = \"c\"\nkind = \"bacnet\"\n"
    ));
    assert!(
        message.contains("unknown") && message.contains("modbus-tcp"),
        "{message}"
    );
    let message = parse_error(&format!(
        "{SITE}[[source]]\nname = \"s\"\nkind = \"yardi\"\n"
    ));
    assert!(
        message.contains("unknown") && message.contains("json"),
        "{message}"
    );
}

#[test]
fn lease_statuses_compare_case_insensitively() {
    let config = Config::parse(
        &format!("{SITE}[policy]\nlease_statuses = [\" Current\"]\n"),
        "test",
    )
    .expect("valid");
    assert_eq!(config.policy.lease_statuses, vec!["current".to_string()]);
}

#[test]
fn bare_ipv6_is_not_host_port_but_bracketed_is() {
    let bare = format!("{SITE}{}", controller("c")).replace("127.0.0.1:502", "fe80::1");
    assert_eq!(invalid_key(&bare), "controller[0].address");
    let bracketed = format!("{SITE}{}", controller("c")).replace("127.0.0.1:502", "[fe80::1]:502");
    Config::parse(&bracketed, "test").expect("bracketed IPv6 is fine");
}

#[test]
fn bad_controller_timeout_is_rejected() {
    let message = parse_error(&format!("{SITE}{}timeout = \"soon\"\n", controller("c")));
    assert!(message.contains("`soon` is not a duration"), "{message}");
    assert_eq!(
        invalid_key(&format!("{SITE}{}timeout = \"0s\"\n", controller("c"))),
        "controller[0].timeout"
    );
}

#[test]
fn bad_access_times_name_their_key() {
    for bad in [
        "9:00", "10:0", "24:00", "10:60", "ten", "10:00:00", "", "-1:00",
    ] {
        let text = format!("{SITE}[access]\nstart_time = \"{bad}\"\n");
        assert_eq!(invalid_key(&text), "access.start_time", "{bad:?}");
        let text = format!("{SITE}[access]\nend_time = \"{bad}\"\n");
        assert_eq!(invalid_key(&text), "access.end_time", "{bad:?}");
    }
    for good in ["00:00", "09:05", "23:59"] {
        parse(&format!(
            "{SITE}[access]\nstart_time = \"{good}\"\nend_time = \"{good}\"\n"
        ));
    }
}

#[test]
fn retry_max_below_retry_min_is_named() {
    let text = format!("{SITE}[dispatch]\nretry_min = \"10s\"\nretry_max = \"5s\"\n");
    assert_eq!(invalid_key(&text), "dispatch.retry_max");
    // Raising only retry_min above the default retry_max is caught too.
    let text = format!("{SITE}[dispatch]\nretry_min = \"2m\"\n");
    assert_eq!(invalid_key(&text), "dispatch.retry_max");
    let text = format!("{SITE}[dispatch]\nretry_min = \"0s\"\n");
    assert_eq!(invalid_key(&text), "dispatch.retry_max");
    // Equal is fine.
    parse(&format!(
        "{SITE}[dispatch]\nretry_min = \"5s\"\nretry_max = \"5s\"\n"
    ));
}

#[test]
fn zero_batch_is_named() {
    assert_eq!(
        invalid_key(&format!("{SITE}[dispatch]\nbatch = 0\n")),
        "dispatch.batch"
    );
}

#[test]
fn unit_outside_1_to_247_is_named() {
    for unit in [0, 248, 255] {
        let text = format!(
            "{SITE}{}{}unit = {unit}\n",
            controller("a"),
            controller("b")
        );
        assert_eq!(invalid_key(&text), "controller[1].unit", "unit {unit}");
    }
    for unit in [1, 247] {
        parse(&format!("{SITE}{}unit = {unit}\n", controller("c")));
    }
}

#[test]
fn address_without_port_is_named() {
    for address in [
        "127.0.0.1",
        "plc.local",
        "plc.local:",
        "plc.local:http",
        "h:70000",
    ] {
        let text = format!(
            "{SITE}[[controller]]\nname = \"c\"\nkind = \"modbus-tcp\"\naddress = \"{address}\"\n"
        );
        assert_eq!(invalid_key(&text), "controller[0].address", "{address}");
    }
    for address in ["plc.local:502", "[::1]:502", "10.0.0.5:1502"] {
        parse(&format!(
            "{SITE}[[controller]]\nname = \"c\"\nkind = \"modbus-tcp\"\naddress = \"{address}\"\n"
        ));
    }
}

#[test]
fn invalid_register_profile_is_named() {
    let text = format!(
        "{SITE}{}[controller.profile]\nslot_registers = 0\n",
        controller("c")
    );
    assert_eq!(invalid_key(&text), "controller[0].profile");
}

#[test]
fn door_index_above_7_is_named() {
    let text = format!(
        "{SITE}{}{}{}",
        controller("c"),
        door("ok", "c", 7),
        door("bad", "c", 8)
    );
    assert_eq!(invalid_key(&text), "door[1].index");
}

#[test]
fn two_doors_on_one_relay_are_named() {
    let text = format!(
        "{SITE}{}{}{}{}",
        controller("a"),
        controller("b"),
        door("x", "a", 2),
        door("y", "a", 2)
    );
    assert_eq!(invalid_key(&text), "door[1].index");
    // The same index on different controllers is fine.
    parse(&format!(
        "{SITE}{}{}{}{}",
        controller("a"),
        controller("b"),
        door("x", "a", 2),
        door("y", "b", 2)
    ));
}

#[test]
fn door_on_unknown_controller_is_named() {
    let text = format!("{SITE}{}{}", controller("c"), door("d", "nope", 0));
    assert_eq!(invalid_key(&text), "door[0].controller");
}

#[test]
fn group_with_unknown_door_is_named() {
    let text = format!(
        "{SITE}{}{}{}{}",
        controller("c"),
        door("d", "c", 0),
        group("ok", "\"d\""),
        group("bad", "\"d\", \"nope\"")
    );
    assert_eq!(invalid_key(&text), "group[1].doors");
}

#[test]
fn empty_lease_statuses_is_named() {
    let text = format!("{SITE}[policy]\nlease_statuses = []\n");
    assert_eq!(invalid_key(&text), "policy.lease_statuses");
}

#[test]
fn empty_store_path_and_socket_are_named() {
    assert_eq!(
        invalid_key(&format!("{SITE}[store]\npath = \"\"\n")),
        "store.path"
    );
    assert_eq!(
        invalid_key(&format!("{SITE}[control]\nsocket = \"\"\n")),
        "control.socket"
    );
}

#[test]
fn invalid_error_message_names_the_key() {
    let err = Config::parse(&format!("{SITE}[dispatch]\nbatch = 0\n"), "lintel.toml")
        .expect_err("batch 0 is invalid");
    let shown = err.to_string();
    assert!(shown.contains("`dispatch.batch`"), "{shown}");
    let err = Config::parse("bogus = 1\n", "lintel.toml").expect_err("not a config");
    assert!(err.to_string().starts_with("lintel.toml: "), "{err}");
}

#[test]
fn a_log_level_that_is_no_filter_is_named() {
    let base = format!("{SITE}{}", csv_source("roster"));
    assert_eq!(
        invalid_key(&format!("{base}[log]\nlevel = \"lintel=loud\"\n")),
        "log.level"
    );
    parse(&format!("{base}[log]\nlevel = \"lintel=debug,warn\"\n"));
}
