// SPDX-License-Identifier: GPL-2.0

//! The state of one device attached to rsdma: what the ops (`ops.rs`) work
//! with, one part per concern.
//!
//! Lock order (a lock may be taken while holding the ones before it, never
//! the other way round):
//!
//! 1. `Life` (a mutex: attach, detach and teardown only);
//! 2. a lazy flush queue (`iommu::flush`);
//! 3. a CPU's IOVA cache, then the IOVA allocator (`iommu::space`).
//!
//! The tracker (`debug`), the buffer tree (`coherent`) and each bounce pool
//! (`bounce`) are leaves: nothing else is taken while one is held.
//!
//! Declared memory (`declared`): its `changes` mutex (declare, release)
//! may be held while the IOMMU's locks are taken; a device's region list
//! may be held while a region's pool is taken; the list of live
//! allocations is a leaf.

use crate::bounce::Bounce;
use crate::coherent::Buffers;
use crate::debug::Debug;
use crate::declared::Declared;
use crate::iommu::Iommu;
use crate::kapi::device::Device;
use crate::kapi::dma_ops::Saved;
use core::sync::atomic::AtomicBool;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::ARef;

/// Where a device is in its life with rsdma.
pub(crate) enum Life {
    /// Set up, not yet serving the device.
    Ready,
    /// Serving the device: its ops point at rsdma.
    Attached {
        /// The device's DMA set-up before, put back at teardown.
        saved: Saved,
        /// The debugfs files.
        files: crate::debug::Files,
    },
    /// Torn down: the device is back as it was.
    Detached,
}

/// The state of one attached device.
#[pin_data]
pub struct RsdmaDev {
    pub(crate) dev: ARef<Device>,
    /// Whether the device snoops the CPU caches.
    pub(crate) coherent: bool,
    /// Whether mappings that do not fill whole IOMMU granules are bounced.
    pub(crate) untrusted: bool,
    /// The highest address the device may be given whatever its driver's
    /// masks say (a claim's `dma_bits`; `u64::MAX`: no limit).
    pub(crate) limit: u64,
    /// The IOMMU domain and IO address space, when an IOMMU translates the
    /// device (first: its timer stops before anything else goes).
    pub(crate) iommu: Option<Pin<KBox<Iommu>>>,
    /// Bounce pools: without an IOMMU, or for an untrusted device.
    pub(crate) bounce: Option<Bounce>,
    /// Buffers allocated for the driver.
    #[pin]
    pub(crate) buffers: Buffers,
    /// Memory declared for the device, and what was allocated from it.
    #[pin]
    pub(crate) declared: Declared,
    /// The tracker and the counters.
    #[pin]
    pub(crate) debug: Debug,
    #[pin]
    pub(crate) life: Mutex<Life>,
    /// Whether the unbind action is registered (`kapi::devres`).
    pub(crate) armed: AtomicBool,
}

impl RsdmaDev {
    /// The streaming DMA mask rsdma honours: the driver's, within the
    /// device's limit.
    pub(crate) fn dma_mask(&self) -> u64 {
        self.dev.dma_mask().min(self.limit)
    }

    /// The coherent DMA mask rsdma honours.
    pub(crate) fn coherent_mask(&self) -> u64 {
        self.dev.coherent_dma_mask().min(self.limit)
    }

    /// The IOMMU backend, for a route that needs one.
    pub(crate) fn iommu(&self) -> Result<&Iommu> {
        self.iommu.as_deref().ok_or(EINVAL)
    }

    /// The bounce pools, for a route that needs them.
    pub(crate) fn bounce(&self) -> Result<&Bounce> {
        self.bounce.as_ref().ok_or(EINVAL)
    }
}
