//! The embedded demo building.
pub mod pms;
