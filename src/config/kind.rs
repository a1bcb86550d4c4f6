//! `[[source]]` and `[[controller]]` tables are picked by their `kind`. Dispatching by hand
//! (rather than serde's internally tagged enums) keeps toml's error naming the bad key, and lets
//! an unknown kind say which kinds this version has.

use serde::de::DeserializeOwned;

pub(super) fn take_kind(table: &mut toml::Table, section: &str) -> Result<String, String> {
    match table.remove("kind") {
        Some(toml::Value::String(kind)) => Ok(kind),
        Some(other) => Err(format!(
            "{section}: `kind` must be a string, not {}",
            other.type_str()
        )),
        None => Err(format!("{section}: `kind` is missing")),
    }
}

pub(super) fn parse<T: DeserializeOwned>(
    table: toml::Table,
    section: &str,
    kind: &str,
) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| format!("{section} of kind `{kind}`: {}", e.to_string().trim_end()))
}
