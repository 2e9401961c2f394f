// SPDX-License-Identifier: GPL-2.0

//! The kernel's DMA API, as a driver uses it.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! Whatever ops serve the device (the kernel's own, or rsdma's once the
//! device is attached), these are the standard entry points.

use super::memremap::{Caching, MemRemap, PhysRange};
use super::mm::Ram;
use super::{bindings, device::Device, page::Pages};
use kernel::error::{code::*, Result};
use kernel::types::ARef;

pub use crate::rsdma_core::dma::Direction;

/// Copies `out.len()` bytes from `src` with volatile reads: memory a device
/// may write at any time.
///
/// # Safety
///
/// `src..src + out.len()` must be valid for reads.
pub(super) unsafe fn read_volatile_bytes(src: *const u8, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: `i < out.len()`, inside the range the caller vouches for.
        *b = unsafe { src.add(i).read_volatile() };
    }
}

/// Copies `data` to `dst` with volatile writes: memory a device may read
/// at any time.
///
/// # Safety
///
/// `dst..dst + data.len()` must be valid for writes.
pub(super) unsafe fn write_volatile_bytes(dst: *mut u8, data: &[u8]) {
    for (i, b) in data.iter().enumerate() {
        // SAFETY: `i < data.len()`, inside the range the caller vouches for.
        unsafe { dst.add(i).write_volatile(*b) };
    }
}

/// A streaming mapping of a page buffer it owns (`dma_map_page_attrs`).
///
/// The device owns the buffer while it is mapped; the CPU gets it back for a
/// while with [`Mapping::with_cpu`] (sync for CPU, then for device), or for
/// good with [`Mapping::unmap`].
///
/// # Invariants
///
/// `addr` is a live mapping of `pages[offset..offset + len]` for `dev` in
/// direction `dir`.
pub struct Mapping {
    dev: ARef<Device>,
    pages: Option<Pages>,
    addr: u64,
    /// Where in `pages` the mapping starts.
    offset: usize,
    len: usize,
    dir: Direction,
}

impl Mapping {
    /// Maps the first `len` bytes of `pages` for `dev`.
    pub fn new(dev: &Device, pages: Pages, len: usize, dir: Direction) -> Result<Self> {
        Self::new_at(dev, pages, 0, len, dir)
    }

    /// Maps `len` bytes of `pages` from `offset` for `dev`, for a buffer
    /// that neither starts nor ends on a page boundary.
    pub fn new_at(
        dev: &Device,
        pages: Pages,
        offset: usize,
        len: usize,
        dir: Direction,
    ) -> Result<Self> {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if len == 0 || end > pages.len() {
            return Err(EINVAL);
        }
        let page_size = super::page::PAGE_SIZE;
        let page = pages.nth_page(offset / page_size).ok_or(EINVAL)?;
        // SAFETY: the device is live; `page` is a page of `pages`, which
        // holds the `len` bytes from `offset % PAGE_SIZE` in it, and is kept
        // alive (owned) until the mapping is undone.
        let addr = unsafe {
            bindings::dma_map_page_attrs(
                dev.as_raw(),
                page,
                offset % page_size,
                len,
                dir.as_raw(),
                0,
            )
        };
        // SAFETY: the device is live.
        if unsafe { bindings::rsdma_helper_dma_mapping_error(dev.as_raw(), addr) } != 0 {
            return Err(ENOMEM);
        }
        // INVARIANT: mapped above.
        Ok(Self {
            dev: dev.get(),
            pages: Some(pages),
            addr,
            offset,
            len,
            dir,
        })
    }

    /// The device's address of the buffer.
    pub fn dma_addr(&self) -> u64 {
        self.addr
    }

    /// The mapped length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Gives `len` bytes at `offset` to the CPU (`dma_sync_single_range_for_cpu`).
    pub fn sync_range_for_cpu(&self, offset: usize, len: usize) -> Result {
        sync_single(&self.dev, self.addr, self.len, offset, len, self.dir, true)
    }

    /// Gives `len` bytes at `offset` back to the device
    /// (`dma_sync_single_range_for_device`).
    pub fn sync_range_for_device(&self, offset: usize, len: usize) -> Result {
        sync_single(&self.dev, self.addr, self.len, offset, len, self.dir, false)
    }

    /// Lends the mapped bytes to the CPU: syncs for the CPU, runs `f`, and
    /// syncs back for the device.
    pub fn with_cpu<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        self.sync_range_for_cpu(0, self.len)?;
        let (start, end) = (self.offset, self.offset + self.len);
        let r = match self.pages.as_mut() {
            Some(p) => f(&mut p.as_mut_slice()[start..end]),
            None => return Err(EINVAL),
        };
        self.sync_range_for_device(0, self.len)?;
        Ok(r)
    }

    /// Reads the mapped bytes at `offset` after syncing that range for the
    /// CPU; the range stays with the CPU until [`Self::sync_range_for_device`].
    pub fn read_range(&self, offset: usize, out: &mut [u8]) -> Result {
        self.sync_range_for_cpu(offset, out.len())?;
        let p = self.pages.as_ref().ok_or(EINVAL)?;
        let start = self.offset + offset;
        out.copy_from_slice(&p.as_slice()[start..start + out.len()]);
        Ok(())
    }

    /// Unmaps and returns the whole buffer to the CPU.
    pub fn unmap(mut self) -> Result<Pages> {
        self.do_unmap();
        // `pages` is only taken here and in drop, so it is always present.
        self.pages.take().ok_or(EINVAL)
    }

    fn do_unmap(&mut self) {
        if self.pages.is_some() {
            // SAFETY: the mapping is live (type invariant) and undone once:
            // both callers take `pages` right after.
            unsafe {
                bindings::dma_unmap_page_attrs(
                    self.dev.as_raw(),
                    self.addr,
                    self.len,
                    self.dir.as_raw(),
                    0,
                )
            };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.do_unmap();
        self.pages = None;
    }
}

/// Hands `len` bytes at `offset` of the live streaming allocation or
/// mapping of `size` bytes at `addr` (in direction `dir`) to the CPU
/// (`for_cpu`) or back to the device; `EINVAL` for a range outside it.
fn sync_single(
    dev: &Device,
    addr: u64,
    size: usize,
    offset: usize,
    len: usize,
    dir: Direction,
    for_cpu: bool,
) -> Result {
    let end = offset.checked_add(len).ok_or(EINVAL)?;
    if len == 0 || end > size {
        return Err(EINVAL);
    }
    let at = addr + offset as u64;
    // SAFETY: the caller's mapping of `addr..addr + size` is live, and
    // `at..at + len` lies inside it.
    unsafe {
        if for_cpu {
            bindings::__dma_sync_single_for_cpu(dev.as_raw(), at, len, dir.as_raw())
        } else {
            bindings::__dma_sync_single_for_device(dev.as_raw(), at, len, dir.as_raw())
        }
    };
    Ok(())
}

/// A coherent buffer (`dma_alloc_attrs`), shared by CPU and device.
///
/// # Invariants
///
/// `cpu` and `addr` are a live allocation of `len` bytes for `dev`.
pub struct Coherent {
    dev: ARef<Device>,
    cpu: *mut u8,
    addr: u64,
    len: usize,
    attrs: u64,
}

impl Coherent {
    /// Allocates `len` zeroed bytes with `attrs` (`DMA_ATTR_*`).
    pub fn new(dev: &Device, len: usize, attrs: u64) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        let mut addr = 0;
        // SAFETY: the device is live; `addr` is valid for writes.
        let cpu = unsafe {
            bindings::dma_alloc_attrs(
                dev.as_raw(),
                len,
                &mut addr,
                bindings::RSDMA_GFP_KERNEL | bindings::RSDMA_GFP_ZERO,
                attrs as _,
            )
        };
        if cpu.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: allocated above.
        Ok(Self {
            dev: dev.get(),
            cpu: cpu.cast(),
            addr,
            len,
            attrs,
        })
    }

    /// The device's address of the buffer.
    pub fn dma_addr(&self) -> u64 {
        self.addr
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// What the allocation returned for the CPU: the kernel address of the
    /// buffer, or a cookie with `DMA_ATTR_NO_KERNEL_MAPPING`.
    pub fn cpu_addr(&self) -> usize {
        self.cpu as usize
    }

    /// Whether the kernel can reach the buffer (it was allocated without
    /// `DMA_ATTR_NO_KERNEL_MAPPING`).
    pub fn has_kernel_mapping(&self) -> bool {
        self.attrs & bindings::RSDMA_DMA_ATTR_NO_KERNEL_MAPPING == 0
    }

    /// Checks that `len` bytes at `offset` lie in the buffer and that the
    /// kernel can reach them.
    fn check_cpu_range(&self, offset: usize, len: usize) -> Result {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > self.len || !self.has_kernel_mapping() {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Copies `out.len()` bytes at `offset` out of the buffer.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        self.check_cpu_range(offset, out.len())?;
        // SAFETY: `offset + out.len() <= len` in a buffer the kernel maps
        // (both checked).
        unsafe { read_volatile_bytes(self.cpu.add(offset), out) };
        Ok(())
    }

    /// Copies `data` into the buffer at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        self.check_cpu_range(offset, data.len())?;
        // SAFETY: as in `read`.
        unsafe { write_volatile_bytes(self.cpu.add(offset), data) };
        Ok(())
    }
}

impl Drop for Coherent {
    fn drop(&mut self) {
        // SAFETY: allocated by us with these arguments (type invariant).
        unsafe {
            bindings::dma_free_attrs(
                self.dev.as_raw(),
                self.len,
                self.cpu.cast(),
                self.addr,
                self.attrs as _,
            )
        };
    }
}

// SAFETY: DMA buffers may be used and freed from any thread.
unsafe impl Send for Coherent {}
// SAFETY: access goes through volatile byte copies.
unsafe impl Sync for Coherent {}

/// A mapped scatter-gather table (`dma_map_sgtable`); unmapped on drop.
///
/// # Invariants
///
/// `table` is mapped for `dev` in direction `dir`, with `nents` DMA
/// segments.
pub struct SgMapping {
    dev: ARef<Device>,
    table: super::scatterlist::SgTable,
    nents: usize,
    dir: Direction,
    mapped: bool,
}

impl SgMapping {
    /// Maps every entry of `table` for `dev`.
    pub fn new(
        dev: &Device,
        mut table: super::scatterlist::SgTable,
        dir: Direction,
    ) -> Result<Self> {
        // SAFETY: the device is live; the table and its pages are owned by
        // the mapping until it is undone.
        let ret =
            unsafe { bindings::dma_map_sgtable(dev.as_raw(), table.as_raw(), dir.as_raw(), 0) };
        kernel::error::to_result(ret)?;
        // SAFETY: `dma_map_sgtable` filled in `nents`.
        let nents = unsafe { (*table.as_raw()).nents } as usize;
        // INVARIANT: mapped above.
        Ok(Self {
            dev: dev.get(),
            table,
            nents,
            dir,
            mapped: true,
        })
    }

    /// The number of DMA segments.
    pub fn nents(&self) -> usize {
        self.nents
    }

    /// The DMA segments.
    pub fn segments(&self) -> super::scatterlist::SgList<'_> {
        self.table.dma_segments(self.nents)
    }

    /// Gives the whole table to the CPU (`dma_sync_sgtable_for_cpu`).
    pub fn sync_for_cpu(&mut self) {
        // SAFETY: mapped (type invariant).
        unsafe {
            let t = self.table.as_raw();
            bindings::__dma_sync_sg_for_cpu(
                self.dev.as_raw(),
                (*t).sgl,
                (*t).orig_nents as i32,
                self.dir.as_raw(),
            )
        };
    }

    /// Gives the whole table back to the device.
    pub fn sync_for_device(&mut self) {
        // SAFETY: mapped (type invariant).
        unsafe {
            let t = self.table.as_raw();
            bindings::__dma_sync_sg_for_device(
                self.dev.as_raw(),
                (*t).sgl,
                (*t).orig_nents as i32,
                self.dir.as_raw(),
            )
        };
    }

    /// Unmaps and returns the table to the CPU.
    pub fn unmap(mut self) -> super::scatterlist::SgTable {
        self.do_unmap();
        // Move the table out without running `Drop` (already unmapped).
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; `table` is read
        // once and `dev` dropped here.
        unsafe {
            drop(core::ptr::read(&this.dev));
            core::ptr::read(&this.table)
        }
    }

    fn do_unmap(&mut self) {
        if self.mapped {
            self.mapped = false;
            // SAFETY: mapped (type invariant), undone once.
            unsafe {
                bindings::dma_unmap_sg_attrs(
                    self.dev.as_raw(),
                    (*self.table.as_raw()).sgl,
                    (*self.table.as_raw()).orig_nents as i32,
                    self.dir.as_raw(),
                    0,
                )
            };
        }
    }
}

impl Drop for SgMapping {
    fn drop(&mut self) {
        self.do_unmap();
    }
}

/// Calls `dma_unmap_page_attrs` with arbitrary arguments.
///
/// For tests of misuse detection: a DMA layer must survive (and report) an
/// unmap that matches no mapping, or one that is wrong in size or
/// direction.
///
/// # Safety
///
/// `dev`'s DMA layer must check every unmap against its live mappings and
/// refuse the ones that match none (rsdma with its tracker does).  A layer
/// that trusts its callers, such as the kernel's iommu-dma, tears down
/// whatever lies at `addr`, which may be another mapping still in use.
pub unsafe fn unmap_page_unchecked(dev: &Device, addr: u64, size: usize, dir: Direction) {
    // SAFETY: the device is live; the caller promises that its DMA layer
    // validates the rest.
    unsafe { bindings::dma_unmap_page_attrs(dev.as_raw(), addr, size, dir.as_raw(), 0) };
}

impl Mapping {
    /// Forgets the mapping without unmapping it, handing the buffer back:
    /// the device keeps access until its DMA layer tears the mapping down
    /// (at detach).  For tests of leak reporting.
    pub fn leak(mut self) {
        // Leak the pages too: the device may still reach them.
        core::mem::forget(self.pages.take());
    }
}

impl Coherent {
    /// Maps the buffer into a process (`dma_mmap_attrs`).
    pub fn mmap(&self, vma: &super::dma_ops::Vma) -> Result {
        // SAFETY: the device and the allocation are live; the VMA is being
        // set up by the caller's mmap handler.
        kernel::error::to_result(unsafe {
            bindings::dma_mmap_attrs(
                self.dev.as_raw(),
                vma.as_raw(),
                self.cpu.cast(),
                self.addr,
                self.len,
                self.attrs as _,
            )
        })
    }
}

impl Coherent {
    /// Runs `f` with the buffer as I/O memory, for a buffer from memory
    /// declared for I/O accessors only (`dma_alloc_attrs` then hands out an
    /// `__iomem` address).
    pub fn with_io<R>(&self, f: impl FnOnce(&super::io::Mmio) -> R) -> R {
        // SAFETY: `cpu` maps `len` bytes (type invariant) for as long as
        // `self`, which outlives the `Mmio` lent to `f`.
        let io = unsafe { super::io::Mmio::new(self.cpu.cast(), self.len) };
        f(&io)
    }

    /// The buffer's pages as a scatter-gather table
    /// (`dma_get_sgtable_attrs`).
    pub fn sg_table(&self) -> Result<CoherentSgTable<'_>> {
        let mut table = bindings::sg_table::default();
        // SAFETY: the device and the allocation are live; `table` is empty
        // and valid for writes.
        kernel::error::to_result(unsafe {
            bindings::dma_get_sgtable_attrs(
                self.dev.as_raw(),
                &mut table,
                self.cpu.cast(),
                self.addr,
                self.len,
                self.attrs as _,
            )
        })?;
        // INVARIANT: filled above.
        Ok(CoherentSgTable {
            table,
            _buf: core::marker::PhantomData,
        })
    }
}

/// The scatter-gather table of a coherent buffer: entries that describe the
/// buffer's pages, which the buffer keeps.  Freed on drop.
///
/// # Invariants
///
/// `table` was filled by `dma_get_sgtable_attrs` for a buffer that lives
/// for `'a`.
pub struct CoherentSgTable<'a> {
    table: bindings::sg_table,
    _buf: core::marker::PhantomData<&'a Coherent>,
}

impl CoherentSgTable<'_> {
    /// The entries.
    pub fn entries(&self) -> super::scatterlist::SgList<'_> {
        // SAFETY: the table holds `orig_nents` live entries, borrowed with
        // `self`.
        unsafe {
            super::scatterlist::SgList::from_raw(self.table.sgl, self.table.orig_nents as usize)
        }
    }

    /// Reads `out.len()` bytes at `offset` of the buffer through the
    /// kernel's linear map of the pages the entries name.  Shows what the
    /// table describes; for a device that does not snoop the caches the
    /// linear map is a cacheable view of uncached memory and may be stale.
    pub fn read_linear(&self, offset: usize, out: &mut [u8]) -> Result {
        let mut base = 0usize;
        let mut done = 0usize;
        for e in self.entries().iter() {
            let len = e.length() as usize;
            let end = base.checked_add(len).ok_or(EINVAL)?;
            while done < out.len() {
                let at = offset.checked_add(done).ok_or(EINVAL)?;
                if at < base || at >= end {
                    break;
                }
                let n = (end - at).min(out.len() - done);
                // SAFETY: the entry names `len` bytes of the buffer's pages,
                // live for the table's borrow, in the linear map; `at - base
                // + n <= len`.  Volatile: a device may write them any time.
                unsafe {
                    let p = bindings::rsdma_helper_phys_to_virt(e.phys()).cast::<u8>();
                    read_volatile_bytes(p.add(at - base), &mut out[done..done + n]);
                }
                done += n;
            }
            base = end;
        }
        if done == out.len() {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }
}

impl Drop for CoherentSgTable<'_> {
    fn drop(&mut self) {
        // SAFETY: filled by `dma_get_sgtable_attrs` (type invariant).
        unsafe { bindings::sg_free_table(&mut self.table) };
    }
}

/// Pages for DMA the driver keeps coherent itself (`dma_alloc_pages`,
/// which `dma_alloc_noncoherent` wraps): the CPU reaches them through the
/// linear map, and ownership moves with [`NonCoherent::sync_for_cpu`] and
/// [`NonCoherent::sync_for_device`].
///
/// # Invariants
///
/// `page` heads a live allocation of `len` bytes for `dev` in direction
/// `dir`, at device address `addr` and kernel address `virt`.
pub struct NonCoherent {
    dev: ARef<Device>,
    page: *mut bindings::page,
    virt: *mut u8,
    addr: u64,
    len: usize,
    dir: Direction,
}

impl NonCoherent {
    /// Allocates `len` zeroed bytes for transfers in `dir`.
    pub fn new(dev: &Device, len: usize, dir: Direction) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        let mut addr = 0;
        // SAFETY: the device is live; `addr` is valid for writes.
        let page = unsafe {
            bindings::dma_alloc_pages(
                dev.as_raw(),
                len,
                &mut addr,
                dir.as_raw(),
                bindings::RSDMA_GFP_KERNEL,
            )
        };
        if page.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the DMA API returns lowmem pages, in the linear map.
        let virt = unsafe { bindings::rsdma_helper_page_address(page) }.cast::<u8>();
        // INVARIANT: allocated above.
        Ok(Self {
            dev: dev.get(),
            page,
            virt,
            addr,
            len,
            dir,
        })
    }

    /// The device's address of the pages.
    pub fn dma_addr(&self) -> u64 {
        self.addr
    }

    /// Checks that `len` bytes at `offset` lie in the pages.
    fn check_range(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if len != 0 && end <= self.len => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Gives `len` bytes at `offset` to the CPU (`dma_sync_single_for_cpu`).
    pub fn sync_for_cpu(&self, offset: usize, len: usize) -> Result {
        sync_single(&self.dev, self.addr, self.len, offset, len, self.dir, true)
    }

    /// Gives `len` bytes at `offset` to the device.
    pub fn sync_for_device(&self, offset: usize, len: usize) -> Result {
        sync_single(&self.dev, self.addr, self.len, offset, len, self.dir, false)
    }

    /// Copies `data` into the pages at `offset` (the CPU must own them).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        self.check_range(offset, data.len())?;
        // SAFETY: inside the allocation (checked).
        unsafe { write_volatile_bytes(self.virt.add(offset), data) };
        Ok(())
    }

    /// Copies bytes at `offset` out of the pages (the CPU must own them).
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        self.check_range(offset, out.len())?;
        // SAFETY: as in `write`.
        unsafe { read_volatile_bytes(self.virt.add(offset), out) };
        Ok(())
    }
}

impl Drop for NonCoherent {
    fn drop(&mut self) {
        // SAFETY: allocated by us with these arguments (type invariant).
        unsafe {
            bindings::dma_free_pages(
                self.dev.as_raw(),
                self.len,
                self.page,
                self.addr,
                self.dir.as_raw(),
            )
        };
    }
}

// SAFETY: DMA pages may be used and freed from any thread.
unsafe impl Send for NonCoherent {}
// SAFETY: access goes through volatile byte copies.
unsafe impl Sync for NonCoherent {}

/// A buffer the DMA API handed to a device: where the device reaches it.
pub trait DmaBuffer {
    /// The device the buffer is for.
    fn device(&self) -> &Device;
    /// The device's address of the first byte.
    fn bus_addr(&self) -> u64;
    /// The size in bytes.
    fn bus_len(&self) -> usize;
}

impl DmaBuffer for Coherent {
    fn device(&self) -> &Device {
        &self.dev
    }

    fn bus_addr(&self) -> u64 {
        self.addr
    }

    fn bus_len(&self) -> usize {
        self.len
    }
}

impl DmaBuffer for Mapping {
    fn device(&self) -> &Device {
        &self.dev
    }

    fn bus_addr(&self) -> u64 {
        self.addr
    }

    fn bus_len(&self) -> usize {
        self.len
    }
}

/// A stand-in for the DMA engine of a device that has none a test can
/// drive (a platform device on QEMU virt): it reads and writes memory at
/// the bus addresses the DMA API gave for the device, as the device would,
/// so that a wrong address shows as wrong bytes.
///
/// Only for devices without an IOMMU, whose bus addresses translate to
/// physical ones by the bus's own ranges (`dma_to_phys`).
pub struct BusMaster {
    dev: ARef<Device>,
}

impl BusMaster {
    /// The DMA engine of `dev`; `EINVAL` when an IOMMU translates `dev`.
    pub fn new(dev: &Device) -> Result<Self> {
        // SAFETY: the device is live.
        if unsafe { bindings::rsdma_helper_iommu_group_size(dev.as_raw()) } != 0 {
            return Err(EINVAL);
        }
        Ok(Self { dev: dev.get() })
    }

    /// Maps the `len` bytes the device reaches at `off` into `buf`.
    fn map(&self, buf: &impl DmaBuffer, off: usize, len: usize) -> Result<(u64, MemRemap)> {
        if !core::ptr::eq(buf.device(), &*self.dev) {
            return Err(EINVAL);
        }
        match off.checked_add(len) {
            Some(end) if len != 0 && end <= buf.bus_len() => {}
            _ => return Err(EINVAL),
        }
        let bus = buf.bus_addr().checked_add(off as u64).ok_or(EINVAL)?;
        let phys = self.dev.dma_to_phys(bus);
        // SAFETY: the DMA API lent `[bus, bus + len)` of a live buffer to
        // the device, which may read and write it until the buffer is
        // freed or unmapped; without an IOMMU, `phys` is the memory behind
        // it.  This engine acts for the device, within that range.
        let mem = unsafe { PhysRange::new(phys, len as u64) }?;
        let caching = match mem.ram() {
            Ram::All => Caching::WriteBack,
            _ => Caching::WriteCombine,
        };
        Ok((bus, MemRemap::new(&mem, caching)?))
    }

    /// Writes `data` at offset `off` of `buf` through its bus address, as
    /// the device does; returns the bus address written.
    pub fn write(&self, buf: &mut impl DmaBuffer, off: usize, data: &[u8]) -> Result<u64> {
        let (bus, m) = self.map(buf, off, data.len())?;
        m.write(0, data)?;
        Ok(bus)
    }

    /// Reads `out.len()` bytes at offset `off` of `buf` through its bus
    /// address, as the device does; returns the bus address read.
    pub fn read(&self, buf: &impl DmaBuffer, off: usize, out: &mut [u8]) -> Result<u64> {
        let (bus, m) = self.map(buf, off, out.len())?;
        m.read(0, out)?;
        Ok(bus)
    }
}
