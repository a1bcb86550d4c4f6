//! The simulated controller's behaviour: request dispatch, the write gate, injected faults and
//! the counters tests wait on. Shared by the server and every [`super::SimHandle`].

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::watch;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest, server::Service};
use tokio_util::sync::CancellationToken;

use super::{SimConfig, SimRequest, SimWrite, state::Registers};
use crate::{
    Error,
    profile::{FC03_MAX_REGISTERS, FC16_MAX_REGISTERS},
};

pub(crate) struct Device {
    pub config: SimConfig,
    registers: Mutex<Registers>,
    requests: Mutex<Vec<SimRequest>>,
    fault: Mutex<Option<WriteFault>>,
    /// Cancelled to cut every open connection; replaced when the device comes back online.
    links: Mutex<Option<CancellationToken>>,
    held: watch::Sender<bool>,
    pub arrived: watch::Sender<u64>,
    /// Counts read requests (FC03), answered or not.
    pub reads: watch::Sender<u64>,
    /// Counts accepted TCP connections, online or not.
    pub connections: watch::Sender<u64>,
    pub applied: watch::Sender<u64>,
    pub shutdown: CancellationToken,
}

/// Writes to refuse: every one after the next `accepted`.
#[derive(Debug, Clone, Copy)]
struct WriteFault {
    code: ExceptionCode,
    accepted: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the simulator down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Device {
    pub fn new(config: SimConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Device {
            registers: Mutex::new(Registers::new(config.profile.clone(), config.slots)?),
            config,
            requests: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            links: Mutex::new(Some(CancellationToken::new())),
            held: watch::Sender::new(false),
            arrived: watch::Sender::new(0),
            reads: watch::Sender::new(0),
            connections: watch::Sender::new(0),
            applied: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn registers(&self) -> MutexGuard<'_, Registers> {
        lock(&self.registers)
    }

    /// The token a new connection is cut with, or `None` while offline.
    pub fn link_token(&self) -> Option<CancellationToken> {
        self.connections.send_modify(|n| *n += 1);
        lock(&self.links).clone()
    }

    pub fn is_online(&self) -> bool {
        lock(&self.links).is_some()
    }

    pub fn set_online(&self, online: bool) {
        let mut links = lock(&self.links);
        match (online, links.take()) {
            (true, current) => *links = Some(current.unwrap_or_default()),
            (false, Some(current)) => current.cancel(),
            (false, None) => {}
        }
    }

    pub fn writes(&self) -> Vec<SimWrite> {
        lock(&self.requests)
            .iter()
            .filter_map(|r| match r {
                SimRequest::Write(w) => Some(w.clone()),
                SimRequest::Read { .. } => None,
            })
            .collect()
    }

    pub fn requests(&self) -> Vec<SimRequest> {
        lock(&self.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Refuses writes with `code` once `accepted` more have been applied; `None` accepts all.
    pub fn fail_writes(&self, code: Option<ExceptionCode>, accepted: usize) {
        *lock(&self.fault) = code.map(|code| WriteFault { code, accepted });
    }

    pub fn hold_writes(&self, held: bool) {
        self.held.send_replace(held);
    }

    pub async fn answer(&self, request: Request<'static>) -> Result<Response, ExceptionCode> {
        match request {
            Request::ReadHoldingRegisters(address, count) => {
                lock(&self.requests).push(SimRequest::Read {
                    start: address,
                    count,
                });
                self.reads.send_modify(|n| *n += 1);
                if !(1..=FC03_MAX_REGISTERS).contains(&count) {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                self.registers()
                    .read(address, count)
                    .map(Response::ReadHoldingRegisters)
            }
            Request::WriteSingleRegister(address, value) => {
                self.write(address, vec![value]).await?;
                Ok(Response::WriteSingleRegister(address, value))
            }
            Request::WriteMultipleRegisters(address, values) => {
                let count = u16::try_from(values.len()).unwrap_or(u16::MAX);
                self.write(address, values.into_owned()).await?;
                Ok(Response::WriteMultipleRegisters(address, count))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    /// Logs the write on arrival, waits at the gate, then applies or fails it.
    async fn write(&self, start: u16, values: Vec<u16>) -> Result<(), ExceptionCode> {
        let count = values.len();
        lock(&self.requests).push(SimRequest::Write(SimWrite {
            start,
            values: values.clone(),
        }));
        self.arrived.send_modify(|n| *n += 1);
        tracing::debug!(start, count, "simulated controller: write arrived");

        let mut gate = self.held.subscribe();
        // The sender lives as long as `self`, so this only returns once released.
        let _ = gate.wait_for(|held| !*held).await;

        if !(1..=usize::from(FC16_MAX_REGISTERS)).contains(&count) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if let Some(fault) = *lock(&self.fault)
            && fault.accepted == 0
        {
            tracing::debug!(start, code = %fault.code, "simulated controller: failing write as told");
            return Err(fault.code);
        }
        self.registers().write(start, &values)?;
        if let Some(fault) = lock(&self.fault).as_mut() {
            fault.accepted = fault.accepted.saturating_sub(1);
        }
        self.applied.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// One connection's view of the device, as tokio-modbus's server wants it.
#[derive(Clone)]
pub(crate) struct DeviceService(pub Arc<Device>);

impl Service for DeviceService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let device = Arc::clone(&self.0);
        Box::pin(async move {
            if request.slave != device.config.unit {
                // What a TCP gateway answers for a unit it has no route to.
                return Err(ExceptionCode::GatewayTargetDevice);
            }
            device.answer(request.request).await
        })
    }
}
