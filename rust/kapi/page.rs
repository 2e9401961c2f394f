// SPDX-License-Identifier: GPL-2.0

//! Page allocations: physically contiguous blocks ([`Pages`]) and arrays
//! of single pages ([`PageArray`]).
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)

use super::bindings;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// The size of a page.
pub const PAGE_SIZE: usize = bindings::RSDMA_PAGE_SIZE;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = bindings::RSDMA_PAGE_SHIFT;

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

/// The largest block the page allocator gives, as an order
/// (`MAX_PAGE_ORDER`).
pub const MAX_ORDER: u32 = bindings::RSDMA_MAX_PAGE_ORDER;

/// Single pages from the page allocator, each owned on its own (blocks are
/// split with `split_page`), in the order they were added.  A buffer that
/// need not be physically contiguous is one of these; so is a contiguous
/// one, whose pages happen to follow each other.
///
/// # Invariants
///
/// Every pointer in `pages` is an order-0 page this value holds the only
/// allocator reference to, in the kernel's linear map (arm64 has no
/// highmem).
pub struct PageArray {
    pages: KVVec<*mut bindings::page>,
}

impl PageArray {
    /// No pages, with room for `n` (allocated as the caller's context
    /// allows: `may_sleep` picks `GFP_KERNEL` over `GFP_ATOMIC`; a failure
    /// is the caller's to report).
    pub fn with_capacity(n: usize, may_sleep: bool) -> Result<Self> {
        let flags = if may_sleep { GFP_KERNEL } else { GFP_ATOMIC } | __GFP_NOWARN;
        Ok(Self {
            pages: KVVec::with_capacity(n, flags)?,
        })
    }

    /// Adds `count` physically contiguous pages, carved from one block of
    /// the smallest order that holds them, allocated with `gfp` (less
    /// `__GFP_COMP`: the block is split into single pages); the pages
    /// of the block past `count` go straight back.  Room for `count` more
    /// pages must have been reserved ([`PageArray::with_capacity`]), so that
    /// adding never allocates.
    ///
    /// Fails with `EINVAL` for a block larger than [`MAX_ORDER`] or without
    /// the room, `ENOMEM` when the allocator has no such block.
    pub fn push_run(&mut self, gfp: bindings::gfp_t, count: usize) -> Result {
        if count == 0 || self.pages.capacity() - self.pages.len() < count {
            return Err(EINVAL);
        }
        let order = count.next_power_of_two().trailing_zeros();
        if order > MAX_ORDER {
            return Err(EINVAL);
        }
        // SAFETY: any flags and an order up to MAX_PAGE_ORDER are valid;
        // the block is never compound, so that it can be split.
        let first =
            unsafe { bindings::rsdma_helper_alloc_pages(gfp & !bindings::RSDMA_GFP_COMP, order) };
        if first.is_null() {
            return Err(ENOMEM);
        }
        if order > 0 {
            // SAFETY: `first` heads a non-compound block of `order` we own.
            unsafe { bindings::split_page(first, order) };
        }
        for i in 0..(1usize << order) {
            // SAFETY: `i` lies inside the block; after the split each page
            // is an order-0 page of its own.
            let page = unsafe { bindings::rsdma_helper_nth_page(first, i as _) };
            if i < count {
                // INVARIANT: we own the page.  The capacity was checked, so
                // the push does not allocate and cannot fail.
                let _ = self.pages.push(page, GFP_ATOMIC);
            } else {
                // SAFETY: a page of the block we own and keep no pointer to.
                unsafe { bindings::__free_pages(page, 0) };
            }
        }
        Ok(())
    }

    /// The number of pages.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether there is no page.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The physical address of page `i`.
    pub fn phys(&self, i: usize) -> Option<u64> {
        let page = *self.pages.get(i)?;
        // SAFETY: a live page (type invariant).
        Some(unsafe { bindings::rsdma_helper_page_to_phys(page) })
    }

    /// The physical addresses of the pages, in order.
    pub fn phys_iter(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        self.pages.iter().map(|&page| {
            // SAFETY: a live page (type invariant).
            unsafe { bindings::rsdma_helper_page_to_phys(page) }
        })
    }

    /// The linear-map address of the first page (of the whole buffer when
    /// the pages are contiguous).
    pub fn linear_ptr(&self) -> Option<*mut u8> {
        let page = *self.pages.first()?;
        // SAFETY: a live page in the linear map (type invariant).
        Some(unsafe { bindings::rsdma_helper_page_address(page) }.cast())
    }

    /// A value that names the array and is never null or a mapped address
    /// of its memory: the address of the first page's `struct page`.
    pub fn cookie(&self) -> usize {
        self.pages.first().map_or(0, |&p| p as usize)
    }

    /// Keeps the pages at the indexes `keep` says yes to, in order, and
    /// gives the others back to the allocator.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut kept = 0;
        for i in 0..self.pages.len() {
            let page = self.pages[i];
            if keep(i) {
                self.pages[kept] = page;
                kept += 1;
            } else {
                // SAFETY: we own the page, and drop our pointer to it below.
                unsafe { bindings::__free_pages(page, 0) };
            }
        }
        // SAFETY: `kept <= len`, the first `kept` entries are the pages
        // kept, and raw pointers need no drop.
        unsafe { self.pages.set_len(kept) };
    }

    /// The pages, for the other wrappers of this layer (`vmap`, user
    /// mappings); they stay owned by the array.
    pub(super) fn as_raw(&self) -> &[*mut bindings::page] {
        &self.pages
    }
}

impl Drop for PageArray {
    fn drop(&mut self) {
        for &page in self.pages.iter() {
            // SAFETY: we own the page (type invariant) and drop the array.
            unsafe { bindings::__free_pages(page, 0) };
        }
    }
}

// SAFETY: the pages are plain memory, usable from any thread.
unsafe impl Send for PageArray {}
// SAFETY: `&PageArray` only reads addresses.
unsafe impl Sync for PageArray {}
