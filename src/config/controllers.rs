//! `[[controller]]` tables (one variant per controller kind, each with its own keys) and the
//! `[[broker]]` tables the MQTT kinds name.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use lintel_hal::modbus::{Parity, Rs485Settings, SerialSettings};
use lintel_hal::mqtt::{BrokerSettings, EspRfidSettings, LintelMqttSettings, UidFormat};
use serde::Deserialize;

use super::duration;
use super::kind::{parse, take_kind};
use super::secret::SecretRef;
use super::validate::invalid;
use super::{Config, ConfigError};

/// The kinds this version drives, as `kind` spells them.
pub const CONTROLLER_KINDS: [&str; 4] = ["modbus-tcp", "modbus-rtu", "esp-rfid", "lintel-mqtt"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub enum ControllerConfig {
    ModbusTcp(ModbusTcpConfig),
    ModbusRtu(ModbusRtuConfig),
    EspRfid(EspRfidConfig),
    LintelMqtt(LintelMqttConfig),
}

impl ControllerConfig {
    pub fn name(&self) -> &str {
        match self {
            ControllerConfig::ModbusTcp(c) => &c.name,
            ControllerConfig::ModbusRtu(c) => &c.name,
            ControllerConfig::EspRfid(c) => &c.name,
            ControllerConfig::LintelMqtt(c) => &c.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ControllerConfig::ModbusTcp(_) => "modbus-tcp",
            ControllerConfig::ModbusRtu(_) => "modbus-rtu",
            ControllerConfig::EspRfid(_) => "esp-rfid",
            ControllerConfig::LintelMqtt(_) => "lintel-mqtt",
        }
    }

    /// How often the controller's table is read back and compared; `None` = only after a
    /// reconnect or boot.
    pub fn verify_every(&self) -> Option<Duration> {
        let every = match self {
            ControllerConfig::ModbusTcp(c) => c.verify_every,
            ControllerConfig::ModbusRtu(c) => c.verify_every,
            ControllerConfig::EspRfid(c) => c.verify_every,
            ControllerConfig::LintelMqtt(c) => c.verify_every,
        };
        (!every.is_zero()).then_some(every)
    }

    /// Whether visitor passes' cards are sent to this controller (`visitor_passes`).
    pub fn visitor_passes(&self) -> bool {
        match self {
            ControllerConfig::ModbusTcp(c) => c.visitor_passes,
            ControllerConfig::ModbusRtu(c) => c.visitor_passes,
            ControllerConfig::EspRfid(c) => c.visitor_passes,
            ControllerConfig::LintelMqtt(c) => c.visitor_passes,
        }
    }

    /// The `[[broker]]` an MQTT controller names, once validation resolved it.
    pub fn broker(&self) -> Option<&BrokerConfig> {
        match self {
            ControllerConfig::EspRfid(c) => c.resolved_broker.get(),
            ControllerConfig::LintelMqtt(c) => c.resolved_broker.get(),
            _ => None,
        }
    }

    fn broker_name(&self) -> Option<&str> {
        match self {
            ControllerConfig::EspRfid(c) => Some(&c.broker),
            ControllerConfig::LintelMqtt(c) => Some(&c.broker),
            _ => None,
        }
    }

    fn resolve_broker(&self, broker: &BrokerConfig) {
        let slot = match self {
            ControllerConfig::EspRfid(c) => &c.resolved_broker,
            ControllerConfig::LintelMqtt(c) => &c.resolved_broker,
            _ => return,
        };
        // Set once by validation; a config validated twice resolves to the same broker.
        let _ = slot.set(broker.clone());
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusTcpConfig {
    pub name: String,
    /// `host:port`.
    pub address: String,
    #[serde(default = "default_unit")]
    pub unit: u8,
    /// How long to wait for each reply.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// The credential register profile; every field defaults to lintel's own profile.
    #[serde(default)]
    pub profile: lintel_hal::RegisterProfile,
    /// False: visitor passes' cards are never sent to this controller; `visitors add` and
    /// `extend` refuse a pass with a door here unless told `--keep-local`.
    #[serde(default = "default_true")]
    pub visitor_passes: bool,
    #[serde(default = "default_verify_every", with = "duration")]
    pub verify_every: Duration,
}

/// A unit on an RS-485 bus. Controllers naming the same `port` share the bus (and so must
/// agree on its line settings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusRtuConfig {
    pub name: String,
    /// Serial device, e.g. `/dev/ttyUSB0`.
    pub port: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default)]
    pub parity: Parity,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    #[serde(default = "default_unit")]
    pub unit: u8,
    /// How long to wait for a reply once the request is on the wire.
    #[serde(default = "default_timeout", with = "duration")]
    pub response_timeout: Duration,
    /// Silence kept between frames; default t3.5 at `baud` (1.75 ms above 19200 baud).
    #[serde(default, with = "duration::optional")]
    pub inter_frame_delay: Option<Duration>,
    /// The kernel's RS-485 mode for the port; absent = leave the port as it is.
    #[serde(default)]
    pub rs485: Option<Rs485Settings>,
    #[serde(default)]
    pub profile: lintel_hal::RegisterProfile,
    /// False: visitor passes' cards are never sent to this controller; `visitors add` and
    /// `extend` refuse a pass with a door here unless told `--keep-local`.
    #[serde(default = "default_true")]
    pub visitor_passes: bool,
    #[serde(default = "default_verify_every", with = "duration")]
    pub verify_every: Duration,
}

impl ModbusRtuConfig {
    /// The line settings as the hal takes them.
    pub fn serial(&self) -> SerialSettings {
        SerialSettings {
            port: self.port.clone(),
            baud: self.baud,
            parity: self.parity,
            stop_bits: self.stop_bits,
            data_bits: 8,
            response_timeout_ms: u64::try_from(self.response_timeout.as_millis())
                .unwrap_or(u64::MAX),
            inter_frame_delay_us: self
                .inter_frame_delay
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            rs485: self.rs485.clone(),
        }
    }
}

/// An esp-rfid 2.x board reached through a `[[broker]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspRfidConfig {
    pub name: String,
    /// The `[[broker]]` it is reached through.
    pub broker: String,
    /// The board's MQTT topic (`TOPIC`).
    pub topic: String,
    /// The board's hostname; required when boards share a topic.
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub uid_format: UidFormat,
    #[serde(default = "default_ack_timeout", with = "duration")]
    pub ack_timeout: Duration,
    /// `getuserlist` is over after this much silence.
    #[serde(default = "default_list_quiet", with = "duration")]
    pub list_quiet: Duration,
    /// Silence after which the board counts as unreachable.
    #[serde(default = "default_liveness", with = "duration")]
    pub liveness: Duration,
    /// False: visitor passes' cards are never sent to this controller; `visitors add` and
    /// `extend` refuse a pass with a door here unless told `--keep-local`.
    #[serde(default = "default_true")]
    pub visitor_passes: bool,
    #[serde(default = "default_verify_every", with = "duration")]
    pub verify_every: Duration,
    #[serde(skip)]
    pub resolved_broker: OnceLock<BrokerConfig>,
}

impl EspRfidConfig {
    pub fn settings(&self) -> EspRfidSettings {
        EspRfidSettings {
            topic: self.topic.clone(),
            hostname: self.hostname.clone(),
            uid_format: self.uid_format,
            ack_timeout_ms: millis(self.ack_timeout),
            list_quiet_ms: millis(self.list_quiet),
            liveness_s: self.liveness.as_secs(),
        }
    }
}

/// A controller speaking lintel's native MQTT profile (docs/mqtt.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintelMqttConfig {
    pub name: String,
    pub broker: String,
    /// Base topic; the controller listens on `TOPIC/req`.
    pub topic: String,
    #[serde(default = "default_ack_timeout", with = "duration")]
    pub ack_timeout: Duration,
    /// Most changes in one request.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// False: visitor passes' cards are never sent to this controller; `visitors add` and
    /// `extend` refuse a pass with a door here unless told `--keep-local`.
    #[serde(default = "default_true")]
    pub visitor_passes: bool,
    #[serde(default = "default_verify_every", with = "duration")]
    pub verify_every: Duration,
    #[serde(skip)]
    pub resolved_broker: OnceLock<BrokerConfig>,
}

impl LintelMqttConfig {
    pub fn settings(&self) -> LintelMqttSettings {
        LintelMqttSettings {
            topic: self.topic.clone(),
            ack_timeout_ms: millis(self.ack_timeout),
            max_batch: self.max_batch,
        }
    }
}

/// One `[[broker]]`: an MQTT broker the MQTT controller kinds name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    pub name: String,
    /// `mqtt://host[:1883]` or `mqtts://host[:8883]`.
    pub url: String,
    /// Prefix; each controller connects as `{client_id}-{controller}`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default = "default_keepalive", with = "duration")]
    pub keepalive: Duration,
    #[serde(default)]
    pub username: Option<String>,
    /// Where the password is: `{ file = … }`, `{ env = … }` or `{ credential = … }`.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// PEM CA bundle for `mqtts` (default: the system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS (both or neither).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// First reconnect delay after a failure; doubles up to `reconnect_max`.
    #[serde(default = "default_reconnect_min", with = "duration")]
    pub reconnect_min: Duration,
    #[serde(default = "default_reconnect_max", with = "duration")]
    pub reconnect_max: Duration,
}

impl BrokerConfig {
    /// The hal settings, with the password as given (the caller loads it from the secret).
    pub fn settings(&self, password: Option<String>) -> BrokerSettings {
        BrokerSettings {
            url: self.url.clone(),
            client_id: self.client_id.clone(),
            keepalive_s: self.keepalive.as_secs(),
            username: self.username.clone(),
            password,
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
            reconnect_min_ms: millis(self.reconnect_min),
            reconnect_max_ms: millis(self.reconnect_max),
        }
    }

    /// Checks one `[[broker]]`; `key` is its place in the file, e.g. `broker[0]`.
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(1..=65_535).contains(&self.keepalive.as_secs()) {
            return Err(invalid(
                format!("{key}.keepalive"),
                "must be between 1s and 65535s",
            ));
        }
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return Err(invalid(
                format!("{key}.reconnect_min"),
                "must be above zero and at most reconnect_max",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(invalid(
                format!("{key}.password"),
                "a password needs a username",
            ));
        }
        // A placeholder stands in for the secret, which is only read when the daemon starts.
        let placeholder = self.password.as_ref().map(|_| String::from("-"));
        self.settings(placeholder).validate().map_err(|e| {
            let message = e.message();
            let field = if message.starts_with("client_id") {
                "client_id"
            } else if message.starts_with("client_cert_file and") {
                "client_key_file"
            } else {
                // The URL itself, or TLS files given for a plain mqtt:// URL.
                "url"
            };
            invalid(format!("{key}.{field}"), message.to_string())
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn default_true() -> bool {
    true
}

fn default_unit() -> u8 {
    1
}

fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_verify_every() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_baud() -> u32 {
    19_200
}

fn default_stop_bits() -> u8 {
    1
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_list_quiet() -> Duration {
    Duration::from_secs(2)
}

fn default_liveness() -> Duration {
    Duration::from_secs(450)
}

fn default_max_batch() -> usize {
    50
}

fn default_client_id() -> String {
    "lintel".to_string()
}

fn default_keepalive() -> Duration {
    Duration::from_secs(30)
}

fn default_reconnect_min() -> Duration {
    Duration::from_millis(500)
}

fn default_reconnect_max() -> Duration {
    Duration::from_secs(60)
}

fn hal_error(key: &str, e: lintel_hal::Error) -> ConfigError {
    invalid(key, e.message().to_string())
}

fn check_unit(key: &str, unit: u8) -> Result<(), ConfigError> {
    if (1..=247).contains(&unit) {
        Ok(())
    } else {
        Err(invalid(
            format!("{key}.unit"),
            format!("{unit} is outside 1–247 (0 is broadcast and never confirms)"),
        ))
    }
}

fn check_verify_every(key: &str, every: Duration) -> Result<(), ConfigError> {
    if !every.is_zero() && every < Duration::from_secs(1) {
        return Err(invalid(
            format!("{key}.verify_every"),
            "must be at least 1s (or \"0s\" to verify only after a reconnect or boot)",
        ));
    }
    Ok(())
}

fn check_positive(key: &str, field: &str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(invalid(
            format!("{key}.{field}"),
            "must be longer than zero",
        ));
    }
    Ok(())
}

impl ControllerConfig {
    /// Checks one `[[controller]]`; `key` is its place in the file, e.g. `controller[2]`.
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            ControllerConfig::ModbusTcp(m) => {
                check_unit(key, m.unit)?;
                if !is_host_port(&m.address) {
                    return Err(invalid(
                        format!("{key}.address"),
                        format!("`{}` is not host:port", m.address),
                    ));
                }
                check_positive(key, "timeout", m.timeout)?;
                check_verify_every(key, m.verify_every)?;
                m.profile
                    .validate()
                    .map_err(|e| invalid(format!("{key}.profile"), e.to_string()))
            }
            ControllerConfig::ModbusRtu(m) => {
                check_unit(key, m.unit)?;
                check_positive(key, "response_timeout", m.response_timeout)?;
                check_verify_every(key, m.verify_every)?;
                m.serial().validate().map_err(|e| {
                    // The hal names its own keys; two of them are spelt differently here.
                    let message = e.message();
                    let field = if message.starts_with("inter_frame_delay_us") {
                        "inter_frame_delay"
                    } else if message.starts_with("response_timeout_ms") {
                        "response_timeout"
                    } else if message.starts_with("rs485.") {
                        message.split_whitespace().next().unwrap_or("rs485")
                    } else {
                        ["port", "baud", "stop_bits"]
                            .into_iter()
                            .find(|f| message.starts_with(f))
                            .unwrap_or("port")
                    };
                    hal_error(&format!("{key}.{field}"), e)
                })?;
                m.profile
                    .validate()
                    .map_err(|e| invalid(format!("{key}.profile"), e.to_string()))
            }
            ControllerConfig::EspRfid(m) => {
                check_positive(key, "ack_timeout", m.ack_timeout)?;
                check_positive(key, "list_quiet", m.list_quiet)?;
                if m.liveness < Duration::from_secs(1) {
                    return Err(invalid(format!("{key}.liveness"), "must be at least 1s"));
                }
                check_verify_every(key, m.verify_every)?;
                m.settings()
                    .validate()
                    .map_err(|e| hal_error(&format!("{key}.topic"), e))
            }
            ControllerConfig::LintelMqtt(m) => {
                check_positive(key, "ack_timeout", m.ack_timeout)?;
                check_verify_every(key, m.verify_every)?;
                if !(1..=500).contains(&m.max_batch) {
                    return Err(invalid(
                        format!("{key}.max_batch"),
                        format!("{} is outside 1–500", m.max_batch),
                    ));
                }
                m.settings()
                    .validate()
                    .map_err(|e| hal_error(&format!("{key}.topic"), e))
            }
        }
    }
}

/// Checks `[[broker]]` tables and what controllers refer to across tables: every MQTT
/// controller names a known broker (resolved here, for the driver to use), controllers on one
/// serial port agree on its line settings and have distinct unit ids, and no two controllers
/// would take each other's messages on one broker topic.
pub(super) fn validate_links(config: &Config) -> Result<(), ConfigError> {
    let mut brokers = BTreeMap::new();
    for (i, broker) in config.brokers.iter().enumerate() {
        let key = format!("broker[{i}]");
        if broker.name.trim().is_empty() {
            return Err(invalid(format!("{key}.name"), "must not be empty"));
        }
        if brokers.insert(broker.name.as_str(), broker).is_some() {
            return Err(invalid(
                format!("{key}.name"),
                format!("`{}` is used twice; names must be unique", broker.name),
            ));
        }
        broker.validate(&key)?;
    }

    // (port → first controller on it), (broker, topic) → controllers on it.
    let mut ports: BTreeMap<&str, (usize, &ModbusRtuConfig)> = BTreeMap::new();
    let mut units: HashSet<(&str, u8)> = HashSet::new();
    let mut topics: BTreeMap<(&str, &str), Vec<(usize, &ControllerConfig)>> = BTreeMap::new();
    for (i, c) in config.controllers.iter().enumerate() {
        let key = format!("controller[{i}]");
        if let Some(name) = c.broker_name() {
            let Some(broker) = brokers.get(name) else {
                return Err(invalid(
                    format!("{key}.broker"),
                    format!("no [[broker]] is named `{name}`"),
                ));
            };
            c.resolve_broker(broker);
        }
        match c {
            ControllerConfig::ModbusRtu(m) => {
                if let Some((first, other)) = ports.get(m.port.as_str()) {
                    let (a, b) = (m.serial(), other.serial());
                    let differs = [
                        ("baud", a.baud != b.baud),
                        ("parity", a.parity != b.parity),
                        ("stop_bits", a.stop_bits != b.stop_bits),
                        (
                            "response_timeout",
                            a.response_timeout_ms != b.response_timeout_ms,
                        ),
                        (
                            "inter_frame_delay",
                            a.inter_frame_delay_us != b.inter_frame_delay_us,
                        ),
                        ("rs485", a.rs485 != b.rs485),
                    ];
                    if let Some((field, _)) = differs.iter().find(|(_, d)| *d) {
                        return Err(invalid(
                            format!("{key}.{field}"),
                            format!(
                                "differs from controller[{first}] on the same port {}; one \
                                 RS-485 bus has one set of line settings",
                                m.port
                            ),
                        ));
                    }
                } else {
                    ports.insert(&m.port, (i, m));
                }
                if !units.insert((m.port.as_str(), m.unit)) {
                    return Err(invalid(
                        format!("{key}.unit"),
                        format!(
                            "unit {} is already another controller on port {}",
                            m.unit, m.port
                        ),
                    ));
                }
            }
            ControllerConfig::EspRfid(m) => topics
                .entry((&m.broker, &m.topic))
                .or_default()
                .push((i, c)),
            ControllerConfig::LintelMqtt(m) => topics
                .entry((&m.broker, &m.topic))
                .or_default()
                .push((i, c)),
            ControllerConfig::ModbusTcp(_) => {}
        }
    }
    for ((broker, topic), on_topic) in &topics {
        if on_topic.len() < 2 {
            continue;
        }
        let mut hostnames = HashSet::new();
        for (i, c) in on_topic {
            let ok = match c {
                // esp-rfid boards share a topic by default; their hostname tells them apart.
                ControllerConfig::EspRfid(m) => m
                    .hostname
                    .as_deref()
                    .is_some_and(|h| hostnames.insert(h.to_string())),
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    format!("controller[{i}].topic"),
                    format!(
                        "`{topic}` on broker `{broker}` is used by {} controllers; boards \
                         sharing a topic need distinct `hostname`s (esp-rfid), otherwise \
                         give each its own topic",
                        on_topic.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `host:port`, with an IPv6 host in brackets (`[fe80::1]:502`).
fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains(':'),
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

impl TryFrom<toml::Table> for ControllerConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let section = "[[controller]]";
        let kind = take_kind(&mut table, section)?;
        match kind.as_str() {
            "modbus-tcp" => parse(table, section, &kind).map(ControllerConfig::ModbusTcp),
            "modbus-rtu" => parse(table, section, &kind).map(ControllerConfig::ModbusRtu),
            "esp-rfid" => parse(table, section, &kind).map(ControllerConfig::EspRfid),
            "lintel-mqtt" => parse(table, section, &kind).map(ControllerConfig::LintelMqtt),
            _ => Err(format!(
                "{section} kind `{kind}` is unknown; this version has {}",
                CONTROLLER_KINDS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}
