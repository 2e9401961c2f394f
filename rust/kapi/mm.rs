// SPDX-License-Identifier: GPL-2.0

//! Page protections, user mappings of pages, and a look at the page tables
//! of a user mapping.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::bindings;
use super::dma_ops::Vma;
use super::page::{PageArray, PAGE_SIZE};
use kernel::error::{code::*, to_result, Result};

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
