//! A smoltcp `phy::Device` over a net device (feature `smoltcp`): frames sized
//! from the device's MTU (MTU + 14, so jumbo frames work), one hypercall per
//! frame, and no NET_READ exit while the last POLL said nothing is pending.
//!
//! smoltcp's `Interface::poll` receives until the device has nothing more, so
//! each poll drains every pending frame; the readiness hint then stays off until
//! [`NetPhy::set_readable`] is told otherwise (by `netstack::wait`).

use crate::io::IoError;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frame I/O under a [`NetPhy`]: a [`NetDevice`](crate::net::NetDevice) in
/// guests, a fake in unit tests.
pub trait Link {
    /// The largest frame, Ethernet header included.
    fn frame_size(&self) -> usize;
    /// Sends one frame.
    fn send(&mut self, frame: &[u8]) -> Result<(), IoError>;
    /// Receives one frame into `buf`; `None` when none is pending.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError>;
}

#[cfg(any(doc, target_os = "none"))]
impl Link for crate::net::NetDevice {
    fn frame_size(&self) -> usize {
        crate::net::NetDevice::frame_size(self)
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), IoError> {
        crate::net::NetDevice::send(self, frame)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        crate::net::NetDevice::recv(self, buf)
    }
}

/// Frame counters of a [`NetPhy`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Receives that found no frame pending (each still cost an exit).
    pub rx_empty: u64,
    /// Receives the host failed (`EINVAL`/`EUNSPEC`).
    pub rx_errors: u64,
    /// Sends the host failed; the frame is lost, as on a real wire.
    pub tx_errors: u64,
}

/// smoltcp's view of a net device.
#[derive(Debug)]
pub struct NetPhy<L> {
    link: L,
    rx: Vec<u8>,
    tx: Vec<u8>,
    readable: bool,
    stats: Stats,
}

impl<L: Link> NetPhy<L> {
    /// Wraps `link`, with one receive and one transmit buffer of a whole frame.
    pub fn new(link: L) -> NetPhy<L> {
        let n = link.frame_size();
        NetPhy { link, rx: vec![0; n], tx: vec![0; n], readable: true, stats: Stats::default() }
    }

    /// The device underneath.
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Whether a frame may be pending: `false` after a receive found none, set
    /// again from POLL's ready set. While `false`, smoltcp's receives cost no exit.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Records what POLL said about this device (`true` also means "unknown").
    pub fn set_readable(&mut self, readable: bool) {
        self.readable = readable;
    }

    /// Frame counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// A received frame, lent to smoltcp.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Permission to send one frame.
#[derive(Debug)]
pub struct TxToken<'a, L> {
    link: &'a mut L,
    buf: &'a mut Vec<u8>,
    stats: &'a mut Stats,
}

impl<L: Link> phy::TxToken for TxToken<'_, L> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let frame = &mut self.buf[..len];
        let r = f(frame);
        match self.link.send(frame) {
            Ok(()) => self.stats.tx_frames += 1,
            Err(_) => self.stats.tx_errors += 1,
        }
        r
    }
}

impl<L: Link> phy::Device for NetPhy<L> {
    type RxToken<'a>
        = RxToken<'a>
    where
        L: 'a;
    type TxToken<'a>
        = TxToken<'a, L>
    where
        L: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_, L>)> {
        if !self.readable {
            return None;
        }
        match self.link.recv(&mut self.rx) {
            Ok(Some(len)) => {
                self.stats.rx_frames += 1;
                let rx = RxToken { frame: &self.rx[..len.min(self.rx.len())] };
                Some((rx, TxToken { link: &mut self.link, buf: &mut self.tx, stats: &mut self.stats }))
            }
            Ok(None) => {
                self.stats.rx_empty += 1;
                self.readable = false;
                None
            }
            Err(_) => {
                self.stats.rx_errors += 1;
                self.readable = false;
                None
            }
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_, L>> {
        Some(TxToken { link: &mut self.link, buf: &mut self.tx, stats: &mut self.stats })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.link.frame_size();
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phy::{Device, RxToken as _, TxToken as _};
    use std::collections::VecDeque;

    /// A link with queued incoming frames that records what it is asked.
    #[derive(Default)]
    struct Fake {
        mtu: usize,
        incoming: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        recvs: usize,
        fail_send: bool,
    }

    impl Link for Fake {
        fn frame_size(&self) -> usize {
            self.mtu + 14
        }
        fn send(&mut self, frame: &[u8]) -> Result<(), IoError> {
            if self.fail_send {
                return Err(IoError::Unspecified);
            }
            self.sent.push(frame.to_vec());
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
            self.recvs += 1;
            assert!(buf.len() >= self.frame_size(), "receive buffers hold a whole frame");
            Ok(self.incoming.pop_front().map(|f| {
                buf[..f.len()].copy_from_slice(&f);
                f.len()
            }))
        }
    }

    fn phy(mtu: usize, frames: &[&[u8]]) -> NetPhy<Fake> {
        NetPhy::new(Fake { mtu, incoming: frames.iter().map(|f| f.to_vec()).collect(), ..Fake::default() })
    }

    fn now() -> Instant {
        Instant::from_millis(0)
    }

    #[test]
    fn capabilities_follow_the_mtu() {
        assert_eq!(phy(1500, &[]).capabilities().max_transmission_unit, 1514);
        let jumbo = phy(9000, &[]);
        assert_eq!(jumbo.capabilities().max_transmission_unit, 9014);
        assert_eq!(jumbo.capabilities().medium, Medium::Ethernet);
        let big = vec![7u8; 9014];
        let mut p = phy(9000, &[&big]);
        let (rx, _) = p.receive(now()).unwrap();
        assert_eq!(rx.consume(|f| f.len()), 9014);
    }

    #[test]
    fn drains_then_stops_asking_until_readable_again() {
        let mut p = phy(1500, &[b"one", b"two"]);
        assert_eq!(p.receive(now()).unwrap().0.consume(|f| f.to_vec()), b"one");
        assert_eq!(p.receive(now()).unwrap().0.consume(|f| f.to_vec()), b"two");
        assert!(p.receive(now()).is_none());
        assert!(!p.readable());
        assert_eq!(p.link().recvs, 3);
        // Not readable: no more host reads, even when a frame has arrived.
        p.link.incoming.push_back(b"three".to_vec());
        assert!(p.receive(now()).is_none());
        assert_eq!(p.link().recvs, 3);
        p.set_readable(true);
        assert_eq!(p.receive(now()).unwrap().0.consume(|f| f.to_vec()), b"three");
        assert_eq!((p.stats().rx_frames, p.stats().rx_empty), (3, 1));
    }

    #[test]
    fn transmits_exactly_the_frame_and_counts_failures() {
        let mut p = phy(1500, &[b"ping"]);
        let (rx, tx) = p.receive(now()).unwrap();
        let n = rx.consume(|f| f.len());
        tx.consume(n + 2, |buf| buf.copy_from_slice(b"pong!!"));
        p.transmit(now()).unwrap().consume(60, |buf| buf.fill(1));
        assert_eq!(p.link().sent, [b"pong!!".to_vec(), vec![1u8; 60]]);
        p.link.fail_send = true;
        p.transmit(now()).unwrap().consume(60, |_| ());
        assert_eq!(p.stats(), Stats { rx_frames: 1, tx_frames: 2, rx_empty: 0, rx_errors: 0, tx_errors: 1 });
    }
}
