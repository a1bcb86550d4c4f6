//! Wiegand frame layouts, parity and the encode/decode pair.
//!
//! Bit positions here count from the first bit on the wire, which is the most significant bit of
//! the frame held as an integer (position 0 = bit `len - 1` of the `u64`). A parity bit is *even*
//! when it makes the number of ones over itself and the bits it covers even, *odd* when it makes
//! that number odd.

use super::{CredentialError, CredentialFormat, ParityBit};

/// Where everything sits in one frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub format: CredentialFormat,
    /// Total frame length, parity included.
    pub bits: u32,
    pub fc_bits: u32,
    pub cn_bits: u32,
    /// (first position, count) covered by the leading even parity bit (position 0).
    pub even: (u32, u32),
    /// (first position, count) covered by the trailing odd parity bit (position `bits - 1`).
    pub odd: (u32, u32),
}

impl Layout {
    /// Data bits between the two parity bits: facility code then card number.
    pub fn data_bits(&self) -> u32 {
        self.fc_bits + self.cn_bits
    }

    pub fn fc_max(&self) -> u32 {
        mask32(self.fc_bits)
    }

    pub fn cn_max(&self) -> u32 {
        mask32(self.cn_bits)
    }

    /// `count` bits starting at wire position `pos`.
    fn field(&self, frame: u64, pos: u32, count: u32) -> u64 {
        (frame >> (self.bits - pos - count)) & mask64(count)
    }

    fn parity_of(&self, frame: u64, (pos, count): (u32, u32)) -> u64 {
        u64::from(self.field(frame, pos, count).count_ones() & 1)
    }

    /// The data bits (facility code then card number, parity stripped) as one integer.
    pub fn payload(&self, fc: u32, cn: u32) -> u64 {
        (u64::from(fc) << self.cn_bits) | u64::from(cn)
    }

    /// Splits a payload back into (facility code, card number). The payload must fit.
    pub fn split(&self, payload: u64) -> (u32, u32) {
        let fc = (payload >> self.cn_bits) & mask64(self.fc_bits);
        let cn = payload & mask64(self.cn_bits);
        // Both fit in u32 by construction: fc_bits and cn_bits are at most 19.
        (fc as u32, cn as u32)
    }

    /// Full frame with both parity bits. `fc` and `cn` must already be in range.
    pub fn encode(&self, fc: u32, cn: u32) -> u64 {
        let mut frame = self.payload(fc, cn) << 1;
        let even = self.parity_of(frame, self.even);
        let odd = 1 ^ self.parity_of(frame, self.odd);
        frame |= even << (self.bits - 1);
        frame |= odd;
        frame
    }

    /// Checks length and both parity bits, then splits out (facility code, card number).
    pub fn decode(&self, frame: u64) -> Result<(u32, u32), CredentialError> {
        if frame >> self.bits != 0 {
            return Err(CredentialError::FrameTooWide {
                format: self.format,
                frame,
                bits: self.bits,
            });
        }
        let leading = frame >> (self.bits - 1);
        if leading != self.parity_of(frame, self.even) {
            return Err(CredentialError::Parity {
                format: self.format,
                frame,
                bit: ParityBit::LeadingEven,
            });
        }
        let trailing = frame & 1;
        if trailing != 1 ^ self.parity_of(frame, self.odd) {
            return Err(CredentialError::Parity {
                format: self.format,
                frame,
                bit: ParityBit::TrailingOdd,
            });
        }
        Ok(self.split((frame >> 1) & mask64(self.data_bits())))
    }
}

/// 26-bit HID H10301: `E FFFFFFFF CCCCCCCCCCCCCCCC O`.
const W26: Layout = Layout {
    format: CredentialFormat::Wiegand26,
    bits: 26,
    fc_bits: 8,
    cn_bits: 16,
    even: (1, 12),
    odd: (13, 12),
};

/// 34-bit (HID H10306 and the common "Wiegand 34" reader output): `E F×16 C×16 O`.
const W34: Layout = Layout {
    format: CredentialFormat::Wiegand34,
    bits: 34,
    fc_bits: 16,
    cn_bits: 16,
    even: (1, 16),
    odd: (17, 16),
};

/// 37-bit HID H10304: `E F×16 C×19 O`; the two parity ranges overlap at position 18.
const W37: Layout = Layout {
    format: CredentialFormat::Wiegand37,
    bits: 37,
    fc_bits: 16,
    cn_bits: 19,
    even: (1, 18),
    odd: (18, 18),
};

pub(super) fn layout(format: CredentialFormat) -> Option<&'static Layout> {
    match format {
        CredentialFormat::Wiegand26 => Some(&W26),
        CredentialFormat::Wiegand34 => Some(&W34),
        CredentialFormat::Wiegand37 => Some(&W37),
        CredentialFormat::Uid | CredentialFormat::Pin | CredentialFormat::Raw => None,
    }
}

pub(super) fn layout_for_len(len: u32) -> Option<&'static Layout> {
    [&W26, &W34, &W37].into_iter().find(|l| l.bits == len)
}

fn mask64(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

fn mask32(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    }
}
