//! `[[source]]` tables: one variant per source kind, each with its own keys.

use serde::Deserialize;

use super::kind::{parse, take_kind};
use crate::sources::csv::CsvSourceConfig;
use crate::sources::json::JsonSourceConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub enum SourceConfig {
    Json(Box<JsonSourceConfig>),
    Csv(CsvSourceConfig),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Json(c) => &c.name,
            SourceConfig::Csv(c) => &c.name,
        }
    }

    pub fn enabled(&self) -> bool {
        match self {
            SourceConfig::Json(c) => c.enabled,
            SourceConfig::Csv(c) => c.enabled,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Json(_) => "json",
            SourceConfig::Csv(_) => "csv",
        }
    }
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
