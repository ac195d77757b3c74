//! The heap: a first-fit free list over the memory between `_end` and the stack,
//! registered as the global allocator.
//!
//! Free blocks are kept sorted by address and merged with their neighbours on
//! free. Every block is a multiple of [`GRANULE`] bytes at a [`GRANULE`]-aligned
//! address, so any leftover piece can hold the free-block header.

use core::alloc::Layout;
use core::ptr;

/// Allocation unit and minimum alignment (holds a `FreeBlock`).
pub const GRANULE: usize = 16;
/// Largest stack the runtime leaves below the top of memory.
pub const STACK_MAX: u64 = 4 << 20;
/// Smallest stack it leaves, however little memory there is.
pub const STACK_MIN: u64 = 64 << 10;

#[repr(C)]
struct FreeBlock {
    size: usize,
    next: *mut FreeBlock,
}

const _: () = assert!(core::mem::size_of::<FreeBlock>() <= GRANULE);

/// The free list. All methods are unsafe bookkeeping over memory handed in by
/// [`FreeList::add_region`]; nothing here knows where that memory comes from.
#[derive(Debug)]
pub struct FreeList {
    head: *mut FreeBlock,
    free: usize,
}

const fn align_up(v: usize, a: usize) -> Option<usize> {
    match v.checked_add(a - 1) {
        Some(x) => Some(x & !(a - 1)),
        None => None,
    }
}

/// Bytes actually taken for `layout` (shared by alloc and dealloc).
fn block_size(layout: &Layout) -> Option<usize> {
    align_up(layout.size().max(1), GRANULE)
}

impl FreeList {
    /// A list with no memory.
    pub const fn empty() -> FreeList {
        FreeList { head: ptr::null_mut(), free: 0 }
    }

    /// Bytes currently free.
    pub fn free_bytes(&self) -> usize {
        self.free
    }

    /// Gives `[start, start + len)` to the allocator (shrunk to whole granules).
    ///
    /// # Safety
    /// The range must be valid, writable, unused by anything else for as long as
    /// the list lives, and not overlap a range added before.
    pub unsafe fn add_region(&mut self, start: usize, len: usize) {
        let (Some(s), Some(end)) = (align_up(start, GRANULE), start.checked_add(len)) else {
            return;
        };
        let e = end & !(GRANULE - 1);
        if e > s {
            // SAFETY: [s, e) is inside the caller's range, granule-aligned and sized.
            unsafe { self.insert(s, e - s) };
        }
    }

    /// First-fit allocation; null when nothing fits.
    ///
    /// # Safety
    /// The list must only hold memory added through `add_region` and freed blocks.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(size) = block_size(&layout) else {
            return ptr::null_mut();
        };
        let align = layout.align().max(GRANULE);
        let mut link: *mut *mut FreeBlock = &mut self.head;
        // SAFETY: every pointer on the list is a FreeBlock header written by
        // `insert` in memory the list owns; `link` always points at `head` or at
        // the `next` field of a live block.
        unsafe {
            while !(*link).is_null() {
                let blk = *link;
                let start = blk as usize;
                let end = start + (*blk).size;
                let fits = align_up(start, align)
                    .and_then(|a| Some((a, a.checked_add(size)?)))
                    .filter(|&(_, e)| e <= end);
                if let Some((a, a_end)) = fits {
                    let next = (*blk).next;
                    // What stays free: [start, a) in place, [a_end, end) as a new block.
                    let tail = if a_end < end {
                        let t = a_end as *mut FreeBlock;
                        t.write(FreeBlock { size: end - a_end, next });
                        t
                    } else {
                        next
                    };
                    if a > start {
                        (*blk).size = a - start;
                        (*blk).next = tail;
                    } else {
                        *link = tail;
                    }
                    self.free -= size;
                    return a as *mut u8;
                }
                link = &mut (*blk).next;
            }
        }
        ptr::null_mut()
    }

    /// Returns a block to the list, merging it with free neighbours.
    ///
    /// # Safety
    /// `p` must come from `alloc` on this list with the same `layout`, and not
    /// have been freed since.
    pub unsafe fn dealloc(&mut self, p: *mut u8, layout: Layout) {
        if let Some(size) = block_size(&layout) {
            // SAFETY: the block is the caller's, returned whole.
            unsafe { self.insert(p as usize, size) };
        }
    }

    /// Inserts the free range `[addr, addr + size)` in address order and merges.
    ///
    /// # Safety
    /// The range is granule-aligned, owned by the list and not on it already.
    unsafe fn insert(&mut self, addr: usize, size: usize) {
        self.free += size;
        let mut prev: *mut FreeBlock = ptr::null_mut();
        let mut next = self.head;
        // SAFETY: list pointers are valid FreeBlock headers (see `alloc`), and
        // the new range is owned by the list, so writing a header there is fine.
        unsafe {
            while !next.is_null() && (next as usize) < addr {
                prev = next;
                next = (*next).next;
            }
            let new = addr as *mut FreeBlock;
            new.write(FreeBlock { size, next });
            if !next.is_null() && addr + size == next as usize {
                (*new).size += (*next).size;
                (*new).next = (*next).next;
            }
            if prev.is_null() {
                self.head = new;
            } else if prev as usize + (*prev).size == addr {
                (*prev).size += (*new).size;
                (*prev).next = (*new).next;
            } else {
                (*prev).next = new;
            }
        }
    }
}

/// The heap between the image end and the stack: `[align_up(end, 4K), top)`,
/// where the stack keeps a quarter of the rest, between 64 KiB and 4 MiB. At 4 MiB
/// the guard page starts a 2 MiB block the boot stack does not use, which lets
/// x86_64 map that block after boot (`paging::map_deferred_guard`).
/// `None` if nothing is left.
pub fn heap_bounds(image_end: u64, mem_size: u64) -> Option<(u64, u64)> {
    let start = image_end.checked_add(0xFFF)? & !0xFFF;
    let room = mem_size.checked_sub(start)?;
    let stack = (room / 4).clamp(STACK_MIN, STACK_MAX);
    let top = mem_size.checked_sub(stack)? & !0xFFF;
    (top > start).then_some((start, top))
}

#[cfg(target_os = "none")]
pub(crate) use self::guest::init;
#[cfg(target_os = "none")]
pub use self::guest::{free_bytes, range};
// Only the x86_64 port maps memory lazily past the image.
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub(crate) use self::guest::image_end;

#[cfg(target_os = "none")]
mod guest {
    use super::{heap_bounds, FreeList};
    use crate::racy::RacyCell;
    use core::alloc::{GlobalAlloc, Layout};

    extern "C" {
        /// End of the image (bss included), from the linker script.
        static _end: u8;
    }

    struct Heap {
        list: RacyCell<FreeList>,
        range: RacyCell<(u64, u64)>,
    }

    #[global_allocator]
    static HEAP: Heap = Heap { list: RacyCell::new(FreeList::empty()), range: RacyCell::new((0, 0)) };

    // SAFETY: one vCPU, no interrupts, and the trap/panic paths never allocate,
    // so each call below has the list to itself while it runs.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: exclusive access (see the impl); the list holds only heap memory.
            unsafe { (*self.list.get()).alloc(layout) }
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            // SAFETY: exclusive access; GlobalAlloc's contract gives back our block.
            unsafe { (*self.list.get()).dealloc(p, layout) }
        }
    }

    /// Hands the memory between `_end` and the stack to the allocator (once, at
    /// boot); returns the heap's range.
    pub(crate) fn init(mem_size: u64) -> Option<(u64, u64)> {
        let end = image_end();
        let (start, top) = heap_bounds(end, mem_size)?;
        // SAFETY: called once before `main`; [start, top) is guest RAM above the
        // image and below the stack reserve, used by nothing else.
        unsafe {
            *HEAP.range.get() = (start, top);
            (*HEAP.list.get()).add_region(start as usize, (top - start) as usize);
        }
        Some((start, top))
    }

    /// End of the image (its `.bss` included).
    pub(crate) fn image_end() -> u64 {
        core::ptr::addr_of!(_end) as u64
    }

    /// The heap's address range `[start, end)`.
    pub fn range() -> (u64, u64) {
        // SAFETY: written once by `init` before `main`.
        unsafe { *HEAP.range.get() }
    }

    /// Bytes currently free in the heap.
    pub fn free_bytes() -> usize {
        // SAFETY: a read between allocator calls on the only vCPU.
        unsafe { (*HEAP.list.get()).free_bytes() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Arena([u8; 64 * 1024]);

    fn with_list(f: impl FnOnce(&mut FreeList, usize)) {
        let mut arena = Box::new(Arena([0; 64 * 1024]));
        let base = arena.0.as_mut_ptr() as usize;
        let mut l = FreeList::empty();
        // SAFETY: the arena outlives the list and is used by nothing else.
        unsafe { l.add_region(base, arena.0.len()) };
        f(&mut l, base);
    }

    fn lay(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn alloc_free_round_trip_restores_one_block() {
        with_list(|l, base| {
            let total = l.free_bytes();
            // SAFETY: the list owns the test arena; each block is freed once.
            unsafe {
                let a = l.alloc(lay(10, 1));
                let b = l.alloc(lay(100, 8));
                let c = l.alloc(lay(33, 16));
                assert_eq!(a as usize, base);
                assert_eq!(b as usize, base + 16);
                assert_eq!(c as usize, base + 16 + 112);
                assert_eq!(l.free_bytes(), total - 16 - 112 - 48);
                l.dealloc(b, lay(100, 8));
                l.dealloc(a, lay(10, 1));
                l.dealloc(c, lay(33, 16));
                assert_eq!(l.free_bytes(), total);
                assert_eq!((*l.head).size, total);
                assert!((*l.head).next.is_null());
            }
        });
    }

    #[test]
    fn big_alignment_splits_the_front() {
        with_list(|l, base| {
            // SAFETY: as above.
            unsafe {
                let small = l.alloc(lay(16, 16));
                let page = l.alloc(lay(4096, 4096));
                assert_eq!(small as usize, base);
                assert_eq!(page as usize, base + 4096);
                // The gap before the page is still usable.
                let gap = l.alloc(lay(4000, 16));
                assert_eq!(gap as usize, base + 16);
                l.dealloc(page, lay(4096, 4096));
                l.dealloc(small, lay(16, 16));
                l.dealloc(gap, lay(4000, 16));
                assert!((*l.head).next.is_null());
            }
        });
    }

    #[test]
    fn first_fit_reuses_freed_holes_and_reports_exhaustion() {
        with_list(|l, _| {
            // SAFETY: as above.
            unsafe {
                let a = l.alloc(lay(1024, 16));
                let _b = l.alloc(lay(1024, 16));
                l.dealloc(a, lay(1024, 16));
                assert_eq!(l.alloc(lay(512, 16)), a);
                assert!(l.alloc(lay(1 << 20, 16)).is_null());
                // Free now: the 512-byte hole after `a`, and the tail.
                let tail = l.free_bytes() - 512;
                assert!(l.alloc(lay(tail + 16, 16)).is_null());
                assert!(!l.alloc(lay(tail, 16)).is_null());
                assert!(!l.alloc(lay(512, 16)).is_null());
                assert_eq!(l.free_bytes(), 0);
                assert!(l.alloc(lay(1, 1)).is_null());
            }
        });
    }

    #[test]
    fn heap_leaves_room_for_the_stack() {
        assert_eq!(heap_bounds(0x12_3456, 512 << 20), Some((0x12_4000, (512 << 20) - STACK_MAX)));
        // 2 MiB guest: the stack gets a quarter of what is left.
        let (s, t) = heap_bounds(0x11_0000, 2 << 20).unwrap();
        assert_eq!(s, 0x11_0000);
        assert_eq!((2 << 20) - t, 0x3_c000);
        assert_eq!(heap_bounds(0x1F_0000, 2 << 20), None);
        assert_eq!(heap_bounds(u64::MAX, 2 << 20), None);
    }
}
