//! The `lintel` command: the daemon and its own admin client.

mod args;
mod client;
mod controllers;
mod doctor;
mod logging;
pub use logging::init as init_logging;
mod render;
mod sim;

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

pub use args::{Cli, Command};

use crate::config::Config;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lintel: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> ExitCode {
    let result = match command {
        Command::Run(args) => run_daemon(&args.config).await,
        Command::Demo { dir } => crate::demo::run(dir, shutdown_on_signal())
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::CheckConfig {
            config,
            impact,
            client,
        } => match check_config(&config.config) {
            Ok(_) if impact => {
                return client::run(Command::CheckConfig {
                    config,
                    impact,
                    client,
                })
                .await;
            }
            other => other,
        },
        Command::Sim(sim) => sim::run(sim).await,
        Command::Doctor { config, client } => {
            Ok(doctor::run(&config, &client.socket, client.json).await)
        }
        Command::Controllers(controllers::ControllersCommand::Resync {
            name,
            no_wait: false,
            client,
        }) => return controllers::resync_and_wait(name, client).await,
        client => return client::run(client).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lintel: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_daemon(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let log = logging::init(&config.log.level);
    let set_level = move |level: &str| match log.set(level) {
        Ok(()) => tracing::info!(level, "log level changed"),
        Err(e) => tracing::warn!(error = %e, "log level unchanged"),
    };
    crate::daemon::reload::serve(path.to_path_buf(), config, shutdown_on_signal(), &set_level)
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    for source in &config.sources {
        crate::daemon::check_source(source)?;
    }
    println!(
        "{}: OK ({} source(s), {} controller(s), {} door(s), {} group(s))",
        path.display(),
        config.sources.len(),
        config.controllers.len(),
        config.doors.len(),
        config.groups.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A token cancelled by SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
        cancel.cancel();
    });
    token
}
