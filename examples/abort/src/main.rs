//! abort: panics on purpose; the runtime's panic handler reports it and exits 255.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

guest_rt::manifest!();
guest_rt::entry!(main);

fn main() -> i32 {
    guest_rt::println!("abort: panicking on purpose");
    panic!("abort test: this panic is deliberate");
}
