//! Client verbs: send one request to the daemon and print the answer.

use std::process::ExitCode;

use super::args::{Command, CredentialsCommand};
use super::render;
use crate::control::Request;
use crate::control::client::{ClientError, request};
use crate::daemon::status::Status;

/// Exit code when the daemon cannot be reached at all.
const UNREACHABLE: u8 = 2;

pub async fn run(command: Command) -> ExitCode {
    let (socket, req, json) = match command {
        Command::Status { json, socket } => (socket.socket, Request::Status, json),
        Command::SyncNow { socket } => (socket.socket, Request::SyncNow, false),
        Command::Activity {
            limit,
            json,
            socket,
        } => (socket.socket, Request::Activity { limit }, json),
        Command::Credentials(CredentialsCommand::Add {
            person,
            card,
            socket,
        }) => (
            socket.socket,
            Request::CredentialsAdd { person, card },
            false,
        ),
        Command::Credentials(CredentialsCommand::Remove { card, socket }) => {
            (socket.socket, Request::CredentialsRemove { card }, false)
        }
        Command::Credentials(CredentialsCommand::List { json, socket }) => {
            (socket.socket, Request::CredentialsList, json)
        }
        Command::Run(_) | Command::Demo { .. } | Command::CheckConfig(_) | Command::Sim(_) => {
            return ExitCode::from(1);
        }
    };
    let value = match request(&socket, &req).await {
        Ok(v) => v,
        Err(e @ ClientError::Unreachable { .. }) => {
            eprintln!(
                "lintel: {e}. Is the service running (systemctl status lintel), or is --socket wrong?"
            );
            return ExitCode::from(UNREACHABLE);
        }
        Err(e) => {
            eprintln!("lintel: {e}");
            return ExitCode::from(1);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    }
    match req {
        Request::Status => match serde_json::from_value::<Status>(value) {
            Ok(status) => {
                if !json {
                    print!("{}", render::status(&status));
                }
                ExitCode::from(u8::from(!status.healthy))
            }
            Err(e) => {
                eprintln!("lintel: the daemon's status could not be read: {e}");
                ExitCode::from(1)
            }
        },
        _ if json => ExitCode::SUCCESS,
        Request::SyncNow => render::passes(&value),
        Request::Activity { .. } => {
            print!("{}", render::activity(&value));
            ExitCode::SUCCESS
        }
        Request::CredentialsAdd { person, card } => {
            println!("card {card} assigned to {person}; controllers are being updated");
            ExitCode::SUCCESS
        }
        Request::CredentialsRemove { card } => {
            println!("card {card} removed; revocation queued ahead of everything else");
            ExitCode::SUCCESS
        }
        Request::CredentialsList => {
            print!("{}", render::credentials(&value));
            ExitCode::SUCCESS
        }
    }
}
