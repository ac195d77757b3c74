//! Host-side x86_64 knowledge for hvt guests (ABI.md §2–§3): the fixed guest
//! layout, identity page tables, GDT, initial register values and the CPUID policy.
//!
//! Everything here is pure data and arithmetic so it unit-tests on any host; the
//! tender turns it into KVM ioctls.
#![forbid(unsafe_code)]

pub mod cpuid;
pub mod decode;
pub mod gdt;
pub mod layout;
pub mod paging;
pub mod registers;
