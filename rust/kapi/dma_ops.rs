// SPDX-License-Identifier: GPL-2.0

//! A `struct dma_map_ops` table built from a Rust trait.
//!
//! C header: [`include/linux/dma-map-ops.h`](srctree/include/linux/dma-map-ops.h)
//!
//! [`Installed<T>`] is a per-device ops table followed by the state `T`
//! that implements [`Operations`].  Installing it points `dev->dma_ops` at
//! the table, so every DMA API call on the device lands in one of the
//! callbacks below, which find `T` from the table pointer (the table is the
//! first field) without a lookup.

use super::page::SharedPages;
use super::{bindings, device::Device, scatterlist::SgList};
use core::marker::PhantomData;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

pub use crate::rsdma_core::dma::{Attrs, Direction};

/// What `map_page` and `map_resource` return on failure (`DMA_MAPPING_ERROR`).
pub const DMA_MAPPING_ERROR: u64 =
    (bindings::RSDMA_DMA_MAPPING_ERROR_HI << 32) | bindings::RSDMA_DMA_MAPPING_ERROR_LO;

/// The kernel's `DMA_ATTR_*` bits and the [`Attrs`] flag each stands for.
const ATTRS: [(u64, Attrs); 8] = [
    (bindings::RSDMA_DMA_ATTR_WEAK_ORDERING, Attrs::WEAK_ORDERING),
    (bindings::RSDMA_DMA_ATTR_WRITE_COMBINE, Attrs::WRITE_COMBINE),
    (
        bindings::RSDMA_DMA_ATTR_NO_KERNEL_MAPPING,
        Attrs::NO_KERNEL_MAPPING,
    ),
    (bindings::RSDMA_DMA_ATTR_SKIP_CPU_SYNC, Attrs::SKIP_CPU_SYNC),
    (
        bindings::RSDMA_DMA_ATTR_FORCE_CONTIGUOUS,
        Attrs::FORCE_CONTIGUOUS,
    ),
    (
        bindings::RSDMA_DMA_ATTR_ALLOC_SINGLE_PAGES,
        Attrs::ALLOC_SINGLE_PAGES,
    ),
    (bindings::RSDMA_DMA_ATTR_NO_WARN, Attrs::NO_WARN),
    (bindings::RSDMA_DMA_ATTR_PRIVILEGED, Attrs::PRIVILEGED),
];

/// The attributes of a C `attrs` word; bits rsdma does not know are
/// dropped.
pub fn attrs_from_raw(raw: u64) -> Attrs {
    let mut a = Attrs::empty();
    for (bit, flag) in ATTRS {
        if raw & bit != 0 {
            a = a.union(flag);
        }
    }
    a
}

impl Direction {
    /// The C value (`DMA_NONE` for [`Direction::None`]).
    pub fn as_raw(self) -> bindings::dma_data_direction {
        match self {
            Direction::Bidirectional => bindings::dma_data_direction_DMA_BIDIRECTIONAL,
            Direction::ToDevice => bindings::dma_data_direction_DMA_TO_DEVICE,
            Direction::FromDevice => bindings::dma_data_direction_DMA_FROM_DEVICE,
            Direction::None => bindings::dma_data_direction_DMA_NONE,
        }
    }

    /// The direction of a C value; `None` for `DMA_NONE` or garbage.
    pub fn from_raw(dir: bindings::dma_data_direction) -> Option<Self> {
        match dir {
            bindings::dma_data_direction_DMA_BIDIRECTIONAL => Some(Self::Bidirectional),
            bindings::dma_data_direction_DMA_TO_DEVICE => Some(Self::ToDevice),
            bindings::dma_data_direction_DMA_FROM_DEVICE => Some(Self::FromDevice),
            _ => None,
        }
    }
}

/// Memory a driver lent to a device's DMA ops: the buffer of a `map_page`
/// or an entry of a `map_sg`, which the DMA API lets the ops read and write
/// until the mapping is undone.  Only the op callbacks make one; a DMA layer
/// keeps it no longer than the mapping (a bounce buffer keeps it with the
/// slots it copies to and from).
///
/// # Invariants
///
/// `phys..phys + len` is RAM in the kernel's linear map that a live
/// streaming mapping lent to the DMA ops.
pub struct Lent {
    phys: u64,
    len: usize,
}

impl Lent {
    /// # Safety
    ///
    /// `phys..phys + len` must be RAM a driver lent to the DMA ops by a
    /// mapping that stays live as long as the value is used.
    pub(super) unsafe fn new(phys: u64, len: usize) -> Option<Self> {
        phys.checked_add(len as u64)?;
        // INVARIANT: the caller's promise.
        Some(Self { phys, len })
    }

    /// The physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the memory is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `len` bytes at `off` of this memory into `dst` at `dst_off`.
    pub fn copy_to(&self, off: usize, dst: &SharedPages, dst_off: usize, len: usize) -> Result {
        let src = self.range(off, len)?;
        // SAFETY: `src..src + len` is lent memory (checked by `range`), RAM
        // the caller's pages cannot overlap: they are the caller's own.
        unsafe { dst.write_from(dst_off, src, len) }
    }

    /// Copies `len` bytes of `src` at `src_off` into this memory at `off`.
    pub fn copy_from(&self, off: usize, src: &SharedPages, src_off: usize, len: usize) -> Result {
        let dst = self.range(off, len)?;
        // SAFETY: as in `copy_to`, the other way round.
        unsafe { src.read_into(src_off, dst, len) }
    }

    /// The kernel address of `len` bytes at `off`, which must lie inside.
    fn range(&self, off: usize, len: usize) -> Result<*mut u8> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: the memory is RAM in the linear map (type invariant).
        let virt = unsafe { bindings::rsdma_helper_phys_to_virt(self.phys) }.cast::<u8>();
        // SAFETY: `off <= len`, inside the lent memory.
        Ok(unsafe { virt.add(off) })
    }
}

/// A `struct vm_area_struct` being set up by `mmap`.
#[repr(transparent)]
pub struct Vma(kernel::types::Opaque<bindings::vm_area_struct>);

impl Vma {
    /// The raw `struct vm_area_struct *`.
    pub fn as_raw(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    /// The size of the user mapping in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: the VMA is live during the mmap op.
        let v = unsafe { &*self.0.get() };
        // SAFETY: reading the plain fields of the anonymous union.
        let (start, end) = unsafe {
            (
                v.__bindgen_anon_1.__bindgen_anon_1.vm_start,
                v.__bindgen_anon_1.__bindgen_anon_1.vm_end,
            )
        };
        end.saturating_sub(start) as usize
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the mapping is shared (`MAP_SHARED`), not a private
    /// copy-on-write one.
    pub fn is_shared(&self) -> bool {
        // SAFETY: the VMA is live during the mmap op; reading the plain
        // flags of the anonymous union.
        let flags = unsafe { (*self.0.get()).__bindgen_anon_2.vm_flags };
        flags & bindings::VM_MAYSHARE as bindings::vm_flags_t != 0
    }

    /// The offset into the buffer the user asked for, in pages.
    pub fn pgoff(&self) -> usize {
        // SAFETY: the VMA is live during the mmap op.
        unsafe { (*self.0.get()).vm_pgoff as usize }
    }

    /// Maps the physical pages from `phys` (page aligned) into the whole
    /// user range (`remap_pfn_range`).
    pub fn remap_phys(&self, phys: u64) -> Result {
        let v = self.0.get();
        // SAFETY: the VMA is live and being set up under the mmap lock;
        // the caller checked that the range is memory it owns.
        kernel::error::to_result(unsafe {
            let start = (*v).__bindgen_anon_1.__bindgen_anon_1.vm_start;
            bindings::remap_pfn_range(
                v,
                start,
                (phys >> bindings::RSDMA_PAGE_SHIFT) as _,
                self.len() as _,
                (*v).vm_page_prot,
            )
        })
    }
}

/// How a user mapping of DMA memory is cached ([`Vma::remap_phys_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserCaching {
    /// As the VMA already says (cached memory).
    Cached,
    /// Uncached, writes combined.
    WriteCombine,
    /// Device memory, for memory only I/O accessors may touch.
    Device,
}

impl Vma {
    /// As [`Vma::remap_phys`], with the user mapping's cache policy set to
    /// `caching` first.
    pub fn remap_phys_as(&self, phys: u64, caching: UserCaching) -> Result {
        let kind = match caching {
            UserCaching::Cached => 0,
            UserCaching::WriteCombine => 1,
            UserCaching::Device => 2,
        };
        // SAFETY: the VMA is live and being set up under the mmap lock, when
        // its protection may change.
        unsafe { bindings::rsdma_helper_vma_set_prot(self.as_raw(), kind) };
        self.remap_phys(phys)
    }
}

/// A `struct sg_table` to fill in for `get_sgtable`.
#[repr(transparent)]
pub struct SgTableOut(kernel::types::Opaque<bindings::sg_table>);

impl SgTableOut {
    /// Fills the table with one entry: `len` bytes of the physically
    /// contiguous memory at `phys`.
    pub fn set_single(&self, phys: u64, len: usize) -> Result {
        let len = u32::try_from(len).map_err(|_| EINVAL)?;
        let t = self.0.get();
        // SAFETY: the table is live for the op and empty; `phys` is memory
        // the caller owns.
        unsafe {
            kernel::error::to_result(bindings::sg_alloc_table(t, 1, bindings::RSDMA_GFP_KERNEL))?;
            let page = bindings::rsdma_helper_phys_to_page(phys);
            bindings::rsdma_helper_sg_set_page((*t).sgl, page, len, 0);
        }
        Ok(())
    }

    /// Fills the table with one entry per item of `runs`: `len` bytes of
    /// the physically contiguous memory at `phys` (page aligned), which
    /// the caller owns.  Fails with `EINVAL` for no run or a run of
    /// `u32::MAX` bytes or more.
    pub fn set_runs<I>(&self, runs: I) -> Result
    where
        I: Iterator<Item = (u64, u64)> + Clone,
    {
        let n = u32::try_from(runs.clone().count()).map_err(|_| EINVAL)?;
        if n == 0
            || runs
                .clone()
                .any(|(_, len)| len == 0 || len >= u64::from(u32::MAX))
        {
            return Err(EINVAL);
        }
        let t = self.0.get();
        // SAFETY: the table is live for the op and empty.
        kernel::error::to_result(unsafe {
            bindings::sg_alloc_table(t, n, bindings::RSDMA_GFP_KERNEL)
        })?;
        // SAFETY: the table now holds `n` entries (chained as needed).
        let mut sg = unsafe { (*t).sgl };
        for (i, (phys, len)) in runs.take(n as usize).enumerate() {
            // SAFETY: `sg` is entry `i` of the `n` just allocated; `phys`
            // is memory the caller owns; the length was checked above.
            unsafe {
                let page = bindings::rsdma_helper_phys_to_page(phys);
                bindings::rsdma_helper_sg_set_page(sg, page, len as u32, 0);
                if i + 1 < n as usize {
                    sg = bindings::rsdma_helper_sg_next(sg);
                }
            }
        }
        Ok(())
    }
}

/// A coherent allocation handed out by `alloc`: its kernel address (or a
/// cookie) and its device address.
pub struct Coherent {
    /// What `dma_alloc_attrs` returns to the driver.
    pub cpu: usize,
    /// The device's address.
    pub dma: u64,
}

/// The DMA operations of a device.  Every op gets the device it was called
/// for; `&self` is the device's state.
#[vtable]
pub trait Operations: Send + Sync + Sized {
    /// `map_page`: maps `size` bytes of physical memory at `phys`.
    fn map_page(&self, dev: &Device, mem: Lent, dir: Direction, attrs: Attrs) -> Result<u64>;
    /// `unmap_page`.
    fn unmap_page(&self, dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs);
    /// `map_sg`: returns the number of DMA segments written.
    fn map_sg(&self, dev: &Device, sg: &SgList<'_>, dir: Direction, attrs: Attrs) -> Result<usize>;
    /// `unmap_sg`.
    fn unmap_sg(&self, dev: &Device, sg: &SgList<'_>, dir: Direction, attrs: Attrs);
    /// `map_resource`: maps MMIO at `phys`.
    fn map_resource(
        &self,
        dev: &Device,
        phys: u64,
        size: usize,
        dir: Direction,
        attrs: Attrs,
    ) -> Result<u64>;
    /// `unmap_resource`.
    fn unmap_resource(&self, dev: &Device, addr: u64, size: usize, dir: Direction, attrs: Attrs);
    /// `sync_single_for_cpu`.
    fn sync_single_for_cpu(&self, dev: &Device, addr: u64, size: usize, dir: Direction);
    /// `sync_single_for_device`.
    fn sync_single_for_device(&self, dev: &Device, addr: u64, size: usize, dir: Direction);
    /// `sync_sg_for_cpu`.
    fn sync_sg_for_cpu(&self, dev: &Device, sg: &SgList<'_>, dir: Direction);
    /// `sync_sg_for_device`.
    fn sync_sg_for_device(&self, dev: &Device, sg: &SgList<'_>, dir: Direction);
    /// `alloc`: coherent memory.
    fn alloc(&self, dev: &Device, size: usize, gfp: u32, attrs: Attrs) -> Result<Coherent>;
    /// `free`.
    fn free(&self, dev: &Device, size: usize, cpu: usize, dma: u64, attrs: Attrs);
    /// `mmap` of a coherent allocation.
    fn mmap(
        &self,
        dev: &Device,
        vma: &Vma,
        cpu: usize,
        dma: u64,
        size: usize,
        attrs: Attrs,
    ) -> Result;
    /// `get_sgtable` of a coherent allocation.
    fn get_sgtable(
        &self,
        dev: &Device,
        sgt: &SgTableOut,
        cpu: usize,
        dma: u64,
        size: usize,
        attrs: Attrs,
    ) -> Result;
    /// `alloc_pages_op`: non-coherent pages; returns the page's physical
    /// address and the device address.
    fn alloc_pages(
        &self,
        dev: &Device,
        size: usize,
        dir: Direction,
        gfp: u32,
    ) -> Result<(u64, u64)>;
    /// `free_pages`.
    fn free_pages(&self, dev: &Device, size: usize, phys: u64, dma: u64, dir: Direction);
    /// `dma_supported`.
    fn dma_supported(&self, dev: &Device, mask: u64) -> bool;
    /// `get_required_mask`.
    fn required_mask(&self, dev: &Device) -> u64;
    /// `max_mapping_size`.
    fn max_mapping_size(&self, dev: &Device) -> usize;
    /// `get_merge_boundary`.
    fn merge_boundary(&self, dev: &Device) -> u64;
}

/// A device's ops table followed by the state that serves it.
///
/// # Invariants
///
/// `ops` holds the callbacks of [`Table<T>`].  While `dev->dma_ops` points
/// at `ops`, the device holds a reference to the `Arc` this value lives in
/// (taken by [`install`], given back by [`restore`]).
#[repr(C)]
#[pin_data]
pub struct Installed<T: Operations> {
    ops: bindings::dma_map_ops,
    /// The state.
    #[pin]
    pub data: T,
}

impl<T: Operations> Installed<T> {
    /// An ops table serving `data`, not yet installed on any device.
    pub fn new<E>(data: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        try_pin_init!(Self {
            ops: Table::<T>::VTABLE,
            data <- data,
        }? E)
    }

    fn ops_ptr(&self) -> *const bindings::dma_map_ops {
        &self.ops
    }
}

/// What a device's DMA set-up was before [`install`], for [`restore`].
pub struct Saved {
    ops: *const bindings::dma_map_ops,
    dma_iommu: bool,
}

// SAFETY: the saved pointer is only written back into the device.
unsafe impl Send for Saved {}
// SAFETY: as above.
unsafe impl Sync for Saved {}

/// Whether this kernel has per-device DMA ops (`CONFIG_ARCH_HAS_DMA_OPS`).
pub fn kernel_has_dma_ops() -> bool {
    // SAFETY: no arguments.
    unsafe { bindings::rsdma_helper_has_dma_ops() }
}

/// Points `dev`'s DMA ops at `installed` (which the device keeps a
/// reference to) and stops the kernel's direct iommu-dma calls for it.
/// Returns what [`restore`] puts back.
///
/// No DMA call on `dev` may be in flight: the caller is the device's driver,
/// at a point where it does no DMA.
pub fn install<T: Operations>(dev: &Device, installed: Arc<Installed<T>>) -> Saved {
    let d = dev.as_raw();
    // SAFETY: the device is live.
    let saved = unsafe {
        Saved {
            ops: bindings::rsdma_helper_get_dma_ops(d),
            dma_iommu: bindings::rsdma_helper_dma_iommu(d),
        }
    };
    let ops = installed.ops_ptr();
    // INVARIANT: the reference is kept (as a raw pointer equal to `ops`,
    // the first field) until `restore`.
    let _ = Arc::into_raw(installed);
    // SAFETY: the device is live; the table stays live while installed.
    unsafe {
        bindings::rsdma_helper_set_dma_iommu(d, false);
        bindings::rsdma_helper_set_dma_ops(d, ops);
    }
    saved
}

/// The `Installed<T>` currently serving `dev`, if any.
pub fn installed_on<T: Operations>(dev: &Device) -> Option<Arc<Installed<T>>> {
    // SAFETY: the device is live.
    let ops = unsafe { bindings::rsdma_helper_get_dma_ops(dev.as_raw()) };
    if ops.is_null() {
        return None;
    }
    // SAFETY: a non-null `dma_ops` points at a live ops table.
    let map_page = unsafe { (*ops).map_page };
    let ours: unsafe extern "C" fn(_, _, _, _, _, _) -> _ = Table::<T>::map_page;
    match map_page {
        Some(f) if f as usize == ours as usize => {
            // SAFETY: only `Installed<T>` tables carry `Table<T>`'s
            // callbacks, and an installed one is the first field of an
            // `Arc`'d `Installed<T>` the device holds a reference to.
            let b = unsafe { ArcBorrow::from_raw(ops.cast::<Installed<T>>()) };
            Some(b.into())
        }
        _ => None,
    }
}

/// Undoes [`install`] and returns the device's reference to `installed`.
pub fn restore<T: Operations>(
    dev: &Device,
    installed: &Installed<T>,
    saved: Saved,
) -> Option<Arc<Installed<T>>> {
    let d = dev.as_raw();
    // SAFETY: the device is live.
    let cur = unsafe { bindings::rsdma_helper_get_dma_ops(d) };
    if !core::ptr::eq(cur, installed.ops_ptr()) {
        return None;
    }
    // SAFETY: the device is live; `saved` came from `install` on it.
    unsafe {
        bindings::rsdma_helper_set_dma_ops(d, saved.ops);
        bindings::rsdma_helper_set_dma_iommu(d, saved.dma_iommu);
    }
    // SAFETY: `install` kept this reference as the raw table pointer, and
    // with the ops restored nothing else will give it back.
    Some(unsafe { Arc::from_raw(cur.cast::<Installed<T>>()) })
}

/// The callbacks of an [`Installed<T>`] table.
pub struct Table<T: Operations>(PhantomData<T>);

impl<T: Operations> Table<T> {
    /// The state behind `dev`'s ops.
    ///
    /// # Safety
    ///
    /// `dev` must be live with `dev->dma_ops` pointing at the `ops` of a
    /// live `Installed<T>` (true in every callback: the DMA core reached it
    /// through that pointer).
    unsafe fn state<'a>(dev: *mut bindings::device) -> (&'a Device, &'a T) {
        // SAFETY: the caller's promise; `ops` is the first field of a
        // `repr(C)` `Installed<T>`.
        unsafe {
            let ops = bindings::rsdma_helper_get_dma_ops(dev);
            let inst = &*ops.cast::<Installed<T>>();
            (Device::from_raw(dev), &inst.data)
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn map_page(
        dev: *mut bindings::device,
        page: *mut bindings::page,
        offset: u64,
        size: usize,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) -> bindings::dma_addr_t {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let Some(dir) = Direction::from_raw(dir) else {
            crate::dev_err!(dev, "map_page with invalid direction {}", dir);
            return DMA_MAPPING_ERROR;
        };
        // SAFETY: the DMA core passes a live page.
        let page_phys = unsafe { bindings::rsdma_helper_page_to_phys(page) };
        // SAFETY: the driver lends `size` bytes at `offset` into the page to
        // the ops for as long as the mapping lives.
        let mem = page_phys
            .checked_add(offset)
            .and_then(|phys| unsafe { Lent::new(phys, size) });
        let Some(mem) = mem else {
            crate::dev_err!(
                dev,
                "map_page of {} bytes at offset {:#x} past the end of memory",
                size,
                offset
            );
            return DMA_MAPPING_ERROR;
        };
        t.map_page(dev, mem, dir, attrs_from_raw(attrs))
            .unwrap_or(DMA_MAPPING_ERROR)
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn unmap_page(
        dev: *mut bindings::device,
        addr: bindings::dma_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        t.unmap_page(dev, addr, size, dir, attrs_from_raw(attrs));
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn map_sg(
        dev: *mut bindings::device,
        sg: *mut bindings::scatterlist,
        nents: core::ffi::c_int,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) -> core::ffi::c_int {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let Some(dir) = Direction::from_raw(dir) else {
            return EINVAL.to_errno();
        };
        if nents <= 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: the DMA core passes a chain of `nents` entries that the
        // caller does not touch while it is being mapped.
        let sg = unsafe { SgList::lent_from_raw(sg, nents as usize) };
        match t.map_sg(dev, &sg, dir, attrs_from_raw(attrs)) {
            Ok(n) => n as core::ffi::c_int,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn unmap_sg(
        dev: *mut bindings::device,
        sg: *mut bindings::scatterlist,
        nents: core::ffi::c_int,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        // SAFETY: as in `map_sg`.
        let sg = unsafe { SgList::lent_from_raw(sg, nents.max(0) as usize) };
        t.unmap_sg(dev, &sg, dir, attrs_from_raw(attrs));
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn map_resource(
        dev: *mut bindings::device,
        phys: bindings::phys_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) -> bindings::dma_addr_t {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let Some(dir) = Direction::from_raw(dir) else {
            return DMA_MAPPING_ERROR;
        };
        t.map_resource(dev, phys, size, dir, attrs_from_raw(attrs))
            .unwrap_or(DMA_MAPPING_ERROR)
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn unmap_resource(
        dev: *mut bindings::device,
        addr: bindings::dma_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
        attrs: u64,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        t.unmap_resource(dev, addr, size, dir, attrs_from_raw(attrs));
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn sync_single_for_cpu(
        dev: *mut bindings::device,
        addr: bindings::dma_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        t.sync_single_for_cpu(dev, addr, size, dir);
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn sync_single_for_device(
        dev: *mut bindings::device,
        addr: bindings::dma_addr_t,
        size: usize,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        t.sync_single_for_device(dev, addr, size, dir);
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn sync_sg_for_cpu(
        dev: *mut bindings::device,
        sg: *mut bindings::scatterlist,
        nents: core::ffi::c_int,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        // SAFETY: as in `map_sg`.
        let sg = unsafe { SgList::lent_from_raw(sg, nents.max(0) as usize) };
        t.sync_sg_for_cpu(dev, &sg, dir);
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn sync_sg_for_device(
        dev: *mut bindings::device,
        sg: *mut bindings::scatterlist,
        nents: core::ffi::c_int,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        // SAFETY: as in `map_sg`.
        let sg = unsafe { SgList::lent_from_raw(sg, nents.max(0) as usize) };
        t.sync_sg_for_device(dev, &sg, dir);
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn alloc(
        dev: *mut bindings::device,
        size: usize,
        handle: *mut bindings::dma_addr_t,
        gfp: bindings::gfp_t,
        attrs: u64,
    ) -> *mut core::ffi::c_void {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        match t.alloc(dev, size, gfp, attrs_from_raw(attrs)) {
            Ok(c) => {
                // SAFETY: the DMA core passes a valid handle pointer.
                unsafe { *handle = c.dma };
                c.cpu as *mut core::ffi::c_void
            }
            Err(_) => core::ptr::null_mut(),
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn free(
        dev: *mut bindings::device,
        size: usize,
        cpu: *mut core::ffi::c_void,
        dma: bindings::dma_addr_t,
        attrs: u64,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        t.free(dev, size, cpu as usize, dma, attrs_from_raw(attrs));
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn mmap(
        dev: *mut bindings::device,
        vma: *mut bindings::vm_area_struct,
        cpu: *mut core::ffi::c_void,
        dma: bindings::dma_addr_t,
        size: usize,
        attrs: u64,
    ) -> core::ffi::c_int {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        // SAFETY: the VMA is live for the op; `Vma` is transparent.
        let vma = unsafe { &*vma.cast::<Vma>() };
        match t.mmap(dev, vma, cpu as usize, dma, size, attrs_from_raw(attrs)) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn get_sgtable(
        dev: *mut bindings::device,
        sgt: *mut bindings::sg_table,
        cpu: *mut core::ffi::c_void,
        dma: bindings::dma_addr_t,
        size: usize,
        attrs: u64,
    ) -> core::ffi::c_int {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        // SAFETY: the table is live for the op; `SgTableOut` is transparent.
        let sgt = unsafe { &*sgt.cast::<SgTableOut>() };
        match t.get_sgtable(dev, sgt, cpu as usize, dma, size, attrs_from_raw(attrs)) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn alloc_pages_op(
        dev: *mut bindings::device,
        size: usize,
        handle: *mut bindings::dma_addr_t,
        dir: bindings::dma_data_direction,
        gfp: bindings::gfp_t,
    ) -> *mut bindings::page {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let Some(dir) = Direction::from_raw(dir) else {
            return core::ptr::null_mut();
        };
        match t.alloc_pages(dev, size, dir, gfp) {
            Ok((phys, dma)) => {
                // SAFETY: the DMA core passes a valid handle pointer.
                unsafe { *handle = dma };
                // SAFETY: `phys` is the start of pages the op allocated.
                unsafe { bindings::rsdma_helper_phys_to_page(phys) }
            }
            Err(_) => core::ptr::null_mut(),
        }
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn free_pages(
        dev: *mut bindings::device,
        size: usize,
        page: *mut bindings::page,
        dma: bindings::dma_addr_t,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        let dir = Direction::from_raw(dir).unwrap_or(Direction::Bidirectional);
        // SAFETY: the DMA core passes the page `alloc_pages_op` returned.
        let phys = unsafe { bindings::rsdma_helper_page_to_phys(page) };
        t.free_pages(dev, size, phys, dma, dir);
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn dma_supported(dev: *mut bindings::device, mask: u64) -> core::ffi::c_int {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        t.dma_supported(dev, mask) as core::ffi::c_int
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn get_required_mask(dev: *mut bindings::device) -> u64 {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        t.required_mask(dev)
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn max_mapping_size(dev: *mut bindings::device) -> usize {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        t.max_mapping_size(dev)
    }

    /// # Safety
    ///
    /// Called by the DMA core through an installed table.
    unsafe extern "C" fn get_merge_boundary(dev: *mut bindings::device) -> u64 {
        // SAFETY: called through the installed table.
        let (dev, t) = unsafe { Self::state(dev) };
        t.merge_boundary(dev)
    }

    /// The table.
    pub const VTABLE: bindings::dma_map_ops = bindings::dma_map_ops {
        alloc: Some(Self::alloc),
        free: Some(Self::free),
        alloc_pages_op: Some(Self::alloc_pages_op),
        free_pages: Some(Self::free_pages),
        mmap: Some(Self::mmap),
        get_sgtable: Some(Self::get_sgtable),
        map_page: Some(Self::map_page),
        unmap_page: Some(Self::unmap_page),
        map_sg: Some(Self::map_sg),
        unmap_sg: Some(Self::unmap_sg),
        map_resource: Some(Self::map_resource),
        unmap_resource: Some(Self::unmap_resource),
        sync_single_for_cpu: Some(Self::sync_single_for_cpu),
        sync_single_for_device: Some(Self::sync_single_for_device),
        sync_sg_for_cpu: Some(Self::sync_sg_for_cpu),
        sync_sg_for_device: Some(Self::sync_sg_for_device),
        cache_sync: None,
        dma_supported: Some(Self::dma_supported),
        get_required_mask: Some(Self::get_required_mask),
        max_mapping_size: Some(Self::max_mapping_size),
        opt_mapping_size: None,
        get_merge_boundary: Some(Self::get_merge_boundary),
    };
}
