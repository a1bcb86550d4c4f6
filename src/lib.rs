//! lintel: an on-premise gateway that syncs residents from a property-management system to door
//! controllers. The binary is thin; [`run`] is the daemon, and tests call it too.

pub mod config;
pub mod demo;
pub mod sources;
