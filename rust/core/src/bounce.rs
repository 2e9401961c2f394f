//! Bounce slot pools, the slot allocator of kernel/dma/swiotlb.c.
//!
//! A pool is a physically contiguous buffer of fixed-size slots (2 KiB by
//! default), grouped in segments (128 slots: the largest mapping) and split
//! into [`Area`]s, each its own lock domain; [`area_for_cpu`] spreads CPUs
//! over them. A mapping takes contiguous slots inside one segment and one
//! area, keeps the original address's bits under `min_align_mask` (the bounce
//! address has the same low bits as the original), is page-aligned when it
//! is a page or more and nothing else constrains it, and never crosses the
//! device's segment boundary. Each mapping records the original address and
//! length for the copy back at unmap. Several pools (one per address limit,
//! more under pressure) are several sets of areas; [`BounceGeometry::below`]
//! tells whether a pool suits a device's DMA mask.
//!
//! For an untrusted device behind an IOMMU, the IOMMU maps whole granules
//! of the pool, so the caller asks for a span aligned to the granule
//! ([`BounceRequest::span_align_mask`]): the slots reserved then start and
//! end on granule boundaries and no other mapping shares them. The caller
//! zeroes the padding around the mapping ([`BounceMapping::pre_padding`],
//! [`BounceMapping::post_padding`]) and maps the whole span.
//!
//! When to copy between the original buffer and the slots is the table
//! [`copy_on`], after kernel/dma/swiotlb.c.

use core::fmt;

use super::dma::{Attrs, Direction};

/// Errors of the bounce pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BounceError {
    /// Inconsistent geometry or storage.
    BadConfig,
    /// Zero length, or more than a segment of slots.
    InvalidSize,
    /// No suitable free slots in this area (try another area or pool).
    NoSpace,
    /// The address is not the start of a live mapping of this area.
    NotMapped,
    /// A `span_align_mask` that is not one less than a power of two.
    BadAlign,
}

impl fmt::Display for BounceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadConfig => "bounce: bad configuration",
            Self::InvalidSize => "bounce: invalid mapping size",
            Self::NoSpace => "bounce: area full",
            Self::NotMapped => "bounce: address not mapped",
            Self::BadAlign => "bounce: bad span alignment",
        })
    }
}

/// Shape of one pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BounceGeometry {
    /// Device address of the pool's first slot (slot-aligned).
    pub base: u64,
    /// log2 of the slot size (11 for swiotlb's 2 KiB).
    pub slot_shift: u32,
    /// Slots per segment (the largest mapping), a power of two.
    pub segment_slots: usize,
    /// log2 of the page size.
    pub page_shift: u32,
}

impl BounceGeometry {
    /// swiotlb's shape: 2 KiB slots, 128-slot segments, 4 KiB pages.
    pub const fn swiotlb(base: u64) -> Self {
        BounceGeometry {
            base,
            slot_shift: 11,
            segment_slots: 128,
            page_shift: 12,
        }
    }

    /// Largest mapping in bytes.
    pub fn max_mapping(&self) -> u64 {
        (self.segment_slots as u64) << self.slot_shift
    }

    /// Whether a pool of `slots` slots lies wholly at or below the inclusive
    /// `dma_mask`.
    pub fn below(&self, slots: usize, dma_mask: u64) -> bool {
        (slots as u64)
            .checked_shl(self.slot_shift)
            .and_then(|b| self.base.checked_add(b))
            .is_some_and(|end| end == 0 || end - 1 <= dma_mask)
    }
}

/// Per-slot bookkeeping (caller storage, one per slot of the area).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BounceSlot {
    /// Original address (head slot).
    orig: u64,
    /// Mapping length in bytes (head slot).
    len: u64,
    /// Offset of the mapping from the start of its first slot (head slot).
    offset: u64,
    /// Slots of the mapping (head slot), 0 when free.
    slots: u32,
    /// Slot belongs to a mapping.
    used: bool,
}

/// What to bounce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BounceRequest {
    /// Original physical address.
    pub orig: u64,
    /// Mapping length.
    pub len: u64,
    /// `dma_get_min_align_mask`.
    pub min_align_mask: u64,
    /// Explicit alignment mask of the allocation (0 for streaming maps).
    pub alloc_align_mask: u64,
    /// `dma_get_seg_boundary`.
    pub boundary_mask: u64,
    /// Alignment mask of the reserved span (e.g. the IOMMU granule minus
    /// one; 0 for none): the span starts and ends on a multiple of
    /// `span_align_mask + 1`. The recorded mapping is still `len` bytes, at
    /// an offset into the span that keeps the original's bits under
    /// `min_align_mask` (as swiotlb does for iommu-dma's `iova_mask`).
    pub span_align_mask: u64,
}

/// A mapping [`Area::map`] made: the mapping proper and the span of slots
/// reserved for it, with `span_start <= tlb_addr` and
/// `tlb_addr + len <= span_start + span_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BounceMapping {
    /// The bounce address (same low bits as the original under
    /// `min_align_mask`).
    pub tlb_addr: u64,
    /// Mapping length in bytes (the request's `len`).
    pub len: u64,
    /// First byte of the slots reserved.
    pub span_start: u64,
    /// Bytes reserved (whole slots, a multiple of the span alignment).
    pub span_len: u64,
}

impl BounceMapping {
    /// The bytes of the span before the mapping: `(start, len)`.
    pub fn pre_padding(&self) -> (u64, u64) {
        (
            self.span_start,
            self.tlb_addr.saturating_sub(self.span_start),
        )
    }

    /// The bytes of the span after the mapping: `(start, len)`.
    pub fn post_padding(&self) -> (u64, u64) {
        let end = self.tlb_addr.saturating_add(self.len);
        let span_end = self.span_start.saturating_add(self.span_len);
        (end, span_end.saturating_sub(end))
    }
}

/// A point in a bounced mapping's life where data may have to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BounceOp {
    /// `map_page`, `map_sg`.
    Map,
    /// `unmap_page`, `unmap_sg`.
    Unmap,
    /// `sync_*_for_cpu`.
    SyncForCpu,
    /// `sync_*_for_device`.
    SyncForDevice,
}

/// A copy between the original buffer and its bounce slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BounceCopy {
    /// Original to slots (what the device is to read).
    ToSlot,
    /// Slots to original (what the device wrote).
    FromSlot,
}

/// Which copy `op` needs for a mapping of direction `dir` and attributes
/// `attrs`, as swiotlb does it:
///
/// | op                | `ToDevice` | `FromDevice` | `Bidirectional` |
/// |-------------------|------------|--------------|-----------------|
/// | map               | to slot    | to slot      | to slot         |
/// | unmap             | -          | from slot    | from slot       |
/// | `sync_for_cpu`    | -          | from slot    | from slot       |
/// | `sync_for_device` | to slot    | -            | to slot         |
///
/// A map copies in for every direction and whatever the attributes, so that
/// a device that writes only part of a buffer leaves the rest as it was
/// instead of exposing old pool data. An unmap with
/// `DMA_ATTR_SKIP_CPU_SYNC` copies nothing back. `DMA_NONE` copies nothing.
pub fn copy_on(op: BounceOp, dir: Direction, attrs: Attrs) -> Option<BounceCopy> {
    use BounceCopy::{FromSlot, ToSlot};
    use Direction::{Bidirectional, FromDevice, ToDevice};
    match (op, dir) {
        (_, Direction::None) => None,
        (BounceOp::Map, _) => Some(ToSlot),
        (BounceOp::Unmap, _) if attrs.contains(Attrs::SKIP_CPU_SYNC) => None,
        (BounceOp::Unmap | BounceOp::SyncForCpu, FromDevice | Bidirectional) => Some(FromSlot),
        (BounceOp::Unmap | BounceOp::SyncForCpu, ToDevice) => None,
        (BounceOp::SyncForDevice, ToDevice | Bidirectional) => Some(ToSlot),
        (BounceOp::SyncForDevice, FromDevice) => None,
    }
}

/// How a device's initial bounce memory is laid out: `pools` pools of
/// `pool_bytes` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPlan {
    /// Pools to allocate.
    pub pools: usize,
    /// Bytes of each.
    pub pool_bytes: usize,
}

/// Splits `total` bytes of initial bounce memory into one pool per CPU (so
/// that CPUs mapping at once take different locks), as many as `cpus` and
/// `max_pools` allow, a power of two, each at least `min_pool` bytes (the
/// largest mapping) when `total` has room for that, and a whole number of
/// `page` bytes.  Always at least one pool.
pub fn pool_plan(
    total: usize,
    cpus: usize,
    max_pools: usize,
    min_pool: usize,
    page: usize,
) -> PoolPlan {
    let room = match min_pool {
        0 => total,
        m => total / m,
    };
    let want = cpus.min(max_pools).min(room).max(1);
    // The largest power of two not above `want`.
    let pools = 1usize << (usize::BITS - 1 - want.leading_zeros());
    let per = total / pools;
    let pool_bytes = match page {
        0 => per,
        p => (per / p * p).max(p),
    };
    PoolPlan { pools, pool_bytes }
}

/// The area a CPU starts with (then the caller tries the others in order).
pub fn area_for_cpu(cpu: u32, areas: usize) -> usize {
    match areas {
        0 => 0,
        n => cpu as usize % n,
    }
}

/// One area: slots `[first, first+n)` of a pool, with its own lock.
pub struct Area<M> {
    geo: BounceGeometry,
    first: usize,
    used: usize,
    high_water: usize,
    index: usize,
    slots: M,
}

impl<M: AsRef<[BounceSlot]> + AsMut<[BounceSlot]>> Area<M> {
    /// An area of `slots.len()` slots starting at pool slot `first`.
    pub fn new(geo: BounceGeometry, first: usize, mut slots: M) -> Result<Self, BounceError> {
        let seg = geo.segment_slots;
        let n = slots.as_ref().len();
        if !(9..=16).contains(&geo.slot_shift)
            || seg == 0
            || !seg.is_power_of_two()
            || seg > 1 << 16
            || geo.page_shift < geo.slot_shift
            || geo.page_shift > 16
            || geo.base & ((1 << geo.slot_shift) - 1) != 0
            || n == 0
            || first % seg != 0
            || n % seg != 0
            || !geo.below(first.saturating_add(n), u64::MAX)
        {
            return Err(BounceError::BadConfig);
        }
        slots.as_mut().fill(BounceSlot::default());
        Ok(Area {
            geo,
            first,
            used: 0,
            high_water: 0,
            index: 0,
            slots,
        })
    }

    /// Slots in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The most slots in use at once so far.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Slots in the area.
    pub fn len(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Whether the area has no slots (never true for a constructed area).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot_addr(&self, i: usize) -> u64 {
        self.geo.base + (((self.first + i) as u64) << self.geo.slot_shift)
    }

    /// Whether `addr` falls in this area.
    pub fn contains(&self, addr: u64) -> bool {
        let start = self.slot_addr(0);
        addr >= start && addr - start < (self.len() as u64) << self.geo.slot_shift
    }

    /// Finds slots for `req` and records the mapping. Returns the bounce
    /// address (same low bits as `req.orig` under `min_align_mask`) and the
    /// span of slots reserved.
    pub fn map(&mut self, req: &BounceRequest) -> Result<BounceMapping, BounceError> {
        let slot_size = 1u64 << self.geo.slot_shift;
        let page = 1u64 << self.geo.page_shift;
        let span_mask = req.span_align_mask;
        if span_mask & span_mask.wrapping_add(1) != 0 {
            return Err(BounceError::BadAlign);
        }
        let offset =
            req.orig & req.min_align_mask & (req.alloc_align_mask | span_mask | (slot_size - 1));
        let alloc_size = req
            .len
            .checked_add(offset)
            .and_then(|n| n.checked_add(span_mask))
            .map(|n| n & !span_mask)
            .ok_or(BounceError::InvalidSize)?;
        let nslots_u = alloc_size.div_ceil(slot_size);
        if req.len == 0 || nslots_u > self.geo.segment_slots as u64 {
            return Err(BounceError::InvalidSize);
        }
        let nslots = nslots_u as usize;
        let n = self.len();
        if nslots > n - self.used {
            return Err(BounceError::NoSpace);
        }
        let mut align = req.alloc_align_mask | span_mask;
        let mut iotlb_mask = req.min_align_mask;
        if align == 0 && iotlb_mask == 0 && alloc_size >= page {
            align = page - 1;
        }
        align |= slot_size - 1;
        iotlb_mask &= !align;
        let stride =
            (core::cmp::max(align, iotlb_mask).saturating_add(1) >> self.geo.slot_shift).max(1);
        let stride = usize::try_from(stride).unwrap_or(usize::MAX);
        let seg = self.geo.segment_slots;
        let span = (nslots_u << self.geo.slot_shift) - 1;
        let mut idx = self.index % n;
        let mut checked = 0usize;
        while checked < n {
            let addr = self.slot_addr(idx);
            if addr & align != 0 || (addr & iotlb_mask) != (req.orig & iotlb_mask) {
                idx = (idx + 1) % n;
                checked += 1;
                continue;
            }
            let in_segment = idx / seg == (idx + nslots - 1) / seg && idx + nslots <= n;
            let no_boundary = addr
                .checked_add(span)
                .is_some_and(|end| addr & !req.boundary_mask == end & !req.boundary_mask);
            let free = in_segment
                && self
                    .slots
                    .as_ref()
                    .get(idx..idx + nslots)
                    .is_some_and(|s| s.iter().all(|x| !x.used));
            if free && no_boundary {
                let slots = self.slots.as_mut();
                for (k, s) in slots.iter_mut().skip(idx).take(nslots).enumerate() {
                    *s = BounceSlot {
                        used: true,
                        ..BounceSlot::default()
                    };
                    if k == 0 {
                        *s = BounceSlot {
                            orig: req.orig,
                            len: req.len,
                            offset,
                            slots: nslots as u32,
                            used: true,
                        };
                    }
                }
                self.used += nslots;
                self.high_water = self.high_water.max(self.used);
                self.index = (idx + nslots) % n;
                // `offset + len <= alloc_size <= span + 1`: the span holds
                // the mapping.
                return Ok(BounceMapping {
                    tlb_addr: addr + offset,
                    len: req.len,
                    span_start: addr,
                    span_len: span + 1,
                });
            }
            idx = (idx + stride) % n;
            checked = checked.saturating_add(stride);
        }
        Err(BounceError::NoSpace)
    }

    fn head_of(&self, tlb_addr: u64) -> Option<(usize, BounceSlot)> {
        if !self.contains(tlb_addr) {
            return None;
        }
        let i = ((tlb_addr - self.slot_addr(0)) >> self.geo.slot_shift) as usize;
        let slots = self.slots.as_ref();
        let mut h = i;
        loop {
            let s = slots.get(h)?;
            if !s.used {
                return None;
            }
            if s.slots != 0 {
                return Some((h, *s));
            }
            h = h.checked_sub(1)?;
        }
    }

    /// The index in this area of the first slot of the live mapping that
    /// holds `tlb_addr`: a key for what the caller keeps per mapping.
    pub fn head_slot(&self, tlb_addr: u64) -> Option<usize> {
        self.head_of(tlb_addr).map(|(h, _)| h)
    }

    /// For a sync of `tlb_addr` (anywhere inside a mapping): the original
    /// address it corresponds to and the bytes left in the mapping from it.
    pub fn lookup(&self, tlb_addr: u64) -> Option<(u64, u64)> {
        let (h, s) = self.head_of(tlb_addr)?;
        let start = self.slot_addr(h) + s.offset;
        let delta = tlb_addr.checked_sub(start)?;
        if delta >= s.len {
            return None;
        }
        Some((s.orig.checked_add(delta)?, s.len - delta))
    }

    /// The mapping that starts at `tlb_addr` (not inside it): its head
    /// slot, original address and length.
    pub fn mapping_at(&self, tlb_addr: u64) -> Option<(usize, u64, u64)> {
        let (h, s) = self.head_of(tlb_addr)?;
        (self.slot_addr(h) + s.offset == tlb_addr).then_some((h, s.orig, s.len))
    }

    /// Releases the mapping that starts at `tlb_addr`; returns its original
    /// address and length for the copy back.
    pub fn unmap(&mut self, tlb_addr: u64) -> Result<(u64, u64), BounceError> {
        let (h, s) = self.head_of(tlb_addr).ok_or(BounceError::NotMapped)?;
        if self.slot_addr(h) + s.offset != tlb_addr {
            return Err(BounceError::NotMapped);
        }
        let n = s.slots as usize;
        for x in self.slots.as_mut().iter_mut().skip(h).take(n) {
            *x = BounceSlot::default();
        }
        self.used -= n;
        Ok((s.orig, s.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const BASE: u64 = 0x1000_0000;

    fn area(slots: usize) -> Area<Vec<BounceSlot>> {
        Area::new(
            BounceGeometry::swiotlb(BASE),
            0,
            vec![BounceSlot::default(); slots],
        )
        .unwrap()
    }

    fn req(orig: u64, len: u64, min_align_mask: u64) -> BounceRequest {
        BounceRequest {
            orig,
            len,
            min_align_mask,
            alloc_align_mask: 0,
            boundary_mask: u64::MAX,
            span_align_mask: 0,
        }
    }

    fn granule_req(orig: u64, len: u64, min_align_mask: u64, granule: u64) -> BounceRequest {
        BounceRequest {
            span_align_mask: granule - 1,
            ..req(orig, len, min_align_mask)
        }
    }

    #[test]
    fn basics() {
        let mut a = area(256);
        let t = a.map(&req(0x5_0123, 100, 0)).unwrap();
        assert_eq!(
            t,
            BounceMapping {
                tlb_addr: BASE,
                len: 100,
                span_start: BASE,
                span_len: 2048
            }
        );
        let p = a.map(&req(0x6_0000, 4096, 0)).unwrap().tlb_addr;
        assert_eq!(p % 4096, 0, "page-sized mappings are page aligned");
        let m = a.map(&req(0x7_0abc, 64, 0xfff)).unwrap().tlb_addr;
        assert_eq!(m & 0xfff, 0xabc, "min_align_mask preserved");
        assert_eq!(a.lookup(m + 10), Some((0x7_0abc + 10, 54)));
        assert_eq!(a.head_slot(m + 10), a.head_slot(m));
        assert!(a.head_slot(m).is_some());
        assert_eq!(
            a.mapping_at(m + 1),
            None,
            "inside a mapping, not at its start"
        );
        assert_eq!(
            a.mapping_at(m),
            Some((a.head_slot(m).unwrap(), 0x7_0abc, 64))
        );
        assert_eq!(a.unmap(m + 1), Err(BounceError::NotMapped));
        assert_eq!(a.unmap(m), Ok((0x7_0abc, 64)));
        assert_eq!(a.unmap(m), Err(BounceError::NotMapped));
        assert_eq!(a.mapping_at(m), None, "unmapped");
        assert_eq!(a.map(&req(0, 129 * 2048, 0)), Err(BounceError::InvalidSize));
        assert_eq!(a.map(&req(0, 0, 0)), Err(BounceError::InvalidSize));
        let b = BounceRequest {
            boundary_mask: 0xffff,
            ..req(0, 3 * 2048, 0)
        };
        for _ in 0..20 {
            let x = a.map(&b).unwrap().tlb_addr;
            assert_eq!(x & !0xffff, (x + 3 * 2048 - 1) & !0xffff);
        }
        assert!(BounceGeometry::swiotlb(0).below(1 << 21, u32::MAX as u64));
        assert!(!BounceGeometry::swiotlb(0x1_0000_0000).below(1, u32::MAX as u64));
        assert_eq!(area_for_cpu(5, 4), 1);
    }

    #[test]
    fn pool_plan_splits_per_cpu() {
        const K: usize = 1024;
        let plan = |total, cpus, max| pool_plan(total, cpus, max, 256 * K, 4 * K);
        let p = |pools, kib: usize| PoolPlan {
            pools,
            pool_bytes: kib * K,
        };
        assert_eq!(plan(1024 * K, 2, 8), p(2, 512));
        assert_eq!(
            plan(1024 * K, 8, 8),
            p(4, 256),
            "never below the largest mapping"
        );
        assert_eq!(plan(1024 * K, 3, 8), p(2, 512), "a power of two");
        assert_eq!(
            plan(1024 * K, 8, 1),
            p(1, 1024),
            "bounded by bounce_max_pools"
        );
        assert_eq!(plan(256 * K, 2, 2), p(1, 256));
        assert_eq!(plan(64 * K, 4, 8), p(1, 64), "too small to split");
        assert_eq!(plan(4096 * K, 64, 64), p(16, 256));
        assert_eq!(plan(1000 * K, 2, 8), p(2, 500));
        assert_eq!(plan(1002 * K, 2, 8), p(2, 500), "whole pages");
        assert_eq!(
            plan(0, 0, 0),
            PoolPlan {
                pools: 1,
                pool_bytes: 4 * K
            }
        );
    }

    proptest! {
        #[test]
        fn pool_plan_fits(total in 0usize..1 << 24, cpus in 0usize..300, max in 0usize..100) {
            let p = pool_plan(total, cpus, max, 256 << 10, 4096);
            prop_assert!(p.pools >= 1 && p.pools.is_power_of_two());
            prop_assert!(p.pools == 1 || (p.pools <= cpus && p.pools <= max));
            prop_assert!(p.pools == 1 || p.pool_bytes >= 256 << 10);
            prop_assert!(p.pool_bytes % 4096 == 0 && p.pool_bytes >= 4096);
            prop_assert!(p.pools * p.pool_bytes <= total.max(4096));
        }
    }

    #[test]
    fn high_water_is_the_peak() {
        let mut a = area(256);
        assert_eq!(a.high_water(), 0);
        let x = a.map(&req(0, 5 * 2048, 0)).unwrap().tlb_addr;
        let y = a.map(&req(0, 2048, 0)).unwrap().tlb_addr;
        assert_eq!(a.high_water(), 6);
        a.unmap(x).unwrap();
        a.unmap(y).unwrap();
        assert_eq!((a.used(), a.high_water()), (0, 6));
        a.map(&req(0, 2 * 2048, 0)).unwrap();
        assert_eq!(a.high_water(), 6);
    }

    /// An untrusted device's 100-byte mapping at offset 0x234 of a 4 KiB
    /// granule: two slots, granule-aligned, with the padding around it.
    #[test]
    fn granule_span() {
        let mut a = area(256);
        // Take slot 0 so that the next free slot is not granule-aligned.
        a.map(&req(0, 1, 0)).unwrap();
        let m = a.map(&granule_req(0x9_1234, 100, 0xfff, 0x1000)).unwrap();
        assert_eq!(m.span_start % 0x1000, 0);
        assert_eq!(m.span_len, 0x1000);
        assert_eq!(m.tlb_addr, m.span_start + 0x234);
        assert_eq!(m.pre_padding(), (m.span_start, 0x234));
        assert_eq!(m.post_padding(), (m.tlb_addr + 100, 0x1000 - 0x234 - 100));
        // Sub-granule min_align bits beyond a slot are kept too.
        let m2 = a.map(&granule_req(0x9_1934, 0x900, 0xfff, 0x1000)).unwrap();
        assert_eq!(m2.tlb_addr & 0xfff, 0x934);
        assert_eq!(
            m2.span_len, 0x2000,
            "0x934 + 0x900 spills into a second granule"
        );
        // Without min_align, the mapping sits at the start of its span.
        let m3 = a.map(&granule_req(0x9_1934, 0x10, 0, 0x1000)).unwrap();
        assert_eq!(m3.pre_padding(), (m3.span_start, 0));
        assert_eq!(m3.post_padding().1, 0x1000 - 0x10);
        // Lookup and unmap see the mapping, not the padding.
        assert_eq!(a.lookup(m.tlb_addr + 99), Some((0x9_1234 + 99, 1)));
        assert_eq!(a.lookup(m.tlb_addr + 100), None);
        assert_eq!(a.lookup(m.span_start), None);
        assert_eq!(a.unmap(m.span_start), Err(BounceError::NotMapped));
        assert_eq!(a.unmap(m.tlb_addr), Ok((0x9_1234, 100)));
        assert_eq!(a.unmap(m2.tlb_addr), Ok((0x9_1934, 0x900)));
        assert_eq!(a.unmap(m3.tlb_addr), Ok((0x9_1934, 0x10)));
        assert_eq!(a.used(), 1);
        // 64 KiB granules: a whole granule of slots.
        let big = a.map(&granule_req(0x10, 0x10, 0, 0x1_0000)).unwrap();
        assert_eq!((big.span_start % 0x1_0000, big.span_len), (0, 0x1_0000));
        // Bad masks.
        assert_eq!(
            a.map(&granule_req(0, 1, 0, 0x1800)),
            Err(BounceError::BadAlign)
        );
        let huge = BounceRequest {
            span_align_mask: u64::MAX,
            ..req(0, 1, 0)
        };
        assert_eq!(a.map(&huge), Err(BounceError::InvalidSize));
        assert_eq!(
            a.map(&granule_req(0, 1, 0, 1 << 20)),
            Err(BounceError::InvalidSize)
        );
    }

    #[test]
    fn copy_table() {
        use BounceCopy::{FromSlot, ToSlot};
        use BounceOp::*;
        use Direction::{Bidirectional as Bi, FromDevice as From, ToDevice as To};
        // (op, dir, without SKIP_CPU_SYNC, with it)
        let rows = [
            (Map, To, Some(ToSlot), Some(ToSlot)),
            (Map, From, Some(ToSlot), Some(ToSlot)),
            (Map, Bi, Some(ToSlot), Some(ToSlot)),
            (Unmap, To, None, None),
            (Unmap, From, Some(FromSlot), None),
            (Unmap, Bi, Some(FromSlot), None),
            (SyncForCpu, To, None, None),
            (SyncForCpu, From, Some(FromSlot), Some(FromSlot)),
            (SyncForCpu, Bi, Some(FromSlot), Some(FromSlot)),
            (SyncForDevice, To, Some(ToSlot), Some(ToSlot)),
            (SyncForDevice, From, None, None),
            (SyncForDevice, Bi, Some(ToSlot), Some(ToSlot)),
        ];
        let other = Attrs::all().difference(Attrs::SKIP_CPU_SYNC);
        for (op, dir, plain, skip) in rows {
            assert_eq!(copy_on(op, dir, Attrs::empty()), plain, "{op:?} {dir:?}");
            assert_eq!(copy_on(op, dir, other), plain, "{op:?} {dir:?} others");
            assert_eq!(
                copy_on(op, dir, Attrs::SKIP_CPU_SYNC),
                skip,
                "{op:?} {dir:?} skip"
            );
            assert_eq!(copy_on(op, dir, Attrs::all()), skip, "{op:?} {dir:?} all");
        }
        for op in [Map, Unmap, SyncForCpu, SyncForDevice] {
            assert_eq!(copy_on(op, Direction::None, Attrs::empty()), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mappings and their spans stay disjoint, inside one segment and
        /// the boundary, keep the min_align bits and alignment; spans are
        /// aligned as asked and hold the mapping, which lookup and unmap
        /// find; accounting is exact and everything is free at the end.
        #[test]
        fn model(ops in proptest::collection::vec(
            (any::<bool>(), 0u64..1 << 30, 1u64..300_000, 0u8..4, 0u8..4, any::<usize>()),
            1..150,
        )) {
            let mut a = area(512);
            let mut owner = vec![false; 512];
            let mut live: Vec<(BounceMapping, u64)> = Vec::new();
            let mut peak = 0;
            for (is_map, orig, len, mask_pick, span_pick, pick) in ops {
                if is_map {
                    let mam = [0u64, 0xfff, 0x3f, 0x7ff][mask_pick as usize];
                    let bm = [u64::MAX, 0xffff, 0x3ffff, u64::MAX][mask_pick as usize];
                    let sam = [0u64, 0xfff, 0x3fff, 0xffff][span_pick as usize];
                    let r = BounceRequest {
                        orig,
                        len,
                        min_align_mask: mam,
                        alloc_align_mask: 0,
                        boundary_mask: bm,
                        span_align_mask: sam,
                    };
                    let off = orig & mam & (sam | 0x7ff);
                    let need = (len + off).div_ceil(sam + 1) * (sam + 1);
                    match a.map(&r) {
                        Ok(m) => {
                            let t = m.tlb_addr;
                            prop_assert_eq!(m.len, len);
                            prop_assert_eq!(t & mam, orig & mam);
                            prop_assert_eq!(m.span_start + off, t);
                            prop_assert!(t + len <= m.span_start + m.span_len);
                            prop_assert_eq!(m.span_start % (sam + 1), 0);
                            prop_assert_eq!(m.span_len % (sam + 1), 0);
                            prop_assert_eq!(m.span_len, need.div_ceil(2048) * 2048);
                            let first = ((m.span_start - BASE) >> 11) as usize;
                            let n = (m.span_len >> 11) as usize;
                            prop_assert_eq!(first / 128, (first + n - 1) / 128);
                            prop_assert_eq!(m.span_start & !bm, (m.span_start + m.span_len - 1) & !bm);
                            if mam == 0 && sam == 0 && len >= 4096 { prop_assert_eq!(t % 4096, 0); }
                            for o in &mut owner[first..first + n] { prop_assert!(!*o); *o = true; }
                            prop_assert_eq!(a.lookup(t), Some((orig, len)));
                            prop_assert_eq!(a.lookup(t + len - 1), Some((orig + len - 1, 1)));
                            let (pre, pre_len) = m.pre_padding();
                            let (post, post_len) = m.post_padding();
                            prop_assert_eq!(pre + pre_len, t);
                            prop_assert_eq!(post + post_len, m.span_start + m.span_len);
                            if pre_len > 0 { prop_assert_eq!(a.lookup(pre), None); }
                            if post_len > 0 { prop_assert_eq!(a.lookup(post), None); }
                            live.push((m, orig));
                        }
                        Err(BounceError::InvalidSize) => prop_assert!(need > 128 * 2048),
                        Err(e) => prop_assert_eq!(e, BounceError::NoSpace),
                    }
                } else if !live.is_empty() {
                    let (m, orig) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(a.unmap(m.tlb_addr), Ok((orig, m.len)));
                    let first = ((m.span_start - BASE) >> 11) as usize;
                    let n = (m.span_len >> 11) as usize;
                    for o in &mut owner[first..first + n] { *o = false; }
                }
                let used = owner.iter().filter(|o| **o).count();
                peak = peak.max(used);
                prop_assert_eq!(a.used(), used);
                prop_assert_eq!(a.high_water(), peak);
            }
            for (m, orig) in live { prop_assert_eq!(a.unmap(m.tlb_addr), Ok((orig, m.len))); }
            prop_assert_eq!(a.used(), 0);
        }
    }
}
