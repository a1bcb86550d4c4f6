//! Dispatch: turns desired tables into durable outbox entries, and runs one worker per
//! controller that drains them — revocations first — through the hal.

mod backoff;
mod plan;
mod worker;

pub use backoff::backoff;
pub use plan::{Plan, plan_controller};
pub(crate) use worker::lock;
pub use worker::{ControllerStatus, Worker};
