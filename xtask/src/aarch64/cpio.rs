//! A writer for the "newc" cpio format, which the Linux kernel unpacks as its
//! initramfs. Entries are built in memory; nothing on the host needs root.

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// An archive being built.
#[derive(Debug, Default)]
pub struct Archive {
    buf: Vec<u8>,
    next_ino: u32,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive { buf: Vec::new(), next_ino: 1 }
    }

    /// Adds directory `path` (no leading slash), mode 0755.
    pub fn dir(&mut self, path: &str) {
        self.entry(path, S_IFDIR | 0o755, 2, (0, 0), &[]);
    }

    /// Adds regular file `path` with permission bits `perm`.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, (0, 0), data);
    }

    /// Adds symbolic link `path` pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    /// Adds character device node `path` (`major`, `minor`), mode 0600.
    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | 0o600, 1, (major, minor), &[]);
    }

    /// Ends the archive with its trailer and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(0, 0, 1, (0, 0), "TRAILER!!!", 0);
        self.buf
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len()).expect("cpio newc entries are smaller than 4 GiB");
        self.header(ino, mode, nlink, rdev, path, size);
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// The 110-byte header (magic and 13 fields of 8 hex digits), then the
    /// NUL-terminated name, padded to 4 bytes.
    fn header(&mut self, ino: u32, mode: u32, nlink: u32, rdev: (u32, u32), name: &str, size: u32) {
        let namesize = name.len() as u32 + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(entry: &[u8], i: usize) -> u32 {
        let s = std::str::from_utf8(&entry[6 + 8 * i..14 + 8 * i]).unwrap();
        u32::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn file_entry_layout() {
        let mut a = Archive::new();
        a.file("init", 0o755, b"#!/bin/sh\n");
        let b = a.finish();
        assert_eq!(&b[..6], b"070701");
        assert_eq!(field(&b, 1), 0o100_755, "mode");
        assert_eq!(field(&b, 6), 10, "filesize");
        assert_eq!(field(&b, 11), 5, "namesize counts the NUL");
        // Header 110 + "init\0" = 115, padded to 116; data 10 bytes padded to 12.
        assert_eq!(&b[110..115], b"init\0");
        assert_eq!(&b[116..126], b"#!/bin/sh\n");
        let trailer = &b[128..];
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert!(b.len().is_multiple_of(4));
    }

    #[test]
    fn nodes_links_and_directories() {
        let mut a = Archive::new();
        a.dir("dev");
        a.char_device("dev/console", 5, 1);
        a.symlink("bin/sh", "busybox");
        let b = a.finish();
        assert_eq!(field(&b, 1), 0o040_755);
        assert_eq!(field(&b, 4), 2, "directories have two links");
        let console = &b[b.windows(11).position(|w| w == b"dev/console").unwrap() - 110..];
        assert_eq!((field(console, 1), field(console, 9), field(console, 10)), (0o020_600, 5, 1));
        let link = &b[b.windows(6).position(|w| w == b"bin/sh").unwrap() - 110..];
        assert_eq!(field(link, 1), 0o120_777);
        assert_eq!(field(link, 6), 7, "a symlink's data is its target");
        assert_ne!(field(console, 0), field(link, 0), "inode numbers are unique");
    }
}
