// SPDX-License-Identifier: GPL-2.0

//! The client side of rsdma's exported API (`include/rsdma.h`), for
//! drivers in other modules that attach their devices to rsdma.
//!
//! Compiled into client modules only (rsdma itself defines these symbols).

use crate::kapi::dma::Direction;
use crate::kapi::dma_buf_import::Attachment;
use crate::kapi::memremap::PhysRange;
use crate::kapi::{bindings, device::Device};
use kernel::error::{to_result, Result};

/// How to attach a device.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Defer IOTLB invalidation to a bounded flush queue.
    pub lazy: bool,
    /// Longest deferral in lazy mode, in ms (0: the default).
    pub flush_ms: u32,
    /// Do not run the mapping tracker.
    pub no_tracker: bool,
    /// Bounce mappings that do not fill whole IOMMU granules.
    pub untrusted: bool,
    /// Treat the device as not snooping the CPU caches.
    pub noncoherent: bool,
}

/// Attaches `dev` to rsdma (`rsdma_attach`).
pub fn attach(dev: &Device, cfg: &Config) -> Result {
    let mut flags = 0;
    if cfg.lazy {
        flags |= bindings::RSDMA_ATTACH_LAZY;
    }
    if cfg.no_tracker {
        flags |= bindings::RSDMA_ATTACH_NO_TRACKER;
    }
    if cfg.untrusted {
        flags |= bindings::RSDMA_ATTACH_UNTRUSTED;
    }
    if cfg.noncoherent {
        flags |= bindings::RSDMA_ATTACH_NONCOHERENT;
    }
    let c = bindings::rsdma_config {
        flags,
        flush_ms: cfg.flush_ms,
    };
    // SAFETY: the device is live; `c` outlives the call.
    to_result(unsafe { bindings::rsdma_attach(dev.as_raw(), &c) })
}

/// Detaches `dev` from rsdma (`rsdma_detach`).
pub fn detach(dev: &Device) -> Result {
    // SAFETY: the device is live.
    to_result(unsafe { bindings::rsdma_detach(dev.as_raw()) })
}

/// How a declared region is used (`RSDMA_MEM_*`): exactly one of
/// [`MemFlags::MAP`] and [`MemFlags::IO`], and any of the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemFlags(u32);

impl MemFlags {
    /// The CPU maps the region as memory.
    pub const MAP: Self = Self(bindings::RSDMA_MEM_MAP);
    /// The CPU may only use I/O accessors on the region.
    pub const IO: Self = Self(bindings::RSDMA_MEM_IO);
    /// No fallback to system memory when the device's regions are full.
    pub const EXCLUSIVE: Self = Self(bindings::RSDMA_MEM_EXCLUSIVE);
    /// The region also serves the device's child devices.
    pub const INCLUDES_CHILDREN: Self = Self(bindings::RSDMA_MEM_INCLUDES_CHILDREN);

    /// No flags (which rsdma refuses: a region needs MAP or IO).
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Any bits, known or not (rsdma refuses unknown ones).
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }
}

impl core::ops::BitOr for MemFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Declares `mem` for the coherent allocations of `dev` (attached to
/// rsdma), seen by the device at `device_addr`
/// (`rsdma_declare_coherent_memory`).
pub fn declare_coherent_memory(
    dev: &Device,
    mem: &PhysRange,
    device_addr: u64,
    flags: MemFlags,
) -> Result {
    let size = usize::try_from(mem.len()).map_err(|_| kernel::error::code::EINVAL)?;
    // SAFETY: the device is live, and `mem` is the caller's to use (the
    // `PhysRange` invariant), as the declaration needs.
    to_result(unsafe {
        bindings::rsdma_declare_coherent_memory(
            dev.as_raw(),
            mem.phys(),
            device_addr,
            size,
            flags.0,
        )
    })
}

/// Releases the region declared at `mem` (`rsdma_release_declared_memory`).
pub fn release_declared_memory(dev: &Device, mem: &PhysRange) -> Result {
    // SAFETY: the device is live.
    to_result(unsafe { bindings::rsdma_release_declared_memory(dev.as_raw(), mem.phys()) })
}

/// Syncs bytes `[offset, offset+len)` of `att`'s mapping of a dma-buf
/// rsdma exported for its device, before a transfer in `dir`
/// (`rsdma_dmabuf_sync_for_device`; its errors are in `include/rsdma.h`).
pub fn dmabuf_sync_for_device(
    att: &Attachment,
    offset: usize,
    len: usize,
    dir: Direction,
) -> Result {
    // SAFETY: `att` is attached for as long as it is borrowed.
    to_result(unsafe {
        bindings::rsdma_dmabuf_sync_for_device(att.as_raw(), offset, len, dir.as_raw())
    })
}

/// Syncs bytes `[offset, offset+len)` of `att`'s mapping for the CPU,
/// after a transfer in `dir` (`rsdma_dmabuf_sync_for_cpu`).
pub fn dmabuf_sync_for_cpu(att: &Attachment, offset: usize, len: usize, dir: Direction) -> Result {
    // SAFETY: `att` is attached for as long as it is borrowed.
    to_result(unsafe {
        bindings::rsdma_dmabuf_sync_for_cpu(att.as_raw(), offset, len, dir.as_raw())
    })
}
