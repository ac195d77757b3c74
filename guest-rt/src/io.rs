//! Why a device request failed: the hvt results (ABI.md §5) as a typed error,
//! plus the requests guest-rt refuses before asking the host.

use abi::hypercall::Ret;
use core::fmt;

/// A failed block or net request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// Block offset or length not a multiple of the block size: refused by
    /// guest-rt, the host is not asked.
    Misaligned,
    /// Receive buffer shorter than a whole frame (MTU + 14): refused by guest-rt.
    ShortBuffer,
    /// `EINVAL`: the host refused the request (outside the device, unknown handle).
    Invalid,
    /// `EUNSPEC`: the host's I/O failed (e.g. its disk is full).
    Unspecified,
    /// `AGAIN`: nothing to do now (a net read with no frame pending).
    Again,
}

impl IoError {
    /// The error a hypercall result means; `None` for `OK`.
    pub fn from_ret(ret: Ret) -> Option<IoError> {
        match ret {
            Ret::Ok => None,
            Ret::Again => Some(IoError::Again),
            Ret::Einval => Some(IoError::Invalid),
            Ret::Eunspec => Some(IoError::Unspecified),
        }
    }

    /// `Ok(())` for `OK`, else the error.
    pub fn check(ret: Ret) -> Result<(), IoError> {
        IoError::from_ret(ret).map_or(Ok(()), Err)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoError::Misaligned => "misaligned request (not whole blocks)",
            IoError::ShortBuffer => "buffer shorter than a frame",
            IoError::Invalid => "EINVAL",
            IoError::Unspecified => "EUNSPEC",
            IoError::Again => "AGAIN",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_to_errors() {
        assert_eq!(IoError::check(Ret::Ok), Ok(()));
        assert_eq!(IoError::check(Ret::Again), Err(IoError::Again));
        assert_eq!(IoError::check(Ret::Einval), Err(IoError::Invalid));
        assert_eq!(IoError::check(Ret::from_i32(3)), Err(IoError::Unspecified));
        assert_eq!(IoError::check(Ret::from_i32(-7)), Err(IoError::Unspecified));
        assert_eq!(IoError::Unspecified.to_string(), "EUNSPEC");
        assert_eq!(IoError::Invalid.to_string(), "EINVAL");
    }
}
