//! Modbus RTU framing as a slave sees it: find one request in the bytes received, check its CRC,
//! and encode the reply. Only what the credential profile uses (FC03, FC06, FC16) is decoded;
//! anything else is answered with exception 01 like a device that lacks the function.

use std::borrow::Cow;

use tokio_modbus::{ExceptionCode, Request, Response};

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_MODBUS);

/// CRC-16/MODBUS, sent low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// `frame` (address, PDU) with its CRC appended.
pub fn seal(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// What the head of the receive buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing {
    /// Not enough bytes yet to know (or to complete) the frame.
    Incomplete,
    /// A frame of this many bytes, CRC included, whose length the function code tells.
    Length(usize),
    /// A function code whose length we cannot tell: the frame ends at the next silence.
    UntilSilence,
}

/// Length of the request at the head of `buf`, by function code.
pub fn framing(buf: &[u8]) -> Framing {
    let Some(fc) = buf.get(1) else {
        return Framing::Incomplete;
    };
    let counted = |at: usize, fixed: usize| match buf.get(at) {
        Some(count) => Framing::Length(fixed + usize::from(*count)),
        None => Framing::Incomplete,
    };
    match fc {
        0x01..=0x06 => Framing::Length(8),
        0x0F | 0x10 => counted(6, 9),
        0x17 => counted(10, 13),
        _ => Framing::UntilSilence,
    }
}

/// A request that passed its CRC.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    pub unit: u8,
    pub function: u8,
    /// `Err` = answer this exception without asking the device.
    pub request: Result<Request<'static>, ExceptionCode>,
}

fn be(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Parses a complete frame; `None` if the CRC does not match (a slave drops such frames
/// silently) or the frame is shorter than address, function and CRC.
pub fn parse(frame: &[u8]) -> Option<Received> {
    if frame.len() < 4 {
        return None;
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    if crc16(body).to_le_bytes() != [crc[0], crc[1]] {
        return None;
    }
    let (unit, function, data) = (body[0], body[1], &body[2..]);
    let request = match (function, data.len()) {
        (0x03, 4) => Ok(Request::ReadHoldingRegisters(be(data, 0), be(data, 2))),
        (0x06, 4) => Ok(Request::WriteSingleRegister(be(data, 0), be(data, 2))),
        (0x10, n) if n >= 5 => {
            let (address, quantity, count) = (be(data, 0), be(data, 2), usize::from(data[4]));
            let values = &data[5..];
            if count != values.len() || count != 2 * usize::from(quantity) {
                Err(ExceptionCode::IllegalDataValue)
            } else {
                let words = values.chunks_exact(2).map(|w| be(w, 0)).collect();
                Ok(Request::WriteMultipleRegisters(address, Cow::Owned(words)))
            }
        }
        (0x03 | 0x06 | 0x10, _) => Err(ExceptionCode::IllegalDataValue),
        _ => Err(ExceptionCode::IllegalFunction),
    };
    Some(Received {
        unit,
        function,
        request,
    })
}

/// The reply frame, CRC included.
pub fn encode(unit: u8, function: u8, reply: &Result<Response, ExceptionCode>) -> Vec<u8> {
    let mut out = vec![unit];
    match reply {
        Ok(Response::ReadHoldingRegisters(words)) => {
            out.push(0x03);
            // At most 125 registers are ever read, so the byte count fits.
            out.push((words.len() * 2) as u8);
            for w in words {
                out.extend_from_slice(&w.to_be_bytes());
            }
        }
        Ok(Response::WriteSingleRegister(address, value)) => {
            out.push(0x06);
            out.extend_from_slice(&address.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        Ok(Response::WriteMultipleRegisters(address, quantity)) => {
            out.push(0x10);
            out.extend_from_slice(&address.to_be_bytes());
            out.extend_from_slice(&quantity.to_be_bytes());
        }
        Ok(_) => {
            out.push(function | 0x80);
            out.push(u8::from(ExceptionCode::ServerDeviceFailure));
        }
        Err(code) => {
            out.push(function | 0x80);
            out.push(u8::from(*code));
        }
    }
    seal(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_the_spec_example() {
        // Modbus over Serial Line: read 2 registers at 0x0000 of unit 1 → CRC bytes C4 0B.
        assert_eq!(
            seal(vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x02]),
            [0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B]
        );
    }

    #[test]
    fn framing_by_function_code() {
        assert_eq!(framing(&[1]), Framing::Incomplete);
        assert_eq!(framing(&[1, 3]), Framing::Length(8));
        assert_eq!(framing(&[1, 0x10, 0, 0, 0, 8]), Framing::Incomplete);
        assert_eq!(framing(&[1, 0x10, 0, 0, 0, 8, 16]), Framing::Length(25));
        assert_eq!(framing(&[1, 0x2B]), Framing::UntilSilence);
    }

    #[test]
    fn fc16_round_trip() {
        let frame = seal(vec![2, 0x10, 0, 16, 0, 2, 4, 0x12, 0x34, 0xAB, 0xCD]);
        assert_eq!(framing(&frame), Framing::Length(frame.len()));
        let got = parse(&frame).expect("valid");
        assert_eq!((got.unit, got.function), (2, 0x10));
        assert_eq!(
            got.request,
            Ok(Request::WriteMultipleRegisters(
                16,
                Cow::Owned(vec![0x1234, 0xABCD])
            ))
        );
        let reply = encode(2, 0x10, &Ok(Response::WriteMultipleRegisters(16, 2)));
        assert_eq!(reply, seal(vec![2, 0x10, 0, 16, 0, 2]));
    }

    #[test]
    fn bad_crc_and_bad_counts() {
        let mut frame = seal(vec![1, 3, 0, 0, 0, 10]);
        frame[3] ^= 0x01;
        assert_eq!(parse(&frame), None);
        assert_eq!(parse(&[1, 3]), None);
        let wrong_count = seal(vec![1, 0x10, 0, 0, 0, 2, 2, 0, 1]);
        assert_eq!(
            parse(&wrong_count).map(|r| r.request),
            Some(Err(ExceptionCode::IllegalDataValue))
        );
        let unknown = seal(vec![1, 0x2B, 0x0E, 1, 0]);
        assert_eq!(
            parse(&unknown).map(|r| r.request),
            Some(Err(ExceptionCode::IllegalFunction))
        );
        assert_eq!(
            encode(1, 0x2B, &Err(ExceptionCode::IllegalFunction)),
            seal(vec![1, 0xAB, 0x01])
        );
    }
}
