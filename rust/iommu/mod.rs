// SPDX-License-Identifier: GPL-2.0

//! The IOMMU backend of a device: an unmanaged paging domain rsdma owns,
//! the IO address space it hands out from ([`space`]), mapping onto the
//! domain ([`mapper`]) and IOTLB invalidation ([`flush`]).

pub(crate) mod flush;
pub(crate) mod mapper;
pub(crate) mod space;

use crate::dev_err;
use crate::kapi::device::Device;
use crate::kapi::iommu::{self, Domain};
use crate::kapi::timer::Timer;
use core::sync::atomic::AtomicU64;
use flush::Flush;
use kernel::prelude::*;
use kernel::types::ARef;
use space::Space;

/// Widest IO address space rsdma manages: IOVAs go 32-bit first, and the
/// bitmap chunks of a larger space would need high-order atomic
/// allocations.
pub(crate) const MAX_SPACE_BITS: u32 = 40;

/// A device's IOMMU domain and IO address space.
#[pin_data]
pub(crate) struct Iommu {
    /// Lazy mode: bounds how long an unmapped IOVA waits for invalidation
    /// when no further unmap comes.  First, so that it stops before
    /// anything else is dropped.
    #[pin]
    timer: Timer<Iommu>,
    dev: ARef<Device>,
    domain: Domain,
    /// log2 of the IOMMU granule.
    shift: u32,
    /// The last IOVA the domain translates.
    aperture_end: u64,
    /// Width of the managed IO address space.
    space_bits: u32,
    space: Space,
    flush: Flush,
    /// Check that an unmapped range is mapped (when the tracker, which
    /// checks every unmap, is off).
    verify_unmaps: bool,
    /// Maps that failed for want of IOVA space or in `iommu_map`.
    pub(crate) map_failures: AtomicU64,
}

impl Iommu {
    /// A domain for `dev` (not yet attached) and its address space, with
    /// IOVA 0, everything below the aperture and the IOMMU's reserved
    /// regions (the MSI window, platform reservations) kept out.
    pub(crate) fn new(
        dev: &Device,
        lazy: bool,
        flush_ms: u32,
        verify_unmaps: bool,
    ) -> Result<impl PinInit<Self, Error>> {
        let domain = Domain::alloc(dev)
            .inspect_err(|e| dev_err!(dev, "rsdma: cannot allocate an IOMMU domain: {:?}", e))?;
        let pgsizes = domain.pgsize_bitmap();
        if pgsizes == 0 {
            dev_err!(dev, "rsdma: the IOMMU reports no page sizes");
            return Err(EINVAL);
        }
        let shift = pgsizes.trailing_zeros().max(crate::kapi::page::PAGE_SHIFT);
        let (ap_start, ap_end) = domain.aperture();
        let space_bits = (64 - ap_end.leading_zeros()).clamp(20, MAX_SPACE_BITS);
        let space = Space::new(dev, shift, space_bits)?;
        space.reserve(0, ap_start.max(1u64 << shift))?;
        let mut resv = Ok(());
        iommu::for_each_reserved_region(dev, |start, len| {
            if resv.is_ok() {
                resv = space.reserve(start, len);
            }
        });
        resv?;
        // MSIs go through the IOMMU too: their doorbells are mapped in
        // the (reserved) MSI window as the driver allocates them.
        if let Some(base) = iommu::sw_msi_base(dev) {
            domain.map_msis_at(base).inspect_err(|e| {
                dev_err!(
                    dev,
                    "rsdma: cannot set up MSI mapping at {:#x}: {:?}",
                    base,
                    e
                )
            })?;
        }
        let flush = Flush::new(lazy, flush_ms)?;
        let dev = dev.get();
        Ok(try_pin_init!(Self {
            timer <- Timer::new(),
            dev,
            domain,
            shift,
            aperture_end: ap_end,
            space_bits,
            space,
            flush,
            verify_unmaps,
            map_failures: AtomicU64::new(0),
        }? Error))
    }

    /// Puts `dev` behind the domain.
    pub(crate) fn attach(&self, dev: &Device) -> Result {
        self.domain.attach(dev)
    }

    /// Gives `dev` back to its default domain: nothing it does can reach
    /// rsdma's mappings after this.
    pub(crate) fn detach(&self, dev: &Device) {
        self.domain.detach(dev)
    }

    /// Width of the managed IO address space in bits.
    pub(crate) fn space_bits(&self) -> u32 {
        self.space_bits
    }

    /// The highest IOVA this backend hands out for a 32-bit-first policy.
    pub(crate) fn aperture_end(&self) -> u64 {
        self.aperture_end
    }

    /// Returns every IOVA held back (lazy queues, CPU caches) to the
    /// allocator.
    pub(crate) fn flush_all(&self) {
        self.drain();
        self.space.flush_caches();
    }

    /// Whether unmaps are invalidated lazily.
    pub(crate) fn is_lazy(&self) -> bool {
        self.flush.is_lazy()
    }

    /// The address space's use, for debugfs.
    pub(crate) fn space_stats(&self) -> crate::rsdma_core::iova::IovaStats {
        self.space.stats()
    }

    /// Whole-batch IOTLB invalidations so far.
    pub(crate) fn flushes(&self) -> u64 {
        self.flush
            .flushes
            .load(core::sync::atomic::Ordering::Relaxed)
    }
}
