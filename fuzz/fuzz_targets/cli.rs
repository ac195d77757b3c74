//! The command line on arbitrary arguments (NUL-separated bytes): parsed or refused, never a
//! panic; a parsed guest command line always fits the boot area.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data.split(|&b| b == 0).map(|a| OsString::from_vec(a.to_vec())).collect();
    if let Ok(tender::cli::Command::Run(cfg)) = tender::cli::parse(args) {
        assert!(cfg.cmdline.len() < abi::layout::CMDLINE_SIZE);
    }
});
