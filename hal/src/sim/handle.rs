//! What tests (and the CLI) hold to watch and steer a running simulated controller.

use std::{net::SocketAddr, ops::Deref, sync::Arc};

use tokio::sync::watch;
use tokio_modbus::ExceptionCode;

use super::device::Device;
use crate::{Credential, DeviceInfo};

/// One FC06/FC16 request as it reached the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWrite {
    pub start: u16,
    pub values: Vec<u16>,
}

/// One request as it reached the device, answered or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimRequest {
    /// FC03.
    Read { start: u16, count: u16 },
    /// FC06/FC16.
    Write(SimWrite),
}

/// A cloneable handle on one simulated controller, whatever it is served over.
#[derive(Clone)]
pub struct SimDevice {
    pub(crate) device: Arc<Device>,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("config", &self.device.config)
            .finish()
    }
}

/// A cloneable handle on a simulated controller served over Modbus TCP: the device controls
/// (through `Deref`) plus where it listens.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) device: SimDevice,
    pub(crate) local_addr: SocketAddr,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("local_addr", &self.local_addr)
            .field("config", &self.device.device.config)
            .finish()
    }
}

impl Deref for SimHandle {
    type Target = SimDevice;

    fn deref(&self) -> &SimDevice {
        &self.device
    }
}

impl SimHandle {
    /// Where the simulator listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counts connection attempts the device accepted, including those it cut at once while
    /// offline: lets a test know a client has tried again.
    pub fn connections(&self) -> watch::Receiver<u64> {
        self.device.device.connections.subscribe()
    }

    /// Stops the server and closes its connections.
    pub fn shutdown(&self) {
        self.device.device.shutdown.cancel();
    }
}

impl SimDevice {
    /// The slots in use, decoded, in slot order.
    pub fn table(&self) -> Vec<(u16, Credential)> {
        self.device.registers().table()
    }

    /// Raw holding registers from `address`, cut short at the end of the device's memory.
    pub fn registers(&self, address: u16, count: u16) -> Vec<u16> {
        self.device.registers().peek(address, count)
    }

    /// Slot count, generation and CRC as the header currently holds them.
    pub fn info(&self) -> DeviceInfo {
        self.device.registers().info()
    }

    /// Counts applied writes; changes on every write the device accepted, so a test can
    /// `wait_for` convergence instead of sleeping.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.device.applied.subscribe()
    }

    /// Counts write requests on arrival, before the hold gate: lets a test know a write is
    /// in flight (e.g. to kill the gateway while it waits on [`Self::hold_writes`]).
    pub fn arrivals(&self) -> watch::Receiver<u64> {
        self.device.arrived.subscribe()
    }

    /// Counts read requests (FC03) on arrival.
    pub fn reads(&self) -> watch::Receiver<u64> {
        self.device.reads.subscribe()
    }

    /// Every write request since start or [`Self::clear_requests`], in arrival order,
    /// including ones later refused.
    pub fn writes(&self) -> Vec<SimWrite> {
        self.device.writes()
    }

    /// Every request, reads and writes, since start or [`Self::clear_requests`], in arrival
    /// order, including ones later refused.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.device.requests()
    }

    pub fn clear_requests(&self) {
        self.device.clear_requests();
    }

    /// Offline closes open TCP connections and every new one at once, and keeps the unit
    /// silent on an RTU bus, so clients see the device as unreachable (TCP) or timing out (RTU);
    /// online answers again.
    pub fn set_online(&self, online: bool) {
        self.device.set_online(online);
    }

    /// Answers every write with `code` (after the hold gate) until set back to `None`.
    pub fn fail_writes(&self, code: Option<ExceptionCode>) {
        self.device.fail_writes(code, 0);
    }

    /// Applies the next `accepted` writes, then answers every later one with `code` until
    /// [`Self::fail_writes`]`(None)`: an exception partway through a multi-frame batch.
    pub fn fail_writes_after(&self, accepted: usize, code: ExceptionCode) {
        self.device.fail_writes(Some(code), accepted);
    }

    /// Makes write requests wait, unapplied and unanswered, until [`Self::release_writes`].
    pub fn hold_writes(&self) {
        self.device.hold_writes(true);
    }

    pub fn release_writes(&self) {
        self.device.hold_writes(false);
    }

    /// Changes registers behind the gateway's back (drift, tampering, a half-written slot),
    /// keeping the CRC current as firmware would. Not logged as a write.
    pub fn poke(&self, address: u16, values: &[u16]) {
        self.device.registers().poke(address, values);
    }

    /// Factory reset: every slot cleared, generation 0 (a replaced or reflashed controller).
    pub fn wipe(&self) {
        self.device.registers().wipe();
    }

    /// The unit id it answers to.
    pub fn unit(&self) -> u8 {
        self.device.config.unit
    }
}
