//! lintel: an on-premise gateway that syncs residents from a property-management system to door
//! controllers. The binary is thin; [`Daemon`] is the daemon, and tests start it in-process too.

pub mod access;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod credentials;
pub mod daemon;
pub mod demo;
pub mod dispatch;
#[doc(hidden)]
pub mod fuzzing;
pub mod sources;
pub mod store;
pub mod sync;

pub use config::Config;
pub use daemon::Daemon;
