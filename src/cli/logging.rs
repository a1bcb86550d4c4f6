//! journald with structured fields under systemd, readable stderr otherwise.

use tracing_subscriber::EnvFilter;

pub fn init(level: &str) {
    if systemd_journal_logger::connected_to_journal()
        && let Ok(journal) = systemd_journal_logger::JournalLog::new()
        && journal.install().is_ok()
    {
        // With no tracing subscriber, tracing forwards events to the `log` logger just installed.
        log::set_max_level(log_level(level));
        return;
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn log_level(level: &str) -> log::LevelFilter {
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    wanted.parse().unwrap_or(log::LevelFilter::Info)
}
