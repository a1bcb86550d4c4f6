//! Logging: journald with structured fields when running under systemd, readable stderr
//! otherwise. The level comes from `RUST_LOG` when set, else from config `log.level`, in both;
//! a reload that changes `log.level` applies the new one at once ([`LogLevel::set`]).
//!
//! Under journald every tracing event becomes one journal entry: `MESSAGE` is the message with
//! its fields appended as `key=value` (what `journalctl -u lintel` shows), and each field is
//! also a journal field of its own (`SOURCE=pms`, `CONTROLLER=lobby`, …), so
//! `journalctl -u lintel CONTROLLER=lobby` finds one controller's entries. Records from crates
//! that log through the `log` crate are forwarded the same way.
//!
//! Nothing here knows what a secret is: secrets are never put in events in the first place
//! (they are loaded into a type whose `Debug` redacts them, and errors name where a secret
//! lives, never its value); `tests/service.rs` checks a whole daemon run at trace level.

use std::fmt::Write;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Installs the process's logging; the answer changes its level later.
pub fn init(level: &str) -> LogLevel {
    let (filter, log_level) = reloadable(std::env::var("RUST_LOG").ok(), level);
    let logging = tracing_subscriber::registry().with(filter);
    if systemd_journal_logger::connected_to_journal()
        && let Ok(journal) = systemd_journal_logger::JournalLog::new()
    {
        let journal = journal.with_syslog_identifier("lintel".to_string());
        let _ = logging.with(JournalLayer::new(journal)).try_init();
    } else {
        let _ = logging
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init();
    }
    log_level
}

/// The level filter of the installed logging, changeable while it runs.
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    rust_log: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("log.level {level:?} is not a level or filter directive: {source}")]
    Invalid {
        level: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot change the log level: {0}")]
    Reload(#[from] reload::Error),
}

impl LogLevel {
    /// Filters by `level` (config `log.level`) from now on; `RUST_LOG`, when set, still wins.
    /// An invalid level is refused and the current filter kept: falling back to `info` as a
    /// start does would silently drop the debug output the operator just asked for.
    pub fn set(&self, level: &str) -> Result<(), LevelError> {
        EnvFilter::try_new(level).map_err(|source| LevelError::Invalid {
            level: level.to_string(),
            source,
        })?;
        self.handle.reload(filter(self.rust_log.clone(), level))?;
        Ok(())
    }
}

/// The filter for `rust_log` and `level` as a layer of its own, and the handle that changes it.
fn reloadable(
    rust_log: Option<String>,
    level: &str,
) -> (reload::Layer<EnvFilter, Registry>, LogLevel) {
    let (layer, handle) = reload::Layer::new(filter(rust_log.clone(), level));
    (layer, LogLevel { handle, rust_log })
}

/// `RUST_LOG` if set and valid, else `level` (config `log.level`), else `info`.
pub fn filter(rust_log: Option<String>, level: &str) -> EnvFilter {
    rust_log
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// Forwards tracing events to a `log::Log` (the journal) with their fields as key-values.
pub struct JournalLayer<L> {
    logger: L,
}

impl<L: log::Log> JournalLayer<L> {
    pub fn new(logger: L) -> Self {
        JournalLayer { logger }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(String, String)>,
    /// For records bridged from the `log` crate: their own target.
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "log.target" => self.log_target = Some(value),
            name if name.starts_with("log.") => {}
            name => self.pairs.push((name.to_string(), value)),
        }
    }
}

struct Pairs<'a>(&'a [(String, String)]);

impl log::kv::Source for Pairs<'_> {
    fn visit<'kvs>(
        &'kvs self,
        visitor: &mut dyn log::kv::VisitSource<'kvs>,
    ) -> Result<(), log::kv::Error> {
        for (key, value) in self.0 {
            visitor.visit_pair(
                log::kv::Key::from_str(key),
                log::kv::Value::from(value.as_str()),
            )?;
        }
        Ok(())
    }
}

fn level(level: &Level) -> log::Level {
    match *level {
        Level::ERROR => log::Level::Error,
        Level::WARN => log::Level::Warn,
        Level::INFO => log::Level::Info,
        Level::DEBUG => log::Level::Debug,
        Level::TRACE => log::Level::Trace,
    }
}

impl<S: Subscriber, L: log::Log + 'static> Layer<S> for JournalLayer<L> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        for (key, value) in &fields.pairs {
            let _ = write!(message, " {key}={value}");
        }
        let target = fields.log_target.as_deref().unwrap_or(meta.target());
        self.logger.log(
            &log::Record::builder()
                .args(format_args!("{message}"))
                .level(level(meta.level()))
                .target(target)
                .module_path(meta.module_path())
                .file(meta.file())
                .line(meta.line())
                .key_values(&Pairs(&fields.pairs))
                .build(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        level: log::Level,
        target: String,
        message: String,
        fields: Vec<(String, String)>,
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    struct Collect<'a>(&'a mut Vec<(String, String)>);

    impl<'kvs> log::kv::VisitSource<'kvs> for Collect<'_> {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            self.0.push((key.to_string(), value.to_string()));
            Ok(())
        }
    }

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &log::Record<'_>) {
            let mut fields = Vec::new();
            let _ = record.key_values().visit(&mut Collect(&mut fields));
            self.0.lock().expect("lock").push(Seen {
                level: record.level(),
                target: record.target().to_string(),
                message: record.args().to_string(),
                fields,
            });
        }

        fn flush(&self) {}
    }

    #[test]
    fn events_become_records_with_fields_as_key_values() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(JournalLayer::new(capture.clone()).with_filter(filter(None, "info")));
        tracing::subscriber::with_default(subscriber, || {
            let error = std::io::Error::other("boom");
            tracing::warn!(controller = "lobby", pending = 3, error = %error, "controller failed");
            tracing::debug!(controller = "lobby", "filtered out at info");
        });
        let seen = capture.0.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![Seen {
                level: log::Level::Warn,
                target: module_path!().to_string(),
                message: "controller failed controller=lobby pending=3 error=boom".to_string(),
                fields: vec![
                    ("controller".into(), "lobby".into()),
                    ("pending".into(), "3".into()),
                    ("error".into(), "boom".into()),
                ],
            }]
        );
    }

    #[test]
    fn rust_log_wins_over_the_config_level() {
        let enabled = |f: EnvFilter| {
            let capture = Capture::default();
            let subscriber = tracing_subscriber::registry()
                .with(JournalLayer::new(capture.clone()).with_filter(f));
            tracing::subscriber::with_default(subscriber, || {
                tracing::debug!("d");
                tracing::info!("i");
                tracing::warn!("w");
            });
            let seen: Vec<String> = capture
                .0
                .lock()
                .expect("lock")
                .iter()
                .map(|s| s.message.clone())
                .collect();
            seen
        };
        assert_eq!(enabled(filter(None, "info")), ["i", "w"]);
        assert_eq!(enabled(filter(None, "warn")), ["w"]);
        assert_eq!(
            enabled(filter(Some("debug".into()), "warn")),
            ["d", "i", "w"]
        );
        assert_eq!(enabled(filter(Some(String::new()), "warn")), ["w"]);
        // A config level that is not a filter falls back to info.
        assert_eq!(enabled(filter(None, "lintel=loud")), ["i", "w"]);
    }

    /// What `say` logs at info, under a reloadable filter starting at `rust_log` and `level`.
    fn logged(rust_log: Option<&str>, level: &str, say: impl FnOnce(&LogLevel)) -> Vec<String> {
        let capture = Capture::default();
        let (filter, log_level) = reloadable(rust_log.map(String::from), level);
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(JournalLayer::new(capture.clone()));
        tracing::subscriber::with_default(subscriber, || say(&log_level));
        let seen = capture.0.lock().expect("lock");
        seen.iter().map(|s| s.message.clone()).collect()
    }

    #[test]
    fn a_new_level_applies_at_once_and_an_invalid_one_keeps_the_current() {
        let seen = logged(None, "warn", |log| {
            tracing::info!("at warn");
            log.set("info").expect("a valid level");
            tracing::info!("at info");
            let refused = log.set("lintel=loud").expect_err("not a level");
            assert!(refused.to_string().contains("lintel=loud"), "{refused}");
            tracing::info!("still at info");
            log.set("error").expect("a valid level");
            tracing::warn!("at error");
        });
        assert_eq!(seen, ["at info", "still at info"]);

        // RUST_LOG still overrides whatever the config says.
        let seen = logged(Some("debug"), "warn", |log| {
            log.set("error").expect("a valid level");
            tracing::debug!("RUST_LOG wins");
        });
        assert_eq!(seen, ["RUST_LOG wins"]);
    }
}
