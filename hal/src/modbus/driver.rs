//! The credential-table logic over any Modbus client, so TCP today and RTU later share it; a
//! [`Connector`] is all a transport has to supply.

use std::{borrow::Cow, fmt, time::Duration};

use async_trait::async_trait;
use tokio_modbus::{
    Request, Response,
    client::{Client as _, Context},
};

use super::{errors, frames};
use crate::{
    BatchError, Controller, Credential, DeviceInfo, Error, ErrorKind, Op, RegisterProfile,
    profile::{HEADER_LEN, Header},
};

/// Opens a connection to one device (unit id included), mapping failures to [`Error`].
#[async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self) -> Result<Context, Error>;

    /// Names the device in error messages, e.g. `10.0.0.5:502 unit 1`.
    fn describe(&self) -> String;
}

/// A credential-table driver over a Modbus [`Connector`]. Connects on first use and drops the
/// connection after any transport failure or timeout, so the next call starts clean.
pub struct ModbusDriver<C> {
    connector: C,
    profile: RegisterProfile,
    timeout: Duration,
    context: Option<Context>,
}

impl<C: fmt::Debug> fmt::Debug for ModbusDriver<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModbusDriver")
            .field("connector", &self.connector)
            .field("profile", &self.profile)
            .field("timeout", &self.timeout)
            .field("connected", &self.context.is_some())
            .finish()
    }
}

impl<C: Connector> ModbusDriver<C> {
    /// Checks the profile and timeout; does not touch the network.
    pub fn with_connector(
        connector: C,
        profile: RegisterProfile,
        timeout: Duration,
    ) -> Result<Self, Error> {
        profile.validate()?;
        if timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::Config,
                "timeout must be longer than zero",
            ));
        }
        Ok(ModbusDriver {
            connector,
            profile,
            timeout,
            context: None,
        })
    }

    pub fn profile(&self) -> &RegisterProfile {
        &self.profile
    }

    /// One request/response, never pipelined. `Ok(Err(_))` layers are flattened into [`Error`].
    async fn call(&mut self, request: Request<'_>, what: &str) -> Result<Response, Error> {
        let what = format!("{} on {}", what, self.connector.describe());
        let context = match &mut self.context {
            Some(context) => context,
            None => {
                let connected = tokio::time::timeout(self.timeout, self.connector.connect()).await;
                let context = match connected {
                    Ok(Ok(context)) => context,
                    Ok(Err(e)) => {
                        return Err(Error::new(e.kind(), format!("{what}: {}", e.message())));
                    }
                    Err(_) => {
                        return Err(errors::timeout(
                            self.timeout,
                            &format!("{what} (connecting)"),
                        ));
                    }
                };
                self.context.insert(context)
            }
        };
        match tokio::time::timeout(self.timeout, context.call(request)).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(errors::exception(code, &what)),
            Ok(Err(e)) => {
                self.context = None;
                Err(errors::modbus(&e, &what))
            }
            Err(_) => {
                // A late reply would be taken for the next request's; start over instead.
                self.context = None;
                Err(errors::timeout(self.timeout, &what))
            }
        }
    }

    async fn read_registers(&mut self, address: u16, count: u16) -> Result<Vec<u16>, Error> {
        let what = format!("reading {count} registers at {address}");
        match self
            .call(Request::ReadHoldingRegisters(address, count), &what)
            .await?
        {
            Response::ReadHoldingRegisters(words) if words.len() == usize::from(count) => Ok(words),
            Response::ReadHoldingRegisters(words) => Err(errors::malformed(
                &what,
                format!("{} registers returned", words.len()),
            )),
            other => Err(errors::malformed(&what, format!("{other:?}"))),
        }
    }

    async fn write_registers(&mut self, address: u16, values: &[u16]) -> Result<(), Error> {
        let what = format!("writing {} registers at {address}", values.len());
        let request = Request::WriteMultipleRegisters(address, Cow::Borrowed(values));
        match self.call(request, &what).await? {
            Response::WriteMultipleRegisters(a, n)
                if a == address && usize::from(n) == values.len() =>
            {
                Ok(())
            }
            other => Err(errors::malformed(&what, format!("echo {other:?}"))),
        }
    }

    /// Reads and checks the header against the profile.
    async fn header(&mut self) -> Result<Header, Error> {
        let regs = self
            .read_registers(self.profile.header_base, HEADER_LEN)
            .await?;
        let header = self.profile.decode_header(&regs)?;
        self.profile.check_header(&header).map_err(|e| {
            Error::new(
                e.kind(),
                format!("{}: {}", self.connector.describe(), e.message()),
            )
        })?;
        Ok(header)
    }
}

#[async_trait]
impl<C: Connector> Controller for ModbusDriver<C> {
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        if ops.is_empty() {
            return Ok(());
        }
        let header = self
            .header()
            .await
            .map_err(|error| BatchError { applied: 0, error })?;
        let plan = frames::plan(&self.profile, ops, header.slots);
        for frame in &plan.frames {
            self.write_registers(frame.address, &frame.values)
                .await
                .map_err(|error| BatchError {
                    applied: frame.first,
                    error,
                })?;
        }
        if let Some((applied, error)) = plan.stop {
            return Err(BatchError { applied, error });
        }
        // The bump tells the device (and a later probe) that a whole batch landed. If only the
        // bump fails, every op is still confirmed: `applied` says so and the caller can ack them.
        let generation = self
            .profile
            .encode_generation(header.generation.wrapping_add(1));
        self.write_registers(self.profile.generation_address(), &generation)
            .await
            .map_err(|error| BatchError {
                applied: ops.len(),
                error,
            })
    }

    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error> {
        let header = self.header().await?;
        let per_read = self.profile.slots_per_read();
        let width = usize::from(self.profile.slot_registers);
        let mut table = Vec::new();
        let mut slot = 0u16;
        while slot < header.slots {
            let n = per_read.min(header.slots - slot);
            let address = self.profile.slot_address(slot)?;
            // n * slot_registers <= max_read_registers <= 125 by validation.
            let regs = self
                .read_registers(address, n * self.profile.slot_registers)
                .await?;
            for (i, chunk) in regs.chunks_exact(width).enumerate() {
                let at = slot + i as u16;
                let decoded = self.profile.decode_slot(chunk).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!(
                            "slot {at} on {}: {}",
                            self.connector.describe(),
                            e.message()
                        ),
                    )
                })?;
                if let Some(credential) = decoded {
                    table.push((at, credential));
                }
            }
            slot += n;
        }
        Ok(table)
    }

    async fn probe(&mut self) -> Result<DeviceInfo, Error> {
        let header = self.header().await?;
        Ok(DeviceInfo {
            slots: header.slots,
            generation: header.generation,
            checksum: header.checksum,
        })
    }
}
