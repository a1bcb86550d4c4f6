//! Checks that need more than one key at a time: names are unique, references resolve, values
//! are in range. Each error names the key and says why.

use std::collections::HashSet;
use std::path::PathBuf;

use super::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

pub(super) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

fn unique<'a>(
    section: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<HashSet<&'a str>, ConfigError> {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            return Err(invalid(format!("{section}[{i}].name"), "must not be empty"));
        }
        if !seen.insert(name) {
            return Err(invalid(
                format!("{section}[{i}].name"),
                format!("`{name}` is used twice; names must be unique"),
            ));
        }
    }
    Ok(seen)
}

pub fn parse_hh_mm(text: &str) -> Option<jiff::civil::Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    jiff::civil::Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.site.name.trim().is_empty() {
            return Err(invalid("site.name", "must not be empty"));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(invalid(
                "log.level",
                format!(
                    "`{}` is not a level or filter directive ({e})",
                    self.log.level
                ),
            ));
        }
        if let Err(e) = jiff::tz::TimeZone::get(&self.site.timezone) {
            return Err(invalid(
                "site.timezone",
                format!(
                    "`{}` is not a known IANA time zone ({e})",
                    self.site.timezone
                ),
            ));
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(invalid("store.path", "must not be empty"));
        }
        if self.control.socket.as_os_str().is_empty() {
            return Err(invalid("control.socket", "must not be empty"));
        }
        if self.sync.interval.is_zero() {
            return Err(invalid("sync.interval", "must be longer than zero"));
        }
        if self.policy.lease_statuses.is_empty() {
            return Err(invalid(
                "policy.lease_statuses",
                "is empty, so nobody would ever have access",
            ));
        }
        for (key, value) in [
            ("access.start_time", &self.access.start_time),
            ("access.end_time", &self.access.end_time),
        ] {
            if parse_hh_mm(value).is_none() {
                return Err(invalid(
                    key,
                    format!("`{value}` is not a time like \"10:00\""),
                ));
            }
        }
        if self.dispatch.retry_min.is_zero() || self.dispatch.retry_max < self.dispatch.retry_min {
            return Err(invalid(
                "dispatch.retry_max",
                "retry_min must be above zero and retry_max at least retry_min",
            ));
        }
        self.pins
            .validate()
            .map_err(|e| invalid("pins", e.to_string()))?;
        if self.pins.max_len > 4 {
            return Err(invalid(
                "pins.max_len",
                format!(
                    "{} digits do not fit: controllers hold keypad PINs as numbers up to 9999",
                    self.pins.max_len
                ),
            ));
        }
        if self.dispatch.batch == 0 {
            return Err(invalid("dispatch.batch", "must be at least 1"));
        }

        unique("source", self.sources.iter().map(|s| s.name()))?;
        for (i, source) in self.sources.iter().enumerate() {
            // The adapter says "field: why"; hang the field under this source's key.
            source
                .validate()
                .map_err(|reason| match reason.split_once(": ") {
                    Some((field, why)) => invalid(format!("source[{i}].{field}"), why),
                    None => invalid(format!("source[{i}]"), reason),
                })?;
        }
        let controllers = unique("controller", self.controllers.iter().map(|c| c.name()))?;
        for (i, c) in self.controllers.iter().enumerate() {
            c.validate(&format!("controller[{i}]"))?;
        }
        super::controllers::validate_links(self)?;

        let doors = unique("door", self.doors.iter().map(|d| d.name.as_str()))?;
        let mut slots = HashSet::new();
        for (i, d) in self.doors.iter().enumerate() {
            if !controllers.contains(d.controller.as_str()) {
                return Err(invalid(
                    format!("door[{i}].controller"),
                    format!("no [[controller]] is named `{}`", d.controller),
                ));
            }
            if d.index > 7 {
                return Err(invalid(
                    format!("door[{i}].index"),
                    format!("{} is outside 0–7 (the door mask is 8 bits)", d.index),
                ));
            }
            if !slots.insert((d.controller.as_str(), d.index)) {
                return Err(invalid(
                    format!("door[{i}].index"),
                    format!(
                        "controller `{}` index {} is already another door",
                        d.controller, d.index
                    ),
                ));
            }
        }

        unique("group", self.groups.iter().map(|g| g.name.as_str()))?;
        for (i, g) in self.groups.iter().enumerate() {
            for door in &g.doors {
                if !doors.contains(door.as_str()) {
                    return Err(invalid(
                        format!("group[{i}].doors"),
                        format!("no [[door]] is named `{door}`"),
                    ));
                }
            }
        }
        Ok(())
    }
}
