// SPDX-License-Identifier: GPL-2.0

//! The DMA operations of an attached device: one short function per op of
//! `struct dma_map_ops`.  Each reads the same way: the route and its backend
//! (`route.rs`, with the cache maintenance the route needs), then the
//! bookkeeping (counters, tracker).

use crate::coherent::BufferRequest;
use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::kapi::device::Device;
use crate::kapi::dma_ops::{Coherent, Lent, Operations, SgTableOut, Vma, DMA_MAPPING_ERROR};
use crate::kapi::iommu::Prot;
use crate::kapi::scatterlist::SgList;
use crate::kapi::time;
use crate::profile::{self, Step};
use crate::route::{prot_for, Owner};
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::rsdma_core::pages::Purpose;
use crate::rsdma_core::sg::SgLimits;
use crate::rsdma_core::tracker::{MapKind, Mapping};
use crate::{bounce, dev_err};
use kernel::prelude::*;

/// The sum of the lengths of `sg`'s entries.
fn sg_bytes(sg: &SgList<'_>) -> u64 {
    sg.iter().map(|e| u64::from(e.length())).sum()
}

/// The entry count of `sg`, for the tracker.
fn sg_nents(sg: &SgList<'_>) -> u32 {
    u32::try_from(sg.len()).unwrap_or(u32::MAX)
}

impl RsdmaDev {
    /// The tracker record of a coherent buffer.
    pub(crate) fn coherent_record(
        &self,
        dma: u64,
        size: usize,
        cpu: usize,
        attrs: Attrs,
    ) -> Mapping {
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

    /// Maps `sg` entry by entry, each by its own route; on failure undoes
    /// the entries already mapped.
    fn map_sg_entries(&self, sg: &SgList<'_>, dir: Direction, attrs: Attrs) -> Result<usize> {
        let cpu = time::cpu_hint();
        let mut done = 0usize;
        let mut r = Ok(());
        for e in sg.iter() {
            let len = e.length();
            r = e
                .lend()
                .ok_or(EINVAL)
                .and_then(|mem| self.map_one(mem, dir, attrs, cpu))
                .map(|addr| e.set_dma(addr, len));
            if r.is_err() {
                break;
            }
            done += 1;
        }
        if let Err(err) = r {
            for e in sg.iter().take(done) {
                self.unmap_one(
                    e.dma_address(),
                    e.dma_len() as usize,
                    dir,
                    Attrs::SKIP_CPU_SYNC,
                    cpu,
                );
            }
            return Err(err);
        }
        // Past the last segment, no DMA length.
        for e in sg.iter().skip(done) {
            e.set_dma(DMA_MAPPING_ERROR, 0);
        }
        Ok(done)
    }

    /// Maps `sg` at one IOVA range, merged within the device's limits.
    fn map_sg_iova(&self, sg: &SgList<'_>, dir: Direction, attrs: Attrs) -> Result<usize> {
        let iommu = self.iommu()?;
        let mut segs = KVec::with_capacity(sg.len(), GFP_ATOMIC)?;
        for e in sg.iter() {
            segs.push((e.phys(), e.length()), GFP_ATOMIC)?;
        }
        let limits = SgLimits {
            max_seg_size: self.dev.max_seg_size(),
            seg_boundary_mask: self.dev.seg_boundary(),
            granule_shift: iommu.granule().trailing_zeros(),
        };
        let prot = prot_for(dir, self.coherent, attrs);
        let mapped = iommu.map_sg(sg, &segs, &limits, prot, self.dma_mask())?;
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            for &(p, l) in segs.iter() {
                self.sync_for_device_phys(p, l as usize, dir);
            }
        }
        Ok(mapped.segments)
    }

    /// Unmaps an sg list [`RsdmaDev::map_sg_iova`] mapped.
    fn unmap_sg_iova(&self, sg: &SgList<'_>, dir: Direction, attrs: Attrs) {
        let mut first = None;
        let mut end = 0u64;
        for e in sg.iter().filter(|e| e.dma_len() != 0) {
            first.get_or_insert(e.dma_address());
            end = e.dma_address().saturating_add(u64::from(e.dma_len()));
        }
        let (Some(first), Ok(iommu)) = (first, self.iommu()) else {
            return;
        };
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            for e in sg.iter() {
                self.sync_for_cpu_phys(e.phys(), e.length() as usize, dir);
            }
        }
        iommu.unmap_sg(first, end);
    }

    /// Hands `size` bytes at `addr` to `to` (`dma_sync_single_*`).
    fn sync_single(&self, addr: u64, size: usize, dir: Direction, to: Owner) {
        Stats::count(&self.debug.stats.here().syncs);
        self.debug
            .synced(&self.dev, addr, size as u64, dir, None, to == Owner::Cpu);
        self.sync_one(addr, size, dir, to);
    }

    /// Hands a mapped sg list to `to` (`dma_sync_sg_*`).
    fn sync_sg(&self, sg: &SgList<'_>, dir: Direction, to: Owner) {
        Stats::count(&self.debug.stats.here().syncs);
        let Some(first) = sg.iter().next() else {
            return;
        };
        if self.debug.tracking() {
            let (addr, bytes) = (first.dma_address(), sg_bytes(sg));
            self.debug.synced(
                &self.dev,
                addr,
                bytes,
                dir,
                Some(sg_nents(sg)),
                to == Owner::Cpu,
            );
        }
        if self.sg_per_entry() {
            for e in sg.iter().filter(|e| e.dma_len() != 0) {
                self.sync_one(e.dma_address(), e.dma_len() as usize, dir, to);
            }
            return;
        }
        // At one IOVA range nothing is bounced: only a device that does
        // not snoop the caches needs work.
        if self.coherent {
            return;
        }
        for e in sg.iter() {
            match to {
                Owner::Cpu => self.sync_for_cpu_phys(e.phys(), e.length() as usize, dir),
                Owner::Device => self.sync_for_device_phys(e.phys(), e.length() as usize, dir),
            }
        }
    }
}

#[vtable]
impl Operations for RsdmaDev {
    fn map_page(&self, _dev: &Device, mem: Lent, dir: Direction, attrs: Attrs) -> Result<u64> {
        let _op = profile::start(Step::Map);
        // The CPU, read once: its counters and IOVA cache serve the map.
        let cpu = time::cpu_hint();
        let size = mem.len();
        let addr = self.map_one(mem, dir, attrs, cpu)?;
        let _book = profile::start(Step::MapBookkeeping);
        Stats::count(&self.debug.stats.on(cpu).maps);
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Page, dir, attrs, 0);
        self.debug.mapped(&self.dev, m);
        Ok(addr)
    }

    fn unmap_page(&self, _dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs) {
        let _op = profile::start(Step::Unmap);
        let book = profile::start(Step::UnmapBookkeeping);
        let m = self
            .debug
            .record(addr, size as u64, MapKind::Page, dir, attrs, 0);
        if !self.debug.unmapped(&self.dev, m) {
            return;
        }
        book.end();
        let cpu = time::cpu_hint();
        self.unmap_one(addr, size, dir, attrs, cpu);
        Stats::count(&self.debug.stats.on(cpu).unmaps);
    }

    fn map_sg(
        &self,
        _dev: &Device,
        sg: &SgList<'_>,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<usize> {
        let segments = if self.sg_per_entry() {
            self.map_sg_entries(sg, dir, attrs)?
        } else {
            self.map_sg_iova(sg, dir, attrs)?
        };
        Stats::count(&self.debug.stats.here().sg_maps);
        let first = sg.iter().next().map_or(0, |e| e.dma_address());
        let m = self
            .debug
            .record(first, sg_bytes(sg), MapKind::Sg, dir, attrs, sg_nents(sg));
        self.debug.mapped(&self.dev, m);
        Ok(segments)
    }

    fn unmap_sg(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction, attrs: Attrs) {
        let Some(first) = sg
            .iter()
            .find(|e| e.dma_len() != 0)
            .map(|e| e.dma_address())
        else {
            dev_err!(
                self.dev,
                "rsdma: unmap_sg of a list that holds no DMA segment"
            );
            return;
        };
        let m = self
            .debug
            .record(first, sg_bytes(sg), MapKind::Sg, dir, attrs, sg_nents(sg));
        if !self.debug.unmapped(&self.dev, m) {
            return;
        }
        if self.sg_per_entry() {
            let cpu = time::cpu_hint();
            for e in sg.iter().filter(|e| e.dma_len() != 0) {
                self.unmap_one(e.dma_address(), e.dma_len() as usize, dir, attrs, cpu);
            }
        } else {
            self.unmap_sg_iova(sg, dir, attrs);
        }
        Stats::count(&self.debug.stats.here().sg_unmaps);
    }

    fn map_resource(
        &self,
        _dev: &Device,
        phys: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<u64> {
        let addr = match self.iommu.as_ref() {
            Some(iommu) => {
                let prot = prot_for(dir, false, attrs).union(Prot::MMIO);
                iommu.map_range(phys, size, prot, self.dma_mask(), time::cpu_hint())?
            }
            // MMIO is never bounced: the device reaches it or the map fails.
            None => {
                let last = phys.checked_add(size as u64).and_then(|e| e.checked_sub(1));
                match last {
                    Some(last) if size != 0 && last <= self.dma_mask() => phys,
                    _ => {
                        dev_err!(
                            self.dev,
                            "rsdma: resource {:#x}+{:#x} is out of the device's reach",
                            phys,
                            size
                        );
                        return Err(EINVAL);
                    }
                }
            }
        };
        Stats::count(&self.debug.stats.here().maps);
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
        if let Some(iommu) = self.iommu.as_ref() {
            iommu.unmap_range(addr, size, time::cpu_hint());
        }
        Stats::count(&self.debug.stats.here().unmaps);
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
        // Declared memory first (`declared.rs`); then the normal path,
        // unless a declared region is exclusive.
        if let Some(c) = self.alloc_declared(size, attrs)? {
            return Ok(c);
        }
        let b = self.alloc_buffer(&BufferRequest {
            size,
            gfp,
            attrs,
            purpose: Purpose::Coherent,
            prot: prot_for(Direction::Bidirectional, self.coherent, attrs),
        })?;
        Stats::count(&self.debug.stats.here().allocs);
        let m = self.coherent_record(b.dma, size, b.cpu, attrs);
        self.debug.mapped(&self.dev, m);
        Ok(Coherent {
            cpu: b.cpu,
            dma: b.dma,
        })
    }

    fn free(&self, _dev: &Device, size: usize, cpu: usize, dma: u64, attrs: Attrs) {
        if self.free_declared(size, cpu, dma, attrs) {
            return;
        }
        let m = self.coherent_record(dma, size, cpu, attrs);
        self.debug.unmapped(&self.dev, m);
        if self.free_buffer(size, Some(cpu), dma, "free") {
            Stats::count(&self.debug.stats.here().frees);
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
        if let Some(r) = self.mmap_declared(vma, cpu, dma, size) {
            return r;
        }
        self.mmap_buffer(vma, cpu, dma, size)
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
        if let Some(r) = self.sgtable_declared(dma) {
            return r;
        }
        self.buffer_sgtable(sgt, cpu, dma, size)
    }

    fn alloc_pages(
        &self,
        _dev: &Device,
        size: usize,
        dir: Direction,
        gfp: u32,
    ) -> Result<(u64, u64)> {
        let b = self.alloc_buffer(&BufferRequest {
            size,
            gfp,
            attrs: Attrs::empty(),
            purpose: Purpose::Pages,
            prot: prot_for(dir, self.coherent, Attrs::empty()),
        })?;
        Stats::count(&self.debug.stats.here().allocs);
        // Tracked as a streaming mapping, which the driver syncs.
        let m = self
            .debug
            .record(b.dma, size as u64, MapKind::Page, dir, Attrs::empty(), 0);
        self.debug.mapped(&self.dev, m);
        Ok((b.phys, b.dma))
    }

    fn free_pages(&self, _dev: &Device, size: usize, _phys: u64, dma: u64, dir: Direction) {
        let m = self
            .debug
            .record(dma, size as u64, MapKind::Page, dir, Attrs::empty(), 0);
        self.debug.unmapped(&self.dev, m);
        if self.free_buffer(size, None, dma, "free_pages") {
            Stats::count(&self.debug.stats.here().frees);
        }
    }

    fn dma_supported(&self, _dev: &Device, mask: u64) -> bool {
        match (&self.iommu, &self.bounce) {
            // The IOVA space needs room for at least 1 MiB under the mask.
            (Some(_), _) => mask >= 0xf_ffff,
            // Whatever the mask misses is bounced through pools under it.
            (None, Some(b)) => b.below(mask),
            (None, None) => false,
        }
    }

    fn required_mask(&self, _dev: &Device) -> u64 {
        match &self.iommu {
            // IOVAs come from under the device's own mask, 32-bit ones first.
            Some(iommu) => u64::from(u32::MAX).min(iommu.aperture_end()),
            // Memory may be anywhere: a narrower mask means bouncing.
            None => u64::MAX,
        }
    }

    fn max_mapping_size(&self, _dev: &Device) -> usize {
        if self.bounce.is_some() {
            bounce::MAX_MAPPING
        } else {
            usize::MAX
        }
    }

    fn merge_boundary(&self, _dev: &Device) -> u64 {
        match &self.iommu {
            Some(iommu) if !self.sg_per_entry() => iommu.granule() - 1,
            _ => 0,
        }
    }
}
