//! `[[controller]]` kinds and `[[broker]]` tables: defaults, and errors naming the bad key.

use std::time::Duration;

use lintel::Config;
use lintel::config::ConfigError;

const SITE: &str = "[site]\nname = \"t\"\ntimezone = \"UTC\"\n";
const BROKER: &str = "[[broker]]\nname = \"local\"\nurl = \"mqtt://127.0.0.1:1883\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(&format!("{SITE}{text}"), "test")
}

fn bad_key(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}\n{text}"),
    }
}

fn rtu(name: &str, port: &str, unit: u8, extra: &str) -> String {
    format!(
        "[[controller]]\nname = \"{name}\"\nkind = \"modbus-rtu\"\nport = \"{port}\"\nunit = {unit}\n{extra}"
    )
}

#[test]
fn every_kind_parses_with_documented_defaults() {
    let text = format!(
        "{BROKER}{}[[controller]]\nname = \"e\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"/rfid\"\n\
         [[controller]]\nname = \"l\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"lintel/l\"\n\
         [[controller]]\nname = \"t\"\nkind = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n",
        rtu("r", "/dev/ttyUSB0", 2, "")
    );
    let config = parse(&text).expect("valid");
    let kinds: Vec<_> = config.controllers.iter().map(|c| c.kind()).collect();
    assert_eq!(
        kinds,
        ["modbus-rtu", "esp-rfid", "lintel-mqtt", "modbus-tcp"]
    );
    for c in &config.controllers {
        assert_eq!(
            c.verify_every(),
            Some(Duration::from_secs(900)),
            "{}",
            c.name()
        );
    }
    assert_eq!(
        config.controllers[1].broker().map(|b| b.url.as_str()),
        Some("mqtt://127.0.0.1:1883")
    );
    let b = &config.brokers[0];
    assert_eq!(
        (b.client_id.as_str(), b.keepalive),
        ("lintel", Duration::from_secs(30))
    );
    let off = parse(&rtu("r", "/dev/ttyUSB0", 2, "verify_every = \"0s\"\n")).expect("valid");
    assert_eq!(off.controllers[0].verify_every(), None);
}

#[test]
fn errors_name_the_key() {
    assert_eq!(bad_key(&rtu("r", "/dev/x", 0, "")), "controller[0].unit");
    assert_eq!(
        bad_key(&rtu("r", "/dev/x", 1, "baud = 10\n")),
        "controller[0].baud"
    );
    assert_eq!(
        bad_key(&rtu("r", "/dev/x", 1, "stop_bits = 3\n")),
        "controller[0].stop_bits"
    );
    assert_eq!(
        bad_key(&rtu("r", "/dev/x", 1, "inter_frame_delay = \"10us\"\n")),
        "controller[0].inter_frame_delay"
    );
    // One bus, one set of line settings, distinct units.
    let two = format!(
        "{}{}",
        rtu("a", "/dev/x", 1, ""),
        rtu("b", "/dev/x", 2, "baud = 9600\n")
    );
    assert_eq!(bad_key(&two), "controller[1].baud");
    let same = format!("{}{}", rtu("a", "/dev/x", 1, ""), rtu("b", "/dev/x", 1, ""));
    assert_eq!(bad_key(&same), "controller[1].unit");
    let other_port = format!(
        "{}{}",
        rtu("a", "/dev/x", 1, ""),
        rtu("b", "/dev/y", 1, "baud = 9600\n")
    );
    assert!(parse(&other_port).is_ok());

    let esp =
        "[[controller]]\nname = \"e\"\nkind = \"esp-rfid\"\nbroker = \"nope\"\ntopic = \"/rfid\"\n";
    assert_eq!(bad_key(&format!("{BROKER}{esp}")), "controller[0].broker");
    let wild = "[[controller]]\nname = \"e\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"/rfid/#\"\n";
    assert_eq!(bad_key(&format!("{BROKER}{wild}")), "controller[0].topic");
    // Two boards on one topic need their hostnames.
    let shared = "[[controller]]\nname = \"a\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"/rfid\"\nhostname = \"a\"\n\
                  [[controller]]\nname = \"b\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"/rfid\"\n";
    assert_eq!(bad_key(&format!("{BROKER}{shared}")), "controller[1].topic");
    let batch = "[[controller]]\nname = \"l\"\nkind = \"lintel-mqtt\"\nbroker = \"local\"\ntopic = \"x\"\nmax_batch = 0\n";
    assert_eq!(
        bad_key(&format!("{BROKER}{batch}")),
        "controller[0].max_batch"
    );

    let broker = |extra: &str| format!("[[broker]]\nname = \"b\"\nurl = \"mqtt://h\"\n{extra}");
    assert_eq!(
        bad_key(&broker("keepalive = \"0s\"\n")),
        "broker[0].keepalive"
    );
    assert_eq!(
        bad_key(&broker(
            "password = { file = \"/etc/lintel/mqtt.secret\" }\n"
        )),
        "broker[0].password"
    );
    assert_eq!(
        bad_key(&broker("ca_file = \"/etc/ca.pem\"\n")),
        "broker[0].url"
    );
    assert_eq!(
        bad_key("[[broker]]\nname = \"b\"\nurl = \"tcp://h\"\n"),
        "broker[0].url"
    );
    assert_eq!(bad_key(&format!("{BROKER}{BROKER}")), "broker[1].name");
    assert!(matches!(
        parse(&broker("pasword = \"x\"\n")),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn rs485_settings_parse_validate_and_belong_to_the_bus() {
    use lintel::config::ControllerConfig;
    use lintel_hal::modbus::{Rs485Settings, RtsLevel};

    let rs485 = |table: &str| {
        rtu(
            "r",
            "/dev/ttyS1",
            1,
            &format!("[controller.rs485]\n{table}"),
        )
    };
    let serial_of = |config: &Config| match &config.controllers[0] {
        ControllerConfig::ModbusRtu(m) => m.serial(),
        other => panic!("not RTU: {other:?}"),
    };
    // Absent: the port is left as it is.
    let plain = parse(&rtu("r", "/dev/ttyS1", 1, "")).expect("valid");
    assert_eq!(serial_of(&plain).rs485, None);
    // Present: every field reaches the hal's line settings.
    let full = parse(&rs485(
        "enabled = true\nrts_on_send = \"low\"\ndelay_before_send_ms = 2\n\
         delay_after_send_ms = 100\nrx_during_tx = true\nterminate_bus = true\n",
    ))
    .expect("valid");
    assert_eq!(
        serial_of(&full).rs485,
        Some(Rs485Settings {
            enabled: true,
            rts_on_send: RtsLevel::Low,
            delay_before_send_ms: 2,
            delay_after_send_ms: 100,
            rx_during_tx: true,
            terminate_bus: true,
        })
    );
    let defaults = parse(&rs485("enabled = true\n")).expect("valid");
    assert_eq!(serial_of(&defaults).rs485, Some(Rs485Settings::enabled()));
    assert!(parse(&rs485("enabled = false\n")).is_ok());

    // Bad values name the key.
    assert_eq!(
        bad_key(&rs485("enabled = true\ndelay_before_send_ms = 101\n")),
        "controller[0].rs485.delay_before_send_ms"
    );
    assert_eq!(
        bad_key(&rs485("enabled = true\ndelay_after_send_ms = 250\n")),
        "controller[0].rs485.delay_after_send_ms"
    );
    assert_eq!(
        bad_key(&rs485("enabled = false\nrx_during_tx = true\n")),
        "controller[0].rs485.enabled"
    );
    // `enabled` is required, levels are words, and unknown keys are refused.
    for bad in [
        "rx_during_tx = true\n",
        "enabled = true\nrts_on_send = 1\n",
        "enabled = true\nrts_on_send = \"up\"\n",
        "enabled = true\ndelay_rts_before_send = 1\n",
        "enabled = true\ndelay_before_send_ms = -1\n",
    ] {
        assert!(
            matches!(parse(&rs485(bad)), Err(ConfigError::Parse { .. })),
            "{bad}"
        );
    }
    // One bus, one RS-485 mode.
    let two = format!(
        "{}{}",
        rs485("enabled = true\n"),
        rtu("b", "/dev/ttyS1", 2, "")
    );
    assert_eq!(bad_key(&two), "controller[1].rs485");
}

#[test]
fn broker_password_is_a_secret_reference_never_shown() {
    let config = parse(
        "[[broker]]\nname = \"b\"\nurl = \"mqtts://h\"\nusername = \"gw\"\npassword = { env = \"LINTEL_MQTT_PW\" }\n",
    )
    .expect("valid");
    let shown = format!("{:?}", config.brokers[0]);
    assert!(shown.contains("LINTEL_MQTT_PW"), "{shown}");
    assert!(
        matches!(
            parse(
                "[[broker]]\nname = \"b\"\nurl = \"mqtt://h\"\nusername = \"gw\"\npassword = \"hunter2\"\n"
            ),
            Err(ConfigError::Parse { .. })
        ),
        "a literal password is refused: it must come from a secret"
    );
}
