//! http: an HTTP/1.1 server on port 80 of its net device "service", at
//! 10.0.0.2/24, or at the address given as its first argument or as
//! `--ipv4=ADDR/PREFIX` (with `--ipv4-gateway=ADDR`, as tender-oci passes), until killed.
//!
//! `GET /` is a small page, `GET /stats` the number of requests served, any
//! other path 404; every answer closes its connection. Sixteen connections are
//! served at once (one listening socket each, listening again once closed).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use guest_rt::net::NetDevice;
use guest_rt::netstack::{ipv4_config, Stack, IDLE_NS};
use guest_rt::println;
use guest_rt::smoltcp::iface::SocketHandle;
use guest_rt::smoltcp::socket::tcp::{Socket, SocketBuffer, State};
use guest_rt::smoltcp::wire::{Ipv4Address, Ipv4Cidr};
use http_core::{parse, respond, Head, MAX_HEAD};

guest_rt::manifest!(net "service");
guest_rt::entry!(main);

const DEFAULT_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24);
const PORT: u16 = 80;
/// Connections served at once (more than clients usually open at once: a
/// socket is busy from its SYN until the client's last ACK).
const SOCKETS: usize = 16;
const RX_BUFFER: usize = 4 << 10;
const TX_BUFFER: usize = 8 << 10;
/// Print the request count every this many requests (printing costs an exit).
const REPORT_EVERY: u64 = 100;

/// One listening socket and the request it is serving.
struct Conn {
    handle: SocketHandle,
    request: Vec<u8>,
    response: Vec<u8>,
    sent: usize,
    answered: bool,
}

impl Conn {
    fn reset(&mut self) {
        self.request.clear();
        self.response.clear();
        self.sent = 0;
        self.answered = false;
    }
}

fn main() -> i32 {
    let Some(nic) = NetDevice::find("service") else {
        println!("http: no net device 'service' in the manifest copy");
        return 1;
    };
    let config = match ipv4_config(guest_rt::args(), DEFAULT_CIDR) {
        Ok(c) => c,
        Err(bad) => {
            println!("http: '{bad}' is not an address like 10.0.0.2/24 (or --ipv4=ADDR/PREFIX, --ipv4-gateway=ADDR)");
            return 1;
        }
    };
    println!("service: mac {} mtu {}", nic.mac(), nic.mtu());
    let cidr = config.cidr;
    let mut stack = Stack::with_config(nic, config);
    let mut conns: Vec<Conn> = (0..SOCKETS)
        .map(|_| {
            let mut s =
                Socket::new(SocketBuffer::new(vec![0; RX_BUFFER]), SocketBuffer::new(vec![0; TX_BUFFER]));
            let _ = s.listen(PORT);
            let handle = stack.sockets.add(s);
            Conn { handle, request: Vec::new(), response: Vec::new(), sent: 0, answered: false }
        })
        .collect();
    println!("ready: serving http://{}/ ({SOCKETS} connections at once)", cidr.address());
    let mut served = 0u64;
    loop {
        // Listen again as soon as a socket closes, between two frames of a batch.
        stack.poll_with(|sockets| {
            for c in conns.iter_mut() {
                relisten(sockets.get_mut::<Socket>(c.handle), c);
            }
        });
        for c in conns.iter_mut() {
            if serve(stack.sockets.get_mut::<Socket>(c.handle), c, &mut served)
                && served.is_multiple_of(REPORT_EVERY)
            {
                println!("served {served} requests");
            }
        }
        stack.wait(IDLE_NS);
    }
}

/// Listens again on a socket that is closed, or in TIME-WAIT after our close
/// (the client has everything): ready for the next client. Returns whether it did.
fn relisten(s: &mut Socket, c: &mut Conn) -> bool {
    if s.is_open() {
        return false;
    }
    c.reset();
    let _ = s.listen(PORT);
    true
}

/// Moves one connection along: read the request head, queue the answer, close
/// once it is all queued, listen again once closed. Returns whether a request
/// was answered just now.
fn serve(s: &mut Socket, c: &mut Conn, served: &mut u64) -> bool {
    if relisten(s, c) {
        return false;
    }
    let mut answered_now = false;
    if !c.answered {
        if s.can_recv() {
            let _ = s.recv(|b| {
                let keep = b.len().min(MAX_HEAD.saturating_sub(c.request.len()));
                c.request.extend_from_slice(&b[..keep]);
                (b.len(), ())
            });
        }
        let head = parse(&c.request);
        match head {
            Head::Incomplete => {
                if s.state() == State::CloseWait {
                    s.close(); // the client left without a whole request
                }
                return false;
            }
            Head::Request { .. } => {
                *served += 1;
                answered_now = true;
            }
            Head::Bad | Head::TooLarge => {}
        }
        c.response = respond(&head, *served);
        c.answered = true;
    }
    if c.sent < c.response.len() && s.can_send() {
        c.sent += s.send_slice(&c.response[c.sent..]).unwrap_or(0);
        if c.sent == c.response.len() {
            s.close();
        }
    }
    answered_now
}
