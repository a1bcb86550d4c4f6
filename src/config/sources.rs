//! `[[source]]` tables: one variant per source kind, each with its own keys, plus the schedule
//! keys every kind shares (`incremental_every`, `full_reconcile`, `max_lookback`) and the
//! connection keys every HTTP kind shares ([`HttpSettings`]), which are taken out of the table
//! here before the kind's own keys are parsed.

use std::time::Duration;

use serde::Deserialize;

use super::kind::{parse, take_kind};
use crate::sources::appfolio::{AppFolioConfig, AppFolioSource};
use crate::sources::buildium::{BuildiumConfig, BuildiumSource};
use crate::sources::csv::{CsvSource, CsvSourceConfig};
use crate::sources::entrata::{EntrataConfig, EntrataSource};
use crate::sources::http::HttpSettings;
use crate::sources::json::{JsonSource, JsonSourceConfig};
use crate::sources::{Schedule, Source, SourceError};

/// The kinds this version has, for messages.
pub const KINDS: &str = "`buildium`, `appfolio`, `entrata`, `json` and `csv`";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub enum SourceConfig {
    Json(Box<JsonSourceConfig>),
    Csv(CsvSourceConfig),
    Buildium(Box<BuildiumConfig>),
    AppFolio(Box<AppFolioConfig>),
    Entrata(Box<EntrataConfig>),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Json(c) => &c.name,
            SourceConfig::Csv(c) => &c.name,
            SourceConfig::Buildium(c) => &c.name,
            SourceConfig::AppFolio(c) => &c.name,
            SourceConfig::Entrata(c) => &c.name,
        }
    }

    pub fn enabled(&self) -> bool {
        match self {
            SourceConfig::Json(c) => c.enabled,
            SourceConfig::Csv(c) => c.enabled,
            SourceConfig::Buildium(c) => c.enabled,
            SourceConfig::AppFolio(c) => c.enabled,
            SourceConfig::Entrata(c) => c.enabled,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Json(_) => "json",
            SourceConfig::Csv(_) => "csv",
            SourceConfig::Buildium(_) => "buildium",
            SourceConfig::AppFolio(_) => "appfolio",
            SourceConfig::Entrata(_) => "entrata",
        }
    }

    /// When this source is pulled.
    pub fn schedule(&self) -> &Schedule {
        match self {
            SourceConfig::Json(c) => &c.schedule,
            SourceConfig::Csv(c) => &c.schedule,
            SourceConfig::Buildium(c) => &c.schedule,
            SourceConfig::AppFolio(c) => &c.schedule,
            SourceConfig::Entrata(c) => &c.schedule,
        }
    }

    /// Whether this source, as configured, can answer a changes-only pull (a modified-since
    /// filter or date windows). Without one every pull is full.
    pub fn supports_incremental(&self) -> bool {
        match self {
            SourceConfig::Json(c) => c.since_param.is_some(),
            SourceConfig::Csv(_) => false,
            SourceConfig::Buildium(_) => true,
            SourceConfig::AppFolio(c) => c.v0.is_some(),
            SourceConfig::Entrata(_) => true,
        }
    }

    /// Checks what serde cannot (without loading secrets). The error is `field: why`.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            SourceConfig::Json(c) => c.validate()?,
            SourceConfig::Csv(_) => {}
            SourceConfig::Buildium(c) => c.validate()?,
            SourceConfig::AppFolio(c) => c.validate()?,
            SourceConfig::Entrata(c) => c.validate()?,
        }
        let schedule = self.schedule();
        if schedule.incremental_every.is_some() && !self.supports_incremental() {
            return Err(format!(
                "incremental_every: a `{}` source {}; it is pulled in full every sync.interval",
                self.kind(),
                match self {
                    SourceConfig::Json(_) =>
                        "has no modified-since filter unless since_param is set",
                    SourceConfig::AppFolio(_) =>
                        "has no modified-since filter unless the v0 tenants API is configured",
                    _ => "has no modified-since filter",
                }
            ));
        }
        if schedule.incremental_every.is_some_and(|d| d.is_zero()) {
            return Err("incremental_every: must be longer than zero".to_string());
        }
        if schedule.max_lookback.is_zero() {
            return Err("max_lookback: must be longer than zero".to_string());
        }
        crate::daemon::schedule::parse_cron(&schedule.full_reconcile)
            .map_err(|e| format!("full_reconcile: {e}"))?;
        Ok(())
    }

    /// Builds the adapter (loading its secret).
    pub fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        Ok(match self {
            SourceConfig::Json(c) => Box::new(JsonSource::new(c)?),
            SourceConfig::Csv(c) => Box::new(CsvSource::new(c)?),
            SourceConfig::Buildium(c) => Box::new(BuildiumSource::new(c)?),
            SourceConfig::AppFolio(c) => Box::new(AppFolioSource::new(c)?),
            SourceConfig::Entrata(c) => Box::new(EntrataSource::new(c)?),
        })
    }
}

/// The schedule keys, common to every kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleKeys {
    #[serde(default, with = "crate::config::duration::optional")]
    incremental_every: Option<Duration>,
    #[serde(default = "default_full_reconcile")]
    full_reconcile: String,
    #[serde(default = "default_max_lookback", with = "crate::config::duration")]
    max_lookback: Duration,
}

fn default_full_reconcile() -> String {
    crate::sources::DEFAULT_FULL_RECONCILE.to_string()
}

fn default_max_lookback() -> Duration {
    crate::sources::DEFAULT_MAX_LOOKBACK
}

/// Takes `keys` out of `table` and parses them on their own, as `T`.
fn take_keys<T: serde::de::DeserializeOwned>(
    table: &mut toml::Table,
    keys: &[&str],
    kind: &str,
) -> Result<T, String> {
    let mut taken = toml::Table::new();
    for key in keys {
        if let Some(value) = table.remove(*key) {
            taken.insert(key.to_string(), value);
        }
    }
    parse(taken, "[[source]]", kind)
}

fn take_schedule(table: &mut toml::Table, kind: &str) -> Result<Schedule, String> {
    let parsed: ScheduleKeys = take_keys(
        table,
        &["incremental_every", "full_reconcile", "max_lookback"],
        kind,
    )?;
    Ok(Schedule {
        incremental_every: parsed.incremental_every,
        full_reconcile: parsed.full_reconcile,
        max_lookback: parsed.max_lookback,
    })
}

impl TryFrom<toml::Table> for SourceConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let kind = take_kind(&mut table, "[[source]]")?;
        let schedule = take_schedule(&mut table, &kind)?;
        let section = "[[source]]";
        let http: HttpSettings = match kind.as_str() {
            "json" | "buildium" | "appfolio" | "entrata" => {
                take_keys(&mut table, &HttpSettings::KEYS, &kind)?
            }
            _ => HttpSettings::default(),
        };
        let config = match kind.as_str() {
            "json" => parse::<JsonSourceConfig>(table, section, &kind).map(|mut c| {
                (c.schedule, c.http) = (schedule, http);
                SourceConfig::Json(Box::new(c))
            }),
            "csv" => parse::<CsvSourceConfig>(table, section, &kind).map(|mut c| {
                c.schedule = schedule;
                SourceConfig::Csv(c)
            }),
            "buildium" => parse::<BuildiumConfig>(table, section, &kind).map(|mut c| {
                (c.schedule, c.http) = (schedule, http);
                SourceConfig::Buildium(Box::new(c))
            }),
            "appfolio" => parse::<AppFolioConfig>(table, section, &kind).map(|mut c| {
                (c.schedule, c.http) = (schedule, http);
                SourceConfig::AppFolio(Box::new(c))
            }),
            "entrata" => parse::<EntrataConfig>(table, section, &kind).map(|mut c| {
                (c.schedule, c.http) = (schedule, http);
                SourceConfig::Entrata(Box::new(c))
            }),
            _ => Err(format!(
                "[[source]] kind `{kind}` is unknown; this version has {KINDS}"
            )),
        }?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> Result<SourceConfig, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        SourceConfig::try_from(table)
    }

    #[test]
    fn schedule_keys_apply_to_every_kind_with_defaults() {
        let c = parse_one(
            "kind = \"buildium\"\nname = \"b\"\nclient_id = \"c\"\nsecret = { env = \"X\" }\n\
             incremental_every = \"30s\"\nfull_reconcile = \"30 2 * * *\"\nmax_lookback = \"2d\"",
        )
        .expect("parse");
        assert_eq!(c.kind(), "buildium");
        let s = c.schedule();
        assert_eq!(s.incremental_every, Some(Duration::from_secs(30)));
        assert_eq!(s.full_reconcile, "30 2 * * *");
        assert_eq!(s.max_lookback, Duration::from_secs(2 * 86400));
        c.validate().expect("valid");

        let c = parse_one("kind = \"csv\"\nname = \"r\"\npath = \"/x.csv\"").expect("parse");
        assert_eq!(c.schedule(), &Schedule::default());
        assert!(!c.supports_incremental());
        c.validate().expect("valid");
    }

    #[test]
    fn http_keys_go_to_the_http_settings_of_http_kinds_only() {
        let c = parse_one(
            "kind = \"buildium\"\nname = \"b\"\nclient_id = \"c\"\nsecret = { env = \"X\" }\n\
             timeout = \"5s\"\nretries = 1\nmax_body_bytes = 10",
        )
        .expect("parse");
        let SourceConfig::Buildium(b) = c else {
            panic!("buildium");
        };
        assert_eq!(
            b.http,
            HttpSettings {
                timeout: Duration::from_secs(5),
                retries: 1,
                max_body_bytes: 10,
                ..HttpSettings::default()
            }
        );
        let err =
            parse_one("kind = \"json\"\nname = \"j\"\nurl = \"https://x/\"\ntimeout = \"soon\"")
                .expect_err("bad duration");
        assert!(err.contains("timeout") || err.contains("soon"), "{err}");
        parse_one("kind = \"csv\"\nname = \"r\"\npath = \"/x.csv\"\ntimeout = \"5s\"")
            .expect_err("csv has no HTTP keys");
    }

    #[test]
    fn bad_schedules_name_the_key() {
        let c = parse_one(
            "kind = \"csv\"\nname = \"r\"\npath = \"/x.csv\"\nincremental_every = \"1m\"",
        )
        .expect("parse");
        let err = c.validate().expect_err("csv has no incremental");
        assert!(err.starts_with("incremental_every:"), "{err}");
        let c = parse_one(
            "kind = \"csv\"\nname = \"r\"\npath = \"/x.csv\"\nfull_reconcile = \"0 3 * *\"",
        )
        .expect("parse");
        let err = c.validate().expect_err("4 fields");
        assert!(err.starts_with("full_reconcile:"), "{err}");
        let err = parse_one(
            "kind = \"csv\"\nname = \"r\"\npath = \"/x.csv\"\nincremental_every = \"soon\"",
        )
        .expect_err("bad duration");
        assert!(
            err.contains("incremental_every") || err.contains("soon"),
            "{err}"
        );
        let err = parse_one("kind = \"yardi\"\nname = \"y\"").expect_err("unknown");
        assert!(
            err.contains("`buildium`, `appfolio`, `entrata`, `json` and `csv`"),
            "{err}"
        );
    }
}
