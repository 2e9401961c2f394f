// SPDX-License-Identifier: GPL-2.0

//! Physically contiguous page allocations.
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)

use super::bindings;
use kernel::error::{code::*, Result};

/// The size of a page.
pub const PAGE_SIZE: usize = bindings::RSDMA_PAGE_SIZE;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = bindings::RSDMA_PAGE_SHIFT;
/// The largest order [`Pages`] allocates: `2^MAX_ORDER` pages.
pub const MAX_ORDER: u32 = 10;

/// `2^order` physically contiguous pages from the page allocator, always
/// mapped in the kernel's linear map (arm64 has no highmem).
///
/// # Invariants
///
/// `page` is the first of `2^order` pages this value owns, and `virt` their
/// linear-map address.
pub struct Pages {
    page: *mut bindings::page,
    virt: *mut u8,
    order: u32,
}

impl Pages {
    /// Allocates zeroed pages holding at least `size` bytes (`GFP_KERNEL`;
    /// may sleep).
    pub fn alloc(size: usize) -> Result<Self> {
        Self::alloc_gfp(size, bindings::RSDMA_GFP_KERNEL)
    }

    /// As [`Pages::alloc`], but never sleeps (`GFP_ATOMIC`).
    pub fn alloc_atomic(size: usize) -> Result<Self> {
        Self::alloc_gfp(size, bindings::RSDMA_GFP_ATOMIC)
    }

    /// As [`Pages::alloc`], from memory below 4 GiB (`GFP_DMA32`; the
    /// zone may be empty when `ZONE_DMA` covers the first 4 GiB, and the
    /// allocator then falls back to `ZONE_DMA`, below 4 GiB too).
    pub fn alloc_dma32(size: usize) -> Result<Self> {
        Self::alloc_gfp(size, bindings::RSDMA_GFP_KERNEL | bindings::RSDMA_GFP_DMA32)
    }

    /// As [`Pages::alloc`], with the caller's GFP flags (a DMA op's `gfp`).
    pub fn alloc_gfp(size: usize, gfp: bindings::gfp_t) -> Result<Self> {
        let pages = size.div_ceil(bindings::RSDMA_PAGE_SIZE).max(1);
        let order = pages.next_power_of_two().trailing_zeros();
        if order > MAX_ORDER {
            return Err(EINVAL);
        }
        // SAFETY: any flags and a small order are valid arguments.
        let page = unsafe {
            bindings::rsdma_helper_alloc_pages(
                gfp | bindings::RSDMA_GFP_ZERO | bindings::RSDMA_GFP_NOWARN,
                order,
            )
        };
        if page.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `page` was just allocated, so it is a valid lowmem page.
        let virt = unsafe { bindings::rsdma_helper_page_address(page) }.cast::<u8>();
        // INVARIANT: we own the pages and `virt` maps them.
        Ok(Self { page, virt, order })
    }

    /// The size of the allocation in bytes.
    pub fn len(&self) -> usize {
        bindings::RSDMA_PAGE_SIZE << self.order
    }

    /// Always false: an allocation holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first page.
    pub fn as_page(&self) -> *mut bindings::page {
        self.page
    }

    /// The `n`th page of the allocation.
    pub fn nth_page(&self, n: usize) -> Option<*mut bindings::page> {
        if n >= (1 << self.order) {
            return None;
        }
        // SAFETY: `virt + n * PAGE_SIZE` lies inside the allocation.
        Some(unsafe {
            bindings::rsdma_helper_virt_to_page(self.virt.add(n * bindings::RSDMA_PAGE_SIZE).cast())
        })
    }

    /// The physical address of the first byte.
    pub fn phys(&self) -> u64 {
        // SAFETY: `page` is a live page (type invariant).
        unsafe { bindings::rsdma_helper_page_to_phys(self.page) }
    }

    /// The kernel address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.virt
    }

    /// Hands the pages to a device for as long as they live (a coherent
    /// buffer): from then on the CPU reaches them only by address.
    pub fn into_shared(self) -> SharedPages {
        SharedPages(self)
    }

    /// The contents, for the CPU.
    ///
    /// A `Pages` is the CPU's: memory lent to a device is either moved into
    /// a mapping (`dma::Mapping` owns its pages until it is undone) or
    /// turned into [`SharedPages`], which has no slice access.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `virt` maps `len()` bytes we own (type invariant); u8 has
        // no invalid values, so bytes a device wrote are still valid.
        unsafe { core::slice::from_raw_parts(self.virt, self.len()) }
    }

    /// The contents, for the CPU to write.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.virt, self.len()) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: we own the pages (type invariant).
        unsafe { bindings::__free_pages(self.page, self.order) };
    }
}

// SAFETY: the pages are plain memory, usable from any thread.
unsafe impl Send for Pages {}
// SAFETY: `&Pages` only gives shared access to the bytes.
unsafe impl Sync for Pages {}

/// Pages a device may read and write at any time (a coherent buffer): the
/// CPU side has their addresses, never a Rust reference to their bytes.
pub struct SharedPages(Pages);

impl SharedPages {
    /// The physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.0.phys()
    }

    /// The kernel address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// The size of the allocation in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an allocation holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The kernel address of `len` bytes at `off`, which must lie inside.
    fn range(&self, off: usize, len: usize) -> Result<*mut u8> {
        match off.checked_add(len) {
            Some(end) if end <= self.len() => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: `off <= len()`, inside the allocation.
        Ok(unsafe { self.as_ptr().add(off) })
    }

    /// Sets `len` bytes at `off` to zero.
    pub fn zero(&self, off: usize, len: usize) -> Result {
        let p = self.range(off, len)?;
        // SAFETY: `p..p + len` lies inside the pages, which we own; the
        // write goes through a raw pointer, never a Rust reference, so a
        // device accessing the same bytes breaks no aliasing rule.
        unsafe { core::ptr::write_bytes(p, 0, len) };
        Ok(())
    }

    /// Copies `len` bytes from `src` into the pages at `off`.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reads of `len` bytes and lie outside these
    /// pages.
    pub(super) unsafe fn write_from(&self, off: usize, src: *const u8, len: usize) -> Result {
        let p = self.range(off, len)?;
        // SAFETY: `p..p + len` lies inside the pages; the caller vouches for
        // `src`; the two do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, p, len) };
        Ok(())
    }

    /// Copies `len` bytes of the pages at `off` to `dst`.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `len` bytes and lie outside these
    /// pages.
    pub(super) unsafe fn read_into(&self, off: usize, dst: *mut u8, len: usize) -> Result {
        let p = self.range(off, len)?;
        // SAFETY: as in `write_from`, the other way round.
        unsafe { core::ptr::copy_nonoverlapping(p, dst, len) };
        Ok(())
    }
}

/// Fills `buf` with random bytes (`get_random_bytes`).
pub fn fill_random(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { bindings::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) };
}

/// A buffer made of page allocations ("runs"), in order: memory that
/// devices map and processes map at the same time, so the CPU side has
/// the runs' addresses, never a Rust reference to their bytes.
///
/// # Invariants
///
/// `len` is a non-zero multiple of [`PAGE_SIZE`] no larger than the runs
/// hold together.
pub struct PageRuns {
    runs: kernel::alloc::KVec<Pages>,
    len: usize,
}

impl PageRuns {
    /// The first `len` bytes of `runs` (a multiple of [`PAGE_SIZE`]).
    pub fn new(runs: kernel::alloc::KVec<Pages>, len: usize) -> Result<Self> {
        let held = runs
            .iter()
            .try_fold(0usize, |s, p| s.checked_add(p.len()))
            .ok_or(EINVAL)?;
        if len == 0 || len % PAGE_SIZE != 0 || len > held {
            return Err(EINVAL);
        }
        // INVARIANT: checked above.
        Ok(Self { runs, len })
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a buffer holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The physically contiguous runs `(phys, len)`, trimmed to the
    /// buffer's size.
    pub fn runs(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        let mut left = self.len;
        self.runs.iter().map_while(move |p| {
            let n = p.len().min(left);
            left -= n;
            (n > 0).then(|| (p.phys(), n))
        })
    }

    /// Every page of the buffer, in order.
    pub fn pages(&self) -> impl Iterator<Item = *mut bindings::page> + '_ {
        self.runs()
            .zip(self.runs.iter())
            .flat_map(|((_, n), p)| (0..n / PAGE_SIZE).filter_map(move |i| p.nth_page(i)))
    }
}
