//! Human-readable output of client verbs.

use std::fmt::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::daemon::engine::PassReport;
use crate::daemon::status::Status;
use crate::store::{Activity, CredentialRecord};

fn or_never<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "never".to_string(), ToString::to_string)
}

pub fn status(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", s.summary);
    let _ = writeln!(
        out,
        "lintel {} at {}, up {}s",
        s.version, s.site, s.uptime_s
    );
    let _ = writeln!(out, "\nSources:");
    for src in &s.sources {
        let _ = writeln!(
            out,
            "  {:<16} {:<5} {:<8} last success {}  in scope {}{}",
            src.name,
            src.kind,
            if src.enabled { "enabled" } else { "disabled" },
            or_never(&src.last_success_at),
            src.people_in_scope,
            src.last_error
                .as_ref()
                .map(|e| format!("\n{:>20}last error: {e}", ""))
                .unwrap_or_default()
        );
    }
    let p = &s.people;
    let _ = writeln!(
        out,
        "\nPeople: {} total, {} active, {} disabled, {} pending review",
        p.total, p.active, p.disabled, p.pending_review
    );
    let _ = writeln!(out, "\nControllers:");
    for c in &s.controllers {
        let _ = writeln!(
            out,
            "  {:<16} {:<10} {:<7} credentials {:<6} pending {:<6} last ack {}{}",
            c.name,
            c.kind,
            if c.online { "online" } else { "OFFLINE" },
            c.credentials,
            c.pending_ops,
            or_never(&c.last_ack_at),
            c.last_error
                .as_ref()
                .map(|e| format!("\n{:>20}last error: {e}", ""))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "\nStore: {} ({} bytes, {} cards issued)",
        s.store.path, s.store.size_bytes, s.store.credentials
    );
    if s.alerts.is_empty() {
        let _ = writeln!(out, "\nAlerts: none");
    } else {
        let _ = writeln!(out, "\nAlerts:");
        for a in &s.alerts {
            let _ = writeln!(out, "  [{}] {}", a.kind, a.message);
        }
    }
    out
}

pub fn passes(value: &Value) -> ExitCode {
    let Ok(reports) = serde_json::from_value::<Vec<PassReport>>(value.clone()) else {
        eprintln!("lintel: unexpected sync-now reply");
        return ExitCode::from(1);
    };
    if reports.is_empty() {
        println!("no enabled sources");
    }
    let mut failed = false;
    for r in &reports {
        match &r.error {
            None => println!(
                "{}: ok — {} added, {} updated, {} disabled, {} skipped",
                r.source, r.added, r.updated, r.disabled, r.skipped
            ),
            Some(e) => {
                failed = true;
                println!("{}: FAILED — {e}", r.source);
            }
        }
    }
    ExitCode::from(u8::from(failed))
}

pub fn activity(value: &Value) -> String {
    let entries: Vec<Activity> = serde_json::from_value(value.clone()).unwrap_or_default();
    let mut out = String::new();
    for a in entries.iter().rev() {
        let outcome = serde_json::to_value(a.outcome).ok();
        let outcome = outcome.as_ref().and_then(Value::as_str).unwrap_or("?");
        let _ = writeln!(
            out,
            "{}  {:<9} {:<14} {}",
            a.at, outcome, a.subject, a.reason
        );
    }
    out
}

pub fn credentials(value: &Value) -> String {
    let creds: Vec<CredentialRecord> = serde_json::from_value(value.clone()).unwrap_or_default();
    let mut out = String::new();
    for c in &creds {
        let _ = writeln!(
            out,
            "{:<12} {:<10} added {}",
            c.card, c.person_id, c.added_at
        );
    }
    if creds.is_empty() {
        out.push_str("no cards issued\n");
    }
    out
}
