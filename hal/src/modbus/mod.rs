//! Modbus drivers for the credential register profile (`docs/registers.md`).

mod driver;
mod errors;
mod frames;
mod rs485;
mod rtu;
mod serial;
mod tcp;
pub mod timing;

pub use driver::{Connector, ModbusDriver};
pub use errors::exception_kind;
pub use rs485::{MAX_RTS_DELAY_MS, Rs485Settings, RtsLevel};
pub use rtu::{ModbusRtu, RtuBus, RtuConnector};
pub use serial::{Parity, SerialSettings};
pub use tcp::{ModbusTcp, TcpConnector};
