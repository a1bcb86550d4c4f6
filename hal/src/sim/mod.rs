//! A simulated door controller speaking the credential register profile over Modbus TCP or on
//! an RTU bus (a pty or a serial port), for tests and for `lintel sim modbus`. It keeps the
//! header (slot count, CRC) like firmware would and can be told to go offline, refuse writes or
//! hold them; on RTU it can also emulate the line rate and a noisy line.

mod device;
mod esp_rfid;
mod handle;
mod link;
mod lintel_mqtt;
mod pty;
mod rtu;
mod rtu_frame;
mod state;

use std::{net::SocketAddr, sync::Arc};

use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::server::tcp::Server;
use tokio_util::sync::CancellationToken;

pub use esp_rfid::{EspRfidSimConfig, EspRfidSimHandle, spawn_esp_rfid};
pub use handle::{SimDevice, SimHandle, SimRequest, SimWrite};
pub use lintel_mqtt::{LintelMqttSimConfig, LintelMqttSimHandle, SimChange, spawn_lintel_mqtt};
pub use pty::PtyMaster;
pub use rtu::{Corruption, LineEmulation, RtuSim, RtuSimHandle, RtuStats};
pub use tokio_modbus::ExceptionCode;

use crate::{Error, ErrorKind, RegisterProfile};
use device::{Device, DeviceService};
use link::Link;

/// What device to simulate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Unit id it answers to; requests for other units get exception 0x0B.
    pub unit: u8,
    /// Credential slots in its table.
    pub slots: u16,
    pub profile: RegisterProfile,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            unit: 1,
            slots: 256,
            profile: RegisterProfile::default(),
        }
    }
}

impl SimConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=247).contains(&self.unit) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("unit id {} is outside 1–247", self.unit),
            ));
        }
        self.profile.validate()
    }
}

/// A simulated controller bound to a listener, not yet serving.
#[derive(Debug)]
pub struct SimController {
    listener: TcpListener,
    handle: SimHandle,
}

impl SimController {
    pub fn new(listener: TcpListener, config: SimConfig) -> Result<Self, Error> {
        let local_addr = listener.local_addr().map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("simulator listener has no address: {e}"),
            )
        })?;
        let device = Arc::new(Device::new(config)?);
        Ok(SimController {
            listener,
            handle: SimHandle {
                device: SimDevice { device },
                local_addr,
            },
        })
    }

    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Serves until `shutdown` or [`SimHandle::shutdown`] is cancelled; connections close with
    /// it. Errors only if accepting connections fails.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let device = Arc::clone(&self.handle.device.device);
        let server = Server::new(self.listener);
        let on_connected = |stream: TcpStream, peer: SocketAddr| {
            let device = Arc::clone(&device);
            async move {
                let Some(cut) = device.link_token() else {
                    tracing::debug!(%peer, "simulated controller offline: dropping connection");
                    return Ok(None);
                };
                tracing::debug!(%peer, "simulated controller: connection");
                Ok(Some((
                    DeviceService(Arc::clone(&device)),
                    Link::new(stream, cut),
                )))
            }
        };
        let on_error = |e: std::io::Error| tracing::debug!(error = %e, "simulated controller: connection ended");
        tokio::select! {
            served = server.serve(&on_connected, on_error) => served.map_err(|e| {
                Error::new(ErrorKind::Unreachable, format!("simulator stopped accepting: {e}"))
            }),
            () = shutdown.cancelled() => Ok(()),
            () = self.handle.device.device.shutdown.cancelled() => Ok(()),
        }
    }

    /// Serves in a background task; stop it with [`SimHandle::shutdown`].
    pub fn spawn(listener: TcpListener, config: SimConfig) -> Result<SimHandle, Error> {
        let controller = SimController::new(listener, config)?;
        let handle = controller.handle();
        tokio::spawn(async move {
            if let Err(e) = controller.run(CancellationToken::new()).await {
                tracing::warn!(error = %e, "simulated controller stopped");
            }
        });
        Ok(handle)
    }
}

/// Runs a simulated controller on `listener` until `shutdown`: the body of `lintel sim modbus`.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    SimController::new(listener, config)?.run(shutdown).await
}
