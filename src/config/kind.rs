//! `[[source]]` and `[[controller]]` tables are picked by their `kind`. Dispatching by hand
//! (rather than serde's internally tagged enums) keeps toml's error naming the bad key, and lets
//! an unknown kind say which kinds this version has.

use serde::de::DeserializeOwned;

use super::{ControllerConfig, SourceConfig};

fn take_kind(table: &mut toml::Table, section: &str) -> Result<String, String> {
    match table.remove("kind") {
        Some(toml::Value::String(kind)) => Ok(kind),
        Some(other) => Err(format!(
            "{section}: `kind` must be a string, not {}",
            other.type_str()
        )),
        None => Err(format!("{section}: `kind` is missing")),
    }
}

fn parse<T: DeserializeOwned>(table: toml::Table, section: &str, kind: &str) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| format!("{section} of kind `{kind}`: {}", e.to_string().trim_end()))
}

impl TryFrom<toml::Table> for SourceConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let kind = take_kind(&mut table, "[[source]]")?;
        match kind.as_str() {
            "json" => parse(table, "[[source]]", &kind).map(|c| SourceConfig::Json(Box::new(c))),
            "csv" => parse(table, "[[source]]", &kind).map(SourceConfig::Csv),
            "buildium" | "appfolio" | "entrata" => Err(format!(
                "[[source]] kind `{kind}` is planned but not in this version; use `json` or `csv`"
            )),
            _ => Err(format!(
                "[[source]] kind `{kind}` is unknown; this version has `json` and `csv`"
            )),
        }
    }
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
