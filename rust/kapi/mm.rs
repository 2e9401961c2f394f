// SPDX-License-Identifier: GPL-2.0

//! Memory management: page protections, user mappings of pages and of page
//! runs, a look at the page tables of a user mapping, and where physical
//! memory lies in the kernel's resource tree.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::bindings;
use super::dma_ops::Vma;
use super::page::{PageArray, PageRuns, PAGE_SIZE};
use crate::rsdma_core::span;
use kernel::error::{code::*, to_result, Result};
use kernel::sync::{Arc, ArcBorrow};

/// A page protection (`pgprot_t`): access rights and memory type of a
/// mapping.
#[derive(Clone, Copy)]
pub struct PgProt(bindings::pgprot_t);

impl PgProt {
    /// `PAGE_KERNEL`: the kernel's read-write, cacheable protection.
    pub fn kernel() -> Self {
        // SAFETY: no arguments.
        Self(unsafe { bindings::rsdma_helper_pgprot_kernel() })
    }

    /// The same rights, write-combined (`pgprot_writecombine`).
    pub fn writecombine(self) -> Self {
        // SAFETY: a pure computation on a value.
        Self(unsafe { bindings::rsdma_helper_pgprot_writecombine(self.0) })
    }

    /// The same rights, with the memory type the architecture uses for
    /// coherent DMA buffers of devices that do not snoop the caches
    /// (`pgprot_dmacoherent`).
    pub fn dmacoherent(self) -> Self {
        // SAFETY: a pure computation on a value.
        Self(unsafe { bindings::rsdma_helper_pgprot_dmacoherent(self.0) })
    }

    /// The C value.
    pub fn as_raw(self) -> bindings::pgprot_t {
        self.0
    }
}

impl Vma {
    /// The protection the mapping's pages get (`vm_page_prot`).
    pub fn page_prot(&self) -> PgProt {
        // SAFETY: the VMA is live while its mmap handler runs.
        PgProt(unsafe { (*self.as_raw()).vm_page_prot })
    }

    /// Sets the protection the mapping's pages get.
    pub fn set_page_prot(&self, prot: PgProt) {
        // SAFETY: the VMA is live and being set up by its mmap handler,
        // under the mmap lock; nothing is mapped in it yet.
        unsafe { (*self.as_raw()).vm_page_prot = prot.0 };
    }

    /// Maps pages of `pages` into the whole user range, starting at the
    /// page the mapping's offset names (`vm_map_pages`).  Fails with
    /// `ENXIO` when the range reaches past the last page.  The user
    /// mapping holds references of its own on the pages.
    pub fn map_pages(&self, pages: &PageArray) -> Result {
        let raw = pages.as_raw();
        // SAFETY: the VMA is being set up under the mmap lock; `raw` holds
        // live order-0 pages; vm_map_pages checks the offset and length
        // against their number and takes a reference on each page it maps.
        to_result(unsafe {
            bindings::vm_map_pages(self.as_raw(), raw.as_ptr().cast_mut(), raw.len() as _)
        })
    }
}

/// The memory types of a CPU mapping, as arm64 page tables name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal cacheable memory.
    Normal,
    /// Normal cacheable memory with MTE tags.
    NormalTagged,
    /// Normal non-cacheable memory (write-combining).
    NormalNc,
    /// Device memory, nGnRnE.
    DeviceNgnrne,
    /// Device memory, nGnRE.
    DeviceNgnre,
}

impl MemType {
    /// Every memory type with its MAIR index.
    const ALL: [(MemType, u32); 5] = [
        (MemType::Normal, bindings::RSDMA_MT_NORMAL),
        (MemType::NormalTagged, bindings::RSDMA_MT_NORMAL_TAGGED),
        (MemType::NormalNc, bindings::RSDMA_MT_NORMAL_NC),
        (MemType::DeviceNgnrne, bindings::RSDMA_MT_DEVICE_nGnRnE),
        (MemType::DeviceNgnre, bindings::RSDMA_MT_DEVICE_nGnRE),
    ];

    /// The name arm64's page-table dump (`kernel_page_tables`) gives it.
    pub fn name(self) -> &'static str {
        match self {
            MemType::Normal => "MEM/NORMAL",
            MemType::NormalTagged => "MEM/NORMAL-TAGGED",
            MemType::NormalNc => "MEM/NORMAL-NC",
            MemType::DeviceNgnrne => "DEVICE/nGnRnE",
            MemType::DeviceNgnre => "DEVICE/nGnRE",
        }
    }
}

/// What the page tables of a user range hold.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserPtes {
    /// Present pages per memory type, in [`MemType::ALL`] order.
    counts: [u64; 5],
    /// Present pages of a memory type not in [`MemType`].
    pub other: u64,
    /// Pages of the range with no present entry.
    pub absent: u64,
}

impl UserPtes {
    /// The present pages of memory type `t`.
    pub fn count(&self, t: MemType) -> u64 {
        MemType::ALL
            .iter()
            .position(|&(m, _)| m == t)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Each memory type with its count of present pages.
    pub fn iter(&self) -> impl Iterator<Item = (MemType, u64)> + '_ {
        MemType::ALL
            .iter()
            .zip(self.counts.iter())
            .map(|(&(m, _), &n)| (m, n))
    }
}

/// Reads the page-table entries of `len` bytes at `addr` in the calling
/// process, which must lie in one mapping a driver made (`mmap` of a
/// device file).  `EINVAL` for any other range.
pub fn user_ptes(addr: usize, len: usize) -> Result<UserPtes> {
    let mut m = bindings::rsdma_memtypes::default();
    // SAFETY: `m` is valid for writes; the helper checks the range against
    // the calling process's mappings under its mmap lock.
    to_result(unsafe { bindings::rsdma_helper_user_memtypes(addr as _, len as _, &mut m) })?;
    let mut out = UserPtes::default();
    let mut present = 0u64;
    for (i, &n) in m.count.iter().enumerate() {
        present = present.saturating_add(n);
        match MemType::ALL.iter().position(|&(_, idx)| idx as usize == i) {
            Some(k) => {
                if let Some(c) = out.counts.get_mut(k) {
                    *c = n;
                }
            }
            None => out.other = out.other.saturating_add(n),
        }
    }
    let pages = len.div_ceil(PAGE_SIZE) as u64;
    out.absent = pages.saturating_sub(present);
    if present > pages {
        return Err(EIO);
    }
    Ok(out)
}

impl Vma {
    /// The start of the user range.
    fn start(&self) -> u64 {
        // SAFETY: the VMA is live while it is being set up; reading the
        // plain field of the anonymous union.
        unsafe { (*self.as_raw()).__bindgen_anon_1.__bindgen_anon_1.vm_start }
    }

    /// Makes the mapping write-combined; call before mapping any page.
    pub fn set_write_combine(&self) {
        // SAFETY: the VMA is live and being set up under the mmap lock.
        unsafe { bindings::rsdma_helper_vma_set_writecombine(self.as_raw()) };
    }

    /// Maps the buffer `runs` from byte `offset` (page aligned) into the
    /// whole user range, which must lie inside the buffer.  The mapping
    /// keeps a reference to `runs` (and each copy of it, after a fork or a
    /// split, another) until it is unmapped.
    pub fn map_runs(&self, runs: Arc<PageRuns>, offset: usize) -> Result {
        let len = self.len();
        if offset % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut lens = kernel::alloc::KVec::new();
        let mut phys = kernel::alloc::KVec::new();
        for (p, n) in runs.runs() {
            lens.push(n as u64, kernel::alloc::flags::GFP_KERNEL)?;
            phys.push(p, kernel::alloc::flags::GFP_KERNEL)?;
        }
        let pieces = span::pieces(&lens, &lens, offset as u64, len as u64).map_err(|_| EINVAL)?;
        let (v, start) = (self.as_raw(), self.start());
        for p in pieces {
            let at = phys
                .get(p.a.0)
                .and_then(|a| a.checked_add(p.a.1))
                .ok_or(EINVAL)?;
            let user = start.checked_add(p.at - offset as u64).ok_or(EINVAL)?;
            // SAFETY: the VMA is being set up under the mmap lock;
            // `user..user + p.len` lies inside it (the pieces tile
            // `[offset, offset + len)`); `at..at + p.len` is memory of
            // `runs`, kept alive by the reference stored below for as long
            // as the pages are mapped.
            to_result(unsafe {
                bindings::remap_pfn_range(
                    v,
                    user,
                    (at >> bindings::RSDMA_PAGE_SHIFT) as _,
                    p.len,
                    (*v).vm_page_prot,
                )
            })?;
        }
        // SAFETY: the VMA is being set up; from here on the VM calls
        // `vm_open` for every copy and `vm_close` for every removal.
        unsafe {
            (*v).vm_private_data = Arc::into_raw(runs).cast_mut().cast();
            (*v).vm_ops = &VM_OPS;
        }
        Ok(())
    }
}

const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(vm_open),
    close: Some(vm_close),
    // SAFETY: all-zero is a valid `vm_operations_struct` (no callbacks).
    ..unsafe { core::mem::zeroed() }
};

/// A copy of a mapping `Vma::map_runs` set up: one more reference.
///
/// # Safety
///
/// Called by the VM with a VMA copied from one `map_runs` set up.
unsafe extern "C" fn vm_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vm_private_data` holds a reference taken by `map_runs` (or
    // an earlier `vm_open`) for the VMA this one was copied from, alive
    // while that VMA exists, which it does during the copy.
    let runs =
        unsafe { ArcBorrow::from_raw((*vma).vm_private_data.cast::<PageRuns>().cast_const()) };
    // The copy's own reference, given back by its `vm_close`.
    let _ = Arc::into_raw(Arc::from(runs));
}

/// A mapping goes away: its reference goes with it.
///
/// # Safety
///
/// Called by the VM once per VMA `map_runs` or `vm_open` set up.
unsafe extern "C" fn vm_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the reference this VMA held, given back once.
    drop(unsafe { Arc::from_raw((*vma).vm_private_data.cast::<PageRuns>().cast_const()) });
}

/// How a physical range relates to the System RAM the kernel manages
/// (`region_intersects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ram {
    /// No byte of it is System RAM: device memory, or memory reserved
    /// `no-map` and kept out of the kernel's linear map.
    None,
    /// All of it is System RAM.
    All,
    /// Part of it is.
    Part,
}

/// How `len` bytes at `phys` relate to System RAM.
pub fn system_ram(phys: u64, len: usize) -> Ram {
    // SAFETY: a lookup in the resource tree; any range is a valid argument.
    let r = unsafe {
        bindings::region_intersects(
            phys,
            len,
            bindings::RSDMA_IORESOURCE_SYSTEM_RAM,
            bindings::RSDMA_IORES_DESC_NONE,
        )
    };
    match r {
        bindings::RSDMA_REGION_DISJOINT => Ram::None,
        bindings::RSDMA_REGION_INTERSECTS => Ram::All,
        _ => Ram::Part,
    }
}
