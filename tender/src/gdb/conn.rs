//! The debugger's connection, as gdbstub reads and writes it, with one difference from a
//! plain `TcpStream`: a blocking read also wakes on SIGINT/SIGTERM (the signal module's
//! wake-up pipe), so a signal ends a debugging session at once instead of waiting for GDB.

use gdbstub::conn::{Connection, ConnectionExt};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// The session's connection.
#[derive(Debug)]
pub struct Conn(pub TcpStream);

/// The error a read returns when a signal arrived: the session ends with it.
fn interrupted(sig: i32) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Interrupted, format!("signal {sig}"))
}

impl Connection for Conn {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        Write::write_all(&mut self.0, &[byte])
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        Write::write_all(&mut self.0, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Write::flush(&mut self.0)
    }

    fn on_session_start(&mut self) -> Result<(), Self::Error> {
        self.0.set_nodelay(true)
    }
}

impl ConnectionExt for Conn {
    /// Waits for a byte, or for a signal.
    fn read(&mut self) -> Result<u8, Self::Error> {
        self.0.set_nonblocking(false)?;
        crate::signal::wait_readable(self.0.as_raw_fd()).map_err(interrupted)?;
        let mut b = [0u8];
        match Read::read(&mut self.0, &mut b)? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(b[0]),
        }
    }

    /// A byte if one is waiting (Ctrl-C between the guest's exits), without blocking.
    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        self.0.set_nonblocking(true)?;
        let mut b = [0u8];
        match TcpStream::peek(&self.0, &mut b) {
            Ok(0) => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}
