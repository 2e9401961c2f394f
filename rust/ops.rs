// SPDX-License-Identifier: GPL-2.0

//! The DMA operations of an attached device: one short function per op of
//! `struct dma_map_ops`.  Each reads the same way: where the memory goes
//! (the backend), then the cache maintenance a non-coherent device needs,
//! then the bookkeeping (counters, tracker).

use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::kapi::device::Device;
use crate::kapi::dma_ops::{Coherent, Operations, SgTableOut, Vma};
use crate::kapi::iommu::Prot;
use crate::kapi::page::PAGE_SIZE;
use crate::kapi::scatterlist::SgList;
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::rsdma_core::sg::SgLimits;
use crate::rsdma_core::tracker::{MapKind, Mapping};
use crate::{dev_err, dev_warn};
use kernel::prelude::*;

/// The mapping rights for `dir`.
fn prot_for(dir: Direction, coherent: bool, attrs: Attrs) -> Prot {
    let mut p = match dir {
        Direction::ToDevice => Prot::READ,
        Direction::FromDevice => Prot::WRITE,
        Direction::Bidirectional | Direction::None => Prot::READ.union(Prot::WRITE),
    };
    if coherent {
        p = p.union(Prot::CACHE);
    }
    if attrs.contains(Attrs::PRIVILEGED) {
        p = p.union(Prot::PRIV);
    }
    p
}

/// The sum of the lengths of `sg`'s entries.
fn sg_bytes(sg: &SgList<'_>) -> u64 {
    sg.iter().map(|e| u64::from(e.length())).sum()
}

impl RsdmaDev {
    /// The tracker record of a coherent buffer.
    fn coherent_record(&self, dma: u64, size: usize, cpu: usize, attrs: Attrs) -> Mapping {
        Mapping {
            cpu_addr: cpu as u64,
            ..self.debug.record(
                dma,
                size as u64,
                MapKind::Coherent,
                Direction::Bidirectional,
                attrs,
                0,
            )
        }
    }

    /// The physical address behind the device address `addr` (0: none).
    fn phys_of(&self, addr: u64) -> u64 {
        self.iommu.iova_to_phys(addr)
    }

    /// Hands `size` bytes at `addr` to `to` (`dma_sync_single_*`).
    fn sync_single(&self, addr: u64, size: usize, dir: Direction, to: Owner) {
        Stats::count(&self.debug.stats.syncs);
        self.debug
            .synced(&self.dev, addr, size as u64, dir, None, to == Owner::Cpu);
        if self.coherent {
            return;
        }
        let phys = self.phys_of(addr);
        if phys != 0 {
            self.sync_phys(phys, size, dir, to);
        }
    }

    /// Hands a mapped sg list to `to` (`dma_sync_sg_*`).
    fn sync_sg(&self, sg: &SgList<'_>, dir: Direction, to: Owner) {
        Stats::count(&self.debug.stats.syncs);
        let Some(first) = sg.iter().next() else {
            return;
        };
        let n = u32::try_from(sg.len()).unwrap_or(u32::MAX);
        let (addr, bytes) = (first.dma_address(), sg_bytes(sg));
        self.debug
            .synced(&self.dev, addr, bytes, dir, Some(n), to == Owner::Cpu);
        for e in sg.iter() {
            self.sync_phys(e.phys(), e.length() as usize, dir, to);
        }
    }

    /// Cache maintenance handing `len` bytes at `phys` to `to`.
    fn sync_phys(&self, phys: u64, len: usize, dir: Direction, to: Owner) {
        match to {
            Owner::Cpu => self.sync_for_cpu_phys(phys, len, dir),
            Owner::Device => self.sync_for_device_phys(phys, len, dir),
        }
    }
}

/// Who a sync hands the buffer to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Cpu,
    Device,
}

#[vtable]
impl Operations for RsdmaDev {
    fn map_page(
        &self,
        _dev: &Device,
        phys: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<u64> {
        let prot = prot_for(dir, self.coherent, attrs);
        let addr = self
            .iommu
            .map_range(phys, size, prot, self.dev.dma_mask())?;
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            self.sync_for_device_phys(phys, size, dir);
        }
        Stats::count(&self.debug.stats.maps);
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Page, dir, attrs, 0);
        self.debug.mapped(&self.dev, m);
        Ok(addr)
    }

    fn unmap_page(&self, _dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs) {
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Page, dir, attrs, 0);
        if !self.debug.unmapped(&self.dev, m) {
            return;
        }
        if !self.coherent && !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            let phys = self.phys_of(addr);
            if phys != 0 {
                self.sync_for_cpu_phys(phys, size, dir);
            }
        }
        self.iommu.unmap_range(addr, size);
        Stats::count(&self.debug.stats.unmaps);
    }

    fn map_sg(
        &self,
        _dev: &Device,
        sg: &SgList<'_>,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<usize> {
        let mut segs = KVec::with_capacity(sg.len(), GFP_ATOMIC)?;
        for e in sg.iter() {
            segs.push((e.phys(), e.length()), GFP_ATOMIC)?;
        }
        let limits = SgLimits {
            max_seg_size: self.dev.max_seg_size(),
            seg_boundary_mask: self.dev.seg_boundary(),
            granule_shift: self.iommu.granule().trailing_zeros(),
        };
        let prot = prot_for(dir, self.coherent, attrs);
        let mapped = self
            .iommu
            .map_sg(sg, &segs, &limits, prot, self.dev.dma_mask())?;
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            for &(p, l) in segs.iter() {
                self.sync_for_device_phys(p, l as usize, dir);
            }
        }
        Stats::count(&self.debug.stats.sg_maps);
        let n = u32::try_from(sg.len()).unwrap_or(u32::MAX);
        let m = self
            .debug
            .record(mapped.first, sg_bytes(sg), MapKind::Sg, dir, attrs, n);
        self.debug.mapped(&self.dev, m);
        Ok(mapped.segments)
    }

    fn unmap_sg(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction, attrs: Attrs) {
        let mut first = None;
        let mut end = 0u64;
        for e in sg.iter().filter(|e| e.dma_len() != 0) {
            first.get_or_insert(e.dma_address());
            end = e.dma_address().saturating_add(u64::from(e.dma_len()));
        }
        let Some(first) = first else {
            dev_err!(
                self.dev,
                "rsdma: unmap_sg of a list that holds no DMA segment"
            );
            return;
        };
        let n = u32::try_from(sg.len()).unwrap_or(u32::MAX);
        let m = self
            .debug
            .record(first, sg_bytes(sg), MapKind::Sg, dir, attrs, n);
        if !self.debug.unmapped(&self.dev, m) {
            return;
        }
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            for e in sg.iter() {
                self.sync_for_cpu_phys(e.phys(), e.length() as usize, dir);
            }
        }
        self.iommu.unmap_sg(first, end);
        Stats::count(&self.debug.stats.sg_unmaps);
    }

    fn map_resource(
        &self,
        _dev: &Device,
        phys: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<u64> {
        let prot = prot_for(dir, false, attrs).union(Prot::MMIO);
        let addr = self
            .iommu
            .map_range(phys, size, prot, self.dev.dma_mask())?;
        Stats::count(&self.debug.stats.maps);
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Resource, dir, attrs, 0);
        self.debug.mapped(&self.dev, m);
        Ok(addr)
    }

    fn unmap_resource(&self, _dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs) {
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Resource, dir, attrs, 0);
        if !self.debug.unmapped(&self.dev, m) {
            return;
        }
        self.iommu.unmap_range(addr, size);
        Stats::count(&self.debug.stats.unmaps);
    }

    fn sync_single_for_cpu(&self, _dev: &Device, addr: u64, size: usize, dir: Direction) {
        self.sync_single(addr, size, dir, Owner::Cpu);
    }

    fn sync_single_for_device(&self, _dev: &Device, addr: u64, size: usize, dir: Direction) {
        self.sync_single(addr, size, dir, Owner::Device);
    }

    fn sync_sg_for_cpu(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction) {
        self.sync_sg(sg, dir, Owner::Cpu);
    }

    fn sync_sg_for_device(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction) {
        self.sync_sg(sg, dir, Owner::Device);
    }

    fn alloc(&self, _dev: &Device, size: usize, gfp: u32, attrs: Attrs) -> Result<Coherent> {
        let prot = prot_for(Direction::Bidirectional, self.coherent, attrs);
        let b = self.alloc_buffer(size, gfp, prot).inspect_err(|e| {
            if !attrs.contains(Attrs::NO_WARN) {
                dev_warn!(
                    self.dev,
                    "rsdma: coherent allocation of {} bytes failed: {:?}",
                    size,
                    e
                );
            }
        })?;
        if !self.coherent {
            // No dirty line may be written back over what the device puts
            // in the buffer later.
            crate::cache::run(
                crate::rsdma_core::cache::CacheOp::CleanInvalidate,
                b.phys,
                b.mapped,
            );
        }
        Stats::count(&self.debug.stats.allocs);
        let m = self.coherent_record(b.dma, size, b.cpu, attrs);
        self.debug.mapped(&self.dev, m);
        Ok(Coherent {
            cpu: b.cpu,
            dma: b.dma,
        })
    }

    fn free(&self, _dev: &Device, size: usize, cpu: usize, dma: u64, attrs: Attrs) {
        let m = self.coherent_record(dma, size, cpu, attrs);
        self.debug.unmapped(&self.dev, m);
        if self.free_buffer(size, Some(cpu), dma, "free") {
            Stats::count(&self.debug.stats.frees);
        }
    }

    fn mmap(
        &self,
        _dev: &Device,
        vma: &Vma,
        cpu: usize,
        dma: u64,
        size: usize,
        _attrs: Attrs,
    ) -> Result {
        let (phys, bsize) = self.buffer(dma, cpu)?;
        let off = vma.pgoff().checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
        let buf_len = size
            .min(bsize)
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(EINVAL)?;
        if off.checked_add(vma.len()).map_or(true, |end| end > buf_len) {
            dev_err!(
                self.dev,
                "rsdma: mmap of {} bytes at offset {} exceeds the {}-byte buffer",
                vma.len(),
                off,
                buf_len
            );
            return Err(EINVAL);
        }
        vma.remap_phys(phys + off as u64)
    }

    fn get_sgtable(
        &self,
        _dev: &Device,
        sgt: &SgTableOut,
        cpu: usize,
        dma: u64,
        size: usize,
        _attrs: Attrs,
    ) -> Result {
        let (phys, bsize) = self.buffer(dma, cpu)?;
        if size > bsize {
            return Err(EINVAL);
        }
        sgt.set_single(phys, size)
    }

    fn alloc_pages(
        &self,
        _dev: &Device,
        size: usize,
        dir: Direction,
        gfp: u32,
    ) -> Result<(u64, u64)> {
        let prot = prot_for(dir, self.coherent, Attrs::empty());
        let b = self.alloc_buffer(size, gfp, prot)?;
        Stats::count(&self.debug.stats.allocs);
        Ok((b.phys, b.dma))
    }

    fn free_pages(&self, _dev: &Device, size: usize, _phys: u64, dma: u64, _dir: Direction) {
        if self.free_buffer(size, None, dma, "free_pages") {
            Stats::count(&self.debug.stats.frees);
        }
    }

    fn dma_supported(&self, _dev: &Device, mask: u64) -> bool {
        // The IOVA space needs room for at least 1 MiB under the mask.
        mask >= 0xf_ffff
    }

    fn required_mask(&self, _dev: &Device) -> u64 {
        // IOVAs come from under the device's own mask, 32-bit ones first.
        u64::from(u32::MAX).min(self.iommu.aperture_end())
    }

    fn max_mapping_size(&self, _dev: &Device) -> usize {
        usize::MAX
    }

    fn merge_boundary(&self, _dev: &Device) -> u64 {
        self.iommu.granule() - 1
    }
}
