//! Human-readable output of client verbs.

use std::fmt::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::control::Request;
use crate::daemon::engine::{BulkPreview, Explanation, Impact, ImportReport, PassReport};
use crate::daemon::status::Status;
use crate::store::{Activity, Alert, CredentialRecord, Person, VisitorPass};

fn or_never<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "never".to_string(), ToString::to_string)
}

/// An indented second line under a status row, when there is something to say.
fn detail(label: &str, value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|v| format!("\n{:>20}{label}: {v}", ""))
        .unwrap_or_default()
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
            "  {:<16} {:<5} {:<8} last success {}  next run {}  in scope {}{}",
            src.name,
            src.kind,
            if src.enabled { "enabled" } else { "disabled" },
            or_never(&src.last_success_at),
            src.next_run_at
                .map_or_else(|| "not scheduled".to_string(), |t| t.to_string()),
            src.people_in_scope,
            detail("off", &src.disabled_why)
                + &detail("last pass", &src.last_pass)
                + &detail("last error", &src.last_error)
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
            "  {:<16} {:<10} {:<7} credentials {:<6} pending {:<6} last ack {}  drift {}{}",
            c.name,
            c.kind,
            if c.online { "online" } else { "OFFLINE" },
            c.credentials,
            c.pending_ops,
            or_never(&c.last_ack_at),
            c.drift
                .map_or_else(|| "not verified".to_string(), |n| n.to_string()),
            detail("last error", &c.last_error)
        );
        if let Some(p) = c.resync.as_ref().filter(|p| !p.finished()) {
            let _ = writeln!(out, "{:>20}{}", "", super::controllers::progress_line(p));
        }
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

/// Prints the daemon's answer to `req` (unless `json`, already printed) and picks the exit code.
pub fn reply(req: &Request, value: &Value, json: bool) -> Result<ExitCode, serde_json::Error> {
    let text = match req {
        Request::Status => {
            let s: Status = serde_json::from_value(value.clone())?;
            if !json {
                print!("{}", status(&s));
            }
            return Ok(ExitCode::from(u8::from(!s.healthy)));
        }
        Request::SyncNow { .. } => {
            let reports: Vec<PassReport> = serde_json::from_value(value.clone())?;
            if !json {
                print!("{}", passes(&reports));
            }
            return Ok(ExitCode::from(u8::from(reports.iter().any(|r| !r.ok))));
        }
        Request::SyncApprove { .. } | Request::SyncEnable { .. } => {
            let report: PassReport = serde_json::from_value(value.clone())?;
            if !json {
                print!("{}", passes(std::slice::from_ref(&report)));
            }
            return Ok(ExitCode::from(u8::from(!report.ok)));
        }
        Request::SyncReject { source } => format!(
            "kept everyone the held pass of {source} would have revoked ({} people)\n",
            value
        ),
        Request::Alerts { .. } => alerts(&serde_json::from_value::<Vec<Alert>>(value.clone())?),
        Request::ReviewResolve { .. } | Request::PeopleAdd(_) => match value.as_str() {
            Some(said) => format!("{said}\n"),
            None => person_line(&serde_json::from_value(value.clone())?),
        },
        Request::PeopleList => {
            let people: Vec<Person> = serde_json::from_value(value.clone())?;
            let mut out: String = people.iter().map(person_line).collect();
            if people.is_empty() {
                out.push_str("nobody yet\n");
            }
            out
        }
        Request::PeopleShow { .. } | Request::Explain { .. } => {
            explanation(&serde_json::from_value(value.clone())?)
        }
        Request::PeopleTag { .. } => {
            let p: Person = serde_json::from_value(value.clone())?;
            format!("{} tags: {:?}\n", p.id, p.extra.tags)
        }
        Request::PeopleDoor { .. } => {
            let p: Person = serde_json::from_value(value.clone())?;
            format!(
                "{}: extra doors {:?}, denied doors {:?}; controllers are being updated\n",
                p.id, p.extra.grants, p.extra.denials
            )
        }
        Request::PeopleDecouple { .. } | Request::PeopleRecouple { .. } => {
            let p: Person = serde_json::from_value(value.clone())?;
            format!(
                "{} is {}\n",
                p.id,
                if p.decoupled {
                    "decoupled: sync leaves them alone"
                } else {
                    "coupled: sync updates them"
                }
            )
        }
        Request::CredentialsAdd { person, .. } | Request::CredentialsEnroll { person, .. } => {
            let c: CredentialRecord = serde_json::from_value(value.clone())?;
            format!(
                "card {} (reader number {}) assigned to {person}; controllers are being updated\n",
                c.credential, c.card
            )
        }
        Request::Impact { .. } => {
            let i: Impact = serde_json::from_value(value.clone())?;
            let mut out = format!(
                "under this config {} people would gain doors and {} would lose doors\n",
                i.people_gaining, i.people_losing
            );
            for row in &i.rows {
                let _ = writeln!(out, "  {row}");
            }
            out
        }
        Request::CredentialsImport { .. } => {
            let r: ImportReport = serde_json::from_value(value.clone())?;
            let mut out = String::new();
            let verb = if r.dry_run { "would issue" } else { "issued" };
            let _ = writeln!(out, "{verb} {} card(s):", r.issued.len());
            for row in &r.issued {
                let _ = writeln!(out, "  {row}");
            }
            if !r.errors.is_empty() {
                let _ = writeln!(
                    out,
                    "{} row(s) cannot be issued; the import would be refused:",
                    r.errors.len()
                );
                for e in &r.errors {
                    let _ = writeln!(out, "  {e}");
                }
            }
            out
        }
        Request::CredentialsPin { person, .. } => match value.as_str() {
            Some(pin) => {
                format!("PIN for {person} is {pin}; hand it over now, it is not shown again\n")
            }
            None => format!("PIN for {person} cleared\n"),
        },
        Request::CredentialsRemove { card } => {
            format!("card {card} removed; revocation queued ahead of everything else\n")
        }
        Request::VisitorsAdd(_)
        | Request::VisitorsCancel { .. }
        | Request::VisitorsExtend { .. } => pass_line(&serde_json::from_value(value.clone())?),
        Request::VisitorsList { .. } => {
            let passes: Vec<VisitorPass> = serde_json::from_value(value.clone())?;
            let mut out: String = passes.iter().map(pass_line).collect();
            if passes.is_empty() {
                out.push_str("no visitor passes\n");
            }
            out
        }
        Request::CredentialsList => credentials(&serde_json::from_value::<Vec<CredentialRecord>>(
            value.clone(),
        )?),
        Request::Activity { .. } => {
            activity(&serde_json::from_value::<Vec<Activity>>(value.clone())?)
        }
        Request::ActivityShow { .. } => activity_entry(&serde_json::from_value(value.clone())?),
        Request::BulkDeletePreview { .. } => {
            let p: BulkPreview = serde_json::from_value(value.clone())?;
            let mut out = format!(
                "{} people synced from {} would be deleted:\n",
                p.count, p.source
            );
            for row in &p.sample {
                let _ = writeln!(out, "  {row}");
            }
            if p.count > p.sample.len() {
                let _ = writeln!(out, "  … and {} more", p.count - p.sample.len());
            }
            let _ = writeln!(
                out,
                "To delete exactly these: lintel bulk-delete --source {} --confirm {} [--disable-source]",
                p.source, p.token
            );
            out
        }
        Request::BulkDeleteConfirm { source, .. } => {
            format!("deleted {value} people synced from {source}; their cards are being revoked\n")
        }
        Request::ControllersList => super::controllers::list(&serde_json::from_value::<
            Vec<crate::daemon::engine::controllers::ControllerRow>,
        >(value.clone())?),
        Request::ControllersVerify { .. } => {
            let (text, in_sync) =
                super::controllers::verify(&serde_json::from_value(value.clone())?);
            if !json {
                print!("{text}");
            }
            return Ok(ExitCode::from(u8::from(!in_sync)));
        }
        Request::ControllersResync { .. } => {
            super::controllers::progress_line(&serde_json::from_value(value.clone())?) + "\n"
        }
    };
    if !json {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

fn pass_line(v: &VisitorPass) -> String {
    format!(
        "{:<9} {:<20} host {:<9} {} → {}  doors {}  {}{}{}\n",
        v.id,
        v.name,
        v.host.as_deref().unwrap_or("-"),
        v.from,
        v.to,
        if v.doors.is_empty() {
            "of the host".to_string()
        } else {
            v.doors.join(",")
        },
        v.link
            .as_ref()
            .map_or_else(|| "local".to_string(), |l| format!("cloud {l}")),
        if v.kept_local.is_empty() {
            String::new()
        } else {
            format!("  KEPT LOCAL (not on {})", v.kept_local.join(","))
        },
        match (v.cancelled_at, v.removed_at_source) {
            (None, _) => "",
            (Some(_), true) => "  CANCELLED (no longer listed at source)",
            (Some(_), false) => "  CANCELLED",
        }
    )
}

fn person_line(p: &Person) -> String {
    format!(
        "{:<9} {:<24} {:<9} {}unit {:<6} {:<8} {}{}{}\n",
        p.id,
        p.display_name(),
        p.person_type.as_str(),
        p.building
            .as_deref()
            .map_or_else(String::new, |b| format!("building {b} ")),
        p.unit.as_deref().unwrap_or("-"),
        p.status,
        p.link
            .as_ref()
            .map_or_else(|| "local".to_string(), ToString::to_string),
        if p.at_source {
            ""
        } else {
            "  REMOVED AT SOURCE"
        },
        if p.decoupled { "  DECOUPLED" } else { "" },
    )
}

fn explanation(e: &Explanation) -> String {
    let mut out = String::new();
    for fact in &e.facts {
        let _ = writeln!(out, "{fact}");
    }
    let _ = writeln!(out, "\nDoors:");
    for d in &e.doors {
        let _ = writeln!(
            out,
            "  {:<14} {:<4} {}",
            d.door,
            if d.opens { "YES" } else { "no" },
            d.why
        );
    }
    if e.doors.is_empty() {
        let _ = writeln!(out, "  (no doors configured)");
    }
    out
}

fn alerts(list: &[Alert]) -> String {
    let mut out = String::new();
    for a in list {
        let state = match &a.resolved {
            None => "OPEN".to_string(),
            Some(r) => format!("resolved ({})", r.how),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<15} {:<16} {}",
            a.id,
            a.kind.name(),
            state,
            a.message
        );
    }
    if list.is_empty() {
        out.push_str("no alerts\n");
    }
    out
}

pub fn passes(reports: &[PassReport]) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("no enabled sources\n");
    }
    for r in reports {
        let verb = if r.dry_run { "would be" } else { "ok" };
        match &r.error {
            None => {
                let _ = writeln!(
                    out,
                    "{}: {verb} — {} added, {} updated, {} disabled, {} skipped, {} flagged{}",
                    r.source,
                    r.added,
                    r.updated,
                    r.disabled,
                    r.skipped,
                    r.flagged,
                    if r.held > 0 {
                        format!(
                            ", {} HELD by the mass-change guard (see lintel alerts)",
                            r.held
                        )
                    } else {
                        String::new()
                    }
                );
                for row in &r.preview {
                    let _ = writeln!(out, "  {row}");
                }
            }
            Some(e) => {
                let _ = writeln!(out, "{}: FAILED — {e}", r.source);
            }
        }
    }
    out
}

fn activity_entry(a: &Activity) -> String {
    format!(
        "id       {}\nat       {}\noutcome  {}\nsubject  {}\nsource   {}\nrecord   {}\nreason   {}\n",
        a.id,
        a.at,
        a.outcome.as_str(),
        a.subject,
        a.source.as_deref().unwrap_or("-"),
        a.external_id.as_deref().unwrap_or("-"),
        a.reason
    )
}

pub fn activity(entries: &[Activity]) -> String {
    let mut out = String::new();
    for a in entries.iter().rev() {
        let _ = writeln!(
            out,
            "{:<8} {}  {:<9} {:<14} {}",
            a.id,
            a.at,
            a.outcome.as_str(),
            a.subject,
            a.reason
        );
    }
    if entries.is_empty() {
        out.push_str("no matching activity\n");
    }
    out
}

pub fn credentials(creds: &[CredentialRecord]) -> String {
    let mut out = String::new();
    for c in creds {
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:<10} added {}",
            c.credential.to_string(),
            c.card,
            c.person_id,
            c.added_at
        );
    }
    if creds.is_empty() {
        out.push_str("no cards issued\n");
    }
    out
}
