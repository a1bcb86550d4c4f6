//! Client verbs: send one request to the daemon and print the answer.

use std::process::ExitCode;

use serde_json::Value;

use super::args::{
    ActivityCommand, ClientArgs, Command, CredentialsCommand, PeopleCommand, ReviewCommand,
    SyncCommand, VisitorsCommand,
};
use super::controllers::ControllersCommand;
use super::render;
use crate::control::Request;
use crate::control::client::{ClientError, request};
use crate::daemon::engine::{DoorChange, NewPass, NewPerson, PinChange, ReviewAction};
use crate::store::{PassOrigin, PersonType};

/// Exit code when the daemon cannot be reached at all.
const UNREACHABLE: u8 = 2;

/// The request a client command sends, or a usage error.
fn request_of(command: Command) -> Result<(ClientArgs, Request), String> {
    Ok(match command {
        Command::Status { client } => (client, Request::Status),
        Command::SyncNow { dry_run, client } => (client, Request::SyncNow { dry_run }),
        Command::Sync(SyncCommand::Approve { source, client }) => {
            (client, Request::SyncApprove { source })
        }
        Command::Sync(SyncCommand::Reject { source, client }) => {
            (client, Request::SyncReject { source })
        }
        Command::Sync(SyncCommand::Enable { source, client }) => {
            (client, Request::SyncEnable { source })
        }
        Command::Alerts { all, client } => (client, Request::Alerts { all }),
        Command::Review(ReviewCommand::Resolve {
            id,
            link,
            create,
            ignore,
            client,
        }) => {
            let action = match (link, create, ignore) {
                (true, _, _) => ReviewAction::Link,
                (_, true, _) => ReviewAction::Create,
                (_, _, true) => ReviewAction::Ignore,
                _ => return Err("say how to resolve it: --link, --create or --ignore".into()),
            };
            (client, Request::ReviewResolve { id, action })
        }
        Command::People(PeopleCommand::List { client }) => (client, Request::PeopleList),
        Command::People(PeopleCommand::Show { person, client }) => {
            (client, Request::PeopleShow { person })
        }
        Command::People(PeopleCommand::Add {
            first,
            last,
            email,
            phone,
            unit,
            building,
            person_type,
            client,
        }) => {
            let person_type: PersonType = choice(
                "--type",
                &person_type,
                "one of resident, staff, vendor, visitor",
            )?;
            let new = NewPerson {
                first_name: first,
                last_name: last,
                email,
                phone,
                unit,
                building,
                person_type,
            };
            (client, Request::PeopleAdd(new))
        }
        Command::People(PeopleCommand::Decouple { person, client }) => {
            (client, Request::PeopleDecouple { person })
        }
        Command::People(PeopleCommand::Recouple { person, client }) => {
            (client, Request::PeopleRecouple { person })
        }
        Command::Credentials(CredentialsCommand::Add {
            person,
            card,
            client,
        }) => (client, Request::CredentialsAdd { person, card }),
        Command::Credentials(CredentialsCommand::Pin {
            person,
            set,
            generate,
            clear,
            client,
        }) => {
            let change = match (set, generate, clear) {
                (Some(digits), _, _) => PinChange::Set(digits),
                (None, true, _) => PinChange::Generate,
                (None, false, true) => PinChange::Clear,
                (None, false, false) => {
                    return Err("say --set DIGITS, --generate or --clear".into());
                }
            };
            (client, Request::CredentialsPin { person, change })
        }
        Command::Credentials(CredentialsCommand::Remove { card, client }) => {
            let card = crate::credentials::parse_card(&card)
                .map_err(|e| e.to_string())?
                .card_number()
                .ok_or("a PIN is not a card: use `lintel credentials pin PERSON --clear`")?;
            (client, Request::CredentialsRemove { card })
        }
        Command::Credentials(CredentialsCommand::List { client }) => {
            (client, Request::CredentialsList)
        }
        Command::Credentials(CredentialsCommand::Import {
            file,
            dry_run,
            client,
        }) => {
            let csv = read(&file)?;
            (client, Request::CredentialsImport { csv, dry_run })
        }
        Command::Credentials(CredentialsCommand::Enroll {
            person,
            reader,
            within,
            client,
        }) => (
            client,
            Request::CredentialsEnroll {
                person,
                door: reader,
                within_s: within.as_secs().max(1),
            },
        ),
        Command::People(PeopleCommand::Tag {
            person,
            tag,
            client,
        }) => (
            client,
            Request::PeopleTag {
                person,
                tag,
                on: true,
            },
        ),
        Command::People(PeopleCommand::Untag {
            person,
            tag,
            client,
        }) => (
            client,
            Request::PeopleTag {
                person,
                tag,
                on: false,
            },
        ),
        Command::People(PeopleCommand::Grant {
            person,
            door,
            client,
        }) => door_change(client, person, door, DoorChange::Grant),
        Command::People(PeopleCommand::Deny {
            person,
            door,
            client,
        }) => door_change(client, person, door, DoorChange::Deny),
        Command::People(PeopleCommand::ResetDoor {
            person,
            door,
            client,
        }) => door_change(client, person, door, DoorChange::Reset),
        Command::Visitors(VisitorsCommand::Add {
            name,
            host,
            unit,
            from,
            to,
            doors,
            card,
            keep_local,
            client,
        }) => {
            let new = NewPass {
                name,
                host,
                unit,
                from,
                to,
                doors,
                card,
                keep_local,
            };
            (client, Request::VisitorsAdd(new))
        }
        Command::Visitors(VisitorsCommand::Cancel { id, client }) => {
            (client, Request::VisitorsCancel { id })
        }
        Command::Visitors(VisitorsCommand::Extend {
            id,
            to,
            keep_local,
            client,
        }) => (client, Request::VisitorsExtend { id, to, keep_local }),
        Command::Visitors(VisitorsCommand::List { origin, client }) => {
            let origin = match origin {
                None => None,
                Some(o) => Some(choice::<PassOrigin>("--origin", &o, "local or cloud")?),
            };
            (client, Request::VisitorsList { origin })
        }
        Command::Activity {
            show: Some(ActivityCommand::Show { id }),
            client,
            ..
        } => (client, Request::ActivityShow { id }),
        Command::Activity {
            show: None,
            limit,
            search,
            client,
        } => (client, Request::Activity { limit, search }),
        Command::BulkDelete {
            source,
            confirm: Some(token),
            disable_source,
            client,
            ..
        } => (
            client,
            Request::BulkDeleteConfirm {
                source,
                token,
                disable_source,
            },
        ),
        Command::BulkDelete { source, client, .. } => {
            (client, Request::BulkDeletePreview { source })
        }
        Command::Explain {
            person,
            door,
            client,
        } => (client, Request::Explain { person, door }),
        Command::Controllers(ControllersCommand::List { client }) => {
            (client, Request::ControllersList)
        }
        Command::Controllers(ControllersCommand::Verify { name, client }) => {
            (client, Request::ControllersVerify { name })
        }
        Command::Controllers(ControllersCommand::Resync { name, client, .. }) => {
            (client, Request::ControllersResync { name })
        }
        Command::Doctor { .. } => return Err("not a client command".into()),
        Command::CheckConfig {
            config,
            impact: true,
            client,
        } => {
            let config = read(&config.config)?;
            (client, Request::Impact { config })
        }
        Command::Run(_) | Command::Demo { .. } | Command::CheckConfig { .. } | Command::Sim(_) => {
            return Err("not a client command".into());
        }
    })
}

/// A flag's word read as the enum it names (`what` lists the words, for the error).
fn choice<T: serde::de::DeserializeOwned>(flag: &str, word: &str, what: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(word.to_string()))
        .map_err(|_| format!("{flag} `{word}` is not {what}"))
}

/// A file the client sends to the daemon.
fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn door_change(
    client: ClientArgs,
    person: String,
    door: String,
    change: DoorChange,
) -> (ClientArgs, Request) {
    (
        client,
        Request::PeopleDoor {
            person,
            door,
            change,
        },
    )
}

pub async fn run(command: Command) -> ExitCode {
    let (client, req) = match request_of(command) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lintel: {e}");
            return ExitCode::from(1);
        }
    };
    let value = match request(&client.socket, &req).await {
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
    if client.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    }
    match render::reply(&req, &value, client.json) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lintel: the daemon's answer could not be read: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::args::Cli;

    fn request_for(args: &[&str]) -> Result<Request, String> {
        let cli = Cli::try_parse_from([&["lintel"], args].concat()).expect("valid arguments");
        request_of(cli.command).map(|(_, request)| request)
    }

    #[test]
    fn enum_flags_are_read_and_bad_words_named() {
        let Ok(Request::PeopleAdd(new)) = request_for(&[
            "people", "add", "--first", "A", "--last", "B", "--type", "staff",
        ]) else {
            panic!("people add");
        };
        assert_eq!(new.person_type, PersonType::Staff);
        let err = request_for(&[
            "people", "add", "--first", "A", "--last", "B", "--type", "cat",
        ])
        .expect_err("cat");
        assert_eq!(
            err,
            "--type `cat` is not one of resident, staff, vendor, visitor"
        );
        assert!(matches!(
            request_for(&["visitors", "list", "--origin", "cloud"]),
            Ok(Request::VisitorsList {
                origin: Some(PassOrigin::Cloud)
            })
        ));
        let err = request_for(&["visitors", "list", "--origin", "moon"]).expect_err("moon");
        assert_eq!(err, "--origin `moon` is not local or cloud");
        let err = request_for(&["credentials", "import", "/nonexistent/cards.csv"])
            .expect_err("missing file");
        assert!(
            err.starts_with("cannot read /nonexistent/cards.csv: "),
            "{err}"
        );
    }
}
