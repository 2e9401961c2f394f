// SPDX-License-Identifier: GPL-2.0

//! IOMMU domains a driver owns.
//!
//! C header: [`include/linux/iommu.h`](srctree/include/linux/iommu.h)

use super::{bindings, device::Device};
use kernel::error::{code::*, to_result, Error, Result};

/// Access rights of a mapping (`IOMMU_READ`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prot(i32);

impl Prot {
    /// The device may read.
    pub const READ: Prot = Prot(bindings::RSDMA_IOMMU_READ);
    /// The device may write.
    pub const WRITE: Prot = Prot(bindings::RSDMA_IOMMU_WRITE);
    /// The mapping is cache-coherent.
    pub const CACHE: Prot = Prot(bindings::RSDMA_IOMMU_CACHE);
    /// The mapping is MMIO (device memory attributes).
    pub const MMIO: Prot = Prot(bindings::RSDMA_IOMMU_MMIO);
    /// Only privileged transactions may use the mapping.
    pub const PRIV: Prot = Prot(bindings::RSDMA_IOMMU_PRIV);

    /// No access.
    pub const fn none() -> Prot {
        Prot(0)
    }

    /// Both sets of rights.
    pub const fn union(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }

    /// The C value.
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

/// An unmanaged paging domain (`iommu_paging_domain_alloc`), freed on drop.
///
/// # Invariants
///
/// `ptr` is a live paging domain this value owns.
pub struct Domain {
    ptr: *mut bindings::iommu_domain,
}

impl Domain {
    /// Allocates a paging domain suitable for `dev`'s IOMMU.
    pub fn alloc(dev: &Device) -> Result<Self> {
        // SAFETY: the device is live.
        let ptr = unsafe { bindings::iommu_paging_domain_alloc(dev.as_raw()) };
        if super::is_err_ptr(ptr) {
            return Err(if ptr.is_null() {
                ENOMEM
            } else {
                Error::from_errno(ptr as isize as i32)
            });
        }
        // INVARIANT: allocated above.
        Ok(Self { ptr })
    }

    /// The first and last IOVA the domain can translate.
    pub fn aperture(&self) -> (u64, u64) {
        // SAFETY: the domain is live (type invariant); its geometry is set
        // at allocation and not changed afterwards.
        let g = unsafe { (*self.ptr).geometry };
        (g.aperture_start, g.aperture_end)
    }

    /// The page sizes the domain supports, as a bitmap of sizes.
    pub fn pgsize_bitmap(&self) -> u64 {
        // SAFETY: as in `aperture`.
        unsafe { (*self.ptr).pgsize_bitmap }
    }

    /// Attaches `dev` (`iommu_attach_device`); `dev` must be alone in its
    /// group and its driver must manage its DMA.
    pub fn attach(&self, dev: &Device) -> Result {
        // SAFETY: both are live.
        to_result(unsafe { bindings::iommu_attach_device(self.ptr, dev.as_raw()) })
    }

    /// Detaches `dev`, which returns to its default domain.
    pub fn detach(&self, dev: &Device) {
        // SAFETY: both are live; `dev` was attached by `attach`.
        unsafe { bindings::iommu_detach_device(self.ptr, dev.as_raw()) };
    }

    /// Has the MSI layer map the doorbells of MSIs allocated from now on
    /// for devices attached to the domain, at IOVAs from `base`
    /// (`iommu_get_msi_cookie`): without it, a device's MSI writes fault
    /// in the IOMMU.  The window at `base` must be kept out of the
    /// domain's other mappings.
    pub fn map_msis_at(&self, base: u64) -> Result {
        // SAFETY: the domain is live and unmanaged; the cookie is freed
        // with it (`iommu_domain_free`).
        to_result(unsafe { bindings::iommu_get_msi_cookie(self.ptr, base) })
    }

    /// Maps `size` bytes at `iova` to `phys` (`iommu_map`); never sleeps.
    pub fn map(&self, iova: u64, phys: u64, size: usize, prot: Prot) -> Result {
        // SAFETY: the domain is live; the page tables belong to it.
        to_result(unsafe {
            bindings::iommu_map(
                self.ptr,
                iova as _,
                phys,
                size,
                prot.as_raw(),
                bindings::RSDMA_GFP_ATOMIC,
            )
        })
    }

    /// Unmaps `size` bytes at `iova` and invalidates the IOTLB before
    /// returning (strict).  Returns the bytes unmapped.
    pub fn unmap(&self, iova: u64, size: usize) -> usize {
        // SAFETY: the domain is live.
        unsafe { bindings::iommu_unmap(self.ptr, iova as _, size) }
    }

    /// Unmaps without invalidating the IOTLB: the device may still reach
    /// the old pages until [`Domain::flush_all`].  Returns the bytes
    /// unmapped.
    pub fn unmap_deferred(&self, iova: u64, size: usize) -> usize {
        // SAFETY: the domain is live.
        unsafe { bindings::rsdma_helper_iommu_unmap_nosync(self.ptr, iova as _, size) }
    }

    /// Invalidates the whole IOTLB of the domain.
    pub fn flush_all(&self) {
        // SAFETY: the domain is live.
        unsafe { bindings::rsdma_helper_iommu_flush_iotlb_all(self.ptr) };
    }

    /// The physical address `iova` translates to, or 0.
    pub fn iova_to_phys(&self, iova: u64) -> u64 {
        // SAFETY: the domain is live.
        unsafe { bindings::iommu_iova_to_phys(self.ptr, iova) }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // SAFETY: ours (type invariant), and no device is attached to it
        // any more (owners detach before dropping).
        unsafe { bindings::iommu_domain_free(self.ptr) };
    }
}

// SAFETY: the IOMMU core serialises changes to a domain's page tables per
// range; map/unmap may be called from any thread.
unsafe impl Send for Domain {}
// SAFETY: as above.
unsafe impl Sync for Domain {}

/// The start of `dev`'s software MSI window (`IOMMU_RESV_SW_MSI`): where
/// an IOMMU that translates MSIs needs their doorbells mapped.
pub fn sw_msi_base(dev: &Device) -> Option<u64> {
    let mut base = 0u64;
    // SAFETY: the device is live; `base` is valid for writes.
    unsafe { bindings::rsdma_helper_sw_msi_base(dev.as_raw(), &mut base) }.then_some(base)
}

/// How many devices share `dev`'s IOMMU group (0 when it has none).
pub fn group_size(dev: &Device) -> usize {
    // SAFETY: the device is live.
    let n = unsafe { bindings::rsdma_helper_iommu_group_size(dev.as_raw()) };
    n.max(0) as usize
}

/// Calls `f(start, length)` for every IOMMU reserved region of `dev`.
pub fn for_each_reserved_region<F: FnMut(u64, u64)>(dev: &Device, mut f: F) {
    /// # Safety
    ///
    /// `ctx` must be the `&mut G` passed below.
    unsafe extern "C" fn trampoline<G: FnMut(u64, u64)>(
        ctx: *mut core::ffi::c_void,
        start: u64,
        len: u64,
    ) {
        // SAFETY: `ctx` is the `&mut F` passed below, live for the call.
        let f = unsafe { &mut *ctx.cast::<G>() };
        f(start, len);
    }
    let ctx: *mut F = &mut f;
    // SAFETY: the device is live; the callback and its context are valid
    // for the duration of the call, which does not keep them.
    unsafe {
        bindings::rsdma_helper_for_each_resv_region(dev.as_raw(), Some(trampoline::<F>), ctx.cast())
    };
}
