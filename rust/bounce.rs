// SPDX-License-Identifier: GPL-2.0

//! Bounce buffers: slots of pool memory the device can reach, standing in
//! for memory it cannot (above its DMA mask, with no IOMMU) or must not see
//! whole (the rest of an IOMMU granule, for an untrusted device).
//!
//! A device gets its own pools.  Each pool is one physically contiguous
//! allocation placed where the device's mask reaches, managed by one
//! rsdma-core [`Area`] under its own lock.  At attach `bounce_kib` is split
//! into one pool per CPU ([`pool_plan`]: a CPU starts in its own pool, so
//! CPUs mapping at once do not meet on one lock); more pools of the same
//! size are added under pressure, outside any lock, up to
//! `bounce_max_pools`.  Pools are never taken away before the device is
//! detached, so a pool's address range, published once, identifies its
//! mappings without a lock.
//!
//! What is copied when is rsdma-core's table ([`copy_on`]): map copies the
//! original in for every direction, so a device that writes only part of a
//! buffer never exposes old pool data; unmap and sync copy only the range
//! concerned.  Each live mapping keeps the [`Lent`] memory it stands for.
//!
//! The pool lock covers the slot bookkeeping only.  Map reserves the slots
//! under it and copies after it is dropped; unmap copies back while the
//! slots are still reserved and takes the lock again to free them.  No
//! other mapping can reach reserved slots, so the copies need no lock, and
//! a copy of 64 KiB never holds up the other CPUs' mappings.

use crate::inject::{self, Point};
use crate::kapi::device::Device;
use crate::kapi::dma_ops::Lent;
use crate::kapi::page::{Pages, SharedPages, PAGE_SHIFT};
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::{bindings, time};
use crate::new_irq_spinlock;
use crate::rsdma_core::bounce::{
    copy_on, pool_plan, Area, BounceCopy, BounceGeometry, BounceOp, BounceRequest, BounceSlot,
};
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::{dev_err, params};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::ARef;

/// log2 of a slot: 2 KiB, as swiotlb.
const SLOT_SHIFT: u32 = 11;
/// Slots of the largest mapping (256 KiB).
const SEGMENT_SLOTS: usize = 128;
/// Shortest time between two "pool full" messages, in ms.
const FULL_MSG_MS: u32 = 5000;

/// The largest mapping a bounce pool takes.
pub(crate) const MAX_MAPPING: usize = SEGMENT_SLOTS << SLOT_SHIFT;

/// A pool's slot bookkeeping.
struct SlotTable(KVec<BounceSlot>);

impl AsRef<[BounceSlot]> for SlotTable {
    fn as_ref(&self) -> &[BounceSlot] {
        &self.0
    }
}

impl AsMut<[BounceSlot]> for SlotTable {
    fn as_mut(&mut self) -> &mut [BounceSlot] {
        &mut self.0
    }
}

/// One pool: its memory, its slots, and the memory each live mapping
/// stands for (at the mapping's first slot).
struct PoolState {
    /// Shared with the copies made outside the lock.
    mem: Arc<SharedPages>,
    /// The address of the pool's first byte as mappings are given out: a
    /// bus address, or a physical one behind an IOMMU.
    base: u64,
    area: Area<SlotTable>,
    lent: KVec<Option<Lent>>,
}

/// A pool slot: a pool, once installed, and its address range.
struct Pool {
    state: Pin<KBox<IrqSpinLock<Option<PoolState>>>>,
    /// `[start, end)` in mapping addresses; `start == end` until installed.
    start: AtomicU64,
    end: AtomicU64,
}

impl Pool {
    fn contains(&self, addr: u64) -> bool {
        let end = self.end.load(Ordering::Acquire);
        addr >= self.start.load(Ordering::Relaxed) && addr < end
    }
}

/// A mapping made in a pool.
pub(crate) struct Bounced {
    /// Where the device finds the buffer (in the pool's address space).
    pub(crate) addr: u64,
    /// The slots reserved for it: `[span_start, span_start + span_len)`.
    pub(crate) span_start: u64,
    pub(crate) span_len: usize,
    /// The physical address of `span_start`.
    pub(crate) span_phys: u64,
}

/// Use of a device's pools, for debugfs.
pub(crate) struct BounceStats {
    pub(crate) pools: usize,
    pub(crate) used: usize,
    pub(crate) high_water: usize,
    pub(crate) failures: u64,
}

/// The bounce pools of one device.
pub(crate) struct Bounce {
    dev: ARef<Device>,
    /// Whether the device snoops the CPU caches.
    coherent: bool,
    /// Pools are addressed physically (behind an IOMMU) rather than by bus
    /// address.
    behind_iommu: bool,
    /// Highest address a pool may reach (the device's mask, without an
    /// IOMMU).
    limit: u64,
    pool_bytes: usize,
    pools: KVec<Pool>,
    /// Pools installed (the first `installed` entries of `pools`).
    installed: AtomicUsize,
    /// Slots in use over all pools, and their most.
    used: AtomicUsize,
    high_water: AtomicUsize,
    failures: AtomicU64,
    /// `jiffies` of the last "pool full" message.
    last_full_msg: AtomicU64,
}

impl Bounce {
    /// The pools of `dev`, with the first ones allocated: where `limit`
    /// reaches (no IOMMU), or anywhere (`behind_iommu`).
    pub(crate) fn new(
        dev: &Device,
        coherent: bool,
        behind_iommu: bool,
        limit: u64,
    ) -> Result<Self> {
        let max = params::bounce_max_pools();
        let plan = pool_plan(
            params::bounce_bytes(),
            time::nr_cpu_ids(),
            max,
            MAX_MAPPING,
            1 << PAGE_SHIFT,
        );
        let mut pools = KVec::with_capacity(max, GFP_KERNEL)?;
        for _ in 0..max {
            pools.push(
                Pool {
                    state: KBox::pin_init(new_irq_spinlock!(None, "Bounce::pool"), GFP_KERNEL)?,
                    start: AtomicU64::new(0),
                    end: AtomicU64::new(0),
                },
                GFP_KERNEL,
            )?;
        }
        let b = Self {
            dev: dev.get(),
            coherent,
            behind_iommu,
            limit: if behind_iommu { u64::MAX } else { limit },
            pool_bytes: plan.pool_bytes,
            pools,
            installed: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            failures: AtomicU64::new(0),
            last_full_msg: AtomicU64::new(0),
        };
        let first = b.new_pool(false)?;
        b.install(first).ok_or(EBUSY)?;
        // The others help, but the device works without them.
        for _ in 1..plan.pools {
            match b.new_pool(false) {
                Ok(pool) => {
                    b.install(pool);
                }
                Err(_) => break,
            }
        }
        Ok(b)
    }

    /// Allocates a pool (no lock held); `atomic` on the map path, which
    /// must not sleep.
    fn new_pool(&self, atomic: bool) -> Result<PoolState> {
        if inject::fails(Point::BounceGrow) {
            return Err(ENOMEM);
        }
        let (gfp, flags) = if atomic {
            (
                bindings::RSDMA_GFP_ATOMIC | bindings::RSDMA_GFP_NOWARN,
                GFP_ATOMIC,
            )
        } else {
            (bindings::RSDMA_GFP_KERNEL, GFP_KERNEL)
        };
        let zone = crate::coherent::zone_below(self.limit);
        let mem = Arc::new(
            Pages::alloc_gfp(self.pool_bytes, gfp | zone)?.into_shared(),
            flags,
        )?;
        let base = if self.behind_iommu {
            mem.phys()
        } else {
            self.dev.phys_to_dma(mem.phys())
        };
        let len = mem.len();
        if base
            .checked_add(len as u64 - 1)
            .map_or(true, |last| last > self.limit)
        {
            dev_err!(
                self.dev,
                "rsdma: no memory for a bounce pool under the DMA mask {:#x} (got {:#x}+{:#x})",
                self.limit,
                base,
                len
            );
            return Err(ENOMEM);
        }
        let nslots = len >> SLOT_SHIFT;
        let geo = BounceGeometry {
            base,
            slot_shift: SLOT_SHIFT,
            segment_slots: SEGMENT_SLOTS,
            page_shift: PAGE_SHIFT,
        };
        let slots = SlotTable(KVec::from_elem(BounceSlot::default(), nslots, flags)?);
        let area = Area::new(geo, 0, slots).map_err(|_| EINVAL)?;
        let mut lent = KVec::with_capacity(nslots, flags)?;
        for _ in 0..nslots {
            lent.push(None, flags)?;
        }
        Ok(PoolState {
            mem,
            base,
            area,
            lent,
        })
    }

    /// Puts `pool` in the first free pool slot and returns its index; drops
    /// it when all are taken.
    fn install(&self, pool: PoolState) -> Option<usize> {
        for (i, p) in self.pools.iter().enumerate() {
            let mut st = p.state.lock();
            if st.is_some() {
                continue;
            }
            let (start, len) = (pool.base, pool.mem.len() as u64);
            *st = Some(pool);
            p.start.store(start, Ordering::Relaxed);
            p.end.store(start + len, Ordering::Release);
            self.installed.fetch_add(1, Ordering::Relaxed);
            return Some(i);
        }
        None
    }

    /// Whether `addr` lies in one of the pools (a bounced mapping).
    pub(crate) fn contains(&self, addr: u64) -> bool {
        self.pool_of(addr).is_some()
    }

    fn pool_of(&self, addr: u64) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(addr))
    }

    /// Bounces `mem` for the device: slots from a pool (a new pool when all
    /// are full and the bound allows), the original copied in, the padding
    /// of a span aligned to `span_align_mask + 1` zeroed.
    pub(crate) fn map(
        &self,
        mem: Lent,
        dir: Direction,
        attrs: Attrs,
        span_align_mask: u64,
    ) -> Result<Bounced> {
        if mem.is_empty() || mem.len() > MAX_MAPPING {
            dev_err!(
                self.dev,
                "rsdma: a {}-byte mapping cannot be bounced (at most {})",
                mem.len(),
                MAX_MAPPING
            );
            return Err(EINVAL);
        }
        let req = BounceRequest {
            orig: mem.phys(),
            len: mem.len() as u64,
            min_align_mask: self.dev.min_align_mask(),
            alloc_align_mask: 0,
            boundary_mask: self.dev.seg_boundary(),
            span_align_mask,
        };
        let n = self.installed.load(Ordering::Relaxed).max(1);
        let first = time::cpu_hint() % n;
        let mut mem = Some(mem);
        for k in 0..self.pools.len() {
            let Some(p) = self.pools.get((first + k) % self.pools.len()) else {
                continue;
            };
            match self.map_in(p, &req, &mut mem, dir, attrs) {
                Ok(Some(b)) => return Ok(b),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        // Every pool is full: add one, outside any lock, and try it.
        if self.installed.load(Ordering::Relaxed) < self.pools.len() {
            if let Ok(pool) = self.new_pool(true) {
                if let Some(i) = self.install(pool) {
                    if let Some(p) = self.pools.get(i) {
                        if let Ok(Some(b)) = self.map_in(p, &req, &mut mem, dir, attrs) {
                            return Ok(b);
                        }
                    }
                }
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.full_message(req.len);
        Err(ENOMEM)
    }

    /// Tries to bounce into pool `p`; `Ok(None)` when it has no room.
    fn map_in(
        &self,
        p: &Pool,
        req: &BounceRequest,
        mem: &mut Option<Lent>,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<Option<Bounced>> {
        // Reserve the slots under the lock ...
        let (m, pool_mem, base) = {
            let mut st = p.state.lock();
            let Some(pool) = st.as_mut() else {
                return Ok(None);
            };
            let before = pool.area.used();
            let Ok(m) = pool.area.map(req) else {
                return Ok(None);
            };
            self.count_slots(before, pool.area.used());
            (m, pool.mem.clone(), pool.base)
        };
        let Some(lent) = mem.take() else {
            self.release(p, m.tlb_addr);
            return Err(EINVAL);
        };
        // ... fill them without it: they are this mapping's alone ...
        let off = |addr: u64| (addr - base) as usize;
        let (pre, post) = (m.pre_padding(), m.post_padding());
        let filled = pool_mem
            .zero(off(pre.0), pre.1 as usize)
            .and_then(|()| pool_mem.zero(off(post.0), post.1 as usize))
            .and_then(|()| match copy_on(BounceOp::Map, dir, attrs) {
                Some(BounceCopy::ToSlot) => lent.copy_to(0, &pool_mem, off(m.tlb_addr), lent.len()),
                _ => Ok(()),
            });
        if filled.is_err() {
            self.release(p, m.tlb_addr);
            return Err(EINVAL);
        }
        // ... and record the memory they stand for, for unmap and sync.
        {
            let mut st = p.state.lock();
            let entry = st.as_mut().and_then(|pool| {
                let head = pool.area.head_slot(m.tlb_addr)?;
                pool.lent.get_mut(head)
            });
            match entry {
                Some(entry) => *entry = Some(lent),
                None => {
                    drop(st);
                    self.release(p, m.tlb_addr);
                    return Err(EINVAL);
                }
            }
        }
        let span_phys = pool_mem.phys() + off(m.span_start) as u64;
        // The device reads the slots, padding and all, from memory.
        crate::cache::to_device(self.coherent, span_phys, m.span_len as usize, dir);
        Ok(Some(Bounced {
            addr: m.tlb_addr,
            span_start: m.span_start,
            span_len: m.span_len as usize,
            span_phys,
        }))
    }

    /// Frees the slots of the mapping at `addr` in pool `p`.
    fn release(&self, p: &Pool, addr: u64) {
        let mut st = p.state.lock();
        if let Some(pool) = st.as_mut() {
            let before = pool.area.used();
            let _ = pool.area.unmap(addr);
            self.count_slots(before, pool.area.used());
        }
    }

    /// Ends the bounced mapping at `addr`: the original gets back what the
    /// device wrote (unless `SKIP_CPU_SYNC`), the slots are freed.
    pub(crate) fn unmap(&self, addr: u64, dir: Direction, attrs: Attrs) -> Result {
        let p = self.pool_of(addr).ok_or(EINVAL)?;
        // Take the mapping's memory under the lock; the slots stay reserved
        // until the copy back is done.
        let (lent, len, pool_mem, base) = {
            let mut st = p.state.lock();
            let pool = st.as_mut().ok_or(EINVAL)?;
            let (head, _, len) = pool.area.mapping_at(addr).ok_or(EINVAL)?;
            let lent = pool
                .lent
                .get_mut(head)
                .and_then(Option::take)
                .ok_or(EINVAL)?;
            (lent, len, pool.mem.clone(), pool.base)
        };
        let off = (addr - base) as usize;
        let copied = if copy_on(BounceOp::Unmap, dir, attrs) == Some(BounceCopy::FromSlot) {
            let phys = pool_mem.phys() + off as u64;
            crate::cache::to_cpu(self.coherent, phys, len as usize, dir);
            lent.copy_from(0, &pool_mem, off, (len as usize).min(lent.len()))
        } else {
            Ok(())
        };
        self.release(p, addr);
        copied
    }

    /// Syncs `size` bytes at `addr` (inside a bounced mapping) for the CPU
    /// or for the device: copies the range the way `op` needs.
    pub(crate) fn sync(&self, addr: u64, size: usize, dir: Direction, op: BounceOp) -> Result {
        let p = self.pool_of(addr).ok_or(EINVAL)?;
        let st = p.state.lock();
        let pool = st.as_ref().ok_or(EINVAL)?;
        let head = pool.area.head_slot(addr).ok_or(EINVAL)?;
        let (orig, left) = pool.area.lookup(addr).ok_or(EINVAL)?;
        let lent = pool.lent.get(head).and_then(Option::as_ref).ok_or(EINVAL)?;
        let at = orig.checked_sub(lent.phys()).ok_or(EINVAL)? as usize;
        let len = size.min(left as usize);
        let off = (addr - pool.base) as usize;
        let phys = pool.mem.phys() + off as u64;
        match copy_on(op, dir, Attrs::empty()) {
            Some(BounceCopy::ToSlot) => {
                lent.copy_to(at, &pool.mem, off, len)?;
                crate::cache::to_device(self.coherent, phys, len, dir);
            }
            Some(BounceCopy::FromSlot) => {
                crate::cache::to_cpu(self.coherent, phys, len, dir);
                lent.copy_from(at, &pool.mem, off, len)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Counts a change of a pool's used slots from `before` to `after`.
    fn count_slots(&self, before: usize, after: usize) {
        if after >= before {
            let now = self.used.fetch_add(after - before, Ordering::Relaxed) + (after - before);
            self.high_water.fetch_max(now, Ordering::Relaxed);
        } else {
            self.used.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// One error line per [`FULL_MSG_MS`] at most.
    fn full_message(&self, len: u64) {
        let now = time::jiffies();
        let last = self.last_full_msg.load(Ordering::Relaxed);
        let gap = time::msecs_to_jiffies(FULL_MSG_MS);
        if last != 0 && now.wrapping_sub(last) < gap {
            return;
        }
        if self
            .last_full_msg
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            dev_err!(
                self.dev,
                "rsdma: bounce pools full: a {}-byte mapping failed ({} pools of {} KiB, {} failures so far)",
                len,
                self.installed.load(Ordering::Relaxed),
                self.pool_bytes >> 10,
                self.failures.load(Ordering::Relaxed)
            );
        }
    }

    /// The pools' use.
    pub(crate) fn stats(&self) -> BounceStats {
        BounceStats {
            pools: self.installed.load(Ordering::Relaxed),
            used: self.used.load(Ordering::Relaxed),
            high_water: self.high_water.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// Whether the whole of every pool lies at or below `mask`.
    pub(crate) fn below(&self, mask: u64) -> bool {
        self.pools.iter().all(|p| {
            let end = p.end.load(Ordering::Acquire);
            end == 0 || end - 1 <= mask
        })
    }
}
