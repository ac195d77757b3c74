//! AArch64 facade: not ported yet; building tender for aarch64 stops here with a clear message.
compile_error!("tender's AArch64 vCPU support is not implemented yet (see the AArch64 issue)");
