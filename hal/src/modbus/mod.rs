//! Modbus drivers for the credential register profile (`docs/registers.md`).

mod driver;
mod errors;
mod frames;
mod tcp;

pub use driver::{Connector, ModbusDriver};
pub use errors::exception_kind;
pub use tcp::{ModbusTcp, TcpConnector};
