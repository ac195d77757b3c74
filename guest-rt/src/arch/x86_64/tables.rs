//! Loads the runtime's own GDT, TSS and IDT (the tender's GDT at 0x1000 is not
//! mapped for the guest, and it installs no IDT).

use super::descriptors::{
    interrupt_gate, tss_descriptor, user_raisable, TablePointer, Tss, CODE_SELECTOR, DATA_SELECTOR, GDT_CODE,
    GDT_DATA, GDT_ENTRIES, GDT_USER_CODE, GDT_USER_DATA, IDT_ENTRIES, TRAP_IST, TSS_SELECTOR, TSS_SIZE,
};
use super::traps::trap_stub;
use crate::racy::RacyCell;
use core::arch::asm;

/// Bytes of the stack every exception handler runs on (IST1).
const TRAP_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Gdt([u64; GDT_ENTRIES]);
#[repr(C, align(16))]
struct Idt([[u64; 2]; IDT_ENTRIES]);
#[repr(C, align(16))]
struct TrapStack([u8; TRAP_STACK_SIZE]);

static GDT: RacyCell<Gdt> = RacyCell::new(Gdt([0, GDT_CODE, GDT_DATA, GDT_USER_CODE, GDT_USER_DATA, 0, 0]));
static IDT: RacyCell<Idt> = RacyCell::new(Idt([[0; 2]; IDT_ENTRIES]));
static TSS: RacyCell<Tss> = RacyCell::new(Tss::new(0));
static TRAP_STACK: RacyCell<TrapStack> = RacyCell::new(TrapStack([0; TRAP_STACK_SIZE]));

/// The exceptions boot code at CPL 0 could raise, and the #UD the CPL 3 code uses to ask
/// for CR3 (`usermode::finish_memory`): their gates are written at boot, the other vectors'
/// by [`finish_cpu`] at CPL 3, where a store costs nothing on kvm-pvm (ABI.md §8; at CPL 0
/// each is emulated: the 32 gates took ~0.3 ms of a 3 ms boot).
const BOOT_VECTORS: [usize; 6] = [0, 6, 8, 12, 13, 14];
/// #BP: `int3` in `main` (CPL 3) reaches the trap report as itself.
const BREAKPOINT: usize = 3;

/// Builds and loads the GDT (kernel and user segments, and a TSS whose RSP0 and
/// IST1 are the trap stack) and an IDT routing vectors 0-31 to the trap
/// handler (`BOOT_VECTORS` now, the rest in [`finish_cpu`]). Called once, first
/// thing at boot.
pub fn init_cpu() {
    let stack_top = TRAP_STACK.get() as u64 + TRAP_STACK_SIZE as u64;
    let tss = TSS.get();
    // SAFETY: runs once at boot before anything else reads these tables, on the
    // only vCPU with interrupts off, so these are the only references.
    let (gdt, idt) = unsafe {
        // Only the address-dependent words are written here; the rest is in the
        // statics since compile time (each CPL 0 store is costly on kvm-pvm, and a
        // whole-struct assignment becomes a byte-wise memcpy).
        (*tss).rsp[0] = stack_top;
        (*tss).ist[0] = stack_top;
        let gdt = &mut (*GDT.get()).0;
        let [tss_lo, tss_hi] = tss_descriptor(tss as u64, TSS_SIZE as u32 - 1);
        gdt[5] = tss_lo;
        gdt[6] = tss_hi;
        let idt = &mut (*IDT.get()).0;
        for v in BOOT_VECTORS {
            idt[v] = interrupt_gate(trap_stub(v), CODE_SELECTOR, TRAP_IST);
        }
        (gdt as *const _ as u64, idt as *const _ as u64)
    };
    let gdtr = TablePointer::new(gdt, GDT_ENTRIES * 8);
    let idtr = TablePointer::new(idt, IDT_ENTRIES * 16);
    // SAFETY: the tables are statics (live forever) filled in above; the new GDT
    // has the same code/data selectors as the tender's, so reloading CS (far
    // return) and the data segments keeps the flat long-mode view. LTR marks the
    // TSS descriptor busy, which is why the GDT lives in writable memory.
    unsafe {
        asm!(
            "lgdt [{gdtr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:e}",
            "mov es, {ds:e}",
            "mov ss, {ds:e}",
            "mov fs, {ds:e}",
            "mov gs, {ds:e}",
            "ltr {tr:x}",
            "lidt [{idtr}]",
            gdtr = in(reg) &gdtr,
            idtr = in(reg) &idtr,
            cs = const CODE_SELECTOR as u64,
            ds = in(reg) u32::from(DATA_SELECTOR),
            tr = in(reg) TSS_SELECTOR,
            tmp = out(reg) _,
        );
    }
}

/// Writes the IDT gates boot left out (every vector but `BOOT_VECTORS`). Called once,
/// first thing at CPL 3: the IDT is ordinary writable memory there, and the gates take
/// effect as they are written (the IDT is loaded already).
pub fn finish_cpu() {
    // SAFETY: runs once, on the only vCPU with interrupts off; no exception is being
    // delivered while a gate it would use is written (the boot vectors' gates stay).
    let idt = unsafe { &mut (*IDT.get()).0 };
    for (v, gate) in idt.iter_mut().enumerate().filter(|(v, _)| !BOOT_VECTORS.contains(v)) {
        *gate = interrupt_gate(trap_stub(v), CODE_SELECTOR, TRAP_IST);
    }
    idt[BREAKPOINT] = user_raisable(idt[BREAKPOINT]);
}
