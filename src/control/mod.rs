//! The local control API: one JSON request line, one JSON reply line, over a Unix socket that
//! checks the peer's credentials.

pub mod client;
mod peer;
pub mod protocol;
pub mod server;

pub use peer::PeerPolicy;
pub use protocol::{Reply, Request};
