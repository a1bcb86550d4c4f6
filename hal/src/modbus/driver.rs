//! The credential-table logic over any Modbus client, so TCP today and RTU later share it; a
//! [`Connector`] is all a transport has to supply.

use std::{borrow::Cow, collections::BTreeMap, fmt, time::Duration};

use async_trait::async_trait;
use tokio_modbus::{
    Request, Response,
    client::{Client as _, Context},
};

use super::{errors, frames};
use crate::{
    BatchError, Check, Controller, Credential, DeviceInfo, Drift, Error, ErrorKind, Op,
    RegisterProfile, SlotDrift,
    profile::{HEADER_LEN, Header},
};

/// Opens a connection to one device (unit id included), mapping failures to [`Error`].
#[async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self) -> Result<Context, Error>;

    /// Names the device in error messages, e.g. `10.0.0.5:502 unit 1`.
    fn describe(&self) -> String;

    /// The bound on one call given the driver's configured `base` timeout: a shared line may
    /// need longer, to wait for other units first.
    fn call_timeout(&self, base: Duration) -> Duration {
        base
    }
}

/// A credential-table driver over a Modbus [`Connector`]. Connects on first use and drops the
/// connection after any transport failure or timeout, so the next call starts clean.
pub struct ModbusDriver<C> {
    connector: C,
    profile: RegisterProfile,
    timeout: Duration,
    context: Option<Context>,
    /// The header as this connection last read or wrote it. The profile makes the gateway the
    /// table's only writer, so a batch need not re-read it: that read cost a whole transaction
    /// per batch (at 115200 baud as much line time as a 15-slot frame's bytes). Forgotten on
    /// any error or reconnect; probes and readbacks read it afresh.
    known: Option<Header>,
    /// A batch landed whole since the last generation bump. Bumped once the caller has nothing
    /// more queued (or before a probe or readback), not after every batch: at 115200 baud the
    /// bump's transaction cost as much line time as a fifth of a 15-slot frame.
    unbumped: bool,
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
            known: None,
            unbumped: false,
        })
    }

    pub fn profile(&self) -> &RegisterProfile {
        &self.profile
    }

    /// One request/response, never pipelined. `Ok(Err(_))` layers are flattened into [`Error`].
    async fn call(&mut self, request: Request<'_>, what: &str) -> Result<Response, Error> {
        let what = format!("{} on {}", what, self.connector.describe());
        let timeout = self.connector.call_timeout(self.timeout);
        let context = match &mut self.context {
            Some(context) => context,
            None => {
                let connected = tokio::time::timeout(timeout, self.connector.connect()).await;
                let context = match connected {
                    Ok(Ok(context)) => context,
                    Ok(Err(e)) => return Err(e.context(&what)),
                    Err(_) => {
                        return Err(errors::timeout(timeout, &format!("{what} (connecting)")));
                    }
                };
                self.context.insert(context)
            }
        };
        match tokio::time::timeout(timeout, context.call(request)).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(errors::exception(code, &what)),
            Ok(Err(e)) => {
                self.context = None;
                self.known = None;
                Err(errors::modbus(&e, &what))
            }
            Err(_) => {
                // A late reply would be taken for the next request's; start over instead.
                self.context = None;
                self.known = None;
                Err(errors::timeout(timeout, &what))
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

    /// Every slot register of a table of `slots`, in FC03 reads of whole slots.
    async fn read_slots(&mut self, slots: u16) -> Result<Vec<u16>, Error> {
        let per_read = self.profile.slots_per_read();
        let mut regs =
            Vec::with_capacity(usize::from(slots) * usize::from(self.profile.slot_registers));
        let mut slot = 0u16;
        while slot < slots {
            let n = per_read.min(slots - slot);
            let address = self.profile.slot_address(slot)?;
            // n * slot_registers <= max_read_registers <= 125 by validation.
            regs.extend(
                self.read_registers(address, n * self.profile.slot_registers)
                    .await?,
            );
            slot += n;
        }
        Ok(regs)
    }

    fn decode(&self, slot: u16, regs: &[u16]) -> Result<Option<Credential>, Error> {
        self.profile.decode_slot(regs).map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "slot {slot} on {}: {}",
                    self.connector.describe(),
                    e.message()
                ),
            )
        })
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
        self.known = Some(header);
        Ok(header)
    }

    /// A batch: the header (known or read), then its frames; the bump waits for
    /// [`Controller::finish_update`].
    async fn write_batch(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let header = match self.known {
            Some(header) => header,
            None => self
                .header()
                .await
                .map_err(|error| BatchError { applied: 0, error })?,
        };
        // Unknown until the batch has landed whole: an error leaves the next batch to re-read.
        self.known = None;
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
        self.known = Some(header);
        self.unbumped = true;
        Ok(())
    }

    /// The generation bump, if a batch landed whole since the last one: it tells the device (and
    /// a later probe) that an update finished.
    async fn bump(&mut self) -> Result<(), Error> {
        if !self.unbumped {
            return Ok(());
        }
        let header = match self.known {
            Some(header) => header,
            None => self.header().await?,
        };
        let generation = header.generation.wrapping_add(1);
        self.write_registers(
            self.profile.generation_address(),
            &self.profile.encode_generation(generation),
        )
        .await?;
        self.known = Some(Header {
            generation,
            ..header
        });
        self.unbumped = false;
        Ok(())
    }
}

#[async_trait]
impl<C: Connector> Controller for ModbusDriver<C> {
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.write_batch(ops).await
    }

    async fn finish_update(&mut self) -> Result<(), Error> {
        self.bump().await
    }

    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error> {
        self.bump().await?;
        let header = self.header().await?;
        let regs = self.read_slots(header.slots).await?;
        let width = usize::from(self.profile.slot_registers);
        let mut table = Vec::new();
        for (chunk, slot) in regs.chunks_exact(width).zip(0u16..) {
            if let Some(credential) = self.decode(slot, chunk)? {
                table.push((slot, credential));
            }
        }
        Ok(table)
    }

    async fn verify(&mut self, expected: &[(u16, Credential)]) -> Result<Drift, Error> {
        self.bump().await?;
        let header = self.header().await?;
        let by_slot = expected.iter().map(|(slot, c)| (*slot, c));
        let digest = self
            .profile
            .table_checksum(header.slots, by_slot)
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{}: expected table: {}",
                        self.connector.describe(),
                        e.message()
                    ),
                )
            })?;
        let generation = Some(header.generation);
        if digest == header.checksum {
            return Ok(Drift {
                check: Check::Digest,
                generation,
                slots: Vec::new(),
            });
        }
        let regs = self.read_slots(header.slots).await?;
        let wanted: BTreeMap<u16, &Credential> = expected.iter().map(|(s, c)| (*s, c)).collect();
        let width = usize::from(self.profile.slot_registers);
        let mut slots = Vec::new();
        for (raw, slot) in regs.chunks_exact(width).zip(0u16..) {
            let want = wanted.get(&slot).copied();
            if raw == self.profile.encode_slot(want).as_slice() {
                continue;
            }
            let expected = want.copied();
            slots.push(match (self.profile.decode_slot(raw), expected) {
                (Err(e), expected) => SlotDrift::Garbled {
                    slot,
                    expected,
                    card: None,
                    detail: e.message().to_string(),
                },
                (Ok(None), Some(expected)) => SlotDrift::Missing { slot, expected },
                (Ok(None), None) => SlotDrift::Garbled {
                    slot,
                    expected,
                    card: None,
                    detail: "slot not in use but not cleared".into(),
                },
                (Ok(Some(found)), None) => SlotDrift::Unexpected { slot, found },
                (Ok(Some(found)), Some(expected)) if found == expected => SlotDrift::Garbled {
                    slot,
                    expected: Some(expected),
                    card: Some(expected.card),
                    detail: "registers differ from the encoding (reserved bits set?)".into(),
                },
                (Ok(Some(found)), Some(expected)) => SlotDrift::Different {
                    slot,
                    expected,
                    found,
                },
            });
        }
        Ok(Drift {
            check: Check::FullRead,
            generation,
            slots,
        })
    }

    async fn probe(&mut self) -> Result<DeviceInfo, Error> {
        self.bump().await?;
        let header = self.header().await?;
        Ok(DeviceInfo {
            slots: Some(header.slots),
            generation: Some(header.generation),
            checksum: Some(header.checksum),
            peer: None,
        })
    }
}
