// SPDX-License-Identifier: GPL-2.0

//! Where each mapping of a device goes.  A new mapping takes the route
//! rsdma-core's table decides (`core/src/route.rs`): IOVA, IOVA over a
//! bounce slot, direct, or bounce.  Unmap and sync never decide again: they
//! find the route from the mapping itself, from the physical address behind
//! its IOVA or from the bounce pools' address ranges.

use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::dev_err;
use crate::kapi::dma_ops::Lent;
use crate::kapi::iommu::Prot;
use crate::kapi::page::PAGE_SHIFT;
use crate::profile::{self, Step};
use crate::rsdma_core::bounce::BounceOp;
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::rsdma_core::route::{self, DeviceFacts, MapRequest, Route};
use kernel::prelude::*;

/// The route an existing mapping took, found from its device address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Mapped at an IOVA.
    Iova,
    /// Bounce slots at `phys`, mapped at an IOVA.
    IovaBounce {
        /// The bounce address (physical) behind the IOVA.
        phys: u64,
    },
    /// The device's address is the memory's bus address.
    Direct,
    /// The device's address is in a bounce pool.
    Bounce,
}

impl RsdmaDev {
    /// What the route table needs to know about the device.
    pub(crate) fn facts(&self) -> DeviceFacts {
        DeviceFacts {
            iommu: self.iommu.is_some(),
            untrusted: self.untrusted,
            coherent: self.coherent,
            dma_mask: self.dma_mask(),
            granule_shift: self
                .iommu
                .as_ref()
                .map_or(PAGE_SHIFT, |i| i.granule().trailing_zeros()),
        }
    }

    /// The route of a new mapping of `size` bytes at `phys` on the device
    /// `facts` describes.
    pub(crate) fn route(
        &self,
        facts: &DeviceFacts,
        phys: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<Route> {
        // Without an IOMMU the mask limits the bus address.
        let addr = if self.iommu.is_some() {
            phys
        } else {
            self.dev.phys_to_dma(phys)
        };
        let req = MapRequest {
            phys: addr,
            size: size as u64,
            dir,
            attrs,
        };
        route::map(facts, &req).map_err(|e| {
            dev_err!(
                self.dev,
                "rsdma: cannot map {} bytes at {:#x} ({}): {}",
                size,
                phys,
                dir,
                e
            );
            EINVAL
        })
    }

    /// The route the mapping at device address `addr` took.
    pub(crate) fn route_of(&self, addr: u64) -> Found {
        match (&self.iommu, &self.bounce) {
            (Some(iommu), Some(bounce)) => {
                let phys = iommu.iova_to_phys(addr);
                if phys != 0 && bounce.contains(phys) {
                    Found::IovaBounce { phys }
                } else {
                    Found::Iova
                }
            }
            (Some(_), None) => Found::Iova,
            (None, Some(bounce)) if bounce.contains(addr) => Found::Bounce,
            (None, _) => Found::Direct,
        }
    }
}

/// Who a sync hands a buffer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// `sync_*_for_cpu`, unmap.
    Cpu,
    /// `sync_*_for_device`, map.
    Device,
}

/// The mapping rights for `dir`.
pub(crate) fn prot_for(dir: Direction, coherent: bool, attrs: Attrs) -> Prot {
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

impl RsdmaDev {
    /// Whether sg lists are mapped entry by entry (each may take its own
    /// route) rather than at one IOVA range.
    pub(crate) fn sg_per_entry(&self) -> bool {
        self.iommu.is_none() || self.untrusted
    }

    /// Maps `mem` by its route, from `cpu` (the CPU the caller runs on, a
    /// hint: its IOVA cache serves the mapping); returns the device's
    /// address of it.
    pub(crate) fn map_one(
        &self,
        mem: Lent,
        dir: Direction,
        attrs: Attrs,
        cpu: usize,
    ) -> Result<u64> {
        let (phys, size) = (mem.phys(), mem.len());
        let route = profile::start(Step::MapRoute);
        // The device's facts (its DMA mask among them) are read once a map.
        let facts = self.facts();
        let r = self.route(&facts, phys, size, dir, attrs)?;
        route.end();
        match r {
            Route::Iova => {
                let prot = prot_for(dir, self.coherent, attrs);
                let addr = self
                    .iommu()?
                    .map_range(phys, size, prot, facts.dma_mask, cpu)?;
                let _cache = profile::start(Step::MapCache);
                self.sync_for_map(phys, size, dir, attrs);
                Ok(addr)
            }
            Route::Direct => {
                self.sync_for_map(phys, size, dir, attrs);
                Stats::count(&self.debug.stats.on(cpu).direct_maps);
                Ok(self.dev.phys_to_dma(phys))
            }
            Route::Bounce => {
                let b = self.bounce()?.map(mem, dir, attrs, 0)?;
                Stats::count(&self.debug.stats.on(cpu).bounce_maps);
                Ok(b.addr)
            }
            Route::IovaBounce => {
                let iommu = self.iommu()?;
                let bounce = self.bounce()?;
                let b = bounce.map(mem, dir, attrs, iommu.granule() - 1)?;
                let prot = prot_for(dir, self.coherent, attrs);
                match iommu.map_range(b.span_phys, b.span_len, prot, facts.dma_mask, cpu) {
                    Ok(iova) => {
                        Stats::count(&self.debug.stats.on(cpu).bounce_maps);
                        Ok(iova + (b.addr - b.span_start))
                    }
                    Err(e) => {
                        let _ = bounce.unmap(b.addr, dir, Attrs::SKIP_CPU_SYNC);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Cache maintenance when memory is mapped in place (not bounced).
    fn sync_for_map(&self, phys: u64, size: usize, dir: Direction, attrs: Attrs) {
        if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
            self.sync_for_device_phys(phys, size, dir);
        }
    }

    /// Undoes [`RsdmaDev::map_one`] for the mapping of `size` bytes at
    /// `addr`: the CPU gets the memory back (copied back from a bounce
    /// slot, or cache maintenance), the device loses access.  `cpu` is the
    /// CPU the caller runs on (a hint).
    pub(crate) fn unmap_one(
        &self,
        addr: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
        cpu: usize,
    ) {
        let route = profile::start(Step::UnmapRoute);
        let found = self.route_of(addr);
        route.end();
        let r = match found {
            Found::Iova => self.iommu().map(|iommu| {
                if !self.coherent && !attrs.contains(Attrs::SKIP_CPU_SYNC) {
                    let lookup = profile::start(Step::UnmapLookup);
                    let phys = iommu.iova_to_phys(addr);
                    lookup.end();
                    if phys != 0 {
                        let _cache = profile::start(Step::UnmapCache);
                        self.sync_for_cpu_phys(phys, size, dir);
                    }
                }
                iommu.unmap_range(addr, size, cpu);
            }),
            Found::IovaBounce { phys } => self.iommu().and_then(|iommu| {
                // The device loses access before the slots are reused.
                iommu.unmap_range(addr, size, cpu);
                self.bounce()?.unmap(phys, dir, attrs)
            }),
            Found::Direct => {
                if !attrs.contains(Attrs::SKIP_CPU_SYNC) {
                    self.sync_for_cpu_phys(self.dev.dma_to_phys(addr), size, dir);
                }
                Ok(())
            }
            Found::Bounce => self.bounce().and_then(|b| b.unmap(addr, dir, attrs)),
        };
        if let Err(e) = r {
            dev_err!(
                self.dev,
                "rsdma: unmap of {:#x}+{:#x} failed: {:?}",
                addr,
                size,
                e
            );
        }
    }

    /// Hands `size` bytes at device address `addr` (inside a mapping) to
    /// `to`.
    pub(crate) fn sync_one(&self, addr: u64, size: usize, dir: Direction, to: Owner) {
        let op = match to {
            Owner::Cpu => BounceOp::SyncForCpu,
            Owner::Device => BounceOp::SyncForDevice,
        };
        let phys = match self.route_of(addr) {
            Found::IovaBounce { phys } => {
                let _ = self.bounce().and_then(|b| b.sync(phys, size, dir, op));
                return;
            }
            Found::Bounce => {
                let _ = self.bounce().and_then(|b| b.sync(addr, size, dir, op));
                return;
            }
            // A walk of the page table only when there is cache work to do.
            Found::Iova if self.coherent => return,
            Found::Iova => self.iommu.as_ref().map_or(0, |i| i.iova_to_phys(addr)),
            Found::Direct => self.dev.dma_to_phys(addr),
        };
        if phys != 0 {
            match to {
                Owner::Cpu => self.sync_for_cpu_phys(phys, size, dir),
                Owner::Device => self.sync_for_device_phys(phys, size, dir),
            }
        }
    }
}
