//! Simulated controllers on one RTU bus: several units share a byte stream (a pty master or a
//! serial port), each answering only its own unit id, as slaves on an RS-485 line do.
//!
//! Frames are cut by length from the function code (a pty delivers bytes in bursts whose
//! timing means nothing); a partial frame is dropped after [`SILENCE`] without bytes.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::watch,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    SimConfig, SimDevice,
    device::Device,
    rtu_frame::{self, Framing},
};
use crate::{
    Error, ErrorKind,
    modbus::timing::{self, SPEC_CHAR_BITS, t35, wire_time},
};

/// Longest RTU frame.
const MAX_FRAME: usize = 256;
/// Quiet time after which a partial frame is abandoned, or an unknown function's frame ends.
const SILENCE: Duration = Duration::from_millis(50);

/// How the simulated wire behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineEmulation {
    /// Emulated baud rate: each reply waits for the request and the reply to have crossed the
    /// wire and for the t3.5 silence a slave needs to see the request's end,
    /// `(request bytes + reply bytes) × 11 / baud + t3.5`. `None` answers at once.
    pub baud: Option<u32>,
    /// Slave turnaround (processing time) added before every reply, in microseconds.
    pub turnaround_us: u64,
}

impl LineEmulation {
    fn delay(&self, request: usize, reply: usize) -> Duration {
        // The master keeps the silence before its own frames; this is the one before the reply,
        // which reference/modbus.md's model counts too (2 × t3.5 per transaction).
        let wire = self
            .baud
            .map(|baud| wire_time(request + reply, SPEC_CHAR_BITS, baud) + t35(baud))
            .unwrap_or_default();
        wire + Duration::from_micros(self.turnaround_us)
    }
}

/// What noise does to a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The CRC bytes are wrong.
    BadCrc,
    /// One byte in the middle of the frame has a bit flipped (so the CRC no longer matches).
    FlippedByte,
}

/// Counters of what crossed the simulated bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtuStats {
    /// Frames with a good CRC, for any unit.
    pub requests: u64,
    /// Byte runs that were not a valid frame (bad CRC, over-long, cut short): interleaved or
    /// corrupted requests show up here.
    pub bad_frames: u64,
    pub replies: u64,
    /// Replies sent corrupted on purpose.
    pub corrupted: u64,
}

struct Bus {
    faults: Mutex<Option<(Corruption, u32)>>,
    stats: watch::Sender<RtuStats>,
    shutdown: CancellationToken,
}

impl Bus {
    fn take_fault(&self) -> Option<Corruption> {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let (how, left) = (*faults)?;
        *faults = left.checked_sub(1).filter(|n| *n > 0).map(|n| (how, n));
        Some(how)
    }

    fn count(&self, f: impl FnOnce(&mut RtuStats)) {
        self.stats.send_modify(f);
    }
}

/// Watches and steers a running simulated bus.
#[derive(Clone)]
pub struct RtuSimHandle {
    units: BTreeMap<u8, SimDevice>,
    bus: Arc<Bus>,
}

impl std::fmt::Debug for RtuSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtuSimHandle")
            .field("units", &self.units.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RtuSimHandle {
    /// The simulated controller answering `unit`.
    pub fn unit(&self, unit: u8) -> Option<&SimDevice> {
        self.units.get(&unit)
    }

    /// Corrupts the next `n` replies (any unit) as `how`.
    pub fn corrupt_replies(&self, n: u32, how: Corruption) {
        *self
            .bus
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (n > 0).then_some((how, n));
    }

    /// Counters that change on every frame, to `wait_for` instead of sleeping.
    pub fn stats(&self) -> watch::Receiver<RtuStats> {
        self.bus.stats.subscribe()
    }

    /// Stops serving the bus.
    pub fn shutdown(&self) {
        self.bus.shutdown.cancel();
    }
}

/// Simulated controllers on one RTU byte stream, not yet serving.
pub struct RtuSim<T> {
    transport: T,
    devices: BTreeMap<u8, Arc<Device>>,
    line: LineEmulation,
    bus: Arc<Bus>,
}

impl<T> std::fmt::Debug for RtuSim<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtuSim")
            .field("units", &self.devices.keys().collect::<Vec<_>>())
            .field("line", &self.line)
            .finish()
    }
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> RtuSim<T> {
    /// One device per config; unit ids must differ.
    pub fn new(transport: T, units: Vec<SimConfig>, line: LineEmulation) -> Result<Self, Error> {
        let mut devices = BTreeMap::new();
        for config in units {
            let unit = config.unit;
            if devices
                .insert(unit, Arc::new(Device::new(config)?))
                .is_some()
            {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("unit id {unit} appears twice on one bus"),
                ));
            }
        }
        if line.baud == Some(0) {
            return Err(Error::new(ErrorKind::Config, "baud must be above zero"));
        }
        Ok(RtuSim {
            transport,
            devices,
            line,
            bus: Arc::new(Bus {
                faults: Mutex::new(None),
                stats: watch::Sender::new(RtuStats::default()),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    pub fn handle(&self) -> RtuSimHandle {
        RtuSimHandle {
            units: self
                .devices
                .iter()
                .map(|(unit, device)| {
                    (
                        *unit,
                        SimDevice {
                            device: Arc::clone(device),
                        },
                    )
                })
                .collect(),
            bus: Arc::clone(&self.bus),
        }
    }

    /// Serves until `shutdown`, [`RtuSimHandle::shutdown`] or the end of the stream.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let bus = Arc::clone(&self.bus);
        tokio::select! {
            served = self.serve() => served,
            () = shutdown.cancelled() => Ok(()),
            () = bus.shutdown.cancelled() => Ok(()),
        }
    }

    /// Serves in a background task; stop it with [`RtuSimHandle::shutdown`].
    pub fn spawn(
        transport: T,
        units: Vec<SimConfig>,
        line: LineEmulation,
    ) -> Result<RtuSimHandle, Error> {
        let sim = RtuSim::new(transport, units, line)?;
        let handle = sim.handle();
        tokio::spawn(async move {
            if let Err(e) = sim.run(CancellationToken::new()).await {
                tracing::warn!(error = %e, "simulated RTU bus stopped");
            }
        });
        Ok(handle)
    }

    async fn serve(self) -> Result<(), Error> {
        let (mut rx, mut tx) = tokio::io::split(self.transport);
        let io_failed =
            |e: std::io::Error| Error::new(ErrorKind::Unreachable, format!("simulated bus: {e}"));
        let mut buf: Vec<u8> = Vec::with_capacity(2 * MAX_FRAME);
        loop {
            let wanted = match rtu_frame::framing(&buf) {
                Framing::Length(n) if n > MAX_FRAME => {
                    // Not a request any master could send: noise. Drop it all.
                    self.bus.count(|s| s.bad_frames += 1);
                    buf.clear();
                    continue;
                }
                Framing::Length(n) if buf.len() >= n => Some(n),
                _ => None,
            };
            let frame: Vec<u8> = match wanted {
                Some(n) => buf.drain(..n).collect(),
                None => {
                    let mut chunk = [0u8; MAX_FRAME];
                    let read = if buf.is_empty() {
                        Ok(rx.read(&mut chunk).await)
                    } else {
                        tokio::time::timeout(SILENCE, rx.read(&mut chunk)).await
                    };
                    match read {
                        Ok(Ok(0)) => return Ok(()),
                        Ok(Ok(n)) => {
                            buf.extend_from_slice(&chunk[..n]);
                            continue;
                        }
                        Ok(Err(e)) => return Err(io_failed(e)),
                        Err(_silence) => {
                            if rtu_frame::framing(&buf) == Framing::UntilSilence {
                                std::mem::take(&mut buf)
                            } else {
                                self.bus.count(|s| s.bad_frames += 1);
                                buf.clear();
                                continue;
                            }
                        }
                    }
                }
            };
            // The wire time runs from here: the pty hands the request over at once.
            let arrived = Instant::now();
            let Some(received) = rtu_frame::parse(&frame) else {
                // A slave drops a bad frame silently; what follows it is suspect too.
                self.bus.count(|s| s.bad_frames += 1);
                buf.clear();
                continue;
            };
            self.bus.count(|s| s.requests += 1);
            let Some(device) = self.devices.get(&received.unit) else {
                continue; // another slave's frame, or a broadcast: never answered
            };
            if !device.is_online() {
                continue;
            }
            let reply = match received.request {
                Ok(request) => device.answer(request).await,
                Err(code) => Err(code),
            };
            let mut reply = rtu_frame::encode(received.unit, received.function, &reply);
            if let Some(how) = self.bus.take_fault() {
                corrupt(&mut reply, how);
                self.bus.count(|s| s.corrupted += 1);
            }
            timing::sleep_until(arrived + self.line.delay(frame.len(), reply.len())).await;
            tx.write_all(&reply).await.map_err(io_failed)?;
            tx.flush().await.map_err(io_failed)?;
            self.bus.count(|s| s.replies += 1);
        }
    }
}

fn corrupt(frame: &mut [u8], how: Corruption) {
    let at = match how {
        Corruption::BadCrc => frame.len().saturating_sub(1),
        Corruption::FlippedByte => frame.len() / 2,
    };
    if let Some(byte) = frame.get_mut(at) {
        *byte ^= match how {
            Corruption::BadCrc => 0xFF,
            Corruption::FlippedByte => 0x04,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_delay_counts_both_frames_the_silence_before_the_reply_and_turnaround() {
        let line = LineEmulation {
            baud: Some(9600),
            turnaround_us: 5_000,
        };
        // 8-byte FC03 request + 25-byte reply = 33 chars of 11 bits at 9600 ≈ 37.8 ms, + t3.5
        // (4.01 ms) + 5 ms.
        let d = line.delay(8, 25).as_secs_f64() * 1000.0;
        assert!((d - 46.8).abs() < 0.1, "{d}");
        assert_eq!(LineEmulation::default().delay(8, 25), Duration::ZERO);
    }

    #[test]
    fn corruptions_change_the_frame() {
        let good = rtu_frame::seal(vec![1, 3, 2, 0x12, 0x34]);
        for how in [Corruption::BadCrc, Corruption::FlippedByte] {
            let mut bad = good.clone();
            corrupt(&mut bad, how);
            assert_ne!(bad, good);
            assert_eq!(rtu_frame::parse(&bad), None, "{how:?}");
        }
    }
}
