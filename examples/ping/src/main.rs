//! ping: answers ARP and ICMP echo on its net device "service" at 10.0.0.2/24,
//! or at the address given as its first argument (e.g. `10.0.0.77/24`) or as
//! `--ipv4=ADDR/PREFIX` (with `--ipv4-gateway=ADDR`, as tender-oci passes), until
//! killed. Prints the device's MAC and MTU, then "ready".
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use guest_rt::net::NetDevice;
use guest_rt::netstack::{ipv4_config, Stack, IDLE_NS};
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
    let config = match ipv4_config(guest_rt::args(), DEFAULT_CIDR) {
        Ok(c) => c,
        Err(bad) => {
            println!("ping: '{bad}' is not an address like 10.0.0.2/24 (or --ipv4=ADDR/PREFIX, --ipv4-gateway=ADDR)");
            return 1;
        }
    };
    let path = if guest_rt::netring::active() { "net ring" } else { "hypercalls" };
    println!("service: mac {} mtu {} via {path}", nic.mac(), nic.mtu());
    let cidr = config.cidr;
    let mut stack = Stack::with_config(nic, config);
    println!("ready: answering ARP and ping at {cidr}");
    loop {
        // smoltcp answers ARP and echo requests for its own address by itself.
        stack.poll();
        stack.wait(IDLE_NS);
    }
}
