//! multi: 63 devices at once, the most a manifest holds: 61 disks `disk1` to
//! `disk61` and two NICs `net0`, `net1`. Writes each disk's name at the start
//! of that disk (and reads it back), prints each NIC's MAC and MTU, then
//! SUCCESS (exit 0). With `serve`, it then answers ARP and ping on `net0` at
//! 10.0.0.2/25 and on `net1` at 10.0.0.130/25 (two interfaces), until killed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::vec;
use guest_rt::block::BlockDevice;
use guest_rt::net::NetDevice;
use guest_rt::netstack::{wait, Stack, IDLE_NS};
use guest_rt::println;
use guest_rt::smoltcp::wire::{Ipv4Address, Ipv4Cidr};

guest_rt::manifest!(
    block "disk1", block "disk2", block "disk3", block "disk4", block "disk5", block "disk6",
    block "disk7", block "disk8", block "disk9", block "disk10", block "disk11", block "disk12",
    block "disk13", block "disk14", block "disk15", block "disk16", block "disk17", block "disk18",
    block "disk19", block "disk20", block "disk21", block "disk22", block "disk23", block "disk24",
    block "disk25", block "disk26", block "disk27", block "disk28", block "disk29", block "disk30",
    block "disk31", block "disk32", block "disk33", block "disk34", block "disk35", block "disk36",
    block "disk37", block "disk38", block "disk39", block "disk40", block "disk41", block "disk42",
    block "disk43", block "disk44", block "disk45", block "disk46", block "disk47", block "disk48",
    block "disk49", block "disk50", block "disk51", block "disk52", block "disk53", block "disk54",
    block "disk55", block "disk56", block "disk57", block "disk58", block "disk59", block "disk60",
    block "disk61", net "net0", net "net1",
);
guest_rt::entry!(main);

const DISKS: u32 = 61;
const NET0_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 25);
const NET1_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 130), 25);

fn main() -> i32 {
    let serve = match guest_rt::args().next() {
        None => false,
        Some("serve") => true,
        Some(other) => {
            println!("multi: unknown argument '{other}' (none or serve)");
            return 1;
        }
    };
    let mut ok = true;
    for i in 1..=DISKS {
        let name = format!("disk{i}");
        if let Err(why) = write_name(&name) {
            println!("multi: {name}: {why}");
            ok = false;
        }
    }
    println!("wrote each disk's name on it ({DISKS} disks)");
    let (Some(net0), Some(net1)) = (NetDevice::find("net0"), NetDevice::find("net1")) else {
        println!("multi: net0 or net1 missing from the manifest copy");
        return 1;
    };
    for (name, nic) in [("net0", net0), ("net1", net1)] {
        println!("{name}: handle {} mac {} mtu {}", nic.handle(), nic.mac(), nic.mtu());
    }
    if !ok {
        return 1;
    }
    println!("SUCCESS");
    if !serve {
        return 0;
    }
    let mut a = Stack::new(net0, NET0_CIDR);
    let mut b = Stack::new(net1, NET1_CIDR);
    println!("ready: answering ping at {NET0_CIDR} (net0) and {NET1_CIDR} (net1)");
    loop {
        a.poll();
        b.poll();
        wait(&mut [&mut a, &mut b], IDLE_NS);
    }
}

/// Writes `name` at the start of the disk called `name` and reads it back.
fn write_name(name: &str) -> Result<(), alloc::string::String> {
    let disk = BlockDevice::find(name).ok_or("not in the manifest copy")?;
    let mut block = vec![0u8; disk.block_size() as usize];
    block[..name.len()].copy_from_slice(name.as_bytes());
    disk.write(0, &block).map_err(|e| format!("write: {e}"))?;
    let mut back = vec![0u8; block.len()];
    disk.read(0, &mut back).map_err(|e| format!("read: {e}"))?;
    if back != block {
        return Err("read back something else".into());
    }
    Ok(())
}
