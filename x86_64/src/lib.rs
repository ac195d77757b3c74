//! x86_64 guest setup.
#![no_std]
#![forbid(unsafe_code)]
