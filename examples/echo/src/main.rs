//! echo: a TCP echo server (port 7) on its net device "service" at
//! 10.0.0.2/24, or at the address given as its first argument or as
//! `--ipv4=ADDR/PREFIX` (with `--ipv4-gateway=ADDR`, as tender-oci passes), until killed.
//! Several connections at once; 64 KiB windows for throughput tests.
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

guest_rt::manifest!(net "service");
guest_rt::entry!(main);

const DEFAULT_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24);
const PORT: u16 = 7;
/// Connections served at once.
const SOCKETS: usize = 4;
/// Receive and send buffer of each connection.
const BUFFER: usize = 64 << 10;

fn main() -> i32 {
    let Some(nic) = NetDevice::find("service") else {
        println!("echo: no net device 'service' in the manifest copy");
        return 1;
    };
    let config = match ipv4_config(guest_rt::args(), DEFAULT_CIDR) {
        Ok(c) => c,
        Err(bad) => {
            println!("echo: '{bad}' is not an address like 10.0.0.2/24 (or --ipv4=ADDR/PREFIX, --ipv4-gateway=ADDR)");
            return 1;
        }
    };
    let path = if guest_rt::netring::active() { "net ring" } else { "hypercalls" };
    println!("service: mac {} mtu {} via {path}", nic.mac(), nic.mtu());
    let cidr = config.cidr;
    let mut stack = Stack::with_config(nic, config);
    let handles: Vec<SocketHandle> = (0..SOCKETS)
        .map(|_| {
            let buf = || SocketBuffer::new(vec![0u8; BUFFER]);
            stack.sockets.add(Socket::new(buf(), buf()))
        })
        .collect();
    let mut scratch = vec![0u8; BUFFER];
    for &h in &handles {
        let _ = stack.sockets.get_mut::<Socket>(h).listen(PORT);
    }
    println!("ready: echo on {}:{PORT}", cidr.address());
    loop {
        stack.poll();
        let mut closed = false;
        for &h in &handles {
            let s = stack.sockets.get_mut::<Socket>(h);
            if !s.is_open() {
                // Closed, or TIME-WAIT after our close: take the next client.
                let _ = s.listen(PORT);
                continue;
            }
            echo(s, &mut scratch);
            if s.state() == State::CloseWait && s.recv_queue() == 0 && s.send_queue() == 0 {
                // The client is done and has everything back.
                s.close();
                closed = true;
            }
        }
        if closed {
            let st = stack.phy.stats();
            println!(
                "connection closed; so far: {} frames in, {} out, {} empty reads, {} POLLs",
                st.rx_frames,
                st.tx_frames,
                st.rx_empty,
                stack.polls()
            );
        }
        stack.wait(IDLE_NS);
    }
}

/// Moves what `s` received into its send buffer, as much as fits (the rest
/// waits in the receive buffer, which closes the client's window).
fn echo(s: &mut Socket, scratch: &mut [u8]) {
    while s.can_recv() && s.can_send() {
        let room = (s.send_capacity() - s.send_queue()).min(scratch.len());
        let n = s.recv_slice(&mut scratch[..room]).unwrap_or(0);
        if n == 0 {
            break;
        }
        let _ = s.send_slice(&scratch[..n]);
    }
}
