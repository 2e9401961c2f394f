// SPDX-License-Identifier: GPL-2.0

//! CPU mappings of physical memory outside the kernel's linear map:
//! `memremap` (as memory) and `ioremap` (for I/O accessors only).
//!
//! C header: [`include/linux/io.h`](srctree/include/linux/io.h)

use super::io::Mmio;
use super::mm::{self, Ram};
use super::{bindings, ffi::is_err_ptr};
use kernel::error::{code::*, Result};

/// A physical range its holder may map and use: memory the device tree
/// sets aside for a device (`/reserved-memory`), or memory the DMA API lent
/// to a device.
///
/// # Invariants
///
/// `len > 0`, `phys + len` does not wrap, and the range is the holder's to
/// use: the kernel does not hand it out, and whoever else maps it does so
/// on the holder's behalf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhysRange {
    phys: u64,
    len: u64,
}

impl PhysRange {
    /// The `len` bytes at `phys`; `EINVAL` when empty or wrapping.
    ///
    /// # Safety
    ///
    /// The range must be the caller's to use for as long as the value, or
    /// anything made from it, lives: memory set aside for the caller's
    /// device, not memory the kernel or another driver uses.
    pub unsafe fn new(phys: u64, len: u64) -> Result<Self> {
        if len == 0 || phys.checked_add(len).is_none() {
            return Err(EINVAL);
        }
        // INVARIANT: checked above; the rest is the caller's promise.
        Ok(Self { phys, len })
    }

    /// The physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `len` bytes at offset `off` of the range (any alignment).
    pub fn sub(&self, off: u64, len: u64) -> Result<Self> {
        match off.checked_add(len) {
            Some(end) if len != 0 && end <= self.len => {}
            _ => return Err(EINVAL),
        }
        // INVARIANT: a non-empty part of a range that is ours.
        Ok(Self {
            phys: self.phys + off,
            len,
        })
    }

    /// How the range relates to System RAM.
    pub fn ram(&self) -> Ram {
        match usize::try_from(self.len) {
            Ok(len) => mm::system_ram(self.phys, len),
            Err(_) => Ram::Part,
        }
    }

    fn len_usize(&self) -> Result<usize> {
        usize::try_from(self.len).map_err(|_| EINVAL)
    }
}

/// The CPU cache policy of a [`MemRemap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Cached (`MEMREMAP_WB`): for memory a cache-coherent device uses.
    WriteBack,
    /// Uncached, writes combined (`MEMREMAP_WC`): for memory a device that
    /// does not snoop the caches uses.  Never System RAM (which the linear
    /// map already maps cached).
    WriteCombine,
}

/// A [`PhysRange`] mapped as memory (`memremap`); unmapped on drop.
///
/// Memory a device may access at any time: the CPU side has its address,
/// never a Rust reference to its bytes.
///
/// # Invariants
///
/// `virt` maps the `len` bytes of a [`PhysRange`] until drop.
pub struct MemRemap {
    virt: *mut u8,
    len: usize,
}

impl MemRemap {
    /// Maps `mem` with `caching`.  `EINVAL` for a range that is partly
    /// System RAM, or System RAM mapped [`Caching::WriteCombine`] (either
    /// would be a second mapping of the linear map with other attributes).
    pub fn new(mem: &PhysRange, caching: Caching) -> Result<Self> {
        let len = mem.len_usize()?;
        let flags = match (mem.ram(), caching) {
            (Ram::Part, _) | (Ram::All, Caching::WriteCombine) => return Err(EINVAL),
            (_, Caching::WriteBack) => bindings::RSDMA_MEMREMAP_WB,
            (Ram::None, Caching::WriteCombine) => bindings::RSDMA_MEMREMAP_WC,
        };
        // SAFETY: the range is ours (`PhysRange` invariant) and its relation
        // to System RAM allows these flags (checked above).
        let virt = unsafe { bindings::memremap(mem.phys(), len, flags) }.cast::<u8>();
        if virt.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: mapped above.
        Ok(Self { virt, len })
    }

    /// The kernel address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.virt
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The kernel address of `len` bytes at `off`, which must lie inside.
    fn range(&self, off: usize, len: usize) -> Result<*mut u8> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: `off <= len`, inside the mapping.
        Ok(unsafe { self.virt.add(off) })
    }

    /// Sets `len` bytes at `off` to zero.
    pub fn zero(&self, off: usize, len: usize) -> Result {
        let p = self.range(off, len)?;
        // SAFETY: `p..p + len` lies inside the mapping of memory that is
        // ours; written through a raw pointer, never a reference, so a
        // device accessing the same bytes breaks no aliasing rule.
        unsafe { core::ptr::write_bytes(p, 0, len) };
        Ok(())
    }

    /// Copies `data` into the mapping at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let p = self.range(off, data.len())?;
        // SAFETY: as in `zero`; `data` is ordinary memory outside the
        // mapping.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Copies bytes of the mapping at `off` into `out`.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result {
        let p = self.range(off, out.len())?;
        // SAFETY: as in `write`, the other way round.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

impl Drop for MemRemap {
    fn drop(&mut self) {
        // SAFETY: mapped by `memremap` (type invariant); for System RAM it
        // returned the linear map, which `memunmap` leaves alone.
        unsafe { bindings::memunmap(self.virt.cast()) };
    }
}

// SAFETY: the mapping may be used and unmapped from any thread.
unsafe impl Send for MemRemap {}
// SAFETY: every access goes through raw pointers, with no Rust reference to
// the bytes.
unsafe impl Sync for MemRemap {}

/// A [`PhysRange`] mapped for I/O accessors only (`ioremap`, device memory
/// attributes); unmapped on drop.  Its accessors are those of [`Mmio`].
///
/// # Invariants
///
/// `mmio` maps the whole of a [`PhysRange`] that is not System RAM until
/// drop.
pub struct IoRemap {
    mmio: Mmio,
}

impl IoRemap {
    /// Maps `mem`.  `EINVAL` for a range with System RAM in it (the linear
    /// map already maps it as memory).
    pub fn new(mem: &PhysRange) -> Result<Self> {
        let len = mem.len_usize()?;
        if mem.ram() != Ram::None {
            return Err(EINVAL);
        }
        // SAFETY: the range is ours (`PhysRange` invariant) and not System
        // RAM.
        let base = unsafe { bindings::rsdma_helper_ioremap(mem.phys(), len) };
        if is_err_ptr(base) {
            return Err(ENOMEM);
        }
        // INVARIANT: mapped above, unmapped only in drop.
        Ok(Self {
            // SAFETY: `base` maps `len` bytes of MMIO until `IoRemap` drops,
            // and `Mmio` lives inside it.
            mmio: unsafe { Mmio::new(base, len) },
        })
    }

    /// The `__iomem` address of the first byte.
    pub fn as_ptr(&self) -> *mut core::ffi::c_void {
        self.mmio.base_ptr()
    }
}

impl core::ops::Deref for IoRemap {
    type Target = Mmio;

    fn deref(&self) -> &Mmio {
        &self.mmio
    }
}

impl Drop for IoRemap {
    fn drop(&mut self) {
        // SAFETY: mapped by `ioremap` (type invariant).
        unsafe { bindings::rsdma_helper_iounmap(self.mmio.base_ptr()) };
    }
}
