//! Puts the guest linker script on the linker's search path for the binaries
//! that depend on guest-rt, so they only need `-C link-arg=-Tguest-rt.ld`.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    println!("cargo:rerun-if-changed=link");
    if os != "none" {
        return; // host builds (unit tests) link normally
    }
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo"));
    let src = dir.join("link").join(format!("{arch}.ld"));
    let script =
        fs::read(&src).unwrap_or_else(|e| panic!("guest-rt: no linker script {}: {e}", src.display()));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("guest-rt.ld"), script).expect("write guest-rt.ld to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
}
