//! Modbus TCP transport for [`ModbusDriver`].

use std::{net::SocketAddr, time::Duration};

use async_trait::async_trait;
use tokio::net::TcpStream;
use tokio_modbus::{Slave, client::Context};

use super::{ModbusDriver, driver::Connector, errors};
use crate::{Error, ErrorKind, RegisterProfile};

/// The credential-table driver over Modbus TCP.
pub type ModbusTcp = ModbusDriver<TcpConnector>;

/// Connects to `host:port` and addresses one unit id.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    target: String,
    unit: u8,
}

impl TcpConnector {
    /// `target` is `host:port` (a name is resolved at every connect, so DNS changes are
    /// followed); `unit` must be 1–247 because broadcast (0) is never confirmed.
    pub fn new(target: impl ToString, unit: u8) -> Result<Self, Error> {
        let target = target.to_string();
        if target
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!("`{target}` is not host:port"),
            ));
        }
        if !(1..=247).contains(&unit) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("unit id {unit} is outside 1–247 (0 is broadcast and never confirms)"),
            ));
        }
        Ok(TcpConnector { target, unit })
    }
}

#[async_trait]
impl Connector for TcpConnector {
    async fn connect(&self) -> Result<Context, Error> {
        let what = "connecting";
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&self.target)
            .await
            .map_err(|e| errors::io(&e, "resolving"))?
            .collect();
        let mut last = Error::new(ErrorKind::Unreachable, "resolving: no address found");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Requests are small and strictly one at a time: Nagle would only add delay.
                    stream.set_nodelay(true).map_err(|e| errors::io(&e, what))?;
                    return Ok(tokio_modbus::client::tcp::attach_slave(
                        stream,
                        Slave(self.unit),
                    ));
                }
                Err(e) => last = errors::io(&e, &format!("{what} to {addr}")),
            }
        }
        Err(last)
    }

    fn describe(&self) -> String {
        format!("{} unit {}", self.target, self.unit)
    }
}

impl ModbusDriver<TcpConnector> {
    /// A Modbus TCP driver for `target` (`"10.0.0.5:502"` or a [`SocketAddr`]). Checks the
    /// arguments and profile; connects lazily on first use.
    pub fn new(
        target: impl ToString,
        unit: u8,
        profile: RegisterProfile,
        timeout: Duration,
    ) -> Result<Self, Error> {
        ModbusDriver::with_connector(TcpConnector::new(target, unit)?, profile, timeout)
    }
}
