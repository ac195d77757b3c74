//! guest-rt: the runtime of hvt unikernels booted by tender (Solo5 hvt ABI v2).
//!
//! A unikernel is a `#![no_std] #![no_main]` binary that declares its devices
//! and its entry point:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! guest_rt::manifest!();
//! guest_rt::entry!(main);
//!
//! fn main() -> i32 {
//!     guest_rt::println!("Hello, world!");
//!     0
//! }
//! ```
//!
//! The runtime owns everything between the tender's jump to `_start` and the
//! final HALT: its own GDT/TSS/IDT with trap reports, the console, clocks, the
//! heap, the command line and the manifest copy; and it gives `main` the
//! devices: [`block`], [`net`], [`poll`], and with the `smoltcp` feature a
//! TCP/IP stack on a net device (`smoltcp_device`, `netstack`). Everything that
//! touches the CPU sits behind `cfg(target_os = "none")` (and `doc`, so this reference shows the
//! calls a guest makes even when built on the host); the logic around it
//! unit-tests on the host.
#![cfg_attr(not(test), no_std)]
// Helpers used only by the target-only glue look dead in host builds.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

// The runtime's own heap users (the net ring's slot buffers, smoltcp) need it.
extern crate alloc;

pub use abi;
#[cfg(feature = "smoltcp")]
pub use smoltcp;

/// The runtime's per-architecture internals (entry, CPU setup, traps, page tables): public
/// for guest-rt's own tests and tools, not part of the API a unikernel uses.
#[doc(hidden)]
pub mod arch;
pub mod args;
pub mod block;
mod boot;
pub mod clock;
pub mod console;
pub mod heap;
pub mod hypercall;
pub mod io;
mod macros;
pub mod manifest;
pub mod net;
pub mod netring;
#[cfg(feature = "smoltcp")]
pub mod netstack;
mod paging;
#[cfg(target_os = "none")]
mod panic;
pub mod poll;
mod racy;
#[cfg(feature = "smoltcp")]
pub mod smoltcp_device;
#[cfg(target_os = "none")]
mod trap;

pub use args::args;
pub use boot::boot_info;
#[cfg(any(doc, target_os = "none"))]
pub use boot::exit;
