// SPDX-License-Identifier: GPL-2.0

//! A device's mapping of memory other devices map too: what a dma-buf
//! exporter keeps for each importer.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)

use super::scatterlist::RunsTable;
use super::{bindings, device::Device, page::PageRuns};
use crate::rsdma_core::span::{self, Piece};
use kernel::alloc::{flags::GFP_KERNEL, KBox, KVec};
use kernel::error::{code::*, Result};
use kernel::sync::Arc;
use kernel::types::ARef;

pub use crate::rsdma_core::dma::Direction;

/// Who a sync hands memory to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncTo {
    /// `dma_sync_*_for_cpu`.
    Cpu,
    /// `dma_sync_*_for_device`.
    Device,
}

/// What a [`SharedMapping`] hands out: the table the device's driver gets.
pub struct Handout(pub(super) core::ptr::NonNull<bindings::sg_table>);

impl Handout {
    /// The raw table.
    pub(super) fn as_raw(&self) -> *mut bindings::sg_table {
        self.0.as_ptr()
    }
}

/// One device's mapping of a buffer that other devices map too (a dma-buf
/// importer's), made on a table rsdma keeps, with a copy handed to the
/// device's driver.
///
/// The DMA API only ever sees the kept table: map, syncs and unmap all go
/// through it, so what the driver does to its copy (the dma-buf core
/// scrambles its page links while the driver holds it) cannot reach them.
/// The mapping is made without CPU sync and the buffer is then handed to
/// the device with an explicit sync: the same cache maintenance as a plain
/// map, but DMA-API debugging does not count a second device's mapping of
/// the same memory as an overlapping mapping of one device.
///
/// # Invariants
///
/// When `mapped` is `Some(dir)`, `kept` is mapped for `dev` in `dir` and
/// `handout` carries the same DMA segments.
pub struct SharedMapping {
    dev: ARef<Device>,
    kept: RunsTable,
    handout: KBox<RunsTable>,
    mapped: Option<Direction>,
    /// The byte lengths of the buffer's physically contiguous runs.
    run_lens: KVec<u64>,
    /// While mapped: the DMA segments' addresses, and the buffer cut at
    /// every run and segment boundary, which a range sync looks its pieces
    /// up in (empty when the segments do not cover the buffer in byte
    /// order).
    seg_addrs: KVec<u64>,
    layout: KVec<Piece>,
}

impl SharedMapping {
    /// Prepares (does not map) `runs` for `dev`, cut to the device's
    /// segment limits.
    pub fn new(dev: &Device, runs: Arc<PageRuns>) -> Result<Self> {
        let (max, boundary) = (dev.max_seg_size(), dev.seg_boundary());
        let kept = RunsTable::new(runs.clone(), max, boundary)?;
        let handout = KBox::new(RunsTable::new(runs, max, boundary)?, GFP_KERNEL)?;
        let mut run_lens = KVec::new();
        for (_, n) in kept.runs().runs() {
            run_lens.push(n as u64, GFP_KERNEL)?;
        }
        // INVARIANT: not mapped.
        Ok(Self {
            dev: dev.get(),
            kept,
            handout,
            mapped: None,
            run_lens,
            seg_addrs: KVec::new(),
            layout: KVec::new(),
        })
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The direction of the mapping, if mapped.
    pub fn direction(&self) -> Option<Direction> {
        self.mapped
    }

    /// The size of the buffer in bytes.
    pub fn len(&self) -> usize {
        self.kept.runs().len()
    }

    /// Always false: a buffer holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Maps the buffer for the device in `dir` and hands it to the device.
    pub fn map(&mut self, dir: Direction) -> Result {
        if self.mapped.is_some() || dir == Direction::None {
            return Err(EINVAL);
        }
        // SAFETY: the device is live; the table describes pages it keeps
        // alive, and stays unchanged while mapped (we own it).
        kernel::error::to_result(unsafe {
            bindings::dma_map_sgtable(
                self.dev.as_raw(),
                self.kept.as_raw(),
                dir.as_raw(),
                bindings::RSDMA_DMA_ATTR_SKIP_CPU_SYNC as _,
            )
        })?;
        // INVARIANT: mapped above; the handout gets its segments.
        self.mapped = Some(dir);
        if let Err(e) = self
            .handout
            .copy_dma_from(&self.kept)
            .and_then(|()| self.lay_out_segments())
        {
            self.unmap();
            return Err(e);
        }
        self.sync(SyncTo::Device);
        Ok(())
    }

    /// Records the DMA segments for range syncs, once per mapping; none
    /// when they do not cover the buffer in byte order.
    fn lay_out_segments(&mut self) -> Result {
        let (mut addrs, mut lens) = (KVec::new(), KVec::new());
        for (addr, n) in self.segments() {
            addrs.push(addr, GFP_KERNEL)?;
            lens.push(u64::from(n), GFP_KERNEL)?;
        }
        let size = self.kept.runs().len() as u64;
        if lens.iter().try_fold(0u64, |s, &l| s.checked_add(l)) != Some(size) {
            return Ok(());
        }
        let mut layout = KVec::new();
        for p in span::pieces(&self.run_lens, &lens, 0, size).map_err(|_| EINVAL)? {
            layout.push(p, GFP_KERNEL)?;
        }
        self.seg_addrs = addrs;
        self.layout = layout;
        Ok(())
    }

    /// Hands the buffer back to the CPU and unmaps it.
    pub fn unmap(&mut self) {
        let Some(dir) = self.mapped else {
            return;
        };
        self.sync(SyncTo::Cpu);
        self.mapped = None;
        self.seg_addrs = KVec::new();
        self.layout = KVec::new();
        let t = self.kept.as_raw();
        // SAFETY: mapped in `dir` (type invariant), undone once (`mapped`
        // is cleared above).
        unsafe {
            bindings::dma_unmap_sg_attrs(
                self.dev.as_raw(),
                (*t).sgl,
                (*t).orig_nents as i32,
                dir.as_raw(),
                bindings::RSDMA_DMA_ATTR_SKIP_CPU_SYNC as _,
            )
        };
        self.handout.set_dma_count(0);
    }

    /// The table to hand to the device's driver, when mapped.
    pub fn handout(&mut self) -> Option<Handout> {
        self.mapped?;
        core::ptr::NonNull::new(self.handout.as_raw()).map(Handout)
    }

    /// Whether `h` is the table this mapping handed out.
    pub fn is(&mut self, h: &Handout) -> bool {
        core::ptr::eq(self.handout.as_raw(), h.as_raw())
    }

    /// The DMA segments `(address, length)` of the mapping (none when not
    /// mapped).
    pub fn segments(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let n = if self.mapped.is_some() {
            self.kept.dma_count()
        } else {
            0
        };
        self.kept
            .entries()
            .into_iter()
            .take(n)
            .map(|e| (e.dma_address(), e.dma_len()))
    }

    /// Syncs the whole buffer for `to` (`dma_sync_sgtable_for_*`), in the
    /// mapping's direction; nothing when not mapped.
    pub fn sync(&self, to: SyncTo) {
        let Some(dir) = self.mapped else {
            return;
        };
        let t = &self.kept.entries();
        // SAFETY: the list is mapped for the device in `dir` (type
        // invariant); `orig_nents` entries, as the DMA API wants.
        unsafe {
            let (sgl, n) = (t.raw(), t.len() as i32);
            match to {
                SyncTo::Cpu => {
                    bindings::__dma_sync_sg_for_cpu(self.dev.as_raw(), sgl, n, dir.as_raw())
                }
                SyncTo::Device => {
                    bindings::__dma_sync_sg_for_device(self.dev.as_raw(), sgl, n, dir.as_raw())
                }
            }
        }
    }

    /// Syncs bytes `[offset, offset+len)` of the buffer for `to`, telling
    /// the DMA ops the transfer goes in `dir` (the mapping's direction, or
    /// one it allows): one `dma_sync_single_*` per piece that lies in one
    /// physically contiguous run and one DMA segment.  When the DMA
    /// segments do not cover the buffer in byte order, the whole buffer is
    /// synced instead (more than asked is always safe).  Returns the bytes
    /// synced (0 when not mapped).
    ///
    /// A `dir` the mapping does not allow is refused with `EINVAL`.
    ///
    /// Single syncs inside a segment, not a trimmed copy of the list: the
    /// DMA API's debugging checks an sg sync's entry count against the map.
    pub fn sync_range(&self, offset: u64, len: u64, to: SyncTo, dir: Direction) -> Result<u64> {
        let Some(mapped) = self.mapped else {
            return Ok(0);
        };
        if !crate::rsdma_core::importer_sync::allows(mapped, dir) {
            return Err(EINVAL);
        }
        if self.layout.is_empty() {
            self.sync(to);
            return Ok(self.kept.runs().len() as u64);
        }
        let pieces = span::within(&self.layout, offset, len).map_err(|_| EINVAL)?;
        let mut done = 0u64;
        for p in pieces {
            let addr = self
                .seg_addrs
                .get(p.b.0)
                .and_then(|a| a.checked_add(p.b.1))
                .ok_or(EINVAL)?;
            // SAFETY: `addr..addr + p.len` lies inside one DMA segment of
            // the live mapping and one physically contiguous run, so it is
            // one contiguous range to the device and to the CPU.
            unsafe {
                let (d, n, r) = (self.dev.as_raw(), p.len as usize, dir.as_raw());
                match to {
                    SyncTo::Cpu => bindings::__dma_sync_single_for_cpu(d, addr, n, r),
                    SyncTo::Device => bindings::__dma_sync_single_for_device(d, addr, n, r),
                }
            }
            done += p.len;
        }
        Ok(done)
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        self.unmap();
    }
}
