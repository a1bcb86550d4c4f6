//! The one TOML config file: parsed, then fully validated before anything binds.

mod controllers;
pub mod duration;
mod kind;
mod metrics;
mod policy;
pub mod secret;
mod sources;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use controllers::{ControllerConfig, ModbusTcpConfig};
pub use metrics::MetricsConfig;
pub use policy::{MassDisable, MatchKey, PolicyConfig, RequireIdentifier, UnitRules};
pub use sources::SourceConfig;
pub use validate::{ConfigError, parse_hh_mm};

/// Default location of the config file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/lintel/lintel.toml";
/// Default control socket path.
pub const DEFAULT_SOCKET_PATH: &str = "/run/lintel/control.sock";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub dispatch: DispatchConfig,
    #[serde(default)]
    pub activity: ActivityConfig,
    /// The opt-in Prometheus endpoint; off by default.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Keypad PIN rules. Default: exactly 4 digits, which every controller profile can hold.
    #[serde(default)]
    pub pins: crate::credentials::PinPolicy,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    #[serde(default, rename = "broker")]
    pub brokers: Vec<controllers::BrokerConfig>,
    #[serde(default, rename = "controller")]
    pub controllers: Vec<ControllerConfig>,
    #[serde(default, rename = "door")]
    pub doors: Vec<DoorConfig>,
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// IANA zone; every access window is computed in it.
    pub timezone: String,
    /// ISO 3166 country whose numbering plan applies to phone numbers given without `+`.
    #[serde(default = "default_country")]
    pub default_country: String,
}

fn default_country() -> String {
    "US".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("/var/lib/lintel"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    pub socket: PathBuf,
    /// Members of this group may read status; changes need root or the service user.
    pub read_group: Option<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from(DEFAULT_SOCKET_PATH),
            read_group: Some("lintel".to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter directive such as `info` or `lintel=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// How often every enabled source is pulled.
    #[serde(with = "duration")]
    pub interval: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Most entries kept; the oldest go first.
    pub max_entries: usize,
    /// Entries older than this are dropped.
    #[serde(with = "duration")]
    pub max_age: Duration,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            max_entries: 200_000,
            max_age: Duration::from_secs(400 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Site-local time access starts on the move-in (or lease start) day, `HH:MM`.
    pub start_time: String,
    /// Site-local time access ends on the move-out (or lease end) day, `HH:MM`.
    pub end_time: String,
    /// Extra time after the end before access goes (late move-outs).
    #[serde(with = "duration")]
    pub grace: Duration,
    /// A unit's floor is its leading number without the last `room_digits` digits:
    /// unit 1203 → floor 12.
    pub room_digits: usize,
}

impl Default for AccessConfig {
    fn default() -> Self {
        // Brivo's documented defaults.
        AccessConfig {
            start_time: "10:00".to_string(),
            end_time: "16:00".to_string(),
            grace: Duration::ZERO,
            room_digits: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// First retry delay after a controller failure; doubles up to `retry_max`, with jitter.
    #[serde(with = "duration")]
    pub retry_min: Duration,
    #[serde(with = "duration")]
    pub retry_max: Duration,
    /// Most changes sent to one controller in one batch.
    pub batch: usize,
    /// How often an idle controller is probed so status knows it is still there.
    #[serde(with = "duration")]
    pub probe_every: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            batch: 60,
            probe_every: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorConfig {
    pub name: String,
    pub controller: String,
    /// Door/relay index on the controller (0–7).
    pub index: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matches: GroupMatch,
    pub doors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMatch {
    /// Only people of this type; `None` = everyone with access.
    pub person_type: Option<crate::store::PersonType>,
    /// Only these (canonical) units; empty = any.
    #[serde(default)]
    pub units: Vec<String>,
    /// Only people in these buildings (compared case-insensitively); empty = any.
    #[serde(default)]
    pub buildings: Vec<String>,
    /// Only these floors (see `access.room_digits`); empty = any.
    #[serde(default)]
    pub floors: Vec<String>,
    /// Only people carrying at least one of these tags; empty = any.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Config {
    /// Parses and validates TOML text. `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate()?;
        let mut config = config;
        // Sources report statuses in any case; the sync engine compares lower-case.
        for status in &mut config.policy.lease_statuses {
            *status = status.trim().to_lowercase();
        }
        Ok(config)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The site's time zone (validated at load, so this cannot fail afterwards).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.site.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests;
