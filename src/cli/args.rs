//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "lintel",
    version,
    about = "On-premise gateway from a property-management system to door controllers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct SocketArg {
    /// The daemon's control socket.
    #[arg(long, env = "LINTEL_SOCKET", default_value = DEFAULT_SOCKET_PATH)]
    pub socket: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run(ConfigArg),
    /// Run the daemon on an embedded demo building (mock PMS and simulated controllers).
    Demo {
        /// Keep the store and control socket here (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Validate a config file; names the bad key and why.
    CheckConfig(ConfigArg),
    /// Show health, sources, people, controllers and alerts. Exit 0 healthy, 1 degraded, 2 daemon
    /// not reachable.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Pull every enabled source now and report each pass.
    SyncNow {
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Manage cards issued on site.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Show the newest activity log entries.
    Activity {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Run a simulated controller.
    #[command(subcommand)]
    Sim(super::sim::SimCommand),
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Assign a card to a person (lintel id, external id, email or an existing card number).
    Add {
        person: String,
        #[arg(long)]
        card: u64,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Take a card away; it is revoked at every controller before anything else queued.
    Remove {
        card: u64,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// List assigned cards.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
}
