//! hello: greets, prints each argument it was given, and exits 0.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use guest_rt::println;

guest_rt::manifest!();
guest_rt::entry!(main);

fn main() -> i32 {
    println!("Hello, world!");
    let mut count = 0;
    for (i, arg) in guest_rt::args().enumerate() {
        println!("arg[{i}]: {arg}");
        count += 1;
    }
    if count == 0 {
        println!("no arguments");
    }
    println!("SUCCESS");
    0
}
