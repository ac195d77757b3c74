//! Instructions a foreign or hostile guest may stop on, named for diagnostics.
//!
//! hvt hypercalls are port I/O (ABI.md §5). A guest built for another hypervisor executes
//! VMCALL (Intel) or VMMCALL (AMD) instead; KVM then rewrites the instruction for the host's
//! CPU vendor, which faults on the read-only code page and would otherwise be reported as a
//! guest write to its own code.

/// `vmcall` (Intel VT-x).
pub const VMCALL: [u8; 3] = [0x0f, 0x01, 0xc1];
/// `vmmcall` (AMD-V).
pub const VMMCALL: [u8; 3] = [0x0f, 0x01, 0xd9];

/// The name of the hypervisor-call instruction at the start of `code`, if it is one.
pub fn hypervisor_call(code: &[u8]) -> Option<&'static str> {
    match code.get(..3)? {
        c if c == VMCALL => Some("VMCALL"),
        c if c == VMMCALL => Some("VMMCALL"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_both_vendors_instructions_and_nothing_else() {
        assert_eq!(hypervisor_call(&[0x0f, 0x01, 0xc1, 0x90]), Some("VMCALL"));
        assert_eq!(hypervisor_call(&VMMCALL), Some("VMMCALL"));
        assert_eq!(hypervisor_call(&[0x0f, 0x01]), None);
        assert_eq!(hypervisor_call(&[0xe7, 0x00, 0x90]), None, "out imm8, eax is a hypercall");
        assert_eq!(hypervisor_call(&[]), None);
    }
}
