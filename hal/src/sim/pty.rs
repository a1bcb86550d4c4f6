//! A pseudo-terminal pair for serving the simulated RTU bus: the simulator reads and writes the
//! master side, the gateway opens the slave's path with tokio-serial like any serial port.
//!
//! A pty has no UART: baud and parity set on it are accepted and ignored, so timing is only what
//! the simulator emulates.

use std::{
    io,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll, ready},
};

use nix::{
    fcntl::{FcntlArg, OFlag, fcntl},
    sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, unix::AsyncFd};

use crate::{Error, ErrorKind};

/// The master side of a fresh pty pair, as an async byte stream.
#[derive(Debug)]
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
    /// Held open so the pair stays up while the gateway closes and reopens the slave (with no
    /// slave open, reads on the master fail with EIO).
    _slave: OwnedFd,
    path: PathBuf,
}

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unreachable, format!("pty: {what}: {e}"))
}

impl PtyMaster {
    /// Opens a pair in raw mode. Needs a tokio runtime (the master registers with its reactor).
    pub fn open() -> Result<Self, Error> {
        let pair = nix::pty::openpty(None, None).map_err(|e| failed("openpty", e))?;
        // Raw: no echo, no line editing, no CR/LF translation, all 8 bits through.
        let mut termios = tcgetattr(&pair.slave).map_err(|e| failed("tcgetattr", e))?;
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).map_err(|e| failed("tcsetattr", e))?;
        let path = nix::unistd::ttyname(&pair.slave).map_err(|e| failed("ttyname", e))?;
        fcntl(&pair.master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| failed("non-blocking master", e))?;
        // `new` is deprecated because a borrowed raw fd could be closed under the reactor; here
        // the reactor gets the `OwnedFd` itself, so that cannot happen. Its replacement,
        // `register`, is the same call marked `unsafe`, which this workspace denies.
        #[allow(deprecated)]
        let fd = AsyncFd::new(pair.master).map_err(|e| failed("registering master", e))?;
        Ok(PtyMaster {
            fd,
            _slave: pair.slave,
            path,
        })
    }

    /// The slave device (`/dev/pts/N`) the gateway opens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref(), unfilled).map_err(io::Error::from))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), buf).map_err(io::Error::from))
            {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
