//! Credential formats: what an operator types for a card, fob or PIN, how it is checked, the
//! number a controller stores for it, and how it is shown and stored. Pure: no I/O, no store.
//!
//! # What an operator types
//!
//! `--card VALUE` takes one of these (case-insensitive, surrounding blanks ignored):
//!
//! | Input | Meaning |
//! |---|---|
//! | `w26:FC:CN` | 26-bit Wiegand, H10301: facility code 0–255, card number 0–65535 |
//! | `w34:FC:CN` | 34-bit Wiegand: facility code 0–65535, card number 0–65535 |
//! | `w37:FC:CN` | 37-bit Wiegand, H10304: facility code 0–65535, card number 0–524287 |
//! | `wNN:frame=VALUE` | the whole NN-bit frame as a reader or a log shows it, parity bits included, in decimal or `0x` hex; both parity bits are checked |
//! | `uid:HEX`, `uid:HH:HH:…` or `HH:HH:…` | a card's UID, 4 or 7 bytes (8 or 14 hex digits), bytes optionally separated by `:` |
//! | `DIGITS` | a card number exactly as the reader reports it, format unknown (what `--card N` always meant) |
//!
//! FC and CN are decimal; leading zeros are fine (`w26:123:04567`). Examples: `w26:123:4567`,
//! `w37:1000:300000`, `w26:frame=0x2F623AE`, `uid:04A1B2C3`, `04:a1:b2:c3:d4:e5:f6`, `8392263`.
//! What lintel displays for a card (`W26 123:4567`, `UID 04A1B2C3`, `CARD 8392263`, below) is
//! accepted too, so a value copied from a listing works.
//!
//! `--pin DIGITS` takes digits only, checked against a [`PinPolicy`] (4 digits by default, weak
//! PINs refused); see [`parse_pin`] and [`generate_pin`].
//!
//! # Wiegand bit layouts
//!
//! Positions count from the first bit on the wire (the frame's most significant bit). `E` is an
//! even parity bit, `O` an odd one: even makes the number of ones over the parity bit and the
//! bits it covers even, odd makes it odd.
//!
//! | Format | Layout (position) | `E` covers | `O` covers |
//! |---|---|---|---|
//! | 26-bit H10301 | `E`(0) FC×8 (1–8) CN×16 (9–24) `O`(25) | 1–12 (FC and the first 4 CN bits) | 13–24 (last 12 CN bits) |
//! | 34-bit | `E`(0) FC×16 (1–16) CN×16 (17–32) `O`(33) | 1–16 (the FC half) | 17–32 (the CN half) |
//! | 37-bit H10304 | `E`(0) FC×16 (1–16) CN×19 (17–35) `O`(36) | 1–18 (first 18 data bits) | 18–35 (last 18 data bits) |
//!
//! In H10304 the two ranges overlap at position 18. Every data bit is covered by at least one
//! parity bit, so any single flipped bit in a frame fails [`decode_wiegand`].
//!
//! Worked example, 26-bit FC 1 CN 1: FC = `00000001`, CN = `0000000000000001`. Positions 1–12
//! are `00000001 0000`: one 1, so `E` = 1 to make it even. Positions 13–24 are
//! `000000000001`: one 1, already odd, so `O` = 0. The frame is
//! `1 00000001 0000000000000001 0` = `0x2020002` (33685506); the card number is
//! `1 << 16 | 1` = 65537.
//!
//! # The card number a controller stores
//!
//! [`Credential::card_number`] is the number the controller will be handed by its reader when
//! the card is presented, because esp-rfid and the Modbus controllers compare exactly that
//! number:
//!
//! - **Wiegand: the data bits between the two parity bits, as one integer** — for 26 and 34 bits
//!   `FC << 16 | CN`, for 37 bits `FC << 19 | CN`. This is what Wiegand receivers report
//!   upstream: the common Arduino/ESP Wiegand library that esp-rfid builds on checks and strips
//!   the parity bits of 26- and 34-bit frames and reports the 24- or 32-bit remainder, and it is
//!   the number printed on most 125 kHz fobs (a fob labelled `0008392263 128,03655` is
//!   `W26 128:3655`, card number 8392263). Parity is
//!   transmission error detection, not identity; it is checked once, at the edge
//!   ([`decode_wiegand`]). It also keeps 26- and 34-bit cards inside the hal's default 32-bit
//!   card field (a 34-bit frame with its parity would need 34 bits); 37-bit cards need 35 bits
//!   and a wider field (`card_registers = 3` or `4`), as docs/registers.md says.
//! - **UID: the UID bytes, big-endian**, as an MFRC522-style reader reports them. A 10-byte UID
//!   is 80 bits and the controller-side card number is a u64, so it is refused rather than
//!   truncated (two cards would collide silently). A 7-byte UID whose first byte is `00` has the
//!   same number as the 4-byte UID of its last four bytes; real 7-byte UIDs start with a
//!   non-zero manufacturer byte.
//! - **Raw: the number as typed**, unchanged.
//! - **PIN: none** — a PIN is not a card; `card_number` is `None`.
//!
//! Two credentials with the same `card_number` open the same doors (`W26 128:3655` and
//! `CARD 8392263` are one card to a controller); detecting that is the caller's job. Card
//! number 0 is refused in every format: controllers use 0 for an empty slot.
//!
//! # Display and storage
//!
//! `Display` shows `W26 123:4567`, `W34 …`, `W37 …`, `UID 04A1B2C3`, `CARD 8392263` and, for every
//! PIN whatever its length, `PIN ****`; `Debug` masks PINs the same way. As JSON (serde) a
//! credential is its format plus its values, checked again when read back:
//!
//! ```json
//! {"format":"wiegand26","fc":123,"cn":4567}
//! {"format":"uid","uid":"04A1B2C3"}
//! {"format":"raw","number":8392263}
//! {"format":"pin","pin":"4821"}
//! ```
//!
//! In a compact (not human-readable) serde format, such as the store's postcard, it is the same
//! values without the names, checked again when read back just the same.

mod pin;
mod wiegand;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use pin::{GENERATE_PIN_TRIES, PIN_MAX_DIGITS, PinPolicy, generate_pin};

/// The accepted `--card` forms, for error messages.
const CARD_SYNTAX: &str =
    "w26:FC:CN, w34:FC:CN, w37:FC:CN, wNN:frame=VALUE, uid:HEX or a decimal card number";

/// Which kind of credential a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFormat {
    /// 26-bit Wiegand, HID H10301: 8-bit facility code, 16-bit card number.
    Wiegand26,
    /// 34-bit Wiegand: 16-bit facility code, 16-bit card number.
    Wiegand34,
    /// 37-bit Wiegand, HID H10304: 16-bit facility code, 19-bit card number.
    Wiegand37,
    /// A card's UID (4 or 7 bytes).
    Uid,
    /// A keypad PIN.
    Pin,
    /// A card number as the reader reports it, format unknown.
    Raw,
}

impl CredentialFormat {
    /// Frame length for the Wiegand formats.
    pub fn wiegand_bits(self) -> Option<u32> {
        wiegand::layout(self).map(|l| l.bits)
    }

    /// The Wiegand format with this frame length (26, 34 or 37).
    pub fn from_wiegand_bits(len: u32) -> Option<Self> {
        wiegand::layout_for_len(len).map(|l| l.format)
    }

    /// Largest facility code and card number (FC, CN) for the Wiegand formats.
    pub fn wiegand_limits(self) -> Option<(u32, u32)> {
        wiegand::layout(self).map(|l| (l.fc_max(), l.cn_max()))
    }
}

/// The short name operators see: `W26`, `W34`, `W37`, `UID`, `PIN`, `CARD`.
impl fmt::Display for CredentialFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wiegand26 => "W26",
            Self::Wiegand34 => "W34",
            Self::Wiegand37 => "W37",
            Self::Uid => "UID",
            Self::Pin => "PIN",
            Self::Raw => "CARD",
        })
    }
}

/// Which parity bit of a Wiegand frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParityBit {
    LeadingEven,
    TrailingOdd,
}

impl fmt::Display for ParityBit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LeadingEven => "leading even",
            Self::TrailingOdd => "trailing odd",
        })
    }
}

/// Everything that can be wrong with a credential. Messages name the problem and, for input
/// errors, what would have been accepted; no message ever contains a PIN's digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("no card given; expected {CARD_SYNTAX}")]
    Empty,
    #[error("`{0}` is not a card; expected {CARD_SYNTAX}")]
    Syntax(String),
    #[error(
        "`{input}` is not a supported Wiegand format; use w26, w34 or w37 \
         (e.g. w26:FC:CN)"
    )]
    UnknownWiegand { input: String },
    #[error(
        "`{input}`: expected {prefix}:FC:CN (facility code and card number, e.g. \
         {prefix}:123:4567) or {prefix}:frame=VALUE (the whole frame with parity)"
    )]
    WiegandSyntax { input: String, prefix: String },
    #[error("{what} `{input}` is not a decimal number")]
    NotANumber { what: &'static str, input: String },
    #[error("facility code {value} is out of range for {format} (0–{max})")]
    FacilityOutOfRange {
        format: CredentialFormat,
        value: String,
        max: u32,
    },
    #[error("card number {value} is out of range for {format} (0–{max})")]
    CardCodeOutOfRange {
        format: CredentialFormat,
        value: String,
        max: u32,
    },
    #[error("card number {value} does not fit in 64 bits")]
    NumberTooLarge { value: String },
    #[error("{format} frame {frame:#x} has more than {bits} bits")]
    FrameTooWide {
        format: CredentialFormat,
        frame: u64,
        bits: u32,
    },
    #[error(
        "{format} frame {frame:#x} fails its {bit} parity check (misread, or not a \
         {format} card)"
    )]
    Parity {
        format: CredentialFormat,
        frame: u64,
        bit: ParityBit,
    },
    #[error("{0}-bit Wiegand is not supported; lintel knows 26, 34 and 37 bits")]
    WiegandLength(u32),
    #[error("{0} is not a Wiegand format")]
    NotWiegand(CredentialFormat),
    #[error("card number {number} is too large for {format} (at most {max})")]
    NumberTooLargeForFormat {
        format: CredentialFormat,
        number: u64,
        max: u64,
    },
    #[error("UID `{input}` is not hex: {why}")]
    BadHex { input: String, why: String },
    #[error("UID `{input}` is {len} bytes; a card UID is 4 or 7 bytes (8 or 14 hex digits)")]
    UidLength { input: String, len: usize },
    #[error(
        "UID `{input}` is 10 bytes, but a controller stores a card number as a 64-bit value \
         (8 bytes), so a 10-byte UID cannot be represented; lintel refuses it rather than \
         truncating it (use the card's 4- or 7-byte UID or a Wiegand number instead)"
    )]
    UidTooLong { input: String },
    #[error("{0} has card number 0, which controllers use for an empty slot")]
    ZeroCard(String),
    #[error("no PIN given")]
    PinEmpty,
    #[error("a PIN must be digits only (0–9)")]
    PinNotDigits,
    #[error("the PIN has {len} digits; the PIN policy allows {min}–{max}")]
    PinLength { len: usize, min: usize, max: usize },
    #[error("the PIN has {len} digits; lintel accepts at most {max}")]
    PinTooLong { len: usize, max: usize },
    #[error(
        "the PIN is too easy to guess ({0}); choose another, or turn off the policy's \
         reject_weak"
    )]
    PinWeak(&'static str),
    #[error("PIN policy: {0}")]
    PinPolicy(String),
    #[error(
        "no free {len}-digit PIN found in {tries} tries: almost all are taken; raise the PIN \
         policy's min_len"
    )]
    PinSpaceExhausted { tries: u32, len: usize },
}

/// One validated credential: a Wiegand card, a UID, a raw card number or a PIN. See the
/// module documentation for the syntax, the card number and the JSON form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credential {
    kind: Kind,
}

/// Also the compact (postcard) form the store keeps: the variants' order is part of it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Kind {
    Wiegand {
        format: CredentialFormat,
        fc: u32,
        cn: u32,
    },
    /// 4 or 7 bytes.
    Uid(Vec<u8>),
    Raw(u64),
    /// ASCII digits.
    Pin(String),
}

impl Credential {
    /// A Wiegand card from its facility code and card number, range-checked for `format`.
    pub fn wiegand(format: CredentialFormat, fc: u32, cn: u32) -> Result<Self, CredentialError> {
        let layout = wiegand::layout(format).ok_or(CredentialError::NotWiegand(format))?;
        check_wiegand_ranges(layout, fc.to_string(), fc, cn.to_string(), cn)?;
        Self::wiegand_checked(format, fc, cn)
    }

    /// A Wiegand card from the full frame a reader sent (`len` = 26, 34 or 37 bits), parity
    /// checked.
    pub fn from_wiegand_frame(frame: u64, len: u32) -> Result<Self, CredentialError> {
        let layout = wiegand::layout_for_len(len).ok_or(CredentialError::WiegandLength(len))?;
        let (fc, cn) = layout.decode(frame)?;
        Self::wiegand_checked(layout.format, fc, cn)
    }

    /// A Wiegand card from the number a controller reports for it (see
    /// [`Credential::card_number`]), e.g. to show unknown swipe 8392263 as `W26 128:3655`.
    pub fn wiegand_from_card_number(
        format: CredentialFormat,
        number: u64,
    ) -> Result<Self, CredentialError> {
        let layout = wiegand::layout(format).ok_or(CredentialError::NotWiegand(format))?;
        let max = (1u64 << layout.data_bits()) - 1;
        if number > max {
            return Err(CredentialError::NumberTooLargeForFormat {
                format,
                number,
                max,
            });
        }
        let (fc, cn) = layout.split(number);
        Self::wiegand_checked(format, fc, cn)
    }

    /// A card UID of 4 or 7 bytes (10-byte UIDs do not fit a controller's u64 card number).
    pub fn uid(bytes: &[u8]) -> Result<Self, CredentialError> {
        check_uid_len(bytes, || hex_upper(bytes))?;
        nonzero(Self {
            kind: Kind::Uid(bytes.to_vec()),
        })
    }

    /// A card number exactly as the reader reports it.
    pub fn raw(number: u64) -> Result<Self, CredentialError> {
        nonzero(Self {
            kind: Kind::Raw(number),
        })
    }

    /// A PIN of 1 to [`PIN_MAX_DIGITS`] digits, with no policy applied (for PINs already
    /// admitted, e.g. read back from the store). New PINs go through [`parse_pin`].
    pub fn pin(digits: &str) -> Result<Self, CredentialError> {
        pin::check_digits(digits)?;
        Ok(Self {
            kind: Kind::Pin(digits.to_string()),
        })
    }

    fn wiegand_checked(
        format: CredentialFormat,
        fc: u32,
        cn: u32,
    ) -> Result<Self, CredentialError> {
        nonzero(Self {
            kind: Kind::Wiegand { format, fc, cn },
        })
    }

    pub fn format(&self) -> CredentialFormat {
        match &self.kind {
            Kind::Wiegand { format, .. } => *format,
            Kind::Uid(_) => CredentialFormat::Uid,
            Kind::Raw(_) => CredentialFormat::Raw,
            Kind::Pin(_) => CredentialFormat::Pin,
        }
    }

    /// The number a controller stores and compares: what its reader reports when this card
    /// is presented. Wiegand: the data bits without parity (`FC << 16 | CN` for 26 and 34 bits,
    /// `FC << 19 | CN` for 37); UID: the bytes big-endian; raw: itself; PIN: `None`. Never 0.
    /// The module documentation explains the choice.
    pub fn card_number(&self) -> Option<u64> {
        match &self.kind {
            Kind::Wiegand { format, fc, cn } => {
                wiegand::layout(*format).map(|l| l.payload(*fc, *cn))
            }
            Kind::Uid(bytes) => Some(bytes.iter().fold(0, |n, b| (n << 8) | u64::from(*b))),
            Kind::Raw(n) => Some(*n),
            Kind::Pin(_) => None,
        }
    }

    /// (facility code, card number) of a Wiegand card.
    pub fn wiegand_fields(&self) -> Option<(u32, u32)> {
        match &self.kind {
            Kind::Wiegand { fc, cn, .. } => Some((*fc, *cn)),
            _ => None,
        }
    }

    /// The full Wiegand frame, parity bits included, as the reader puts it on the wire.
    pub fn wiegand_frame(&self) -> Option<u64> {
        match &self.kind {
            Kind::Wiegand { format, fc, cn } => {
                wiegand::layout(*format).map(|l| l.encode(*fc, *cn))
            }
            _ => None,
        }
    }

    /// A UID's bytes.
    pub fn uid_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Uid(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// A PIN's digits, for handing to a controller. Never display or log them.
    pub fn pin_digits(&self) -> Option<&str> {
        match &self.kind {
            Kind::Pin(digits) => Some(digits),
            _ => None,
        }
    }
}

/// Shown to operators: `W26 123:4567`, `UID 04A1B2C3`, `CARD 8392263`, `PIN ****`.
impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Wiegand { format, fc, cn } => write!(f, "{format} {fc}:{cn}"),
            Kind::Uid(bytes) => write!(f, "UID {}", hex_upper(bytes)),
            Kind::Raw(n) => write!(f, "CARD {n}"),
            Kind::Pin(_) => f.write_str("PIN ****"),
        }
    }
}

/// Like `Display`, so PINs stay masked in logs and panics.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({self})")
    }
}

/// [`parse_card`].
impl FromStr for Credential {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_card(s)
    }
}

/// Parses a `--card` value (syntax in the module documentation).
pub fn parse_card(input: &str) -> Result<Credential, CredentialError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(CredentialError::Empty);
    }
    let lower = displayed_to_typed(&input.to_ascii_lowercase());
    if let Some(hex) = lower.strip_prefix("uid:") {
        return parse_uid(input, hex);
    }
    if let Some((prefix, rest)) = lower.split_once(':')
        && let Some(bits) = prefix.strip_prefix('w')
    {
        return parse_wiegand(input, prefix, bits, rest);
    }
    if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
        let number = lower
            .parse::<u64>()
            .map_err(|_| CredentialError::NumberTooLarge {
                value: lower.clone(),
            })?;
        return Credential::raw(number);
    }
    if lower.contains(':') && lower.split(':').all(|p| p.len() == 2 && is_hex(p)) {
        return parse_uid(input, &lower);
    }
    Err(CredentialError::Syntax(input.to_string()))
}

/// Rewrites the form lintel displays (`w26 123:4567`, `uid 04a1b2c3`, `card 8392263`, already
/// lower-cased) to the typed one, so a value copied from `credentials list` parses.
fn displayed_to_typed(lower: &str) -> String {
    if let Some((head, tail)) = lower.split_once(char::is_whitespace) {
        let tail = tail.trim_start();
        match head {
            "w26" | "w34" | "w37" | "uid" => return format!("{head}:{tail}"),
            "card" => return tail.to_string(),
            _ => {}
        }
    }
    lower.to_string()
}

/// Parses a `--pin` value and checks it against `policy`. Errors never contain the digits.
pub fn parse_pin(input: &str, policy: &PinPolicy) -> Result<Credential, CredentialError> {
    let digits = input.trim();
    policy.check(digits)?;
    Credential::pin(digits)
}

/// The full frame, parity bits included, for a Wiegand card; checks FC and CN ranges.
pub fn encode_wiegand(format: CredentialFormat, fc: u32, cn: u32) -> Result<u64, CredentialError> {
    let layout = wiegand::layout(format).ok_or(CredentialError::NotWiegand(format))?;
    check_wiegand_ranges(layout, fc.to_string(), fc, cn.to_string(), cn)?;
    Ok(layout.encode(fc, cn))
}

/// (facility code, card number) from a full `len`-bit frame (26, 34 or 37), after checking the
/// frame fits `len` bits and both parity bits are right.
pub fn decode_wiegand(bits: u64, len: u32) -> Result<(u32, u32), CredentialError> {
    wiegand::layout_for_len(len)
        .ok_or(CredentialError::WiegandLength(len))?
        .decode(bits)
}

fn parse_wiegand(
    input: &str,
    prefix: &str,
    bits: &str,
    rest: &str,
) -> Result<Credential, CredentialError> {
    let layout = bits
        .parse::<u32>()
        .ok()
        .filter(|_| bits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(wiegand::layout_for_len)
        .ok_or_else(|| CredentialError::UnknownWiegand {
            input: input.to_string(),
        })?;
    let syntax = || CredentialError::WiegandSyntax {
        input: input.to_string(),
        prefix: prefix.to_string(),
    };
    if let Some(value) = rest.strip_prefix("frame=") {
        let value = value.trim();
        let frame = match value.strip_prefix("0x") {
            Some(hex) if !hex.is_empty() && is_hex(hex) => u64::from_str_radix(hex, 16),
            Some(_) => return Err(syntax()),
            None if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                value.parse::<u64>()
            }
            None => return Err(syntax()),
        }
        .map_err(|_| CredentialError::NumberTooLarge {
            value: value.to_string(),
        })?;
        return Credential::from_wiegand_frame(frame, layout.bits);
    }
    let Some((fc_text, cn_text)) = rest.split_once(':') else {
        return Err(syntax());
    };
    if cn_text.contains(':') {
        return Err(syntax());
    }
    let fc_text = fc_text.trim();
    let cn_text = cn_text.trim();
    let fc = parse_decimal("facility code", fc_text)?;
    let cn = parse_decimal("card number", cn_text)?;
    let fc = u32::try_from(fc).unwrap_or(u32::MAX);
    let cn = u32::try_from(cn).unwrap_or(u32::MAX);
    check_wiegand_ranges(layout, fc_text.to_string(), fc, cn_text.to_string(), cn)?;
    Credential::wiegand_checked(layout.format, fc, cn)
}

/// A decimal number; absurdly long ones become `u64::MAX` so the range check names them.
fn parse_decimal(what: &'static str, text: &str) -> Result<u64, CredentialError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CredentialError::NotANumber {
            what,
            input: text.to_string(),
        });
    }
    Ok(text.parse::<u64>().unwrap_or(u64::MAX))
}

fn check_wiegand_ranges(
    layout: &wiegand::Layout,
    fc_text: String,
    fc: u32,
    cn_text: String,
    cn: u32,
) -> Result<(), CredentialError> {
    if fc > layout.fc_max() {
        return Err(CredentialError::FacilityOutOfRange {
            format: layout.format,
            value: fc_text,
            max: layout.fc_max(),
        });
    }
    if cn > layout.cn_max() {
        return Err(CredentialError::CardCodeOutOfRange {
            format: layout.format,
            value: cn_text,
            max: layout.cn_max(),
        });
    }
    Ok(())
}

/// `original` is what the operator typed (for messages), `hex` the lower-cased UID part.
fn parse_uid(original: &str, hex: &str) -> Result<Credential, CredentialError> {
    let shown = original.trim();
    let bad = |why: String| CredentialError::BadHex {
        input: shown.to_string(),
        why,
    };
    let digits: String = if hex.contains(':') {
        let groups: Vec<&str> = hex.split(':').collect();
        if let Some(g) = groups.iter().find(|g| g.len() != 2) {
            return Err(bad(format!(
                "byte `{g}` is not two hex digits (separate bytes with `:` as in 04:a1:b2:c3, \
                 or leave the separators out)"
            )));
        }
        groups.concat()
    } else {
        hex.to_string()
    };
    if digits.is_empty() {
        return Err(bad("no hex digits".to_string()));
    }
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(bad(format!("`{c}` is not a hex digit (0–9, A–F)")));
    }
    if digits.len() % 2 != 0 {
        return Err(bad(format!(
            "{} hex digits is not a whole number of bytes",
            digits.len()
        )));
    }
    let bytes: Vec<u8> = digits
        .as_bytes()
        .chunks(2)
        .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
        .collect();
    check_uid_len(&bytes, || shown.to_string())?;
    nonzero(Credential {
        kind: Kind::Uid(bytes),
    })
}

fn check_uid_len(bytes: &[u8], shown: impl Fn() -> String) -> Result<(), CredentialError> {
    match bytes.len() {
        4 | 7 => Ok(()),
        10 => Err(CredentialError::UidTooLong { input: shown() }),
        len => Err(CredentialError::UidLength {
            input: shown(),
            len,
        }),
    }
}

fn nonzero(credential: Credential) -> Result<Credential, CredentialError> {
    if credential.card_number() == Some(0) {
        return Err(CredentialError::ZeroCard(credential.to_string()));
    }
    Ok(credential)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Value of one ASCII hex digit already checked with `is_ascii_hexdigit`.
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The JSON shape in the store.
#[derive(Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
enum Stored {
    Wiegand26 { fc: u32, cn: u32 },
    Wiegand34 { fc: u32, cn: u32 },
    Wiegand37 { fc: u32, cn: u32 },
    Uid { uid: String },
    Raw { number: u64 },
    Pin { pin: String },
}

impl From<Credential> for Stored {
    fn from(c: Credential) -> Self {
        match c.kind {
            Kind::Wiegand { format, fc, cn } => match format {
                CredentialFormat::Wiegand34 => Stored::Wiegand34 { fc, cn },
                CredentialFormat::Wiegand37 => Stored::Wiegand37 { fc, cn },
                // Kind::Wiegand only ever holds the three Wiegand formats.
                _ => Stored::Wiegand26 { fc, cn },
            },
            Kind::Uid(bytes) => Stored::Uid {
                uid: hex_upper(&bytes),
            },
            Kind::Raw(number) => Stored::Raw { number },
            Kind::Pin(pin) => Stored::Pin { pin },
        }
    }
}

impl Serialize for Credential {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            Stored::from(self.clone()).serialize(serializer)
        } else {
            self.kind.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let read = if deserializer.is_human_readable() {
            Credential::try_from(Stored::deserialize(deserializer)?)
        } else {
            Credential::try_from(Kind::deserialize(deserializer)?)
        };
        read.map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Kind> for Credential {
    type Error = CredentialError;

    fn try_from(kind: Kind) -> Result<Self, Self::Error> {
        match kind {
            Kind::Wiegand { format, fc, cn } => Credential::wiegand(format, fc, cn),
            Kind::Uid(bytes) => Credential::uid(&bytes),
            Kind::Raw(number) => Credential::raw(number),
            Kind::Pin(digits) => Credential::pin(&digits),
        }
    }
}

impl TryFrom<Stored> for Credential {
    type Error = CredentialError;

    fn try_from(s: Stored) -> Result<Self, Self::Error> {
        match s {
            Stored::Wiegand26 { fc, cn } => {
                Credential::wiegand(CredentialFormat::Wiegand26, fc, cn)
            }
            Stored::Wiegand34 { fc, cn } => {
                Credential::wiegand(CredentialFormat::Wiegand34, fc, cn)
            }
            Stored::Wiegand37 { fc, cn } => {
                Credential::wiegand(CredentialFormat::Wiegand37, fc, cn)
            }
            Stored::Uid { uid } => {
                let lower = uid.to_ascii_lowercase();
                parse_uid(&uid, &lower)
            }
            Stored::Raw { number } => Credential::raw(number),
            Stored::Pin { pin } => Credential::pin(&pin),
        }
    }
}
