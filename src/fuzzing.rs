//! Entry points for the cargo-fuzz targets (fuzz/) and the fuzz-lite proptests
//! (tests/fuzz_lite.rs): each feeds untrusted bytes to a parser the way the daemon does and
//! returns what the parser returns. Kept here so the fuzzer and the stable test exercise the
//! same code; not an API.

use std::collections::HashMap;

use serde_json::Value;

use crate::sources::json::{JsonSource, JsonSourceConfig};
use crate::sources::{Pull, SourceError, appfolio, buildium, csv, entrata};

fn json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

fn array(value: &Value, what: &str) -> Result<Vec<Value>, String> {
    value
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{what}: not a JSON array"))
}

/// A generic JSON source's response body, records at `residents` (the documented example).
pub fn json_source(body: &[u8]) -> Result<Pull, SourceError> {
    let config = JsonSourceConfig {
        records: "residents".into(),
        ..JsonSourceConfig::new("fuzz", "http://127.0.0.1:9/residents")
    };
    JsonSource::new(&config)?.parse(body)
}

/// A CSV roster file's contents.
pub fn csv_roster(bytes: &[u8]) -> Result<Pull, String> {
    csv::parse_roster(bytes, &crate::sources::fields::StatusMap::default())
}

/// A Buildium `/leases/tenants` page (a JSON array of tenants).
pub fn buildium_tenants(body: &[u8]) -> Result<Pull, String> {
    Ok(buildium::parse_tenants(&array(&json(body)?, "tenants")?))
}

/// AppFolio's two reports as one JSON array `[tenant_directory, rent_roll]`.
pub fn appfolio_reports(body: &[u8]) -> Result<Pull, String> {
    let both = array(&json(body)?, "reports")?;
    let [directory, roll] = both.as_slice() else {
        return Err("expected [tenant_directory, rent_roll]".into());
    };
    let status_map = HashMap::from([("Notice".to_string(), "notice".to_string())]);
    Ok(appfolio::parse_reports(
        &array(directory, "tenant_directory")?,
        &array(roll, "rent_roll")?,
        &status_map,
    ))
}

/// An Entrata `getLeases` response envelope.
pub fn entrata_leases(body: &[u8]) -> Result<Pull, String> {
    let leases = entrata::envelope_leases(&json(body)?, "fuzz").map_err(|e| e.to_string())?;
    let statuses = entrata::envelope_lease_statuses(
        &crate::sources::fixtures::entrata::pick_list(
            crate::sources::fixtures::entrata::lease_status_types(),
        ),
        "fuzz",
        &std::collections::BTreeMap::new(),
    )
    .map_err(|e| e.to_string())?;
    Ok(entrata::parse_leases(&leases, &statuses))
}

/// A config file's text.
pub fn config(text: &str) -> Result<crate::Config, crate::config::ConfigError> {
    crate::Config::parse(text, "fuzz")
}
