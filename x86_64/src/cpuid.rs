//! CPUID policy: pass the host's supported set through, minus virtualization
//! extensions a guest has no use for (ABI.md §3, ours).

/// Leaf 1 ECX bit 5: VMX.
const VMX: (u32, u32) = (0x1, 1 << 5);
/// Leaf 0x8000_0001 ECX bit 2: SVM.
const SVM: (u32, u32) = (0x8000_0001, 1 << 2);

/// Returns `ecx` for `function` with VMX/SVM cleared.
pub fn mask_ecx(function: u32, ecx: u32) -> u32 {
    [VMX, SVM].iter().filter(|(leaf, _)| *leaf == function).fold(ecx, |ecx, (_, bit)| ecx & !bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clears_only_virtualization_bits() {
        assert_eq!(mask_ecx(1, u32::MAX), !(1u32 << 5));
        assert_eq!(mask_ecx(0x8000_0001, u32::MAX), !(1u32 << 2));
        assert_eq!(mask_ecx(7, u32::MAX), u32::MAX);
    }
}
