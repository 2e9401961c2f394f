// SPDX-License-Identifier: GPL-2.0

//! Scatterlists and scatter-gather tables.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::{bindings, dma_ops::Lent, page::PageRuns, page::Pages, page::PAGE_SIZE};
use crate::rsdma_core::span;
use core::marker::PhantomData;
use kernel::error::{code::*, to_result, Result};

/// A chain of `nents` scatterlist entries handed to a DMA op.
///
/// # Invariants
///
/// `sgl` starts a chain of at least `nents` live entries, borrowed for the
/// lifetime `'a`.
pub struct SgList<'a> {
    sgl: *mut bindings::scatterlist,
    nents: usize,
    /// The entries describe memory a driver lent to the DMA ops.
    lent: bool,
    _p: PhantomData<&'a mut bindings::scatterlist>,
}

impl<'a> SgList<'a> {
    /// Borrows a chain.
    ///
    /// # Safety
    ///
    /// `sgl` must start a chain of at least `nents` live entries that
    /// nobody else changes during `'a`.
    pub unsafe fn from_raw(sgl: *mut bindings::scatterlist, nents: usize) -> Self {
        // INVARIANT: the caller's promise.
        Self {
            sgl,
            nents,
            lent: false,
            _p: PhantomData,
        }
    }

    /// Borrows a chain a DMA op was handed, whose entries may be lent
    /// ([`SgEntry::lend`]).
    ///
    /// # Safety
    ///
    /// As for [`SgList::from_raw`], and the entries must describe memory a
    /// driver lent to the DMA ops by mapping the list: the ops may read and
    /// write it until the list is unmapped.
    pub(super) unsafe fn lent_from_raw(sgl: *mut bindings::scatterlist, nents: usize) -> Self {
        // INVARIANT: the caller's promise.
        Self {
            sgl,
            nents,
            lent: true,
            _p: PhantomData,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.nents
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.nents == 0 || self.sgl.is_null()
    }

    /// The entries.
    pub fn iter(&self) -> SgIter<'_> {
        SgIter {
            sg: self.sgl,
            left: if self.sgl.is_null() { 0 } else { self.nents },
            lent: self.lent,
            _p: PhantomData,
        }
    }
}

impl<'a> IntoIterator for SgList<'a> {
    type Item = SgEntry<'a>;
    type IntoIter = SgIter<'a>;

    fn into_iter(self) -> SgIter<'a> {
        SgIter {
            sg: self.sgl,
            left: if self.sgl.is_null() { 0 } else { self.nents },
            lent: self.lent,
            _p: PhantomData,
        }
    }
}

impl SgList<'_> {
    /// The first entry, for the DMA API.
    pub fn raw(&self) -> *mut bindings::scatterlist {
        self.sgl
    }
}

/// An iterator over an [`SgList`].
pub struct SgIter<'a> {
    sg: *mut bindings::scatterlist,
    left: usize,
    lent: bool,
    _p: PhantomData<&'a ()>,
}

impl<'a> Iterator for SgIter<'a> {
    type Item = SgEntry<'a>;

    fn next(&mut self) -> Option<SgEntry<'a>> {
        if self.left == 0 || self.sg.is_null() {
            return None;
        }
        let cur = self.sg;
        self.left -= 1;
        if self.left > 0 {
            // SAFETY: `cur` is a live entry with more entries after it
            // (type invariant of `SgList`).
            self.sg = unsafe { bindings::rsdma_helper_sg_next(cur) };
        }
        // INVARIANT: `cur` is live for `'a`.
        Some(SgEntry {
            sg: cur,
            lent: self.lent,
            _p: PhantomData,
        })
    }
}

/// One scatterlist entry.
///
/// # Invariants
///
/// `sg` is a live entry of a chain borrowed for `'a`; when `lent`, its
/// memory was lent to the DMA ops (see [`SgList::lent_from_raw`]).
pub struct SgEntry<'a> {
    sg: *mut bindings::scatterlist,
    lent: bool,
    _p: PhantomData<&'a ()>,
}

impl SgEntry<'_> {
    /// The physical address of the entry's first byte.
    pub fn phys(&self) -> u64 {
        // SAFETY: live entry (type invariant).
        unsafe { bindings::rsdma_helper_sg_phys(self.sg) }
    }

    /// The CPU length in bytes.
    pub fn length(&self) -> u32 {
        // SAFETY: live entry.
        unsafe { (*self.sg).length }
    }

    /// The DMA address the mapping gave the entry.
    pub fn dma_address(&self) -> u64 {
        // SAFETY: live entry.
        unsafe { bindings::rsdma_helper_sg_dma_address(self.sg) }
    }

    /// The DMA length the mapping gave the entry (0 past the last DMA
    /// segment).
    pub fn dma_len(&self) -> u32 {
        // SAFETY: live entry.
        unsafe { bindings::rsdma_helper_sg_dma_len(self.sg) }
    }

    /// The entry's memory, as lent to the DMA ops; `None` for a list that
    /// was not handed to an op.
    pub fn lend(&self) -> Option<Lent> {
        if !self.lent {
            return None;
        }
        // SAFETY: the list was lent to the DMA ops (type invariant): the
        // entry's memory is theirs until the list is unmapped.
        unsafe { Lent::new(self.phys(), self.length() as usize) }
    }

    /// Sets the entry's DMA address and length.
    pub fn set_dma(&self, addr: u64, len: u32) {
        // SAFETY: live entry, which the DMA op owns while it maps the list.
        unsafe { bindings::rsdma_helper_sg_set_dma(self.sg, addr, len) };
    }
}

/// An owned scatter-gather table (`struct sg_table`) whose entries point at
/// pages the table also owns.
///
/// # Invariants
///
/// `table` was set up by `sg_alloc_table` with `pages.len()` entries, and
/// entry `i` describes (part of) `pages[i]`.
pub struct SgTable {
    table: bindings::sg_table,
    pages: kernel::alloc::KVec<Pages>,
}

impl SgTable {
    /// Builds a table of one entry per buffer in `pages`: entry `i` covers
    /// `lens[i]` bytes of `pages[i]` from offset `offs[i]`.
    pub fn new(pages: kernel::alloc::KVec<Pages>, offs: &[u32], lens: &[u32]) -> Result<Self> {
        let n = pages.len();
        if n == 0 || offs.len() != n || lens.len() != n {
            return Err(EINVAL);
        }
        for i in 0..n {
            let end = offs[i] as usize + lens[i] as usize;
            if lens[i] == 0 || end > pages[i].len() {
                return Err(EINVAL);
            }
        }
        let mut table = bindings::sg_table::default();
        // SAFETY: `table` is valid for writes.
        to_result(unsafe {
            bindings::sg_alloc_table(&mut table, n as u32, bindings::RSDMA_GFP_KERNEL)
        })?;
        let mut sg = table.sgl;
        for i in 0..n {
            // SAFETY: `sg` is entry `i` of the table just allocated; the
            // page lives as long as the table (we own both).
            unsafe {
                bindings::rsdma_helper_sg_set_page(sg, pages[i].as_page(), lens[i], offs[i]);
                sg = bindings::rsdma_helper_sg_next(sg);
            }
        }
        // INVARIANT: set up above.
        Ok(Self { table, pages })
    }

    /// The raw table, for the DMA API.
    pub fn as_raw(&mut self) -> *mut bindings::sg_table {
        &mut self.table
    }

    /// The buffers.
    pub fn pages(&self) -> &[Pages] {
        &self.pages
    }

    /// The buffers, for the CPU to write.
    pub fn pages_mut(&mut self) -> &mut [Pages] {
        &mut self.pages
    }

    /// The DMA segments after mapping: `(address, length)` of the first
    /// `nents` entries.
    pub fn dma_segments(&self, nents: usize) -> SgList<'_> {
        // SAFETY: the table holds at least `orig_nents >= nents` live
        // entries, borrowed with `self`.
        unsafe { SgList::from_raw(self.table.sgl, nents.min(self.table.orig_nents as usize)) }
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        // SAFETY: allocated by `sg_alloc_table` (type invariant).
        unsafe { bindings::sg_free_table(&mut self.table) };
    }
}

// SAFETY: the table and its pages are plain memory.
unsafe impl Send for SgTable {}
// SAFETY: `&SgTable` only reads.
unsafe impl Sync for SgTable {}

/// A scatter-gather table over a [`PageRuns`] buffer, its entries cut to a
/// device's limits, in one flat array (never chained).
///
/// Flat, so that nothing in it is reached through the entries' page links:
/// the dma-buf core scrambles those while an importer holds a table
/// (`CONFIG_DMABUF_DEBUG`), and the table can still be freed.
///
/// # Invariants
///
/// `table.sgl` points at `entries`, which `sg_init_table` set up as one list
/// of `entries.len()` entries (`orig_nents`), each describing memory of
/// `runs`, which the table keeps alive.
pub struct RunsTable {
    table: bindings::sg_table,
    entries: kernel::alloc::KVVec<bindings::scatterlist>,
    runs: kernel::sync::Arc<PageRuns>,
}

impl RunsTable {
    /// A table of `runs` with entries of at most `max_seg` bytes that do
    /// not cross a multiple of `boundary_mask + 1`.
    pub fn new(
        runs: kernel::sync::Arc<PageRuns>,
        max_seg: u32,
        boundary_mask: u64,
    ) -> Result<Self> {
        use kernel::alloc::flags::GFP_KERNEL;
        let mut spans = kernel::alloc::KVec::new();
        for (phys, len) in runs.runs() {
            spans.push((phys, len as u64), GFP_KERNEL)?;
        }
        let n = span::entries(&spans, max_seg, boundary_mask).count();
        let n32 = u32::try_from(n).map_err(|_| EINVAL)?;
        if n == 0 {
            return Err(EINVAL);
        }
        let mut entries = kernel::alloc::KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            entries.push(bindings::scatterlist::default(), GFP_KERNEL)?;
        }
        let sgl = entries.as_mut_ptr();
        // SAFETY: `sgl` points at `n` entries we own.
        unsafe { bindings::sg_init_table(sgl, n32) };
        for (i, (phys, len)) in span::entries(&spans, max_seg, boundary_mask).enumerate() {
            let off = (phys % PAGE_SIZE as u64) as u32;
            // SAFETY: entry `i < n` is ours; the page is part of `runs`,
            // which the table keeps alive.
            unsafe {
                let page = bindings::rsdma_helper_phys_to_page(phys - u64::from(off));
                bindings::rsdma_helper_sg_set_page(sgl.add(i), page, len, off);
            }
        }
        let table = bindings::sg_table {
            sgl,
            nents: n32,
            orig_nents: n32,
        };
        // INVARIANT: set up above; the vector's storage does not move when
        // the value does.
        Ok(Self {
            table,
            entries,
            runs,
        })
    }

    /// The raw table, for the DMA API.
    pub fn as_raw(&mut self) -> *mut bindings::sg_table {
        &mut self.table
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a table has at least one entry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The buffer the table describes.
    pub fn runs(&self) -> &PageRuns {
        &self.runs
    }

    /// The number of DMA segments a mapping wrote (`nents`).
    pub fn dma_count(&self) -> usize {
        self.table.nents as usize
    }

    /// Sets the number of DMA segments (at most the number of entries).
    pub fn set_dma_count(&mut self, n: usize) {
        self.table.nents = n.min(self.entries.len()) as u32;
    }

    /// The entries, with the DMA segments of a mapping in the first
    /// [`RunsTable::dma_count`].
    pub fn entries(&self) -> SgList<'_> {
        // SAFETY: `table.sgl` starts a list of `entries.len()` live
        // entries, borrowed with `self`.
        unsafe { SgList::from_raw(self.table.sgl, self.entries.len()) }
    }

    /// Copies the DMA address, length and flags of every entry of `src`,
    /// a table of the same entries.
    pub fn copy_dma_from(&mut self, src: &RunsTable) -> Result {
        if src.entries.len() != self.entries.len() {
            return Err(EINVAL);
        }
        for i in 0..self.entries.len() {
            // SAFETY: both tables hold entry `i`; the two tables are
            // distinct (`&mut self` and `&src`).
            unsafe {
                bindings::rsdma_helper_sg_copy_dma(self.table.sgl.add(i), src.table.sgl.add(i))
            };
        }
        self.table.nents = src.table.nents;
        Ok(())
    }
}

// SAFETY: the table is plain memory describing pages of a `PageRuns`,
// which is `Send + Sync`.
unsafe impl Send for RunsTable {}
// SAFETY: `&RunsTable` only reads.
unsafe impl Sync for RunsTable {}
