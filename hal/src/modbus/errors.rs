//! Maps tokio-modbus failures onto [`ErrorKind`], following the exception table in
//! `docs/registers.md`, so retry logic never has to know Modbus.

use std::{io, time::Duration};

use tokio_modbus::{ExceptionCode, ExceptionResponse, ProtocolError};

use crate::{Error, ErrorKind};

/// The kind a Modbus exception code maps to.
pub fn exception_kind(code: ExceptionCode) -> ErrorKind {
    match code {
        ExceptionCode::IllegalFunction | ExceptionCode::IllegalDataAddress => ErrorKind::Config,
        ExceptionCode::IllegalDataValue => ErrorKind::Rejected,
        ExceptionCode::ServerDeviceFailure
        | ExceptionCode::Acknowledge
        | ExceptionCode::ServerDeviceBusy
        | ExceptionCode::MemoryParityError
        | ExceptionCode::GatewayPathUnavailable => ErrorKind::Busy,
        ExceptionCode::GatewayTargetDevice => ErrorKind::Timeout,
        // A code the spec does not define: the device said something we cannot interpret.
        ExceptionCode::Custom(_) => ErrorKind::Protocol,
    }
}

pub(crate) fn exception(code: ExceptionCode, what: &str) -> Error {
    Error::new(
        exception_kind(code),
        format!(
            "{what}: device answered exception {:#04X} ({code})",
            u8::from(code)
        ),
    )
}

pub(crate) fn io(err: &io::Error, what: &str) -> Error {
    // Our own error passed through an I/O layer (opening a port) keeps its kind.
    if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        return inner.context(what);
    }
    Error::new(io_kind(err), format!("{what}: {err}"))
}

fn io_kind(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        // The codec reports undecodable frames as invalid data.
        io::ErrorKind::InvalidData => ErrorKind::Protocol,
        // Refused, reset, aborted, EOF, broken pipe and whatever else the socket says: the
        // link is gone, reconnecting is the remedy.
        _ => ErrorKind::Unreachable,
    }
}

/// A failure to set up a transport (open and configure a port), as our own error marked as
/// concerning the whole device, still an I/O error for the layers it passes through.
pub(crate) fn setup(err: io::Error) -> io::Error {
    let error = match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(inner) => inner.clone(),
        None => Error::new(io_kind(&err), err.to_string()),
    };
    io::Error::other(error.whole_device())
}

pub(crate) fn modbus(err: &tokio_modbus::Error, what: &str) -> Error {
    match err {
        tokio_modbus::Error::Transport(e) => io(e, what),
        // Some servers (pymodbus) answer exceptions with function byte 0x80 instead of
        // FC | 0x80; the reply is still an exception and means what its code says.
        tokio_modbus::Error::Protocol(ProtocolError::FunctionCodeMismatch {
            result: Err(ExceptionResponse {
                exception: code, ..
            }),
            ..
        }) => exception(*code, what),
        tokio_modbus::Error::Protocol(e) => Error::new(ErrorKind::Protocol, format!("{what}: {e}")),
    }
}

pub(crate) fn timeout(after: Duration, what: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what}: no reply within {after:?}"),
    )
}

pub(crate) fn malformed(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("{what}: malformed reply: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_table() {
        let cases = [
            (0x01, ErrorKind::Config),
            (0x02, ErrorKind::Config),
            (0x03, ErrorKind::Rejected),
            (0x04, ErrorKind::Busy),
            (0x05, ErrorKind::Busy),
            (0x06, ErrorKind::Busy),
            (0x08, ErrorKind::Busy),
            (0x0A, ErrorKind::Busy),
            (0x0B, ErrorKind::Timeout),
            (0x42, ErrorKind::Protocol),
        ];
        for (code, kind) in cases {
            assert_eq!(
                exception_kind(ExceptionCode::new(code)),
                kind,
                "code {code:#04X}"
            );
        }
    }

    #[test]
    fn quirky_exception_reply_still_maps_by_code() {
        let err = tokio_modbus::Error::Protocol(ProtocolError::FunctionCodeMismatch {
            request: tokio_modbus::FunctionCode::ReadHoldingRegisters,
            result: Err(ExceptionResponse {
                function: tokio_modbus::FunctionCode::new(0),
                exception: ExceptionCode::IllegalDataAddress,
            }),
        });
        assert_eq!(modbus(&err, "reading").kind(), ErrorKind::Config);
    }

    #[test]
    fn socket_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io(&refused, "x").kind(), ErrorKind::Unreachable);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(io(&eof, "x").kind(), ErrorKind::Unreachable);
        let garbage = io::Error::from(io::ErrorKind::InvalidData);
        assert_eq!(io(&garbage, "x").kind(), ErrorKind::Protocol);
        let ours = io::Error::other(Error::new(ErrorKind::Config, "bad setting"));
        let mapped = io(&ours, "opening");
        assert_eq!(mapped.kind(), ErrorKind::Config);
        assert_eq!(mapped.message(), "opening: bad setting");
    }

    #[test]
    fn only_link_and_setup_failures_mean_offline() {
        // A reachable device refusing one request stays online, whatever the kind.
        for code in [0x01, 0x02, 0x03, 0x04] {
            let refused = exception(ExceptionCode::new(code), "writing");
            assert!(!refused.is_offline(), "{refused}");
        }
        let gone = io(&io::Error::from(io::ErrorKind::BrokenPipe), "writing");
        assert!(gone.is_offline());
        assert!(timeout(Duration::from_millis(5), "reading").is_offline());

        // A port that cannot be set up: offline, keeping its kind and message through the
        // I/O layers it crosses.
        let lacks = io::Error::other(Error::new(ErrorKind::Config, "/dev/x: no RS-485 mode"));
        let mapped = modbus(&tokio_modbus::Error::Transport(setup(lacks)), "reading");
        assert_eq!(mapped.kind(), ErrorKind::Config);
        assert_eq!(mapped.message(), "reading: /dev/x: no RS-485 mode");
        assert!(mapped.is_offline());
        let missing = setup(io::Error::from(io::ErrorKind::NotFound));
        assert!(io(&missing, "opening").is_offline());
        assert_eq!(io(&missing, "opening").kind(), ErrorKind::Unreachable);
    }
}
