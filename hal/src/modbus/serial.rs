//! Serial-line settings for a Modbus RTU bus, as they appear in config.

use std::time::Duration;

use super::{
    rs485::Rs485Settings,
    timing::{self, t35},
};
use crate::{Error, ErrorKind};

/// Parity bit of each character.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    /// The Modbus serial-line default.
    #[default]
    Even,
    Odd,
}

/// One RS-485 line: the port and how characters are framed on it. Every unit on the bus shares
/// these, so they belong to the bus, not to a controller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub port: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default)]
    pub parity: Parity,
    /// 1 or 2. The spec asks for 2 when parity is `none` (8N1 is common but non-conforming).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Always 8: RTU frames are binary octets.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// How long to wait for a reply once the request is on the wire (the bus adds the wire time
    /// of the longest request and reply at `baud`).
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Silence kept between frames, in microseconds. Defaults to t3.5 for `baud` (1750 µs above
    /// 19200 baud); a slow slave may need more, never less.
    #[serde(default)]
    pub inter_frame_delay_us: Option<u64>,
    /// The kernel's RS-485 mode, set on every open; `None` leaves the port as it is.
    #[serde(default)]
    pub rs485: Option<Rs485Settings>,
}

fn default_baud() -> u32 {
    19_200
}

fn default_stop_bits() -> u8 {
    1
}

fn default_data_bits() -> u8 {
    8
}

fn default_response_timeout_ms() -> u64 {
    1_000
}

/// Longest RTU frame (address + PDU + CRC).
pub(crate) const MAX_RTU_FRAME: usize = 256;

impl SerialSettings {
    /// Settings with the spec's defaults (19200 baud, even parity, 1 stop bit) for `port`.
    pub fn new(port: impl Into<String>) -> Self {
        SerialSettings {
            port: port.into(),
            baud: default_baud(),
            parity: Parity::default(),
            stop_bits: default_stop_bits(),
            data_bits: default_data_bits(),
            response_timeout_ms: default_response_timeout_ms(),
            inter_frame_delay_us: None,
            rs485: None,
        }
    }

    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::new(ErrorKind::Config, m));
        if self.port.trim().is_empty() {
            return bad("port must name a serial device, e.g. /dev/ttyUSB0".into());
        }
        if !(300..=4_000_000).contains(&self.baud) {
            return bad(format!("baud = {} is outside 300–4000000", self.baud));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return bad(format!("stop_bits = {} must be 1 or 2", self.stop_bits));
        }
        if self.data_bits != 8 {
            return bad(format!(
                "data_bits = {} is not supported: Modbus RTU uses 8 data bits",
                self.data_bits
            ));
        }
        if self.response_timeout_ms == 0 {
            return bad("response_timeout_ms must be longer than zero".into());
        }
        if let Some(us) = self.inter_frame_delay_us {
            let min = t35(self.baud);
            if Duration::from_micros(us) < min {
                return bad(format!(
                    "inter_frame_delay_us = {us} is shorter than t3.5 = {} µs at {} baud",
                    min.as_micros(),
                    self.baud
                ));
            }
        }
        self.rs485.as_ref().map_or(Ok(()), Rs485Settings::validate)
    }

    /// Bits one character takes on this line: start, 8 data, parity if any, stop bits.
    pub fn char_bits(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// The silence kept before each frame.
    pub fn inter_frame_delay(&self) -> Duration {
        self.inter_frame_delay_us
            .map(Duration::from_micros)
            .unwrap_or_else(|| t35(self.baud))
    }

    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }

    /// The whole wait for one transaction: the longest request and reply on the wire, plus the
    /// response timeout.
    pub fn transaction_timeout(&self) -> Duration {
        self.response_timeout() + timing::wire_time(2 * MAX_RTU_FRAME, self.char_bits(), self.baud)
    }

    pub(crate) fn builder(&self) -> tokio_serial::SerialPortBuilder {
        let parity = match self.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        };
        let stop_bits = if self.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        };
        tokio_serial::new(&self.port, self.baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(parity)
            .stop_bits(stop_bits)
            .flow_control(tokio_serial::FlowControl::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let s: SerialSettings =
            serde_json::from_str(r#"{"port":"/dev/ttyUSB0"}"#).expect("only port is required");
        assert_eq!(s, SerialSettings::new("/dev/ttyUSB0"));
        assert_eq!((s.baud, s.parity, s.stop_bits), (19_200, Parity::Even, 1));
        assert_eq!(s.char_bits(), 11);
        assert_eq!(s.inter_frame_delay(), t35(19_200));
        assert!(s.validate().is_ok());
        assert!(serde_json::from_str::<SerialSettings>(r#"{"baud":9600}"#).is_err());
        assert!(
            serde_json::from_str::<SerialSettings>(r#"{"port":"/dev/x","speed":9600}"#).is_err()
        );
    }

    #[test]
    fn validate_names_the_field() {
        let with = |f: fn(&mut SerialSettings)| {
            let mut s = SerialSettings::new("/dev/ttyS0");
            f(&mut s);
            s.validate()
                .err()
                .map(|e| e.message().to_string())
                .unwrap_or_default()
        };
        assert!(with(|s| s.stop_bits = 3).contains("stop_bits"));
        assert!(with(|s| s.data_bits = 7).contains("data_bits"));
        assert!(with(|s| s.baud = 0).contains("baud"));
        assert!(with(|s| s.port = " ".into()).contains("port"));
        assert!(with(|s| s.response_timeout_ms = 0).contains("response_timeout_ms"));
        assert!(with(|s| s.inter_frame_delay_us = Some(1000)).contains("inter_frame_delay_us"));
        assert_eq!(with(|s| s.inter_frame_delay_us = Some(5000)), "");
        assert!(
            with(|s| {
                let mut rs485 = crate::modbus::Rs485Settings::enabled();
                rs485.delay_after_send_ms = 101;
                s.rs485 = Some(rs485);
            })
            .starts_with("rs485.delay_after_send_ms")
        );
    }

    #[test]
    fn character_bits_follow_parity_and_stop_bits() {
        let mut s = SerialSettings::new("/dev/ttyS0");
        s.parity = Parity::None;
        assert_eq!(s.char_bits(), 10);
        s.stop_bits = 2;
        assert_eq!(s.char_bits(), 11);
        s.baud = 115_200;
        assert_eq!(s.inter_frame_delay(), Duration::from_micros(1750));
        // 512 bytes of 11 bits at 115200 ≈ 48.9 ms on top of the response timeout.
        let extra = s.transaction_timeout() - s.response_timeout();
        assert!(
            (extra.as_secs_f64() * 1000.0 - 48.9).abs() < 0.1,
            "{extra:?}"
        );
    }
}
