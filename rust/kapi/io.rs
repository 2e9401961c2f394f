// SPDX-License-Identifier: GPL-2.0

//! Memory-mapped I/O with bounds-checked accessors.
//!
//! C header: [`include/asm-generic/io.h`](srctree/include/asm-generic/io.h)

use super::bindings;
use kernel::error::{code::*, Result};

/// A mapped MMIO region of `len` bytes.
///
/// Every access checks its offset and alignment, so a wrong register offset
/// is an `EINVAL`, never a stray access.
///
/// # Invariants
///
/// `base` maps `len` bytes of MMIO for as long as this value lives (the
/// owner of the mapping, such as [`super::pci::Bar`], outlives it).
pub struct Mmio {
    base: *mut core::ffi::c_void,
    len: usize,
}

impl Mmio {
    /// Wraps a mapping.
    ///
    /// # Safety
    ///
    /// `base` must map `len` bytes of MMIO for the lifetime of the value.
    pub(crate) unsafe fn new(base: *mut core::ffi::c_void, len: usize) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { base, len }
    }

    /// The base of the mapping, for the owner that unmaps it.
    pub(crate) fn base_ptr(&self) -> *mut core::ffi::c_void {
        self.base
    }

    /// The size of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn addr(&self, offset: usize, size: usize) -> Result<*mut core::ffi::c_void> {
        let end = offset.checked_add(size).ok_or(EINVAL)?;
        if end > self.len || offset % size != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `offset + size <= len`, inside the mapping.
        Ok(unsafe { self.base.cast::<u8>().add(offset) }.cast())
    }

    /// Sets `len` bytes at `offset` to `byte` (`memset_io`).
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result {
        let a = self.addr(offset, 1)?;
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: `a..a + len` lies inside the mapping (checked above).
        unsafe { bindings::rsdma_helper_memset_io(a, byte.into(), len) };
        Ok(())
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: usize) -> Result<u32> {
        let a = self.addr(offset, 4)?;
        // SAFETY: `a` is an aligned address inside the mapping.
        Ok(unsafe { bindings::rsdma_helper_readl(a) })
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: usize, val: u32) -> Result {
        let a = self.addr(offset, 4)?;
        // SAFETY: `a` is an aligned address inside the mapping.
        unsafe { bindings::rsdma_helper_writel(val, a) };
        Ok(())
    }

    /// Reads the 64-bit register at `offset`.
    pub fn read64(&self, offset: usize) -> Result<u64> {
        let a = self.addr(offset, 8)?;
        // SAFETY: `a` is an aligned address inside the mapping.
        Ok(unsafe { bindings::rsdma_helper_readq(a) })
    }

    /// Writes the 64-bit register at `offset`.
    pub fn write64(&self, offset: usize, val: u64) -> Result {
        let a = self.addr(offset, 8)?;
        // SAFETY: `a` is an aligned address inside the mapping.
        unsafe { bindings::rsdma_helper_writeq(val, a) };
        Ok(())
    }
}

// SAFETY: MMIO accessors may be used from any thread.
unsafe impl Send for Mmio {}
// SAFETY: each accessor is a single MMIO access; the device serialises them.
unsafe impl Sync for Mmio {}

/// Sleeps for about `ms` milliseconds (`msleep`).
pub fn msleep(ms: u32) {
    // SAFETY: called from process context by the users of this layer.
    unsafe { bindings::msleep(ms) };
}
