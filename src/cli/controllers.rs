//! `lintel controllers list|verify|resync`.

use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::args::ClientArgs;
use crate::control::Request;
use crate::control::client::{ClientError, request};
use crate::daemon::engine::controllers::{ControllerRow, ResyncProgress, VerifyReport};

/// How often a waiting resync asks the daemon for its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum ControllersCommand {
    /// Every controller: where it is, online, what it holds and owes, last readback.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Read NAME's table back now and report what differs from what it acknowledged (drift is
    /// repaired by the daemon).
    Verify {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send every credential NAME should hold again (after a controller was replaced or reset),
    /// showing progress until it is done.
    Resync {
        name: String,
        /// Queue it and return at once; `lintel status` shows the progress.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn or_never<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "never".to_string(), ToString::to_string)
}

pub fn progress_line(p: &ResyncProgress) -> String {
    let percent = (p.done * 100).checked_div(p.total).unwrap_or(100);
    format!(
        "resync {}: {}/{} ({percent}%){}",
        p.controller,
        p.done,
        p.total,
        if p.finished() { " done" } else { "" }
    )
}

pub fn list(rows: &[ControllerRow]) -> String {
    let mut out = String::new();
    for c in rows {
        let _ = writeln!(
            out,
            "{:<16} {:<11} {:<7} holds {:<5} should hold {:<5} pending {:<5} last ack {}",
            c.name,
            c.kind,
            if c.online { "online" } else { "OFFLINE" },
            c.credentials,
            c.desired,
            c.pending_ops,
            or_never(&c.last_ack_at)
        );
        let _ = writeln!(out, "{:>18}at {}", "", c.endpoint);
        if let Some(v) = &c.last_verify {
            let verdict = match v.differences {
                Some(0) => "in sync".to_string(),
                Some(n) => format!("{n} difference(s)"),
                None => format!("failed: {}", v.detail.join("; ")),
            };
            let _ = writeln!(out, "{:>18}last readback {}: {verdict}", "", v.at);
        }
        if let Some(p) = &c.resync {
            let _ = writeln!(out, "{:>18}{}", "", progress_line(p));
        }
        if let Some(e) = &c.last_error {
            let _ = writeln!(out, "{:>18}last error: {e}", "");
        }
    }
    if rows.is_empty() {
        out.push_str("no controllers configured\n");
    }
    out
}

/// The text for a verify report and whether the controller is in sync.
pub fn verify(r: &VerifyReport) -> (String, bool) {
    let mut out = String::new();
    let ok = match &r.outcome {
        None => {
            let _ = writeln!(
                out,
                "{}: no readback finished within {}s (the controller is busy sending queued \
                 changes, or not answering; see lintel controllers list)",
                r.controller,
                crate::daemon::engine::controllers::VERIFY_WAIT.as_secs()
            );
            false
        }
        Some(v) => match v.differences {
            Some(0) => {
                let _ = writeln!(
                    out,
                    "{}: in sync — the table read back matches what it acknowledged",
                    r.controller
                );
                true
            }
            Some(n) => {
                let _ = writeln!(
                    out,
                    "{}: {n} difference(s) from what it acknowledged; the daemon re-sends the \
                     affected slots (see lintel activity):",
                    r.controller
                );
                for line in &v.detail {
                    let _ = writeln!(out, "  {line}");
                }
                if n > v.detail.len() {
                    let _ = writeln!(out, "  … and {} more", n - v.detail.len());
                }
                false
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}: readback failed: {}",
                    r.controller,
                    v.detail.join("; ")
                );
                false
            }
        },
    };
    if r.pending_ops > 0 {
        let _ = writeln!(out, "({} change(s) still queued for it)", r.pending_ops);
    }
    (out, ok)
}

/// `controllers resync NAME` without `--no-wait`: queue it, then show progress until done.
pub async fn resync_and_wait(name: String, client: ClientArgs) -> ExitCode {
    let started = match request(
        &client.socket,
        &Request::ControllersResync { name: name.clone() },
    )
    .await
    .map(serde_json::from_value::<ResyncProgress>)
    {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            eprintln!("lintel: the daemon's answer could not be read: {e}");
            return ExitCode::from(1);
        }
        Err(e @ ClientError::Unreachable { .. }) => {
            eprintln!("lintel: {e}. Is the service running (systemctl status lintel)?");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("lintel: {e}");
            return ExitCode::from(1);
        }
    };
    let tty = std::io::stdout().is_terminal() && !client.json;
    println!(
        "{} credential(s) queued for {name}; Ctrl-C stops watching (the resync carries on)",
        started.total
    );
    let mut last = None;
    let mut progress = started;
    loop {
        if last.as_ref() != Some(&progress.done) {
            if tty {
                print!("\r{}", progress_line(&progress));
                let _ = std::io::Write::flush(&mut std::io::stdout());
            } else {
                println!("{}", progress_line(&progress));
            }
            last = Some(progress.done);
        }
        if progress.finished() {
            if tty {
                println!();
            }
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(PROGRESS_EVERY).await;
        let rows = match request(&client.socket, &Request::ControllersList).await {
            Ok(v) => serde_json::from_value::<Vec<ControllerRow>>(v),
            Err(e) => {
                eprintln!("\nlintel: {e}");
                return ExitCode::from(1);
            }
        };
        match rows
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.name == name))
            .and_then(|r| r.resync)
        {
            Some(p) => progress = p,
            None => {
                eprintln!("\nlintel: the daemon no longer reports this resync (restarted?)");
                return ExitCode::from(1);
            }
        }
    }
}
