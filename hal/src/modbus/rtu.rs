//! Modbus RTU over a serial port shared by several units. One [`RtuBus`] owns the port; each
//! controller gets an [`RtuConnector`] from it, so [`ModbusDriver`] runs unchanged on top while
//! the bus makes sure frames from different units never interleave on the wire.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt, io,
    sync::{Arc, Mutex as StdMutex, PoisonError, Weak},
    time::Duration,
};

use async_trait::async_trait;
use tokio::{sync::Mutex, time::Instant};
use tokio_modbus::{
    Request, Response, Slave, SlaveId,
    client::{Client, Context},
    slave::SlaveContext,
};
use tokio_serial::{ClearBuffer, SerialPort as _, SerialStream};

use super::{ModbusDriver, driver::Connector, errors, serial::SerialSettings, timing};
use crate::{Error, ErrorKind, RegisterProfile};

/// The credential-table driver over Modbus RTU.
pub type ModbusRtu = ModbusDriver<RtuConnector>;

/// The line as the bus holder sees it. Guarded by one async mutex held for a whole transaction
/// (silence before, request, reply), which is what keeps units from interleaving.
struct Line {
    context: Option<Context>,
    /// When the last frame on the wire ended, so the next one keeps the inter-frame silence.
    quiet_since: Option<Instant>,
    /// Set while a request is out; still set at the next lock only if that transaction was
    /// abandoned mid-way (its future dropped), leaving unknown bytes on the line.
    in_flight: bool,
}

struct Shared {
    settings: SerialSettings,
    line: Mutex<Line>,
    /// Unit ids connectors were made for: how many transactions a caller may queue behind.
    units: StdMutex<BTreeSet<u8>>,
}

/// Buses open in this process by port, so every controller naming a port shares one bus.
static BUSES: StdMutex<BTreeMap<String, Weak<Shared>>> = StdMutex::new(BTreeMap::new());

/// One serial port (RS-485 bus) and the units on it. Cheap to clone; clones share the port.
#[derive(Clone)]
pub struct RtuBus {
    shared: Arc<Shared>,
}

impl fmt::Debug for RtuBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtuBus")
            .field("settings", &self.shared.settings)
            .finish()
    }
}

fn check_unit(unit: u8) -> Result<(), Error> {
    if (1..=247).contains(&unit) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Config,
            format!("unit id {unit} is outside 1–247 (0 is broadcast and never confirms)"),
        ))
    }
}

impl RtuBus {
    /// Checks the settings; the port is opened on first use and reopened after any failure.
    pub fn new(settings: SerialSettings) -> Result<Self, Error> {
        settings.validate()?;
        Ok(RtuBus {
            shared: Arc::new(Shared {
                settings,
                line: Mutex::new(Line {
                    context: None,
                    quiet_since: None,
                    in_flight: false,
                }),
                units: StdMutex::new(BTreeSet::new()),
            }),
        })
    }

    /// The bus on `settings.port` if one is already open in this process (while any of its
    /// drivers lives), else a new one. Several controllers on one RS-485 line must share one
    /// bus, or their frames would interleave; settings that differ from the open bus's are a
    /// configuration error, since one line has one baud rate and framing.
    pub fn shared(settings: SerialSettings) -> Result<Self, Error> {
        settings.validate()?;
        let mut buses = BUSES.lock().unwrap_or_else(PoisonError::into_inner);
        buses.retain(|_, bus| bus.strong_count() > 0);
        if let Some(shared) = buses.get(&settings.port).and_then(Weak::upgrade) {
            if shared.settings != settings {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{} is already open with other settings ({:?}); every unit on one bus \
                         must use the same baud, parity, stop bits and timing",
                        settings.port, shared.settings
                    ),
                ));
            }
            return Ok(RtuBus { shared });
        }
        let bus = RtuBus::new(settings)?;
        buses.insert(
            bus.shared.settings.port.clone(),
            Arc::downgrade(&bus.shared),
        );
        Ok(bus)
    }

    /// How many units have connectors on this bus.
    pub fn units(&self) -> usize {
        self.shared
            .units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether `other` is the same bus (the same open port).
    pub fn same_bus(&self, other: &RtuBus) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub fn settings(&self) -> &SerialSettings {
        &self.shared.settings
    }

    /// A connector addressing `unit` on this bus.
    pub fn connector(&self, unit: u8) -> Result<RtuConnector, Error> {
        check_unit(unit)?;
        self.shared
            .units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(unit);
        Ok(RtuConnector {
            bus: self.clone(),
            unit,
        })
    }

    fn open(&self) -> io::Result<Context> {
        let settings = &self.shared.settings;
        if let Some(rs485) = &settings.rs485 {
            rs485.apply(&settings.port)?;
        }
        let stream = SerialStream::open(&settings.builder())?;
        // Whatever sat in the buffers belongs to no request of ours.
        stream.clear(ClearBuffer::All)?;
        Ok(tokio_modbus::client::rtu::attach(stream))
    }

    /// One request and its reply, with the bus to itself.
    async fn transact(&self, unit: u8, request: Request<'_>) -> tokio_modbus::Result<Response> {
        let settings = &self.shared.settings;
        let mut guard = self.shared.line.lock().await;
        let line = &mut *guard;
        if line.in_flight {
            // The last transaction was abandoned: its reply may still be arriving.
            line.context = None;
            line.in_flight = false;
        }
        if let Some(quiet_since) = line.quiet_since {
            timing::sleep_until(quiet_since + settings.inter_frame_delay()).await;
        }
        if line.context.is_none() {
            line.context = Some(self.open().map_err(errors::setup)?);
        }
        let Some(context) = line.context.as_mut() else {
            return Err(io::Error::from(io::ErrorKind::NotConnected).into());
        };
        context.set_slave(Slave(unit));
        line.in_flight = true;
        let outcome =
            tokio::time::timeout(settings.transaction_timeout(), context.call(request)).await;
        line.in_flight = false;
        line.quiet_since = Some(Instant::now());
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                // A garbled or foreign reply leaves the codec out of step: start clean.
                line.context = None;
                Err(e)
            }
            Err(_) => {
                // tokio-modbus resynchronises on a bad CRC by dropping bytes and waiting for
                // more, so a corrupted reply ends up here too. Reopening flushes what is left.
                line.context = None;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no reply from unit {unit} within {} ms",
                        settings.transaction_timeout().as_millis()
                    ),
                )
                .into())
            }
        }
    }
}

/// Addresses one unit on an [`RtuBus`]; what [`ModbusDriver`] connects through.
#[derive(Debug, Clone)]
pub struct RtuConnector {
    bus: RtuBus,
    unit: u8,
}

impl RtuConnector {
    pub fn unit(&self) -> u8 {
        self.unit
    }
}

#[async_trait]
impl Connector for RtuConnector {
    async fn connect(&self) -> Result<Context, Error> {
        // Nothing to open per unit: the bus opens the port inside the first transaction.
        let client: Box<dyn Client> = Box::new(UnitClient {
            bus: self.bus.clone(),
            unit: self.unit,
        });
        Ok(Context::from(client))
    }

    fn describe(&self) -> String {
        format!("{} unit {}", self.bus.settings().port, self.unit)
    }

    /// A call may wait for one transaction of every other unit on the bus before its own.
    fn call_timeout(&self, base: Duration) -> Duration {
        let per_unit = self.bus.settings().transaction_timeout();
        let units = u32::try_from(self.bus.units().max(1)).unwrap_or(u32::MAX);
        base.max(per_unit.saturating_mul(units))
    }
}

/// A tokio-modbus client that borrows the bus for each call.
struct UnitClient {
    bus: RtuBus,
    unit: SlaveId,
}

impl SlaveContext for UnitClient {
    fn set_slave(&mut self, slave: Slave) {
        self.unit = slave.into();
    }
}

#[async_trait]
impl Client for UnitClient {
    async fn call(&mut self, request: Request<'_>) -> tokio_modbus::Result<Response> {
        self.bus.transact(self.unit, request).await
    }

    async fn disconnect(&mut self) -> io::Result<()> {
        // The port belongs to the bus and its other units.
        Ok(())
    }
}

impl ModbusDriver<RtuConnector> {
    /// A Modbus RTU driver for `unit` on `bus`. Each call is bounded by the longer of `timeout`
    /// and [`SerialSettings::transaction_timeout`] times the units on the bus, since a call may
    /// wait for every other unit's transaction first.
    pub fn new(
        bus: &RtuBus,
        unit: u8,
        profile: RegisterProfile,
        timeout: Duration,
    ) -> Result<Self, Error> {
        ModbusDriver::with_connector(bus.connector(unit)?, profile, timeout)
    }
}
