// SPDX-License-Identifier: GPL-2.0

//! Declared coherent memory (`rsdma_declare_coherent_memory`): regions that
//! belong to a device (on-chip SRAM, a carve-out the device tree reserves),
//! each run by its own pool (rsdma-core's `CoherentPool`) and served to
//! `dma_alloc_attrs` before system memory: to the device, and to its child
//! devices when a region says so.
//!
//! The rules of a declaration are rsdma-core's (`core/src/declared.rs`).
//! This file maps each region for the CPU (as memory, or for I/O accessors
//! only), maps it into the device's IOMMU domain at its device address when
//! an IOMMU translates the device, and keeps every allocation under the
//! device address it was handed out at until it is freed.

use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::kapi::dma_ops::{self, Coherent, UserCaching, Vma};
use crate::kapi::iommu::Prot;
use crate::kapi::memremap::{Caching, IoRemap, MemRemap, PhysRange};
use crate::kapi::mm::Ram;
use crate::kapi::page::{PAGE_SHIFT, PAGE_SIZE};
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::time;
use crate::new_irq_spinlock;
use crate::route::prot_for;
use crate::rsdma_core::coherent::{storage_words, CoherentAlloc, CoherentPool};
use crate::rsdma_core::declared::{self as rules, CpuMapping, Errno, Request, Span, MAX_REGIONS};
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::{dev_err, dev_info, dev_warn};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::{Arc, Mutex};

/// The bitmap of a region's pool.
pub(crate) struct PoolBits(KVVec<u64>);

impl AsRef<[u64]> for PoolBits {
    fn as_ref(&self) -> &[u64] {
        &self.0
    }
}

impl AsMut<[u64]> for PoolBits {
    fn as_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

/// How the CPU reaches a region.
enum CpuMap {
    /// As memory: cached for a cache-coherent device, write-combined for
    /// one that does not snoop the caches.
    Memory(MemRemap, Caching),
    /// Through I/O accessors only.
    Io(IoRemap),
}

impl CpuMap {
    /// The CPU address handed out for the byte at `off`.
    fn addr(&self, off: u64) -> usize {
        let base = match self {
            CpuMap::Memory(m, _) => m.as_ptr() as usize,
            CpuMap::Io(io) => io.as_ptr() as usize,
        };
        // `off` lies inside the region (the pool's answer), whose mapping
        // fits in the address space.
        base.wrapping_add(off as usize)
    }

    /// Sets `len` bytes at `off` to zero.
    fn zero(&self, off: u64, len: u64) -> Result {
        let (off, len) = (usize::try_from(off)?, usize::try_from(len)?);
        match self {
            CpuMap::Memory(m, _) => m.zero(off, len),
            CpuMap::Io(io) => io.fill(off, len, 0),
        }
    }

    /// The cache policy of a user mapping of the region.
    fn user_caching(&self) -> UserCaching {
        match self {
            CpuMap::Memory(_, Caching::WriteBack) => UserCaching::Cached,
            CpuMap::Memory(_, Caching::WriteCombine) => UserCaching::WriteCombine,
            CpuMap::Io(_) => UserCaching::Device,
        }
    }
}

/// A region's pool, and whether the region was released (no allocation is
/// served from it any more, even to a caller that still holds it).
struct Pool {
    pool: CoherentPool<PoolBits>,
    retired: bool,
}

/// One declared region.
#[pin_data]
pub(crate) struct Region {
    rule: rules::Region,
    cpu: CpuMap,
    /// Whether it is mapped into its device's IOMMU domain at its device
    /// address.
    iommu_mapped: bool,
    #[pin]
    pool: IrqSpinLock<Pool>,
}

impl Region {
    /// An allocation of `size` bytes ending at or below the device address
    /// `limit`, unless the region is full or released.
    fn take(&self, size: usize, limit: u64) -> Option<CoherentAlloc> {
        let mut p = self.pool.lock();
        if p.retired {
            return None;
        }
        p.pool.alloc_below(size as u64, limit).ok()
    }

    /// Gives back the allocation of `size` bytes the pool placed at
    /// `pool_addr`.
    fn give_back(&self, pool_addr: u64, size: usize) {
        // Only allocations the pool handed out come back here, so a
        // refusal would be rsdma's own bug: the pages then stay used.
        let _ = self.pool.lock().pool.free(pool_addr, size as u64);
    }

    /// The offset in the region of the device address `pool_addr`.
    fn offset(&self, pool_addr: u64) -> u64 {
        pool_addr.saturating_sub(self.rule.span.dev_addr)
    }
}

/// An allocation a device got from a declared region, its own or an
/// ancestor's.
struct Live {
    region: Arc<Region>,
    /// Where the pool placed it (a device address of the region's owner).
    pool_addr: u64,
    /// Bytes the driver asked for.
    size: usize,
    /// Bytes of the region it holds.
    bytes: u64,
    /// The CPU address `alloc` returned.
    cpu: usize,
    /// IOVA bytes mapped for it in this device's own domain (a child
    /// behind an IOMMU), 0 otherwise.
    mapped: usize,
}

/// A region's figures, for debugfs.
pub(crate) struct RegionStats {
    pub(crate) span: Span,
    pub(crate) cpu: CpuMapping,
    pub(crate) exclusive: bool,
    pub(crate) children: bool,
    pub(crate) used: u64,
    pub(crate) high_water: u64,
    pub(crate) failures: u64,
}

/// The declared memory of one device.
#[pin_data]
pub(crate) struct Declared {
    /// Serialises declarations and releases, which sleep.
    #[pin]
    changes: Mutex<()>,
    /// The regions, in the order they were declared (the order they serve
    /// in).
    #[pin]
    regions: IrqSpinLock<[Option<Arc<Region>>; MAX_REGIONS]>,
    /// The device's allocations from declared memory, by the device
    /// address handed out.
    #[pin]
    live: IrqSpinLock<RBTree<u64, Live>>,
}

impl Declared {
    /// No regions.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            changes <- new_mutex!((), "Declared::changes"),
            regions <- new_irq_spinlock!([const { None }; MAX_REGIONS], "Declared::regions"),
            live <- new_irq_spinlock!(RBTree::new(), "Declared::live"),
        })
    }

    /// The regions as they are now.
    fn snapshot(&self) -> [Option<Arc<Region>>; MAX_REGIONS] {
        self.regions.lock().clone()
    }

    /// An allocation of `size` bytes under the device address `limit` from
    /// the first region (of those that include children, when
    /// `children_only`) with room, and whether a region asked was
    /// exclusive.
    ///
    /// The regions stay locked while they are asked: a region is only ever
    /// dropped in process context, by its release (or at teardown), never
    /// by an allocation, which may run in atomic context.  The reference
    /// returned does not keep it alive longer: the allocation it holds
    /// keeps the release from succeeding until it is freed.
    fn take(
        &self,
        size: usize,
        limit: u64,
        children_only: bool,
    ) -> (Option<(Arc<Region>, CoherentAlloc)>, bool) {
        let regions = self.regions.lock();
        let mut exclusive = false;
        for r in regions
            .iter()
            .flatten()
            .filter(|r| !children_only || r.rule.children)
        {
            exclusive |= r.rule.exclusive;
            if let Some(a) = r.take(size, limit) {
                return (Some((r.clone(), a)), exclusive);
            }
        }
        (None, exclusive)
    }

    /// Calls `f` with the figures of each region.
    pub(crate) fn for_each_region(&self, mut f: impl FnMut(&RegionStats)) {
        for r in self.snapshot().iter().flatten() {
            let (used, high_water, failures) = {
                let p = r.pool.lock();
                (
                    p.pool.used_pages() as u64,
                    p.pool.high_water_pages() as u64,
                    p.pool.failures(),
                )
            };
            f(&RegionStats {
                span: r.rule.span,
                cpu: r.rule.cpu,
                exclusive: r.rule.exclusive,
                children: r.rule.children,
                used: used << PAGE_SHIFT,
                high_water: high_water << PAGE_SHIFT,
                failures,
            });
        }
    }

    /// The device's live allocations from declared memory, and their bytes.
    pub(crate) fn live(&self) -> (usize, u64) {
        let t = self.live.lock();
        t.iter()
            .fold((0, 0), |(n, b), (_, l)| (n + 1, b.saturating_add(l.bytes)))
    }
}

/// The kernel errno of a refusal.
fn errno(e: Errno) -> Error {
    match e {
        Errno::Invalid => EINVAL,
        Errno::Busy => EBUSY,
        Errno::Range => ERANGE,
        Errno::NoSpace => ENOSPC,
        Errno::NotFound => ENOENT,
    }
}

/// Whose region an allocation comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// The device's own: handed out at the region's device address.
    Own,
    /// An ancestor's: this device reaches it through its own translation.
    Ancestor,
}

impl RsdmaDev {
    /// Declares the memory `mem`, seen by the device at `dev_addr`, with
    /// the flags of `req` (`rsdma_declare_coherent_memory`).
    pub(crate) fn declare(&self, mem: &PhysRange, dev_addr: u64, mut req: Request) -> Result {
        req.span = Span {
            phys: mem.phys(),
            dev_addr,
            size: mem.len(),
        };
        let s = req.span;
        let refuse = |why: &dyn core::fmt::Display| {
            dev_err!(
                self.dev,
                "rsdma: cannot declare {:#x}+{:#x} at device address {:#x}: {}",
                s.phys,
                s.size,
                s.dev_addr,
                why
            )
        };
        let _changes = self.declared.changes.lock();
        let have = self.declared.snapshot();
        let mut spans = [Span::default(); MAX_REGIONS];
        let mut n = 0;
        for (slot, r) in spans.iter_mut().zip(have.iter().flatten()) {
            *slot = r.rule.span;
            n += 1;
        }
        // Behind an IOMMU the region is mapped in whole IOMMU granules.
        let unit = self
            .iommu
            .as_deref()
            .map_or(PAGE_SIZE as u64, |i| i.granule().max(PAGE_SIZE as u64));
        let rule = rules::check(&req, unit, self.dev.coherent_dma_mask(), &spans[..n])
            .inspect_err(|e| refuse(e))
            .map_err(|e| errno(e.errno()))?;
        if mem.ram() != Ram::None {
            refuse(&"it is System RAM (reserve it no-map, or declare memory on the device's bus)");
            return Err(EINVAL);
        }
        let cpu = match rule.cpu {
            CpuMapping::Memory => {
                let caching = if self.coherent {
                    Caching::WriteBack
                } else {
                    Caching::WriteCombine
                };
                MemRemap::new(mem, caching).map(|m| CpuMap::Memory(m, caching))
            }
            CpuMapping::Io => IoRemap::new(mem).map(CpuMap::Io),
        }
        .inspect_err(|e| refuse(&format_args!("cannot map it for the CPU ({:?})", e)))?;
        let pages = usize::try_from(s.size >> PAGE_SHIFT)?;
        let bits = KVVec::from_elem(0u64, storage_words(pages), GFP_KERNEL)?;
        let pool = CoherentPool::new(
            s.phys,
            s.dev_addr,
            s.size,
            PAGE_SHIFT,
            rule.exclusive,
            PoolBits(bits),
        )
        .map_err(|e| {
            refuse(&e);
            EINVAL
        })?;
        let iommu = self.iommu.as_deref();
        if let Some(iommu) = iommu {
            let prot = match rule.cpu {
                CpuMapping::Memory => {
                    prot_for(Direction::Bidirectional, self.coherent, Attrs::empty())
                }
                CpuMapping::Io => Prot::READ.union(Prot::WRITE).union(Prot::MMIO),
            };
            // `map_fixed` names the cause when it refuses.
            iommu.map_fixed(s.dev_addr, s.phys, s.size, prot)?;
        }
        let region = Arc::pin_init(
            pin_init!(Region {
                rule,
                cpu,
                iommu_mapped: iommu.is_some(),
                pool <- new_irq_spinlock!(Pool { pool, retired: false }, "Region::pool"),
            }),
            GFP_KERNEL,
        );
        let region = match region {
            Ok(r) => r,
            Err(e) => {
                if let Some(iommu) = iommu {
                    iommu.unmap_fixed(s.dev_addr, s.size);
                }
                return Err(e);
            }
        };
        // `check` saw fewer than `MAX_REGIONS`, and changes are serialised:
        // there is a free slot.
        let unplaced = {
            let mut regions = self.declared.regions.lock();
            match regions.iter_mut().find(|r| r.is_none()) {
                Some(slot) => {
                    *slot = Some(region);
                    None
                }
                None => Some(region),
            }
        };
        // Dropped here, not under the lock: unmapping may sleep.
        if let Some(region) = unplaced {
            if let Some(iommu) = iommu {
                iommu.unmap_fixed(s.dev_addr, s.size);
            }
            drop(region);
            return Err(ENOSPC);
        }
        dev_info!(
            self.dev,
            "rsdma: declared {:#x}+{:#x} at device address {:#x} ({}{}{}{})",
            s.phys,
            s.size,
            s.dev_addr,
            if rule.cpu == CpuMapping::Io {
                "io"
            } else {
                "map"
            },
            if rule.exclusive { ", exclusive" } else { "" },
            if rule.children {
                ", includes children"
            } else {
                ""
            },
            if iommu.is_some() {
                ", IOMMU-mapped"
            } else {
                ""
            }
        );
        Ok(())
    }

    /// Releases the region declared at `phys`
    /// (`rsdma_release_declared_memory`).
    pub(crate) fn release_declared(&self, phys: u64) -> Result {
        let refuse = |e: rules::DeclareError| {
            dev_err!(
                self.dev,
                "rsdma: cannot release the declared region at {:#x}: {}",
                phys,
                e
            );
            errno(e.errno())
        };
        let _changes = self.declared.changes.lock();
        let Some(region) = self
            .declared
            .snapshot()
            .into_iter()
            .flatten()
            .find(|r| r.rule.span.phys == phys)
        else {
            return Err(refuse(rules::DeclareError::NotDeclared));
        };
        {
            let mut p = region.pool.lock();
            rules::check_release(p.pool.used_pages()).map_err(refuse)?;
            p.retired = true;
        }
        {
            let mut regions = self.declared.regions.lock();
            for slot in regions.iter_mut() {
                if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, &region)) {
                    *slot = None;
                }
            }
        }
        let s = region.rule.span;
        if region.iommu_mapped {
            if let Some(iommu) = self.iommu.as_deref() {
                iommu.unmap_fixed(s.dev_addr, s.size);
            }
        }
        dev_info!(
            self.dev,
            "rsdma: released the declared region {:#x}+{:#x}",
            s.phys,
            s.size
        );
        Ok(())
    }

    /// Serves `dma_alloc_attrs` from declared memory: the device's own
    /// regions in the order declared, then its ancestors' regions that
    /// include children.  `None` when none of them can, and the normal path
    /// may serve instead; `ENOMEM` when it may not (a region asked is
    /// exclusive).
    pub(crate) fn alloc_declared(&self, size: usize, attrs: Attrs) -> Result<Option<Coherent>> {
        if size == 0 {
            return Ok(None);
        }
        let (got, mut exclusive) = self
            .declared
            .take(size, self.dev.coherent_dma_mask(), false);
        if let Some((r, a)) = got {
            return self.hand_out(&r, a, size, attrs, Whose::Own);
        }
        let mut up = self.dev.parent();
        while let Some(p) = up {
            if let Some(owner) = dma_ops::installed_on::<RsdmaDev>(p) {
                // This device's mask is checked once the address it reaches
                // the memory at is known.
                let (got, excl) = owner.data.declared.take(size, u64::MAX, true);
                exclusive |= excl;
                if let Some((r, a)) = got {
                    if let Some(c) = self.hand_out(&r, a, size, attrs, Whose::Ancestor)? {
                        return Ok(Some(c));
                    }
                }
            }
            up = p.parent();
        }
        if rules::may_fall_back(exclusive) {
            return Ok(None);
        }
        if !attrs.contains(Attrs::NO_WARN) {
            dev_warn!(
                self.dev,
                "rsdma: no room for {} bytes in the device's declared memory, which is exclusive",
                size
            );
        }
        Err(ENOMEM)
    }

    /// Hands the allocation `a` of `region` to the driver: the device
    /// address for this device, zeroed memory, the record kept until the
    /// free.  `None` (after giving it back) when this device cannot reach
    /// an ancestor's memory under its coherent mask.
    fn hand_out(
        &self,
        region: &Arc<Region>,
        a: CoherentAlloc,
        size: usize,
        attrs: Attrs,
        whose: Whose,
    ) -> Result<Option<Coherent>> {
        let mask = self.dev.coherent_dma_mask();
        let bytes = usize::try_from(a.bytes)?;
        let (dma, mapped) = match (whose, self.iommu.as_deref()) {
            (Whose::Own, _) => (a.dev_addr, 0),
            (Whose::Ancestor, Some(iommu)) => {
                let prot = prot_for(Direction::Bidirectional, self.coherent, attrs);
                match iommu.map_range(a.phys, bytes, prot, mask, time::cpu_hint()) {
                    Ok(dma) => (dma, bytes),
                    Err(e) => {
                        region.give_back(a.dev_addr, size);
                        return Err(e);
                    }
                }
            }
            (Whose::Ancestor, None) => {
                let dma = self.dev.phys_to_dma(a.phys);
                if dma
                    .checked_add(a.bytes - 1)
                    .map_or(true, |last| last > mask)
                {
                    region.give_back(a.dev_addr, size);
                    return Ok(None);
                }
                (dma, 0)
            }
        };
        let off = region.offset(a.dev_addr);
        let cpu = region.cpu.addr(off);
        let live = Live {
            region: region.clone(),
            pool_addr: a.dev_addr,
            size,
            bytes: a.bytes,
            cpu,
            mapped,
        };
        let node = region
            .cpu
            .zero(off, a.bytes)
            .and_then(|()| RBTreeNode::new(dma, live, GFP_ATOMIC));
        let node = match node {
            Ok(n) => n,
            Err(e) => {
                if let Some(iommu) = self.iommu.as_deref().filter(|_| mapped != 0) {
                    iommu.unmap_range(dma, mapped, time::cpu_hint());
                }
                region.give_back(a.dev_addr, size);
                return Err(e);
            }
        };
        self.declared.live.lock().insert(node);
        Stats::count(&self.debug.stats.here().allocs);
        let m = self.coherent_record(dma, size, cpu, attrs);
        self.debug.mapped(&self.dev, m);
        Ok(Some(Coherent { cpu, dma }))
    }

    /// Frees an allocation from declared memory; `false` when `dma` is not
    /// one (the normal path frees it).
    pub(crate) fn free_declared(&self, size: usize, cpu: usize, dma: u64, attrs: Attrs) -> bool {
        let live = {
            let mut t = self.declared.live.lock();
            match t.get(&dma) {
                None => return false,
                Some(l) if l.size != size => {
                    dev_err!(
                        self.dev,
                        "rsdma: free of {} bytes at {:#x}, but {} were allocated",
                        size,
                        dma,
                        l.size
                    );
                    return true;
                }
                Some(l) if l.cpu != cpu => {
                    dev_err!(
                        self.dev,
                        "rsdma: free at {:#x} with the wrong CPU address",
                        dma
                    );
                    return true;
                }
                Some(_) => t.remove(&dma),
            }
        };
        let Some(l) = live else {
            return true;
        };
        let m = self.coherent_record(dma, size, cpu, attrs);
        self.debug.unmapped(&self.dev, m);
        // The device loses access before the memory goes back.
        if let Some(iommu) = self.iommu.as_deref().filter(|_| l.mapped != 0) {
            iommu.unmap_range(dma, l.mapped, time::cpu_hint());
            iommu.drain();
        }
        l.region.give_back(l.pool_addr, l.size);
        Stats::count(&self.debug.stats.here().frees);
        true
    }

    /// Maps an allocation from declared memory into a process
    /// (`dma_mmap_attrs`); `None` when `dma` is not one.
    pub(crate) fn mmap_declared(
        &self,
        vma: &Vma,
        cpu: usize,
        dma: u64,
        size: usize,
    ) -> Option<Result> {
        let (phys, bytes, caching) = {
            let t = self.declared.live.lock();
            let l = t.get(&dma)?;
            if l.cpu != cpu {
                dev_err!(
                    self.dev,
                    "rsdma: mmap of the buffer at {:#x} with the wrong CPU address",
                    dma
                );
                return Some(Err(EINVAL));
            }
            let off = l.region.offset(l.pool_addr);
            (
                l.region.rule.span.phys + off,
                l.bytes,
                l.region.cpu.user_caching(),
            )
        };
        let fits = vma.pgoff().checked_mul(PAGE_SIZE).and_then(|off| {
            let end = off.checked_add(vma.len())?;
            let len = (size as u64)
                .min(bytes)
                .checked_next_multiple_of(PAGE_SIZE as u64)?;
            (end as u64 <= len).then_some(off)
        });
        let Some(off) = fits else {
            dev_err!(
                self.dev,
                "rsdma: mmap of {} bytes at page {} exceeds the {}-byte buffer",
                vma.len(),
                vma.pgoff(),
                size
            );
            return Some(Err(EINVAL));
        };
        Some(vma.remap_phys_as(phys + off as u64, caching))
    }

    /// `get_sgtable` of an allocation from declared memory, which has no
    /// pages to share; `None` when `dma` is not one.
    pub(crate) fn sgtable_declared(&self, dma: u64) -> Option<Result> {
        self.declared.live.lock().get(&dma)?;
        dev_err!(
            self.dev,
            "rsdma: the buffer at {:#x} is declared memory, which has no pages to share",
            dma
        );
        Some(Err(ENXIO))
    }

    /// At teardown: warns about allocations the driver never freed (their
    /// regions stay mapped, as the driver may still use them) and drops the
    /// regions.
    pub(crate) fn abandon_declared(&self) {
        let live = core::mem::replace(&mut *self.declared.live.lock(), RBTree::new());
        let (mut n, mut bytes) = (0usize, 0u64);
        for (_, l) in live.iter() {
            n += 1;
            bytes = bytes.saturating_add(l.bytes);
        }
        if n > 0 {
            core::mem::forget(live);
            dev_warn!(
                self.dev,
                "rsdma: {} allocation(s) from declared memory ({} bytes) were never freed; their regions stay mapped",
                n,
                bytes
            );
        }
        let regions = core::mem::replace(
            &mut *self.declared.regions.lock(),
            [const { None }; MAX_REGIONS],
        );
        drop(regions);
    }
}
