//! The kernel's RS-485 mode of a serial port (`struct serial_rs485`, set with the TIOCSRS485
//! ioctl): whether the UART drives the transceiver's direction pin (RTS) itself, and how.
//! Adapters that switch direction on their own need none of it.

use std::io;

use serial2::rs4xx::{Rs485Config, TransceiverMode};

use crate::{Error, ErrorKind};

/// The kernel's upper bound on either RTS delay (`RS485_MAX_RTS_DELAY`); larger values are
/// silently clamped, so they are refused at config time instead.
pub const MAX_RTS_DELAY_MS: u32 = 100;

/// Logical level of RTS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RtsLevel {
    #[default]
    High,
    Low,
}

/// RS-485 settings applied to the port each time it is opened. Absent from the config, the
/// port's mode is left as the kernel (or the device tree) has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rs485Settings {
    /// `true`: the UART drives RTS as the transmitter enable (SER_RS485_ENABLED). `false`:
    /// switch RS-485 mode off, e.g. where the device tree enables it at boot.
    pub enabled: bool,
    /// RTS level while sending (SER_RS485_RTS_ON_SEND); after sending it takes the other level
    /// (SER_RS485_RTS_AFTER_SEND), since a direction pin at one level throughout would never
    /// release the bus.
    #[serde(default)]
    pub rts_on_send: RtsLevel,
    /// Delay between raising RTS and the first bit (delay_rts_before_send), 0–100 ms.
    #[serde(default)]
    pub delay_before_send_ms: u32,
    /// Delay between the last bit and releasing RTS (delay_rts_after_send), 0–100 ms.
    #[serde(default)]
    pub delay_after_send_ms: u32,
    /// Keep the receiver on while sending (SER_RS485_RX_DURING_TX): full-duplex wiring or an
    /// adapter that needs it. Off on a half-duplex bus, where we would read our own frames.
    #[serde(default)]
    pub rx_during_tx: bool,
    /// Switch on the port's bus termination resistor where it has a software-controlled one
    /// (SER_RS485_TERMINATE_BUS).
    #[serde(default)]
    pub terminate_bus: bool,
}

impl Rs485Settings {
    /// RS-485 mode on, with the kernel's usual defaults otherwise.
    pub fn enabled() -> Self {
        Rs485Settings {
            enabled: true,
            rts_on_send: RtsLevel::High,
            delay_before_send_ms: 0,
            delay_after_send_ms: 0,
            rx_during_tx: false,
            terminate_bus: false,
        }
    }

    /// Checks the settings; the error names the key (as `rs485.KEY`).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::new(ErrorKind::Config, m));
        for (key, ms) in [
            ("delay_before_send_ms", self.delay_before_send_ms),
            ("delay_after_send_ms", self.delay_after_send_ms),
        ] {
            if ms > MAX_RTS_DELAY_MS {
                return bad(format!(
                    "rs485.{key} = {ms} is above the kernel's {MAX_RTS_DELAY_MS} ms limit"
                ));
            }
        }
        if !self.enabled {
            let off = Rs485Settings {
                enabled: false,
                ..Rs485Settings::enabled()
            };
            if *self != off {
                return bad(
                    "rs485.enabled = false switches RS-485 mode off; the other rs485 keys only \
                     apply with enabled = true"
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn mode(&self) -> TransceiverMode {
        if !self.enabled {
            return TransceiverMode::Default;
        }
        let mut config = Rs485Config::new();
        config.set_invert_rts(self.rts_on_send == RtsLevel::Low);
        config.set_delay_before_send(std::time::Duration::from_millis(
            self.delay_before_send_ms.into(),
        ));
        config.set_delay_after_send(std::time::Duration::from_millis(
            self.delay_after_send_ms.into(),
        ));
        config.set_full_duplex(self.rx_during_tx);
        config.set_bus_termination(self.terminate_bus);
        TransceiverMode::Rs485(config)
    }

    /// Sets the mode on `port`. The setting belongs to the UART, not to the open file, so it
    /// holds for the descriptor tokio-serial opens next (tokio-serial offers no ioctl of its own,
    /// and the workspace has no `unsafe` to issue one). Failing to open is an I/O error like
    /// any other; a port that refuses the mode is a configuration error naming the port and
    /// the setting, since retrying cannot help.
    pub(crate) fn apply(&self, port: &str) -> io::Result<()> {
        let handle = serial2::SerialPort::open(port, serial2::KeepSettings)?;
        handle.set_rs4xx_mode(self.mode()).map_err(|e| {
            let why = if e.raw_os_error() == Some(ENOTTY) {
                "the port's driver has no RS-485 mode (TIOCSRS485 is not supported)".to_string()
            } else {
                format!("TIOCSRS485 failed: {e}")
            };
            io::Error::other(Error::new(
                ErrorKind::Config,
                format!(
                    "{port}: cannot apply rs485.enabled = {}: {why}; remove the [rs485] table \
                     for an adapter that switches direction itself",
                    self.enabled
                ),
            ))
        })
    }
}

/// "Inappropriate ioctl for device": what a pty or USB adapter without RS-485 support answers.
const ENOTTY: i32 = 25;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_unknown_keys() {
        let s: Rs485Settings = serde_json::from_str(r#"{"enabled":true}"#).expect("parses");
        assert_eq!(s, Rs485Settings::enabled());
        assert!(serde_json::from_str::<Rs485Settings>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<Rs485Settings>(r#"{"enabled":true,"rts":"high"}"#).is_err());
        let low: Rs485Settings =
            serde_json::from_str(r#"{"enabled":true,"rts_on_send":"low"}"#).expect("parses");
        assert_eq!(low.rts_on_send, RtsLevel::Low);
    }

    #[test]
    fn validate_names_the_key() {
        let with = |f: fn(&mut Rs485Settings)| {
            let mut s = Rs485Settings::enabled();
            f(&mut s);
            s.validate()
                .err()
                .map(|e| e.message().to_string())
                .unwrap_or_default()
        };
        assert_eq!(with(|s| s.delay_before_send_ms = 100), "");
        assert!(with(|s| s.delay_before_send_ms = 101).starts_with("rs485.delay_before_send_ms"));
        assert!(with(|s| s.delay_after_send_ms = 500).starts_with("rs485.delay_after_send_ms"));
        assert_eq!(with(|s| s.enabled = false), "");
        assert!(
            with(|s| {
                s.enabled = false;
                s.rx_during_tx = true;
            })
            .starts_with("rs485.enabled")
        );
    }
}
