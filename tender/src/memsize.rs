//! Guest memory sizing from `--mem` (ABI.md §2).

use abi::layout::{MEM_ALIGN, MEM_DEFAULT_MIB, MEM_MAX};

/// A `--mem` value tender cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemSizeError {
    #[error("Malformed argument to --mem: '0'")]
    Zero,
    #[error("Guest memory must be at least 2 MiB (--mem={0})")]
    TooSmall(u64),
    #[error("Guest memory must be at most 4096 MiB (--mem={0})")]
    TooLarge(u64),
}

/// The guest memory size in bytes, and a warning if `--mem` was rounded down.
pub fn guest_mem_size(mem_mib: Option<u64>) -> Result<(u64, Option<String>), MemSizeError> {
    let mib = mem_mib.unwrap_or(MEM_DEFAULT_MIB);
    if mib == 0 {
        return Err(MemSizeError::Zero);
    }
    let bytes = mib.checked_mul(1 << 20).filter(|b| *b <= MEM_MAX).ok_or(MemSizeError::TooLarge(mib))?;
    let rounded = bytes & !(MEM_ALIGN - 1);
    if rounded == 0 {
        return Err(MemSizeError::TooSmall(mib));
    }
    let warning = (rounded != bytes).then(|| {
        format!(
            "warning: guest memory rounded down from {mib} MiB to {} MiB (a multiple of 2 MiB)",
            rounded >> 20
        )
    });
    Ok((rounded, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_abi_rules() {
        assert_eq!(guest_mem_size(None), Ok((512 << 20, None)));
        assert_eq!(guest_mem_size(Some(4096)), Ok((4 << 30, None)));
        assert_eq!(guest_mem_size(Some(0)), Err(MemSizeError::Zero));
        assert_eq!(guest_mem_size(Some(1)), Err(MemSizeError::TooSmall(1)));
        assert_eq!(guest_mem_size(Some(4097)), Err(MemSizeError::TooLarge(4097)));
        assert_eq!(guest_mem_size(Some(u64::MAX)), Err(MemSizeError::TooLarge(u64::MAX)));
        let (size, warning) = guest_mem_size(Some(33)).unwrap();
        assert_eq!(size, 32 << 20);
        assert!(warning.unwrap().contains("rounded down from 33 MiB to 32 MiB"));
    }
}
