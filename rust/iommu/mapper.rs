// SPDX-License-Identifier: GPL-2.0

//! Mapping memory into the device's IOMMU domain: a physical range or a
//! scatterlist at one fresh IOVA range, or a range at an IOVA the caller
//! fixes (declared memory, seen by the device at its device address), and
//! tearing it down again.

use super::Iommu;
use crate::inject::{self, Point};
use crate::kapi::iommu::Prot;
use crate::kapi::scatterlist::SgList;
use crate::kapi::time;
use crate::profile::{self, Step};
use crate::rsdma_core::iova::{IovaError, SpaceError};
use crate::rsdma_core::sg as plan;
use crate::{dev_err, kapi::device::dma_caller};
use core::sync::atomic::Ordering::Relaxed;
use kernel::prelude::*;

/// An sg list mapped at one IOVA range.
pub(crate) struct SgMapped {
    /// DMA segments written into the list.
    pub(crate) segments: usize,
}

impl Iommu {
    /// The IOMMU granule in bytes.
    pub(crate) fn granule(&self) -> u64 {
        1 << self.shift
    }

    /// The bytes of whole granules that cover `size` bytes at `addr`.
    pub(crate) fn granule_span(&self, addr: u64, size: u64) -> Option<usize> {
        let g = self.granule();
        let end = (addr & (g - 1)).checked_add(size)?.checked_add(g - 1)?;
        usize::try_from(end & !(g - 1)).ok()
    }

    /// Allocates `granules` of IOVA at or below `mask`.  When the space
    /// runs out, IOVAs still waiting for a lazy invalidation are flushed
    /// back first, so that a map right after a burst of unmaps never fails
    /// for want of a flush.
    fn alloc_iova(&self, granules: u64, mask: u64, cpu: usize) -> Result<u64> {
        let limit = mask.min(self.aperture_end);
        let _alloc = profile::start(Step::IovaAlloc);
        let r = match self.space.alloc_on(cpu, granules, limit) {
            Err(SpaceError::NoSpace) if self.flush.is_lazy() => {
                self.drain();
                self.space.alloc_on(cpu, granules, limit)
            }
            r => r,
        };
        r.map_err(|_| {
            self.map_failures.fetch_add(1, Relaxed);
            ENOMEM
        })
    }

    /// `iommu_map` in the domain (an injection point of the test build).
    fn iommu_map(&self, iova: u64, phys: u64, len: usize, prot: Prot) -> Result {
        if inject::fails(Point::IommuMap) {
            return Err(ENOMEM);
        }
        self.domain.map(iova, phys, len, prot)
    }

    /// Maps `size` bytes at `phys` (any alignment) at a fresh IOVA range
    /// under `mask`, with the IOVA cache of `cpu` (the CPU the caller runs
    /// on, a hint); returns the device address of `phys`.
    pub(crate) fn map_range(
        &self,
        phys: u64,
        size: usize,
        prot: Prot,
        mask: u64,
        cpu: usize,
    ) -> Result<u64> {
        let off = phys & (self.granule() - 1);
        let len = match self.granule_span(phys, size as u64) {
            Some(len) if size != 0 => len,
            _ => return Err(EINVAL),
        };
        let iova = self.alloc_iova((len >> self.shift) as u64, mask, cpu)?;
        let map = profile::start(Step::PageTableMap);
        let r = self.iommu_map(iova, phys - off, len, prot);
        map.end();
        if let Err(e) = r {
            self.space.free_on(cpu, iova, (len >> self.shift) as u64);
            self.map_failures.fetch_add(1, Relaxed);
            dev_err!(
                self.dev,
                "rsdma: iommu_map of {} bytes at IOVA {:#x} failed: {:?}",
                len,
                iova,
                e
            );
            return Err(e);
        }
        Ok(iova + off)
    }

    /// Maps a buffer of `len` bytes made of the physically contiguous
    /// `runs` (physical address, length; whole granules, in buffer order)
    /// at one fresh IOVA range under `mask`; returns the IOVA.  On failure
    /// nothing stays mapped, and the caller reports it (allocations warn
    /// once, or not at all).
    pub(crate) fn map_runs(
        &self,
        runs: impl Iterator<Item = (u64, u64)>,
        len: usize,
        prot: Prot,
        mask: u64,
    ) -> Result<u64> {
        let g = self.granule();
        if len == 0 || len as u64 % g != 0 {
            return Err(EINVAL);
        }
        let granules = (len >> self.shift) as u64;
        let cpu = time::cpu_hint();
        let iova = self.alloc_iova(granules, mask, cpu)?;
        let mut off = 0u64;
        let mut r = Ok(());
        for (phys, l) in runs {
            let fits = off.checked_add(l).is_some_and(|end| end <= len as u64);
            if !fits || l == 0 || (phys | l) & (g - 1) != 0 {
                r = Err(EINVAL);
                break;
            }
            r = self.iommu_map(iova + off, phys, l as usize, prot);
            if r.is_err() {
                break;
            }
            off += l;
        }
        if r.is_ok() && off != len as u64 {
            r = Err(EINVAL);
        }
        if let Err(e) = r {
            if off != 0 {
                self.domain.unmap(iova, off as usize);
            }
            self.space.free_on(cpu, iova, granules);
            self.map_failures.fetch_add(1, Relaxed);
            return Err(e);
        }
        Ok(iova)
    }

    /// Unmaps what [`Iommu::map_range`] mapped for `size` bytes at `addr`,
    /// from `cpu` (the CPU the caller runs on, a hint).
    pub(crate) fn unmap_range(&self, addr: u64, size: usize, cpu: usize) {
        let g = self.granule();
        let Some(len) = self.granule_span(addr, size as u64) else {
            return;
        };
        let base = addr & !(g - 1);
        // Without the tracker (which checks every unmap), at least never
        // free an IOVA twice: a range whose first page is not mapped was
        // unmapped already.
        let lookup = profile::start(Step::UnmapLookup);
        let unmapped = self.verify_unmaps && self.domain.iova_to_phys(base) == 0;
        lookup.end();
        if unmapped {
            dev_err!(
                self.dev,
                "rsdma: unmap of {:#x}+{:#x}, which is not mapped (caller {})",
                addr,
                size,
                dma_caller().as_str()
            );
            return;
        }
        self.release(base, len as u64, cpu);
    }

    /// Maps `len` bytes at `phys` at exactly `iova` (all three whole
    /// granules), taking that IOVA range out of the space until
    /// [`Iommu::unmap_fixed`]: memory the device must see at a given
    /// address.  A range outside the aperture (`ERANGE`) or holding a live
    /// mapping or a reserved region such as the MSI window (`EBUSY`) is
    /// refused with a message naming the device.
    pub(crate) fn map_fixed(&self, iova: u64, phys: u64, len: u64, prot: Prot) -> Result {
        let g = self.granule();
        if len == 0 || (iova | phys | len) & (g - 1) != 0 {
            dev_err!(
                self.dev,
                "rsdma: {:#x}+{:#x} at IOVA {:#x} is not in whole IOMMU granules ({:#x})",
                phys,
                len,
                iova,
                g
            );
            return Err(EINVAL);
        }
        let size = usize::try_from(len).map_err(|_| EINVAL)?;
        match iova.checked_add(len - 1) {
            Some(last) if last <= self.aperture_end => {}
            _ => {
                dev_err!(
                    self.dev,
                    "rsdma: IOVA {:#x}+{:#x} is beyond the IOMMU aperture (last IOVA {:#x})",
                    iova,
                    len,
                    self.aperture_end
                );
                return Err(ERANGE);
            }
        }
        // IOVAs still waiting for a lazy invalidation go back first.
        self.drain();
        self.space.claim(iova, len >> self.shift).map_err(|e| {
            let (why, err) = match e {
                SpaceError::Iova(IovaError::InUse { .. }) => {
                    ("is in use (a live mapping or a reserved region)", EBUSY)
                }
                SpaceError::Iova(IovaError::InvalidSize) => {
                    ("is outside rsdma's IO address space", ERANGE)
                }
                SpaceError::NoMemory => ("needs memory that is short", ENOMEM),
                _ => ("is refused", EINVAL),
            };
            dev_err!(
                self.dev,
                "rsdma: IOVA range {:#x}+{:#x} {} ({})",
                iova,
                len,
                why,
                e
            );
            err
        })?;
        if let Err(e) = self.iommu_map(iova, phys, size, prot) {
            // `iommu_map` undoes what it mapped before failing.
            self.space.unclaim(iova, len >> self.shift);
            dev_err!(
                self.dev,
                "rsdma: iommu_map of {:#x}+{:#x} at IOVA {:#x} failed: {:?}",
                phys,
                len,
                iova,
                e
            );
            return Err(e);
        }
        Ok(())
    }

    /// Undoes [`Iommu::map_fixed`]: the device loses access (the IOTLB is
    /// invalidated) before the IOVA range goes back to the space.
    pub(crate) fn unmap_fixed(&self, iova: u64, len: u64) {
        let n = usize::try_from(len).map_or(0, |size| self.domain.unmap(iova, size));
        if n as u64 != len {
            dev_err!(
                self.dev,
                "rsdma: unmapped {:#x} of {:#x} bytes at IOVA {:#x}",
                n,
                len,
                iova
            );
        }
        self.space.unclaim(iova, len >> self.shift);
    }

    /// Maps the entries `segs` (physical address, length) of `sg` at one
    /// IOVA range, merged within the device's segment limits, and writes
    /// the DMA segments into `sg`.
    pub(crate) fn map_sg(
        &self,
        sg: &SgList<'_>,
        segs: &[(u64, u32)],
        limits: &plan::SgLimits,
        prot: Prot,
        mask: u64,
    ) -> Result<SgMapped> {
        let n = segs.len();
        let mut maps = KVec::from_elem(plan::SegMap::default(), n, GFP_ATOMIC)?;
        let mut out = KVec::from_elem(plan::DmaSegment::default(), n, GFP_ATOMIC)?;
        let p = plan::plan(segs, limits, &mut maps, &mut out).map_err(|e| {
            dev_err!(self.dev, "rsdma: map_sg of {} entries: {}", n, e);
            EINVAL
        })?;
        let cpu = time::cpu_hint();
        let iova = self.alloc_iova(p.iova_len >> self.shift, mask, cpu)?;
        for (i, m) in maps.iter().take(p.maps).enumerate() {
            if let Err(e) = self.iommu_map(iova + m.iova_offset, m.phys, m.len as usize, prot) {
                for m in maps.iter().take(i) {
                    self.domain.unmap(iova + m.iova_offset, m.len as usize);
                }
                self.space.free_on(cpu, iova, p.iova_len >> self.shift);
                self.map_failures.fetch_add(1, Relaxed);
                dev_err!(self.dev, "rsdma: map_sg: iommu_map failed: {:?}", e);
                return Err(ENOMEM);
            }
        }
        for (i, e) in sg.iter().enumerate() {
            match out.get(i) {
                Some(s) if i < p.segments => e.set_dma(iova + s.iova_offset, s.len),
                _ => e.set_dma(crate::kapi::dma_ops::DMA_MAPPING_ERROR, 0),
            }
        }
        Ok(SgMapped {
            segments: p.segments,
        })
    }

    /// Unmaps an sg list [`Iommu::map_sg`] mapped: its DMA segments run
    /// from `first` to `end` in one IOVA range.
    pub(crate) fn unmap_sg(&self, first: u64, end: u64) {
        let g = self.granule();
        let base = first & !(g - 1);
        if let Some(end) = end.checked_add(g - 1) {
            self.release(
                base,
                (end & !(g - 1)).saturating_sub(base),
                time::cpu_hint(),
            );
        }
    }

    /// The physical address the domain translates `iova` to (0: none).
    pub(crate) fn iova_to_phys(&self, iova: u64) -> u64 {
        self.domain.iova_to_phys(iova)
    }
}
