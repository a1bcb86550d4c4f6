//! `[[controller]]` tables: one variant per controller kind, each with its own keys.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::duration;
use super::kind::{parse, take_kind};
use super::validate::invalid;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub enum ControllerConfig {
    ModbusTcp(ModbusTcpConfig),
}

impl ControllerConfig {
    pub fn name(&self) -> &str {
        match self {
            ControllerConfig::ModbusTcp(c) => &c.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ControllerConfig::ModbusTcp(_) => "modbus-tcp",
        }
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
}

fn default_unit() -> u8 {
    1
}

fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

impl ControllerConfig {
    /// Checks one `[[controller]]`; `key` is its place in the file, e.g. `controller[2]`.
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            ControllerConfig::ModbusTcp(m) => {
                if !(1..=247).contains(&m.unit) {
                    return Err(invalid(
                        format!("{key}.unit"),
                        format!(
                            "{} is outside 1–247 (0 is broadcast and never confirms)",
                            m.unit
                        ),
                    ));
                }
                if !is_host_port(&m.address) {
                    return Err(invalid(
                        format!("{key}.address"),
                        format!("`{}` is not host:port", m.address),
                    ));
                }
                if m.timeout.is_zero() {
                    return Err(invalid(
                        format!("{key}.timeout"),
                        "must be longer than zero",
                    ));
                }
                m.profile
                    .validate()
                    .map_err(|e| invalid(format!("{key}.profile"), e.to_string()))
            }
        }
    }
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
        let kind = take_kind(&mut table, "[[controller]]")?;
        match kind.as_str() {
            "modbus-tcp" => parse(table, "[[controller]]", &kind).map(ControllerConfig::ModbusTcp),
            "modbus-rtu" | "esp-rfid" | "lintel-mqtt" => Err(format!(
                "[[controller]] kind `{kind}` is planned but not in this version; use `modbus-tcp`"
            )),
            _ => Err(format!(
                "[[controller]] kind `{kind}` is unknown; this version has `modbus-tcp`"
            )),
        }
    }
}
