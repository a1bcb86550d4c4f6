//! Dispatch: turns desired tables into durable outbox entries, and runs one worker per
//! controller that drains them — revocations first — through the hal, verifies the
//! controller's table by readback and repairs drift.

mod plan;
mod verify;
mod worker;

pub use plan::{Plan, plan_controller};
pub(crate) use worker::lock;
pub use worker::{ControllerStatus, Driver, Worker};
