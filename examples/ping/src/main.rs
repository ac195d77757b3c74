//! ping: answers ARP and ICMP echo on its net device "service" at 10.0.0.2/24,
//! or at the address given as its first argument (e.g. `10.0.0.77/24`), until
//! killed. Prints the device's MAC and MTU, then "ready".
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use guest_rt::net::NetDevice;
use guest_rt::netstack::{cidr_arg, Stack, IDLE_NS};
use guest_rt::println;
use guest_rt::smoltcp::wire::{Ipv4Address, Ipv4Cidr};

guest_rt::manifest!(net "service");
guest_rt::entry!(main);

const DEFAULT_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24);

fn main() -> i32 {
    let Some(nic) = NetDevice::find("service") else {
        println!("ping: no net device 'service' in the manifest copy");
        return 1;
    };
    let cidr = match cidr_arg(guest_rt::args().next(), DEFAULT_CIDR) {
        Ok(c) => c,
        Err(bad) => {
            println!("ping: '{bad}' is not an address like 10.0.0.2/24");
            return 1;
        }
    };
    println!("service: mac {} mtu {}", nic.mac(), nic.mtu());
    let mut stack = Stack::new(nic, cidr);
    println!("ready: answering ARP and ping at {cidr}");
    loop {
        // smoltcp answers ARP and echo requests for its own address by itself.
        stack.poll();
        stack.wait(IDLE_NS);
    }
}
