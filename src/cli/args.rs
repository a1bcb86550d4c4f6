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

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The daemon's control socket.
    #[arg(long, global = true, env = "LINTEL_SOCKET", default_value = DEFAULT_SOCKET_PATH)]
    pub socket: PathBuf,
    /// Print the daemon's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
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
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// Also ask the running daemon who would gain or lose which doors under this config.
        #[arg(long)]
        impact: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show health, sources, people, controllers and alerts. Exit 0 healthy, 1 degraded, 2 daemon
    /// not reachable.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Pull every enabled source now and report each pass.
    SyncNow {
        /// Show what the pass would do without changing anything.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve or reject a pass the mass-change guard held.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// List alerts: partial matches and email changes to review, duplicates, held passes.
    Alerts {
        /// Include resolved alerts.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Resolve a review alert.
    #[command(subcommand)]
    Review(ReviewCommand),
    /// List, show, add, decouple and recouple people.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Manage cards issued on site.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Visitor passes: a card that opens chosen doors for a set time.
    #[command(subcommand)]
    Visitors(VisitorsCommand),
    /// Show the activity log, newest last; `activity show ID` shows one entry.
    Activity {
        #[command(subcommand)]
        show: Option<ActivityCommand>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only entries whose subject, reason, source or external id contain TEXT.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete every person synced from a source: preview first, then confirm with its token.
    BulkDelete {
        #[arg(long)]
        source: String,
        /// Show the count, a sample and the token that confirms exactly this set.
        #[arg(long, conflicts_with = "confirm", required_unless_present = "confirm")]
        preview: bool,
        /// Delete the previewed set; refused if it changed since the preview.
        #[arg(long, value_name = "TOKEN")]
        confirm: Option<String>,
        /// Also switch the source off so the next pass does not bring them back.
        #[arg(long, requires = "confirm")]
        disable_source: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Why does (or doesn't) this person open each door right now?
    Explain {
        person: String,
        #[arg(long)]
        door: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List controllers, read one back (verify) or send it everything again (resync).
    #[command(subcommand)]
    Controllers(super::controllers::ControllersCommand),
    /// Check config, sources, serial ports, brokers, clock, disk, store and controllers, and
    /// print a fix for each failure. Exit 0 when everything passes, 1 otherwise.
    Doctor {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a simulated controller.
    #[command(subcommand)]
    Sim(super::sim::SimCommand),
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Let the held revocations of SOURCE through and run its pass.
    Approve {
        source: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Keep everyone the held pass of SOURCE would have revoked.
    Reject {
        source: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Switch SOURCE back on after `bulk-delete --disable-source` and run its pass.
    Enable {
        source: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Resolve alert ID: the record is this person (--link), someone else (--create), or leave
    /// things as they are (--ignore).
    Resolve {
        id: u64,
        #[arg(long, group = "action")]
        link: bool,
        #[arg(long, group = "action")]
        create: bool,
        #[arg(long, group = "action")]
        ignore: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One person: facts, doors and windows (PERSON is a lintel id, external id, email or card).
    Show {
        person: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a person who belongs to no source (staff, vendors).
    Add {
        #[arg(long)]
        first: String,
        #[arg(long)]
        last: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        unit: Option<String>,
        /// The building (`[[group]] match.buildings` can select on it).
        #[arg(long)]
        building: Option<String>,
        /// resident, staff, vendor or visitor.
        #[arg(long = "type", default_value = "resident")]
        person_type: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Sync leaves a decoupled person alone entirely.
    Decouple {
        person: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    Recouple {
        person: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a person a door beyond their groups'.
    Grant {
        person: String,
        door: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Take a door from a person whatever their groups say.
    Deny {
        person: String,
        door: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add an admin-owned tag (`[[group]] match.tags` can select on it).
    Tag {
        person: String,
        tag: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a tag.
    Untag {
        person: String,
        tag: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Undo a grant or denial: the door follows the person's groups again.
    ResetDoor {
        person: String,
        door: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VisitorsCommand {
    /// Issue a pass; prints it with its id. Times are RFC 3339 or site-local `YYYY-MM-DD HH:MM`.
    Add {
        name: String,
        /// The person visited (their doors are the pass's doors unless --doors is given).
        #[arg(long, required_unless_present = "unit")]
        host: Option<String>,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Door names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        doors: Vec<String>,
        /// A card for the pass (same forms as `credentials add --card`).
        #[arg(long)]
        card: Option<String>,
        /// Leave out doors on controllers with `visitor_passes = false` (instead of refusing):
        /// the pass is kept local to the controllers that take it.
        #[arg(long)]
        keep_local: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel a pass; its card is revoked at once. Also for passes from a source (a lost card):
    /// later pulls do not revive a pass cancelled here.
    Cancel {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move a pass's end (passes from a source are changed at the source).
    Extend {
        id: String,
        #[arg(long)]
        to: String,
        /// As for `add`: leave out doors on controllers with `visitor_passes = false`.
        #[arg(long)]
        keep_local: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    List {
        /// `local` (issued here) or `cloud` (from a source).
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActivityCommand {
    /// One activity entry by id.
    Show { id: u64 },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Assign a card to a person (lintel id, external id, email or an existing card number).
    Add {
        person: String,
        /// `w26:FC:CN`, `w34:FC:CN`, `w37:FC:CN`, `uid:04A1B2C3`, or the number the reader reports.
        #[arg(long)]
        card: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Take a card away; it is revoked at every controller before anything else queued.
    Remove {
        /// The card in any form `credentials add` takes (`w26:FC:CN`, `uid:…`, the number).
        card: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Issue cards from a fob inventory CSV (`person,card` columns); all rows or none.
    Import {
        file: PathBuf,
        /// Check every row and show what would be issued, changing nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Issue the next unknown card presented at a reader to PERSON.
    Enroll {
        person: String,
        /// The door whose reader to watch.
        #[arg(long)]
        reader: String,
        /// How long to wait for the swipe, e.g. `60s`.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        within: std::time::Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set, generate or clear a person's keypad PIN (unique across people).
    Pin {
        person: String,
        #[arg(long, group = "pin")]
        set: Option<String>,
        #[arg(long, group = "pin")]
        generate: bool,
        #[arg(long, group = "pin")]
        clear: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List assigned cards.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}
