// SPDX-License-Identifier: GPL-2.0

//! A device attached to rsdma: its IOMMU domain, its IO address space, and
//! the DMA operations that serve it.
//!
//! [`attach`] gives the device an unmanaged paging domain of its own and
//! points its `dma_ops` at an [`Installed<RsdmaDev>`] table; from then on
//! every DMA API call on the device lands in the [`Operations`] below.
//! [`detach`] (or the driver unbinding) reports what the driver left
//! mapped and restores the device exactly as it was.

use crate::kapi::dma::Direction;
use crate::kapi::dma_ops::{self, Attrs, Coherent, Installed, Operations, SgTableOut, Vma};
use crate::kapi::iommu::{self, Domain, Prot};
use crate::kapi::page::Pages;
use crate::kapi::scatterlist::SgList;
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::timer::{Expired, Timer};
use crate::kapi::{cache, debugfs, device::Device, devres, errno};
use crate::new_irq_spinlock;
use crate::rsdma_core::iova::{cache_order, CpuCache, IovaAllocator, IovaConfig, IovaError, Slot};
use crate::rsdma_core::{sg as sgplan, tracker};
use crate::{dev_err, dev_info, dev_warn};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::{Arc, Mutex};
use kernel::types::ARef;
use kernel::{c_str, new_mutex};

/// How a device is attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Defer IOTLB invalidation to a bounded flush queue.
    pub lazy: bool,
    /// Longest deferral in lazy mode, in ms.
    pub flush_ms: u32,
    /// Run the mapping tracker.
    pub tracker: bool,
}

/// A chunk of the IOVA bitmap.
pub struct Chunk(KVec<u64>);

impl AsRef<[u64]> for Chunk {
    fn as_ref(&self) -> &[u64] {
        &self.0
    }
}

impl AsMut<[u64]> for Chunk {
    fn as_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

/// The IOVA allocator's chunk table.
pub struct ChunkTable(KVVec<Slot<Chunk>>);

impl AsRef<[Slot<Chunk>]> for ChunkTable {
    fn as_ref(&self) -> &[Slot<Chunk>] {
        &self.0
    }
}

impl AsMut<[Slot<Chunk>]> for ChunkTable {
    fn as_mut(&mut self) -> &mut [Slot<Chunk>] {
        &mut self.0
    }
}

type Iova = IovaAllocator<Chunk, ChunkTable>;

/// The tracker's record table.
pub struct TrackerTable(KVVec<tracker::Slot>);

impl AsRef<[tracker::Slot]> for TrackerTable {
    fn as_ref(&self) -> &[tracker::Slot] {
        &self.0
    }
}

impl AsMut<[tracker::Slot]> for TrackerTable {
    fn as_mut(&mut self) -> &mut [tracker::Slot] {
        &mut self.0
    }
}

/// Records the tracker keeps per device.
const TRACKER_RECORDS: usize = 4096;
/// Lazy mode: unmaps held back before the queue is flushed.
const FLUSH_QUEUE_LEN: usize = 64;
/// Lazy mode: the default longest deferral.
const DEFAULT_FLUSH_MS: u32 = 10;
/// Attempts at installing a missing IOVA chunk before giving up.
const GROW_ATTEMPTS: usize = 4;

/// A coherent buffer or a non-coherent page allocation handed to the
/// driver, kept until it is freed.
struct Buffer {
    pages: Pages,
    /// Bytes the driver asked for.
    size: usize,
    /// IOVA bytes mapped (whole granules).
    mapped: usize,
}

/// Where a freshly allocated [`Buffer`] is.
struct NewBuffer {
    dma: u64,
    phys: u64,
    /// The kernel address, as `alloc` returns it.
    virt: u64,
    /// IOVA bytes mapped.
    mapped: usize,
}

/// IOVAs unmapped in lazy mode whose IOTLB entries may still be live.
struct FlushQueue {
    entries: [(u64, u64); FLUSH_QUEUE_LEN],
    len: usize,
    /// `jiffies` of the oldest entry.
    oldest: u64,
}

/// Counters shown in debugfs.
#[derive(Default)]
struct Stats {
    maps: AtomicU64,
    unmaps: AtomicU64,
    sg_maps: AtomicU64,
    sg_unmaps: AtomicU64,
    syncs: AtomicU64,
    allocs: AtomicU64,
    frees: AtomicU64,
    map_failures: AtomicU64,
    findings: AtomicU64,
    flushes: AtomicU64,
}

/// The state of one attached device.
#[pin_data]
pub struct RsdmaDev {
    /// Lazy mode: bounds how long an unmapped IOVA waits for invalidation
    /// when no further unmap comes.  First, so that it stops before anything
    /// else is dropped.
    #[pin]
    flush_timer: Timer<RsdmaDev>,
    dev: ARef<Device>,
    domain: Domain,
    /// log2 of the IOMMU granule.
    shift: u32,
    /// Last IOVA the domain translates.
    aperture_end: u64,
    coherent: bool,
    lazy: bool,
    flush_jiffies: u64,
    #[pin]
    iova: IrqSpinLock<Iova>,
    /// Per-CPU magazines of small IOVA ranges, so that the common map and
    /// unmap never take the allocator's lock.
    caches: KVec<Pin<KBox<IrqSpinLock<CpuCache>>>>,
    #[pin]
    buffers: IrqSpinLock<RBTree<u64, Buffer>>,
    #[pin]
    tracker: IrqSpinLock<Option<tracker::Tracker<TrackerTable>>>,
    /// Lazy mode: per-CPU queues of unmapped IOVAs awaiting invalidation.
    fqs: KVec<Pin<KBox<IrqSpinLock<FlushQueue>>>>,
    /// Whether the tracker runs (fixed at attach).
    tracking: bool,
    #[pin]
    saved: IrqSpinLock<Option<dma_ops::Saved>>,
    stats: Stats,
    armed: AtomicBool,
    /// The stats file, then its directory (dropped in that order).
    #[pin]
    debugfs: Mutex<Option<(debugfs::CommandFile<Installed<RsdmaDev>>, debugfs::Dir)>>,
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

fn track_dir(dir: Direction) -> tracker::Direction {
    match dir {
        Direction::Bidirectional => tracker::Direction::Bidirectional,
        Direction::ToDevice => tracker::Direction::ToDevice,
        Direction::FromDevice => tracker::Direction::FromDevice,
    }
}

/// The mapping rights for `dir`.
fn prot_for(dir: Direction, coherent: bool, attrs: Attrs) -> Prot {
    let mut p = match dir {
        Direction::ToDevice => Prot::READ,
        Direction::FromDevice => Prot::WRITE,
        Direction::Bidirectional => Prot::READ.union(Prot::WRITE),
    };
    if coherent {
        p = p.union(Prot::CACHE);
    }
    if attrs.has(Attrs::PRIVILEGED) {
        p = p.union(Prot::PRIV);
    }
    p
}

impl RsdmaDev {
    fn granule(&self) -> u64 {
        1 << self.shift
    }

    /// Allocates `granules` of IOVA at or below `mask`: from this CPU's
    /// cache for small sizes (rounded up to a power of two), otherwise from
    /// the bitmap, trying 32-bit addresses first when the mask allows more
    /// (as iommu-dma does).  When the space runs short, the CPU caches are
    /// flushed back before giving up.
    fn alloc_iova(&self, granules: u64, mask: u64) -> Result<u64> {
        let limit = mask.min(self.aperture_end);
        let order = cache_order(granules);
        let n = match order {
            Some(o) => {
                if let Some(c) = self.cpu_cache() {
                    if let Some(iova) = c.lock().alloc(o, self.shift, limit) {
                        return Ok(iova);
                    }
                }
                1u64 << o
            }
            None => granules,
        };
        match self.alloc_bitmap(n, limit) {
            Err(e) if e == ENOSPC => {
                self.flush_cpu_caches();
                self.alloc_bitmap(n, limit)
            }
            r => r,
        }
        .map_err(|_| {
            self.stats.map_failures.fetch_add(1, Relaxed);
            ENOMEM
        })
    }

    fn cpu_cache(&self) -> Option<&IrqSpinLock<CpuCache>> {
        let n = self.caches.len();
        if n == 0 {
            return None;
        }
        self.caches
            .get(crate::kapi::time::cpu_hint() % n)
            .map(|c| &**c)
    }

    /// Returns every CPU cache's IOVAs to the bitmap.
    fn flush_cpu_caches(&self) {
        for c in self.caches.iter() {
            let mut c = c.lock();
            c.flush_into(&mut self.iova.lock());
        }
    }

    /// Allocates from the bitmap, installing chunks on demand (allocated
    /// outside the lock).  `ENOSPC` when no range fits under `limit`.
    fn alloc_bitmap(&self, granules: u64, limit: u64) -> Result<u64> {
        for _ in 0..GROW_ATTEMPTS {
            let r = {
                let mut a = self.iova.lock();
                if limit > u64::from(u32::MAX) {
                    match a.alloc(granules, u64::from(u32::MAX)) {
                        Err(IovaError::NoSpace) => a.alloc(granules, limit),
                        r => r,
                    }
                } else {
                    a.alloc(granules, limit)
                }
            };
            match r {
                Ok(iova) => return Ok(iova),
                Err(IovaError::NeedChunk { index }) => {
                    let words = self.iova.lock().config().chunk_words();
                    let chunk = Chunk(KVec::from_elem(0u64, words, GFP_ATOMIC)?);
                    // Another CPU may have installed it meanwhile: fine.
                    let _ = self.iova.lock().install_chunk(index, chunk);
                }
                Err(IovaError::NoSpace) => return Err(ENOSPC),
                Err(_) => return Err(EINVAL),
            }
        }
        Err(ENOMEM)
    }

    /// Frees an IOVA range of `len` bytes: small ones into this CPU's cache
    /// (the size rounded as in `alloc_iova`), others into the bitmap.
    fn free_iova(&self, iova: u64, len: u64) {
        let granules = len >> self.shift;
        if let (Some(o), Some(c)) = (cache_order(granules), self.cpu_cache()) {
            let mut c = c.lock();
            if c.free(o, iova) {
                return;
            }
            // Both magazines are full: return them to the bitmap.
            c.flush_into(&mut self.iova.lock());
            if c.free(o, iova) {
                return;
            }
        }
        let n = cache_order(granules).map_or(granules, |o| 1u64 << o);
        if let Err(e) = self.iova.lock().free(iova, n) {
            dev_err!(self.dev, "rsdma: IOVA free rejected: {}", e);
        }
    }

    /// Tears the IOVA range down: strictly (IOTLB invalidated before this
    /// returns), or queued for a batched invalidation in lazy mode.
    fn unmap_iova(&self, iova: u64, len: u64) {
        if !self.lazy {
            let n = self.domain.unmap(iova, len as usize);
            if n as u64 != len {
                dev_warn!(
                    self.dev,
                    "rsdma: unmapped {} of {} bytes at {:#x}",
                    n,
                    len,
                    iova
                );
            }
            self.free_iova(iova, len);
            return;
        }
        self.domain.unmap_deferred(iova, len as usize);
        let now = crate::kapi::time::jiffies();
        let nq = self.fqs.len();
        let Some(q) = self.fqs.get(crate::kapi::time::cpu_hint() % nq.max(1)) else {
            // No queue (cannot happen in lazy mode): invalidate now.
            self.domain.flush_all();
            self.free_iova(iova, len);
            return;
        };
        let mut fq = q.lock();
        if fq.len == 0 {
            fq.oldest = now;
        }
        // The queue is flushed as soon as it fills, so there is room.
        let n = fq.len;
        if let Some(e) = fq.entries.get_mut(n) {
            *e = (iova, len);
            fq.len += 1;
        }
        if fq.len >= FLUSH_QUEUE_LEN || now.wrapping_sub(fq.oldest) >= self.flush_jiffies {
            self.flush_locked(&mut fq);
        } else if fq.len == 1 {
            // The first entry of a batch: flush within `flush_ms` even if
            // no other unmap comes.
            self.flush_timer.arm(self, self.flush_jiffies);
        }
    }

    /// Invalidates the IOTLB once, after which the queued IOVAs may be
    /// reused.
    fn flush_locked(&self, fq: &mut FlushQueue) {
        if fq.len == 0 {
            return;
        }
        self.domain.flush_all();
        self.stats.flushes.fetch_add(1, Relaxed);
        for &(i, l) in fq.entries.iter().take(fq.len) {
            self.free_iova(i, l);
        }
        fq.len = 0;
    }

    /// Drains every lazy flush queue.
    fn flush_queue(&self) {
        for q in self.fqs.iter() {
            self.flush_locked(&mut q.lock());
        }
    }

    /// Records a new mapping in the tracker.
    ///
    /// `dma_mapping_error()` is inline in the driver and never reaches the
    /// ops, so rsdma cannot see whether it was called (the kernel's own
    /// DMA-API debugging checks that): the mapping is recorded as checked.
    fn track_map(&self, m: tracker::Mapping) {
        let (dev, addr) = (m.dev, m.dev_addr);
        self.track(|t| {
            let f = t.map(m);
            t.mapping_error_checked(dev, addr);
            f
        });
    }

    /// Runs `f` on the tracker, if enabled, and logs what it found.
    /// Returns whether the operation is sound enough to carry out.
    fn track(
        &self,
        f: impl FnOnce(&mut tracker::Tracker<TrackerTable>) -> tracker::Findings,
    ) -> bool {
        if !self.tracking {
            return true;
        }
        let findings = {
            let mut t = self.tracker.lock();
            match t.as_mut() {
                Some(t) => f(t),
                None => return true,
            }
        };
        let mut ok = true;
        let caller = if findings.is_empty() {
            None
        } else {
            Some(crate::kapi::device::dma_caller())
        };
        for finding in findings.iter() {
            self.stats.findings.fetch_add(1, Relaxed);
            match &caller {
                Some(c) if !c.as_str().is_empty() => {
                    dev_err!(
                        self.dev,
                        "rsdma tracker: {} (caller {})",
                        finding,
                        c.as_str()
                    )
                }
                _ => dev_err!(self.dev, "rsdma tracker: {}", finding),
            }
            if matches!(
                finding,
                tracker::Finding::UnmapNotMapped { .. } | tracker::Finding::DoubleUnmap { .. }
            ) {
                ok = false;
            }
        }
        ok
    }

    fn record(
        &self,
        addr: u64,
        size: u64,
        kind: tracker::MapKind,
        dir: Direction,
        attrs: Attrs,
        nents: u32,
    ) -> tracker::Mapping {
        tracker::Mapping {
            dev: self.dev.as_raw() as usize as u64,
            dev_addr: addr,
            size,
            kind,
            dir: track_dir(dir),
            attrs: attrs.0,
            sg_nents: nents,
            cpu_addr: 0,
        }
    }

    fn dev_id(&self) -> u64 {
        self.dev.as_raw() as usize as u64
    }

    /// Maps `size` bytes at `phys` (any alignment) into a fresh IOVA range.
    fn map_range(&self, phys: u64, size: usize, prot: Prot, mask: u64) -> Result<u64> {
        let g = self.granule();
        let off = phys & (g - 1);
        let len = align_up(off + size as u64, g).ok_or(EINVAL)?;
        if size == 0 {
            return Err(EINVAL);
        }
        let iova = self.alloc_iova(len >> self.shift, mask)?;
        if let Err(e) = self.domain.map(iova, phys - off, len as usize, prot) {
            self.free_iova(iova, len);
            self.stats.map_failures.fetch_add(1, Relaxed);
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

    fn unmap_range(&self, addr: u64, size: usize) {
        let g = self.granule();
        let off = addr & (g - 1);
        let Some(len) = align_up(off + size as u64, g) else {
            return;
        };
        // Without the tracker (which checks every unmap), at least never
        // free an IOVA twice: a range whose first page is not mapped was
        // unmapped already.
        if !self.tracking && self.domain.iova_to_phys(addr - off) == 0 {
            dev_err!(
                self.dev,
                "rsdma: unmap of {:#x}+{:#x}, which is not mapped (caller {})",
                addr,
                size,
                crate::kapi::device::dma_caller().as_str()
            );
            return;
        }
        self.unmap_iova(addr - off, len);
    }

    /// Cache maintenance before the device accesses `len` bytes at `phys`.
    fn sync_for_device_phys(&self, phys: u64, len: usize, dir: Direction) {
        if let Some(op) = crate::rsdma_core::cache::for_device(self.coherent, track_dir(dir)) {
            self.cache_op(op, phys, len);
        }
    }

    /// Cache maintenance before the CPU reads what the device wrote.
    fn sync_for_cpu_phys(&self, phys: u64, len: usize, dir: Direction) {
        if let Some(op) = crate::rsdma_core::cache::for_cpu(self.coherent, track_dir(dir)) {
            self.cache_op(op, phys, len);
        }
    }

    fn cache_op(&self, op: crate::rsdma_core::cache::CacheOp, phys: u64, len: usize) {
        use crate::rsdma_core::cache::CacheOp;
        match op {
            CacheOp::Clean => cache::clean(phys, len),
            CacheOp::Invalidate => cache::invalidate(phys, len),
            CacheOp::CleanInvalidate => {
                cache::clean(phys, len);
                cache::invalidate(phys, len);
            }
        }
    }

    /// Allocates pages for the driver and maps them; the buffer is kept
    /// under its device address until freed.
    fn alloc_buffer(&self, size: usize, gfp: u32, prot: Prot) -> Result<NewBuffer> {
        if size == 0 {
            return Err(EINVAL);
        }
        let pages = Pages::alloc_gfp(size, gfp)?;
        let phys = pages.phys();
        let mapped = align_up(size as u64, self.granule()).ok_or(EINVAL)? as usize;
        let dma = self.map_range(phys, mapped, prot, self.dev.coherent_dma_mask())?;
        let virt = pages.as_slice().as_ptr() as usize as u64;
        let node = match RBTreeNode::new(
            dma,
            Buffer {
                pages,
                size,
                mapped,
            },
            GFP_ATOMIC,
        ) {
            Ok(n) => n,
            Err(e) => {
                self.unmap_range(dma, mapped);
                return Err(e);
            }
        };
        self.buffers.lock().insert(node);
        self.stats.allocs.fetch_add(1, Relaxed);
        Ok(NewBuffer {
            dma,
            phys,
            virt,
            mapped,
        })
    }

    /// Looks up the buffer at `dma` and returns its physical address and
    /// size, checking that `cpu` is its CPU address.
    fn buffer(&self, dma: u64, cpu: usize) -> Result<(u64, usize)> {
        let bufs = self.buffers.lock();
        let Some(b) = bufs.get(&dma) else {
            dev_err!(self.dev, "rsdma: no DMA buffer at {:#x}", dma);
            return Err(EINVAL);
        };
        if cpu != b.pages.as_slice().as_ptr() as usize {
            dev_err!(
                self.dev,
                "rsdma: DMA buffer at {:#x} is not at CPU address {:#x}",
                dma,
                cpu
            );
            return Err(EINVAL);
        }
        Ok((b.pages.phys(), b.size))
    }

    fn free_buffer(&self, size: usize, cpu: Option<usize>, dma: u64, what: &str) {
        let buf = {
            let mut bufs = self.buffers.lock();
            let ok = match bufs.get(&dma) {
                None => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} of unknown buffer at DMA address {:#x}",
                        what,
                        dma
                    );
                    false
                }
                Some(b) if b.size != size => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} of {} bytes at {:#x}, but {} were allocated",
                        what,
                        size,
                        dma,
                        b.size
                    );
                    false
                }
                Some(b) if cpu.is_some_and(|c| c != b.pages.as_slice().as_ptr() as usize) => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} at {:#x} with the wrong CPU address",
                        what,
                        dma
                    );
                    false
                }
                Some(_) => true,
            };
            if !ok {
                return;
            }
            bufs.remove(&dma)
        };
        if let Some(b) = buf {
            // The device loses access before the pages go back.
            self.unmap_range(dma, b.mapped);
            if self.lazy {
                self.flush_queue();
            }
            self.stats.frees.fetch_add(1, Relaxed);
            drop(b);
        }
    }
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
        let addr = self.map_range(
            phys,
            size,
            prot_for(dir, self.coherent, attrs),
            self.dev.dma_mask(),
        )?;
        if !attrs.has(Attrs::SKIP_CPU_SYNC) {
            self.sync_for_device_phys(phys, size, dir);
        }
        self.stats.maps.fetch_add(1, Relaxed);
        let m = self.record(addr, size as u64, tracker::MapKind::Page, dir, attrs, 0);
        self.track_map(m);
        Ok(addr)
    }

    fn unmap_page(&self, _dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs) {
        let m = self.record(addr, size as u64, tracker::MapKind::Page, dir, attrs, 0);
        if !self.track(|t| t.unmap(m)) {
            return;
        }
        if !self.coherent && !attrs.has(Attrs::SKIP_CPU_SYNC) {
            let phys = self.domain.iova_to_phys(addr);
            if phys != 0 {
                self.sync_for_cpu_phys(phys, size, dir);
            }
        }
        self.unmap_range(addr, size);
        self.stats.unmaps.fetch_add(1, Relaxed);
    }

    fn map_sg(
        &self,
        _dev: &Device,
        sg: &SgList<'_>,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<usize> {
        let n = sg.len();
        let mut segs = KVec::with_capacity(n, GFP_ATOMIC)?;
        let mut total = 0u64;
        for e in sg.iter() {
            segs.push((e.phys(), e.length()), GFP_ATOMIC)?;
            total += u64::from(e.length());
        }
        let limits = sgplan::SgLimits {
            max_seg_size: self.dev.max_seg_size(),
            seg_boundary_mask: self.dev.seg_boundary(),
            granule_shift: self.shift,
        };
        let mut maps = KVec::from_elem(sgplan::SegMap::default(), n, GFP_ATOMIC)?;
        let mut out = KVec::from_elem(sgplan::DmaSegment::default(), n, GFP_ATOMIC)?;
        let plan = sgplan::plan(&segs, &limits, &mut maps, &mut out).map_err(|e| {
            dev_err!(self.dev, "rsdma: map_sg of {} entries: {}", n, e);
            EINVAL
        })?;
        let prot = prot_for(dir, self.coherent, attrs);
        let iova = self.alloc_iova(plan.iova_len >> self.shift, self.dev.dma_mask())?;
        for (i, m) in maps.iter().take(plan.maps).enumerate() {
            if let Err(e) = self
                .domain
                .map(iova + m.iova_offset, m.phys, m.len as usize, prot)
            {
                for m in maps.iter().take(i) {
                    self.domain.unmap(iova + m.iova_offset, m.len as usize);
                }
                self.free_iova(iova, plan.iova_len);
                dev_err!(self.dev, "rsdma: map_sg: iommu_map failed: {:?}", e);
                return Err(ENOMEM);
            }
        }
        for (i, e) in sg.iter().enumerate() {
            match out.get(i) {
                Some(s) if i < plan.segments => e.set_dma(iova + s.iova_offset, s.len),
                _ => e.set_dma(dma_ops::DMA_MAPPING_ERROR, 0),
            }
        }
        if !attrs.has(Attrs::SKIP_CPU_SYNC) {
            for &(p, l) in segs.iter() {
                self.sync_for_device_phys(p, l as usize, dir);
            }
        }
        self.stats.sg_maps.fetch_add(1, Relaxed);
        let first = out.first().map_or(iova, |s| iova + s.iova_offset);
        let m = self.record(first, total, tracker::MapKind::Sg, dir, attrs, n as u32);
        self.track_map(m);
        Ok(plan.segments)
    }

    fn unmap_sg(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction, attrs: Attrs) {
        let mut first = None;
        let mut end = 0u64;
        let mut total = 0u64;
        for e in sg.iter() {
            total += u64::from(e.length());
            if e.dma_len() == 0 {
                continue;
            }
            first.get_or_insert(e.dma_address());
            end = e.dma_address() + u64::from(e.dma_len());
        }
        let Some(first) = first else {
            dev_err!(
                self.dev,
                "rsdma: unmap_sg of a list that holds no DMA segment"
            );
            return;
        };
        let m = self.record(
            first,
            total,
            tracker::MapKind::Sg,
            dir,
            attrs,
            sg.len() as u32,
        );
        if !self.track(|t| t.unmap(m)) {
            return;
        }
        if !attrs.has(Attrs::SKIP_CPU_SYNC) {
            for e in sg.iter() {
                self.sync_for_cpu_phys(e.phys(), e.length() as usize, dir);
            }
        }
        let g = self.granule();
        let base = first & !(g - 1);
        if let Some(end) = align_up(end, g) {
            self.unmap_iova(base, end - base);
        }
        self.stats.sg_unmaps.fetch_add(1, Relaxed);
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
        let addr = self.map_range(phys, size, prot, self.dev.dma_mask())?;
        self.stats.maps.fetch_add(1, Relaxed);
        let m = self.record(addr, size as u64, tracker::MapKind::Resource, dir, attrs, 0);
        self.track_map(m);
        Ok(addr)
    }

    fn unmap_resource(&self, _dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs) {
        let m = self.record(addr, size as u64, tracker::MapKind::Resource, dir, attrs, 0);
        if !self.track(|t| t.unmap(m)) {
            return;
        }
        self.unmap_range(addr, size);
        self.stats.unmaps.fetch_add(1, Relaxed);
    }

    fn sync_single_for_cpu(&self, _dev: &Device, addr: u64, size: usize, dir: Direction) {
        self.stats.syncs.fetch_add(1, Relaxed);
        let id = self.dev_id();
        self.track(|t| t.sync_for_cpu(id, addr, size as u64, track_dir(dir), None));
        if !self.coherent {
            let phys = self.domain.iova_to_phys(addr);
            if phys != 0 {
                self.sync_for_cpu_phys(phys, size, dir);
            }
        }
    }

    fn sync_single_for_device(&self, _dev: &Device, addr: u64, size: usize, dir: Direction) {
        self.stats.syncs.fetch_add(1, Relaxed);
        let id = self.dev_id();
        self.track(|t| t.sync_for_device(id, addr, size as u64, track_dir(dir), None));
        if !self.coherent {
            let phys = self.domain.iova_to_phys(addr);
            if phys != 0 {
                self.sync_for_device_phys(phys, size, dir);
            }
        }
    }

    fn sync_sg_for_cpu(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction) {
        self.stats.syncs.fetch_add(1, Relaxed);
        let Some(first) = sg.iter().next() else {
            return;
        };
        let total = sg.iter().map(|e| u64::from(e.length())).sum();
        let (id, addr, n) = (self.dev_id(), first.dma_address(), sg.len() as u32);
        self.track(|t| t.sync_for_cpu(id, addr, total, track_dir(dir), Some(n)));
        for e in sg.iter() {
            self.sync_for_cpu_phys(e.phys(), e.length() as usize, dir);
        }
    }

    fn sync_sg_for_device(&self, _dev: &Device, sg: &SgList<'_>, dir: Direction) {
        self.stats.syncs.fetch_add(1, Relaxed);
        let Some(first) = sg.iter().next() else {
            return;
        };
        let total = sg.iter().map(|e| u64::from(e.length())).sum();
        let (id, addr, n) = (self.dev_id(), first.dma_address(), sg.len() as u32);
        self.track(|t| t.sync_for_device(id, addr, total, track_dir(dir), Some(n)));
        for e in sg.iter() {
            self.sync_for_device_phys(e.phys(), e.length() as usize, dir);
        }
    }

    fn alloc(&self, _dev: &Device, size: usize, gfp: u32, attrs: Attrs) -> Result<Coherent> {
        let prot = prot_for(Direction::Bidirectional, self.coherent, attrs);
        let NewBuffer {
            dma,
            phys,
            virt,
            mapped,
        } = self.alloc_buffer(size, gfp, prot).inspect_err(|e| {
            if !attrs.has(Attrs::NO_WARN) {
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
            cache::clean(phys, mapped);
            cache::invalidate(phys, mapped);
        }
        let m = tracker::Mapping {
            cpu_addr: virt,
            ..self.record(
                dma,
                size as u64,
                tracker::MapKind::Coherent,
                Direction::Bidirectional,
                attrs,
                0,
            )
        };
        self.track_map(m);
        Ok(Coherent {
            cpu: virt as usize,
            dma,
        })
    }

    fn free(&self, _dev: &Device, size: usize, cpu: usize, dma: u64, attrs: Attrs) {
        let m = tracker::Mapping {
            cpu_addr: cpu as u64,
            ..self.record(
                dma,
                size as u64,
                tracker::MapKind::Coherent,
                Direction::Bidirectional,
                attrs,
                0,
            )
        };
        self.track(|t| t.unmap(m));
        self.free_buffer(size, Some(cpu), dma, "free");
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
        let off = vma
            .pgoff()
            .checked_mul(crate::kapi::page::PAGE_SIZE)
            .ok_or(EINVAL)?;
        let buf_len =
            align_up(size.min(bsize) as u64, crate::kapi::page::PAGE_SIZE as u64).ok_or(EINVAL)?;
        if off as u64 + vma.len() as u64 > buf_len {
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
        let prot = prot_for(dir, self.coherent, Attrs::default());
        let b = self.alloc_buffer(size, gfp, prot)?;
        Ok((b.phys, b.dma))
    }

    fn free_pages(&self, _dev: &Device, size: usize, _phys: u64, dma: u64, _dir: Direction) {
        self.free_buffer(size, None, dma, "free_pages");
    }

    fn dma_supported(&self, _dev: &Device, mask: u64) -> bool {
        // The IOVA space needs room for at least 1 MiB under the mask.
        mask >= 0xf_ffff
    }

    fn required_mask(&self, _dev: &Device) -> u64 {
        // IOVAs come from under the device's own mask, 32-bit ones first.
        u64::from(u32::MAX).min(self.aperture_end)
    }

    fn max_mapping_size(&self, _dev: &Device) -> usize {
        usize::MAX
    }

    fn merge_boundary(&self, _dev: &Device) -> u64 {
        self.granule() - 1
    }
}

impl Expired for RsdmaDev {
    fn expired(&self) {
        self.flush_queue();
    }
}

impl devres::Release for Installed<RsdmaDev> {
    fn armed(&self) -> &AtomicBool {
        &self.data.armed
    }

    fn release(this: Arc<Self>) {
        teardown(&this, "driver unbound");
    }
}

impl debugfs::Command for Installed<RsdmaDev> {
    fn run(&self, cmd: &str) -> Result {
        match cmd {
            "flush" => {
                self.data.flush_queue();
                self.data.flush_cpu_caches();
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let d = &self.data;
        let st = d.iova.lock().stats();
        let (live, overflowed) = d
            .tracker
            .lock()
            .as_ref()
            .map_or((0, false), |t| (t.live(), t.overflowed()));
        let s = &d.stats;
        let _ = write!(
            out,
            "mode: {}\ncoherent: {}\ngranule: {}\nmaps: {}\nunmaps: {}\nsg_maps: {}\nsg_unmaps: {}\n\
             syncs: {}\nallocs: {}\nfrees: {}\nmap_failures: {}\nlive_mappings: {}\n\
             iova_pages_used: {}\niova_pages_high_water: {}\niova_alloc_failures: {}\n\
             tracker: {}\ntracker_findings: {}\ntracker_overflow: {}\nflushes: {}\n",
            if d.lazy { "lazy" } else { "strict" },
            d.coherent,
            d.granule(),
            s.maps.load(Relaxed),
            s.unmaps.load(Relaxed),
            s.sg_maps.load(Relaxed),
            s.sg_unmaps.load(Relaxed),
            s.syncs.load(Relaxed),
            s.allocs.load(Relaxed),
            s.frees.load(Relaxed),
            s.map_failures.load(Relaxed),
            live,
            st.used,
            st.high_water,
            st.alloc_failures,
            if d.tracker.lock().is_some() { "on" } else { "off" },
            s.findings.load(Relaxed),
            overflowed,
            s.flushes.load(Relaxed),
        );
    }
}

/// Attaches `dev` to rsdma.
pub fn attach(dev: &Device, cfg: Config) -> Result {
    if !dma_ops::kernel_has_dma_ops() {
        dev_err!(dev, "rsdma: this kernel has no per-device DMA ops (CONFIG_ARCH_HAS_DMA_OPS; on arm64 it comes with CONFIG_XEN)");
        return Err(errno::not_supported());
    }
    if dma_ops::installed_on::<RsdmaDev>(dev).is_some() {
        dev_err!(dev, "rsdma: device is already attached");
        return Err(errno::exists());
    }
    match iommu::group_size(dev) {
        0 => {
            dev_err!(
                dev,
                "rsdma: device has no IOMMU group (no IOMMU translates it)"
            );
            return Err(ENODEV);
        }
        1 => {}
        n => {
            dev_err!(
                dev,
                "rsdma: the device's IOMMU group holds {} devices; rsdma needs it alone",
                n
            );
            return Err(EBUSY);
        }
    }
    let domain = Domain::alloc(dev)
        .inspect_err(|e| dev_err!(dev, "rsdma: cannot allocate an IOMMU domain: {:?}", e))?;
    let pgsizes = domain.pgsize_bitmap();
    if pgsizes == 0 {
        dev_err!(dev, "rsdma: the IOMMU reports no page sizes");
        return Err(EINVAL);
    }
    let shift = pgsizes.trailing_zeros().max(crate::kapi::page::PAGE_SHIFT);
    let (ap_start, ap_end) = domain.aperture();
    // At most 40 bits: IOVAs go 32-bit first, and the bitmap chunks of a
    // larger space would need high-order atomic allocations.
    let space_bits = (64 - ap_end.leading_zeros()).clamp(20, 40);
    let icfg = IovaConfig::new(shift, space_bits).map_err(|e| {
        dev_err!(
            dev,
            "rsdma: unsupported IO address space ({} bits, granule {}): {}",
            space_bits,
            1u64 << shift,
            e
        );
        EINVAL
    })?;
    let mut slots = KVVec::with_capacity(icfg.chunk_count(), GFP_KERNEL)?;
    for _ in 0..icfg.chunk_count() {
        slots.push(Slot::new(), GFP_KERNEL)?;
    }
    let mut iova = Iova::new(icfg, ChunkTable(slots)).map_err(|_| EINVAL)?;
    // Never hand out IOVA 0, anything below the aperture, or a reserved
    // region (the SMMU's MSI window, platform reservations).
    let mut reserve = |start: u64, len: u64| -> Result {
        for _ in 0..GROW_ATTEMPTS {
            match iova.reserve(start, len) {
                Ok(_) => return Ok(()),
                Err(IovaError::NeedChunk { index }) => {
                    let chunk = Chunk(KVec::from_elem(0u64, icfg.chunk_words(), GFP_KERNEL)?);
                    let _ = iova.install_chunk(index, chunk);
                }
                Err(_) => return Err(EINVAL),
            }
        }
        Err(ENOMEM)
    };
    reserve(0, ap_start.max(1u64 << shift))?;
    let mut resv_err = Ok(());
    iommu::for_each_reserved_region(dev, |start, len| {
        if resv_err.is_ok() {
            resv_err = reserve(start, len);
        }
    });
    resv_err?;

    let mut caches = KVec::with_capacity(crate::kapi::time::nr_cpu_ids(), GFP_KERNEL)?;
    for _ in 0..crate::kapi::time::nr_cpu_ids() {
        caches.push(
            KBox::pin_init(
                new_irq_spinlock!(CpuCache::new(), "RsdmaDev::caches"),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    let mut fqs = KVec::new();
    if cfg.lazy {
        fqs.reserve(crate::kapi::time::nr_cpu_ids(), GFP_KERNEL)?;
        for _ in 0..crate::kapi::time::nr_cpu_ids() {
            let fq = FlushQueue {
                entries: [(0, 0); FLUSH_QUEUE_LEN],
                len: 0,
                oldest: 0,
            };
            fqs.push(
                KBox::pin_init(new_irq_spinlock!(fq, "RsdmaDev::fq"), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
    }
    let tracker = if cfg.tracker {
        let mut t = KVVec::with_capacity(TRACKER_RECORDS, GFP_KERNEL)?;
        for _ in 0..TRACKER_RECORDS {
            t.push(None, GFP_KERNEL)?;
        }
        Some(tracker::Tracker::new(
            TrackerTable(t),
            !tracker::ATTR_SKIP_CPU_SYNC,
        ))
    } else {
        None
    };
    let flush_ms = if cfg.flush_ms == 0 {
        DEFAULT_FLUSH_MS
    } else {
        cfg.flush_ms
    };

    let state = Arc::pin_init(
        Installed::new(pin_init!(RsdmaDev {
            flush_timer <- Timer::new(),
            dev: dev.get(),
            domain,
            shift,
            aperture_end: ap_end,
            coherent: dev.is_dma_coherent(),
            lazy: cfg.lazy,
            flush_jiffies: crate::kapi::time::msecs_to_jiffies(flush_ms),
            iova <- new_irq_spinlock!(iova, "RsdmaDev::iova"),
            caches,
            buffers <- new_irq_spinlock!(RBTree::new(), "RsdmaDev::buffers"),
            tracker <- new_irq_spinlock!(tracker, "RsdmaDev::tracker"),
            fqs,
            tracking: cfg.tracker,
            saved <- new_irq_spinlock!(None, "RsdmaDev::saved"),
            stats: Stats::default(),
            armed: AtomicBool::new(false),
            debugfs <- new_mutex!(None, "RsdmaDev::debugfs"),
        })),
        GFP_KERNEL,
    );
    // The domain is attached only once the state that owns it exists, so an
    // error on the way frees a domain no device is attached to.
    let state = state?;
    state.data.domain.attach(dev).inspect_err(|e| {
        dev_err!(
            dev,
            "rsdma: cannot attach the IOMMU domain: {:?} (does the driver set driver_managed_dma?)",
            e
        )
    })?;
    let saved = dma_ops::install(dev, state.clone());
    *state.data.saved.lock() = Some(saved);
    if let Err(e) = devres::register(dev, state.clone()) {
        dev_err!(dev, "rsdma: cannot register the unbind action: {:?}", e);
        teardown(&state, "attach failed");
        return Err(e);
    }
    let dir = debugfs::Dir::new_under_root_dir(c_str!("rsdma"), dev.name());
    let file = debugfs::CommandFile::new(&dir, c_str!("stats"), state.clone());
    *state.data.debugfs.lock() = Some((file, dir));
    dev_info!(
        dev,
        "rsdma: attached ({} invalidation, granule {} KiB, IOVA space {} bits, tracker {}, {}coherent)",
        if cfg.lazy { "lazy" } else { "strict" },
        1u64 << (shift - 10),
        space_bits,
        if cfg.tracker { "on" } else { "off" },
        if state.data.coherent { "" } else { "non-" }
    );
    Ok(())
}

/// Detaches `dev` from rsdma.
pub fn detach(dev: &Device) -> Result {
    let Some(state) = dma_ops::installed_on::<RsdmaDev>(dev) else {
        dev_err!(dev, "rsdma: detach of a device that is not attached");
        return Err(EINVAL);
    };
    if devres::unregister(dev, &*state).is_none() {
        // The unbind action is running: it does the teardown.
        return Ok(());
    }
    teardown(&state, "detached");
    Ok(())
}

/// Reports what the driver left mapped, restores the device and frees the
/// domain.
fn teardown(state: &Arc<Installed<RsdmaDev>>, why: &str) {
    let d = &state.data;
    let dev = &d.dev;
    // The debugfs file holds a reference; remove it first.
    let files = d.debugfs.lock().take();
    drop(files);
    let Some(saved) = d.saved.lock().take() else {
        return;
    };
    let _device_ref = dma_ops::restore(dev, state, saved);
    d.flush_queue();
    let mut leaks = 0usize;
    if let Some(t) = d.tracker.lock().as_mut() {
        for f in t.leaks(d.dev_id()) {
            leaks += 1;
            if leaks <= 16 {
                dev_err!(dev, "rsdma tracker: {}", f);
            }
        }
        t.forget(d.dev_id());
    }
    let bufs = core::mem::replace(&mut *d.buffers.lock(), RBTree::new());
    let mut held = 0usize;
    for (_, b) in bufs.iter() {
        held += b.size;
    }
    let nbufs = bufs.iter().count();
    // The device goes back to its default domain: nothing it does can
    // reach rsdma's mappings after this.
    d.domain.detach(dev);
    if nbufs > 0 {
        // The driver may still use these through its CPU pointers: keep the
        // memory rather than free it under the driver's feet.
        dev_warn!(
            dev,
            "rsdma: {} DMA buffer(s) ({} bytes) were never freed; their memory is kept",
            nbufs,
            held
        );
        core::mem::forget(bufs);
    }
    if leaks > 0 {
        dev_err!(
            dev,
            "rsdma: {} mapping(s) were still live at detach; unmapped with the domain",
            leaks
        );
    }
    dev_info!(dev, "rsdma: {}; device restored", why);
}
