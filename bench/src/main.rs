//! `floor [--mem MiB] [--exits N]`: the least a KVM monitor can do, as the baseline of
//! `cargo xtask bench`. It creates a VM with MiB of guest memory (as tender does: one
//! anonymous `MAP_NORESERVE` slot) and one vCPU in real mode, whose code makes N port-I/O
//! exits (`out dx, eax` in a loop; 1 by default) and then executes HLT. With N > 1 it prints
//! `floor: exit_ns <ns per exit>` measured around the loop of KVM_RUNs.
//!
//! x86_64 only (the benchmarks run on this machine); on other hosts it says so.

#[cfg(target_arch = "x86_64")]
fn main() -> std::process::ExitCode {
    match floor::run(std::env::args().skip(1).collect()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() -> std::process::ExitCode {
    eprintln!("floor: x86_64 only");
    std::process::ExitCode::from(1)
}

#[cfg(target_arch = "x86_64")]
mod floor {
    use kvm_bindings::kvm_userspace_memory_region;
    use kvm_ioctls::{Kvm, VcpuExit};
    use std::time::Instant;

    /// Where the code goes (real mode, CS base 0).
    const CODE: u64 = 0x1000;

    fn option(args: &[String], name: &str, default: u64) -> Result<u64, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(default),
            Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).ok_or(format!("{name} needs a number")),
        }
    }

    pub fn run(args: Vec<String>) -> Result<(), String> {
        let mem_mib = option(&args, "--mem", 512)?;
        let exits = option(&args, "--exits", 1)?.max(1);
        let size = (mem_mib << 20) as usize;
        let kvm = Kvm::new().map_err(|e| format!("/dev/kvm: {e}"))?;
        let vm = kvm.create_vm().map_err(|e| format!("create VM: {e}"))?;
        // SAFETY: a fresh anonymous mapping that nothing else uses; unmapped at exit with the
        // process.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err("mmap failed".into());
        }
        // mov ecx, exits; mov dx, 0x500; loop: out dx, eax; dec ecx; jnz loop; hlt
        let mut code = vec![0x66, 0xb9];
        code.extend_from_slice(&(exits as u32).to_le_bytes());
        code.extend_from_slice(&[0xba, 0x00, 0x05, 0x66, 0xef, 0x66, 0x49, 0x75, 0xfa, 0xf4]);
        // SAFETY: CODE + the code's length lies inside the mapping just made.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), mem.cast::<u8>().add(CODE as usize), code.len())
        };
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: size as u64,
            userspace_addr: mem as u64,
            flags: 0,
        };
        // SAFETY: the region is our mapping, which outlives the VM (the process ends first).
        unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("memory: {e}"))?;
        let mut vcpu = vm.create_vcpu(0).map_err(|e| format!("vCPU: {e}"))?;
        let mut sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        vcpu.set_sregs(&sregs).map_err(|e| e.to_string())?;
        let mut regs = vcpu.get_regs().map_err(|e| e.to_string())?;
        regs.rip = CODE;
        regs.rflags = 2;
        vcpu.set_regs(&regs).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut seen = 0u64;
        loop {
            match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
                VcpuExit::IoOut(..) => seen += 1,
                VcpuExit::Hlt => break,
                other => return Err(format!("unexpected exit {other:?}")),
            }
        }
        if exits > 1 {
            println!("floor: exit_ns {}", start.elapsed().as_nanos() as u64 / seen.max(1));
        }
        if seen != exits {
            return Err(format!("{seen} exits, expected {exits}"));
        }
        Ok(())
    }
}
