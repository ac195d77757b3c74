//! Little-endian field access on byte buffers (the wire form of every ABI struct).

/// Reads a `u16` at `off`. Panics if out of range: callers pass fixed-size arrays.
pub fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Reads a `u32` at `off`.
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

/// Reads a `u64` at `off`.
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Writes a `u16` at `off`.
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a `u32` at `off`.
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a `u64` at `off`.
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_little_endian() {
        let mut b = [0u8; 16];
        put_u64(&mut b, 0, 0x0102_0304_0506_0708);
        put_u32(&mut b, 8, 0xAABB_CCDD);
        put_u16(&mut b, 12, 0x1234);
        assert_eq!(b[0], 0x08);
        assert_eq!(b[8], 0xDD);
        assert_eq!(get_u64(&b, 0), 0x0102_0304_0506_0708);
        assert_eq!(get_u32(&b, 8), 0xAABB_CCDD);
        assert_eq!(get_u16(&b, 12), 0x1234);
    }
}
