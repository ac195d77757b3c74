//! The runtime's own identity page tables (ABI.md's maps, built by `abi::paging`): the
//! tender's map plus a guard page under the stack, set up once at boot by the port's
//! `init_memory`.

#[cfg(any(test, target_arch = "aarch64"))]
pub use abi::paging::GIB;
pub use abi::paging::{PageTables, Table, BLOCK, MAX_MEM, PAGE};

/// The runtime's tables and guard page, set up once at boot by the port's
/// `init_memory`.
#[cfg(target_os = "none")]
mod runtime {
    use super::PAGE;
    use crate::arch::paging::PageTables;
    use crate::racy::RacyCell;
    use core::sync::atomic::{AtomicU64, Ordering};

    static TABLES: RacyCell<PageTables> = RacyCell::new(PageTables::NEW);
    /// The boot tables of `build_boot_tables` (only the image and the stack's top).
    static BOOT_TABLES: RacyCell<PageTables> = RacyCell::new(PageTables::NEW);
    /// Address of the unmapped page under the stack (0: none).
    static STACK_GUARD: AtomicU64 = AtomicU64::new(0);
    /// Guest memory for `build_final_tables` (0: nothing left to build).
    static FINAL_MEM: AtomicU64 = AtomicU64::new(0);

    /// Builds the page tables for `mem_size` bytes, with the page at
    /// `stack_guard` left unmapped, and returns the root for the port to load.
    /// Called once at boot.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(crate) fn build_tables(mem_size: u64, stack_guard: Option<u64>) -> u64 {
        let tables = TABLES.get();
        // SAFETY: called once at boot, before anything else uses TABLES.
        let root = unsafe {
            let at = (*tables).own_addresses();
            (*tables).build(&at, mem_size, stack_guard);
            at.top
        };
        STACK_GUARD.store(stack_guard.unwrap_or(0), Ordering::Relaxed);
        root
    }

    /// Builds the boot tables (`PageTables::build_for_boot`) and returns their root;
    /// [`build_final_tables`] builds the whole map later. Called once at boot.
    /// The final map covers `[0, map_end)`: the guest's memory and the net ring above it.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub(crate) fn build_boot_tables(
        mem_size: u64,
        map_end: u64,
        stack_guard: Option<u64>,
        boot_end: u64,
    ) -> u64 {
        let tables = BOOT_TABLES.get();
        // SAFETY: called once at boot, before anything else uses BOOT_TABLES.
        let root = unsafe {
            let at = (*tables).own_addresses();
            (*tables).build_for_boot(&at, mem_size, stack_guard, boot_end);
            at.top
        };
        STACK_GUARD.store(stack_guard.unwrap_or(0), Ordering::Relaxed);
        FINAL_MEM.store(map_end, Ordering::Relaxed);
        root
    }

    /// Builds the whole map after [`build_boot_tables`] and returns its root to load;
    /// `None` if there is nothing to build (already done, or boot built it all).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub(crate) fn build_final_tables() -> Option<u64> {
        let mem_size = FINAL_MEM.swap(0, Ordering::Relaxed);
        if mem_size == 0 {
            return None;
        }
        let guard = match STACK_GUARD.load(Ordering::Relaxed) {
            0 => None,
            g => Some(g),
        };
        let tables = TABLES.get();
        // SAFETY: runs once (FINAL_MEM is taken) on the only thread; TABLES is not in
        // use yet (the boot tables are), so nothing else refers to it.
        unsafe {
            let at = (*tables).own_addresses();
            (*tables).build(&at, mem_size, guard);
            Some(at.top)
        }
    }

    /// The page under the stack, if there is one: a fault there is a stack overflow.
    pub(crate) fn stack_guard() -> Option<(u64, u64)> {
        match STACK_GUARD.load(Ordering::Relaxed) {
            0 => None,
            g => Some((g, g + PAGE)),
        }
    }
}
#[cfg(target_os = "none")]
pub(crate) use runtime::stack_guard;
// AArch64 maps everything at boot; x86_64 boots on partial tables and finishes at CPL 3.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub(crate) use runtime::build_tables;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub(crate) use runtime::{build_boot_tables, build_final_tables};
