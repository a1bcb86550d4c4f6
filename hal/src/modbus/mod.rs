//! Modbus drivers for the credential register profile (`docs/registers.md`).

mod driver;
mod errors;
mod frames;
mod rtu;
mod serial;
mod tcp;
pub mod timing;

pub use driver::{Connector, ModbusDriver};
pub use errors::exception_kind;
pub use rtu::{ModbusRtu, RtuBus, RtuConnector};
pub use serial::{Parity, SerialSettings};
pub use tcp::{ModbusTcp, TcpConnector};
