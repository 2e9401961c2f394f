// SPDX-License-Identifier: GPL-2.0

//! Contiguous kernel mappings of pages that are not contiguous (`vmap`).
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h)

use super::bindings;
use super::mm::PgProt;
use super::page::{PageArray, PageRuns};
use core::ptr::NonNull;
use kernel::alloc::{flags::GFP_KERNEL, KVVec};
use kernel::error::{code::*, Result};
use kernel::sync::Arc;

/// Tears down now the kernel mappings that `vunmap` only marked for
/// removal, and what they still hold (their address range and, under
/// KASAN, their shadow pages).  May sleep.
pub fn purge_lazy_unmaps() {
    // SAFETY: `vm_unmap_aliases` takes no arguments and only removes
    // mappings that their owners already gave up; it may sleep, which is
    // this function's contract too.
    unsafe { bindings::vm_unmap_aliases() };
}

/// Pages mapped at one contiguous range of kernel addresses, with a
/// protection of the caller's choosing; the mapping goes before the pages.
///
/// # Invariants
///
/// `addr` is a live `vmap` of every page of `pages`, in order.
pub struct Vmap {
    addr: NonNull<u8>,
    pages: PageArray,
}

impl Vmap {
    /// Maps every page of `pages`, in order, with `prot`.  May sleep.  On
    /// failure the pages are given back to the allocator.
    pub fn new(pages: PageArray, prot: PgProt) -> Result<Self> {
        let raw = pages.as_raw();
        let n = u32::try_from(raw.len()).map_err(|_| EINVAL)?;
        if n == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `raw` holds `n` live pages we own; vmap only reads the
        // array, and maps (without taking over) the pages.
        let addr = unsafe {
            bindings::vmap(
                raw.as_ptr().cast_mut(),
                n,
                bindings::VM_MAP as _,
                prot.as_raw(),
            )
        };
        let addr = NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: mapped above.
        Ok(Self { addr, pages })
    }

    /// The kernel address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The pages mapped.
    pub fn pages(&self) -> &PageArray {
        &self.pages
    }
}

impl Drop for Vmap {
    fn drop(&mut self) {
        // SAFETY: a live vmap (type invariant), removed before `pages` is
        // dropped (fields drop after this body).
        unsafe { bindings::vunmap(self.addr.as_ptr().cast()) };
    }
}

// SAFETY: the mapping and its pages may be used and undone from any thread
// (`vunmap` from process context, as the DMA API requires of frees).
unsafe impl Send for Vmap {}
// SAFETY: `&Vmap` only reads addresses.
unsafe impl Sync for Vmap {}

/// A contiguous kernel mapping of a [`PageRuns`] buffer (`vmap`), cached or
/// write-combined; unmapped on drop.
///
/// # Invariants
///
/// `addr` maps all of `runs` (which the value keeps alive).
pub struct RunsVmap {
    addr: NonNull<u8>,
    runs: Arc<PageRuns>,
}

impl RunsVmap {
    /// Maps `runs`.
    pub fn new(runs: Arc<PageRuns>, write_combine: bool) -> Result<Self> {
        let mut pages = KVVec::new();
        for p in runs.pages() {
            pages.push(p, GFP_KERNEL)?;
        }
        let n = u32::try_from(pages.len()).map_err(|_| EINVAL)?;
        // SAFETY: `pages` holds `n` live pages of `runs`.
        let addr = unsafe { bindings::rsdma_helper_vmap(pages.as_mut_ptr(), n, write_combine) };
        let addr = NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: mapped above.
        Ok(Self { addr, runs })
    }

    /// The kernel address of the first byte.
    pub fn addr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The kernel address of `len` bytes at `offset`, as C's `int` size.
    fn range(&self, offset: usize, len: usize) -> Option<(*mut core::ffi::c_void, i32)> {
        let end = offset.checked_add(len)?;
        if end > self.runs.len() {
            return None;
        }
        // SAFETY: `offset <= len()`: inside the mapping.
        let p = unsafe { self.addr.as_ptr().add(offset) };
        Some((p.cast(), i32::try_from(len).ok()?))
    }

    /// Makes the CPU see what devices wrote to `len` bytes at `offset`
    /// through this mapping (`invalidate_kernel_vmap_range`).
    pub fn invalidate(&self, offset: usize, len: usize) {
        if let Some((p, n)) = self.range(offset, len) {
            // SAFETY: `p..p + n` lies inside the mapping.
            unsafe { bindings::rsdma_helper_invalidate_kernel_vmap_range(p, n) };
        }
    }

    /// Makes what the CPU wrote through this mapping to `len` bytes at
    /// `offset` visible to devices (`flush_kernel_vmap_range`).
    pub fn flush(&self, offset: usize, len: usize) {
        if let Some((p, n)) = self.range(offset, len) {
            // SAFETY: as in `invalidate`.
            unsafe { bindings::rsdma_helper_flush_kernel_vmap_range(p, n) };
        }
    }
}

impl Drop for RunsVmap {
    fn drop(&mut self) {
        // SAFETY: mapped by `vmap` (type invariant), undone once.
        unsafe { bindings::vunmap(self.addr.as_ptr().cast()) };
    }
}

// SAFETY: the mapping may be used and undone from any thread.
unsafe impl Send for RunsVmap {}
// SAFETY: `&RunsVmap` only hands out the address and does cache maintenance.
unsafe impl Sync for RunsVmap {}
