// SPDX-License-Identifier: GPL-2.0

//! Contiguous kernel mappings of pages that are not (`vmap`).
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h)

use super::bindings;
use super::mm::PgProt;
use super::page::PageArray;
use core::ptr::NonNull;
use kernel::error::{code::*, Result};

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
