// SPDX-License-Identifier: GPL-2.0

//! Memory rsdma allocates for a driver: coherent buffers (`dma_alloc_attrs`)
//! and pages the driver keeps coherent itself (`dma_alloc_pages`), each kept
//! under its device address until the driver frees it.
//!
//! rsdma-core decides what a buffer is made of (`core/src/pages.rs`): behind
//! an IOMMU, pages gathered wherever the page allocator has them, largest
//! blocks first, mapped at one IOVA range and, unless the driver asks for no
//! kernel mapping, at one contiguous kernel range with the protection the
//! device and the attributes call for; without an IOMMU, one contiguous run
//! under the device's coherent mask.  This file carries the plan out, and
//! serves `free`, `mmap` and `get_sgtable` on the result.

use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::inject::{self, Point};
use crate::kapi::bindings;
use crate::kapi::dma_ops::{SgTableOut, Vma};
use crate::kapi::iommu::Prot;
use crate::kapi::mm::PgProt;
use crate::kapi::page::{PageArray, MAX_ORDER, PAGE_SHIFT, PAGE_SIZE};
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::time;
use crate::kapi::vmalloc::Vmap;
use crate::new_irq_spinlock;
use crate::rsdma_core::cache::CacheOp;
use crate::rsdma_core::dma::Attrs;
use crate::rsdma_core::pages::{self, CpuMap, Gather, Layout, PlanError, Protection, Purpose};
use crate::rsdma_core::route::{self, RouteError};
use crate::{dev_err, dev_warn};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::{Arc, UniqueArc};

/// Adds a block of `n` pages to `pages` (an injection point of the test
/// build).
fn push_run(pages: &mut PageArray, gfp: bindings::gfp_t, n: usize) -> Result {
    if inject::fails(Point::CoherentPages) {
        return Err(ENOMEM);
    }
    pages.push_run(gfp, n)
}

/// The zone to allocate from for memory at or below `mask` (physical
/// addresses equal bus addresses on the platforms rsdma runs on; the caller
/// checks the result).
pub(crate) fn zone_below(mask: u64) -> bindings::gfp_t {
    if mask == u64::MAX {
        0
    } else if mask >= u64::from(u32::MAX) {
        bindings::RSDMA_GFP_DMA32
    } else {
        bindings::RSDMA_GFP_DMA
    }
}

/// The longest entry `get_sgtable` writes (an entry's length is 32 bits).
const MAX_SG_RUN: u64 = u32::MAX as u64 & !(PAGE_SIZE as u64 - 1);

/// Pages of a buffer and the kernel's view of them.
enum PageMem {
    /// Reached through the linear map (contiguous, cacheable), or not at
    /// all (`DMA_ATTR_NO_KERNEL_MAPPING`).
    Plain(PageArray),
    /// Mapped at a contiguous kernel range of their own.
    Mapped(Vmap),
}

impl PageMem {
    fn pages(&self) -> &PageArray {
        match self {
            PageMem::Plain(p) => p,
            PageMem::Mapped(v) => v.pages(),
        }
    }
}

/// Where a buffer's memory comes from.  Each backing knows its pages and
/// how a user mapping or a scatter-gather table of them is made; a declared
/// coherent region is another backing next to these.
enum Backing {
    /// Pages from the page allocator: scattered behind an IOMMU, or one
    /// physically contiguous run (no IOMMU, `FORCE_CONTIGUOUS`, callers
    /// that cannot sleep, `dma_alloc_pages`).
    Pages(PageMem),
}

impl Backing {
    /// The physically contiguous runs `(phys, len)` of the first `bytes`
    /// bytes, each at most `max_len` long.
    fn runs(&self, bytes: u64, max_len: u64) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        match self {
            Backing::Pages(m) => {
                pages::runs(m.pages().phys_iter(), PAGE_SIZE as u64, bytes, max_len)
                    .map(|r| (r.phys, r.len))
            }
        }
    }

    /// Maps the backing into a user mapping being set up.
    fn mmap(&self, vma: &Vma) -> Result {
        match self {
            Backing::Pages(m) => vma.map_pages(m.pages()),
        }
    }

    /// Pages the backing holds from the page allocator.
    fn page_count(&self) -> usize {
        match self {
            Backing::Pages(m) => m.pages().len(),
        }
    }
}

/// A buffer handed to the driver.
struct Buffer {
    backing: Backing,
    /// What the allocation returned: a kernel address, or a cookie.
    cpu: usize,
    /// Bytes the driver asked for.
    size: usize,
    /// IOVA bytes mapped for it (whole granules; 0 on the direct route).
    mapped: usize,
    /// The protection of user mappings.
    user: Protection,
    /// Blocks the page allocator gave for it.
    blocks: usize,
}

/// Where a new buffer is.
pub(crate) struct NewBuffer {
    pub(crate) dma: u64,
    /// The physical address of the first page.
    pub(crate) phys: u64,
    /// What the allocation returns: the kernel address, or a cookie.
    pub(crate) cpu: usize,
}

/// What a buffer is for, and the device's rights on it.
pub(crate) struct BufferRequest {
    pub(crate) size: usize,
    /// The caller's GFP flags.
    pub(crate) gfp: bindings::gfp_t,
    pub(crate) attrs: Attrs,
    pub(crate) purpose: Purpose,
    /// The IOMMU rights of the device on it.
    pub(crate) prot: Prot,
}

/// Why an allocation failed.
enum Failure {
    /// No route serves the request (zero bytes, more than the coherent
    /// mask covers).
    Route(RouteError),
    /// The request itself (size, bound, attributes).
    Plan(PlanError),
    /// The page allocator ran out.
    Pages { gathered: usize, wanted: usize },
    /// No contiguous block of `pages` pages.
    Contiguous { pages: usize },
    /// The memory lies above the coherent mask (direct route).
    AboveMask { mask: u64 },
    /// No kernel mapping could be made.
    KernelMap,
    /// No IOVA space under the coherent mask, or the IOMMU mapping failed.
    Iova,
    /// Bookkeeping memory.
    NoMemory,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Failure::Route(e) => write!(f, "{}", e),
            Failure::Plan(e) => write!(f, "{}", e),
            Failure::Pages { gathered, wanted } => write!(
                f,
                "out of pages ({} of {} gathered, down to single pages)",
                gathered, wanted
            ),
            Failure::Contiguous { pages } => {
                write!(f, "no physically contiguous block of {} pages", pages)
            }
            Failure::AboveMask { mask } => {
                write!(f, "no memory under the coherent mask {:#x}", mask)
            }
            Failure::KernelMap => f.write_str("no kernel mapping (vmap failed)"),
            Failure::Iova => {
                f.write_str("no IOVA space under the coherent mask, or iommu_map failed")
            }
            Failure::NoMemory => f.write_str("no memory for bookkeeping"),
        }
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        Failure::Plan(e)
    }
}

/// The buffers of one device, by device address.
#[pin_data]
pub(crate) struct Buffers {
    #[pin]
    tree: IrqSpinLock<RBTree<u64, Arc<Buffer>>>,
    /// Live buffers, the pages they hold, and the blocks the page
    /// allocator gave those in (how scattered they are).
    pub(crate) live: AtomicU64,
    pub(crate) pages: AtomicU64,
    pub(crate) blocks: AtomicU64,
}

impl Buffers {
    /// No buffers.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            tree <- new_irq_spinlock!(RBTree::new(), "Buffers::tree"),
            live: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
        })
    }

    /// Gives up every buffer still held (at teardown): the driver may still
    /// use them through its CPU pointers, so their memory is kept rather
    /// than freed under its feet.  Returns how many buffers and bytes.
    pub(crate) fn abandon(&self) -> (usize, usize) {
        let bufs = core::mem::replace(&mut *self.tree.lock(), RBTree::new());
        let (mut n, mut bytes) = (0usize, 0usize);
        for (_, b) in bufs.iter() {
            n += 1;
            bytes = bytes.saturating_add(b.size);
        }
        if n > 0 {
            core::mem::forget(bufs);
        }
        self.live.store(0, Relaxed);
        self.pages.store(0, Relaxed);
        self.blocks.store(0, Relaxed);
        (n, bytes)
    }
}

/// The page protection that gives `p`, from `base`.
fn pgprot(p: Protection, base: PgProt) -> PgProt {
    match p {
        Protection::Cacheable => base,
        Protection::NonCacheable => base.dmacoherent(),
        Protection::WriteCombine => base.writecombine(),
    }
}

impl RsdmaDev {
    /// Allocates a buffer for the driver and maps it for the device; the
    /// buffer is kept under its device address until freed.  A failure is
    /// logged once, unless the caller asked for no warning.
    pub(crate) fn alloc_buffer(&self, req: &BufferRequest) -> Result<NewBuffer> {
        self.try_alloc_buffer(req).map_err(|why| {
            Stats::count(&self.debug.stats.here().alloc_failures);
            let quiet =
                req.attrs.contains(Attrs::NO_WARN) || req.gfp & bindings::RSDMA_GFP_NOWARN != 0;
            if !quiet {
                dev_warn!(
                    self.dev,
                    "rsdma: {} allocation of {} bytes failed: {}",
                    match req.purpose {
                        Purpose::Coherent => "coherent",
                        Purpose::Pages => "page",
                    },
                    req.size,
                    why
                );
            }
            match why {
                Failure::Route(RouteError::TooLarge) => ENOMEM,
                Failure::Route(_)
                | Failure::Plan(PlanError::Empty)
                | Failure::Plan(PlanError::BadGeometry) => EINVAL,
                _ => ENOMEM,
            }
        })
    }

    fn try_alloc_buffer(&self, req: &BufferRequest) -> Result<NewBuffer, Failure> {
        let may_block = req.gfp & bindings::RSDMA_GFP_DIRECT_RECLAIM != 0;
        let mask = self.coherent_mask();
        let route = route::alloc(&self.facts(), req.size as u64, mask).map_err(Failure::Route)?;
        let plan = pages::plan(&pages::Request {
            size: req.size as u64,
            purpose: req.purpose,
            attrs: req.attrs,
            may_block,
            route,
            coherent: self.coherent,
            page_shift: PAGE_SHIFT,
            granule_shift: self
                .iommu
                .as_deref()
                .map_or(PAGE_SHIFT, |i| i.granule().trailing_zeros()),
            max_order: MAX_ORDER,
            limit: crate::params::coherent_max_bytes(),
        })?;
        // The bookkeeping first: nothing may fail once the device can reach
        // the pages.
        let flags = if may_block { GFP_KERNEL } else { GFP_ATOMIC } | __GFP_NOWARN;
        let slot = UniqueArc::<Buffer>::new_uninit(flags).map_err(|_| Failure::NoMemory)?;
        let node = RBTreeNodeReservation::new(flags).map_err(|_| Failure::NoMemory)?;
        let (pages, blocks) = self.gather(&plan, req.gfp, may_block, mask)?;
        let count = pages.len();
        let bytes = count << PAGE_SHIFT;
        let (mem, cpu) = match plan.cpu {
            CpuMap::None => {
                let cookie = pages.cookie();
                (PageMem::Plain(pages), cookie)
            }
            CpuMap::Linear => {
                let ptr = pages.linear_ptr().ok_or(Failure::NoMemory)?;
                (PageMem::Plain(pages), ptr as usize)
            }
            CpuMap::Remap(p) => {
                let v = Vmap::new(pages, pgprot(p, PgProt::kernel()))
                    .map_err(|_| Failure::KernelMap)?;
                let ptr = v.as_ptr() as usize;
                (PageMem::Mapped(v), ptr)
            }
        };
        let backing = Backing::Pages(mem);
        if plan.clean {
            // Once, before anyone but the CPU sees the pages: the zeroes
            // reach memory, and no cached line is left to shadow the
            // uncached mappings or to be written back over the device's
            // data later.
            for (phys, len) in backing.runs(bytes as u64, u64::MAX) {
                crate::cache::run(CacheOp::CleanInvalidate, phys, len as usize);
                Stats::count(&self.debug.stats.here().cache_maintenance);
            }
        }
        let phys = backing
            .runs(PAGE_SIZE as u64, u64::MAX)
            .next()
            .map_or(0, |r| r.0);
        // The device gets access last.
        let (dma, mapped) = match self.iommu.as_deref() {
            Some(iommu) => {
                let dma = iommu
                    .map_runs(backing.runs(bytes as u64, u64::MAX), bytes, req.prot, mask)
                    .map_err(|_| Failure::Iova)?;
                (dma, bytes)
            }
            None => {
                let dma = self.dev.phys_to_dma(phys);
                if dma
                    .checked_add(bytes as u64 - 1)
                    .map_or(true, |last| last > mask)
                {
                    return Err(Failure::AboveMask { mask });
                }
                (dma, 0)
            }
        };
        let buffer = Buffer {
            backing,
            cpu,
            size: req.size,
            mapped,
            user: plan.user,
            blocks,
        };
        let node = node.into_node(dma, Arc::from(slot.write(buffer)));
        self.buffers.tree.lock().insert(node);
        self.buffers.live.fetch_add(1, Relaxed);
        self.buffers.pages.fetch_add(count as u64, Relaxed);
        self.buffers.blocks.fetch_add(blocks as u64, Relaxed);
        Ok(NewBuffer { dma, phys, cpu })
    }

    /// The pages `plan` calls for, zeroed, and how many blocks of the page
    /// allocator they came in.
    fn gather(
        &self,
        plan: &pages::Plan,
        gfp: bindings::gfp_t,
        may_block: bool,
        mask: u64,
    ) -> Result<(PageArray, usize), Failure> {
        let mut pages =
            PageArray::with_capacity(plan.pages, may_block).map_err(|_| Failure::NoMemory)?;
        let gfp = gfp | bindings::RSDMA_GFP_ZERO | bindings::RSDMA_GFP_NOWARN;
        match plan.layout {
            Layout::Contiguous { .. } => {
                // Without an IOMMU the device sees the bus address: memory
                // from a zone under its mask.
                let zone = if self.iommu.is_none() {
                    zone_below(mask)
                } else {
                    0
                };
                push_run(&mut pages, gfp | zone, plan.pages)
                    .map_err(|_| Failure::Contiguous { pages: plan.pages })?;
                Ok((pages, 1))
            }
            Layout::Scattered {
                min_order,
                max_order,
            } => {
                let mut walk = Gather::new(plan.pages, min_order, max_order);
                let mut blocks = 0usize;
                while let Some(step) = walk.next_step() {
                    let flags = if step.try_hard {
                        gfp
                    } else {
                        gfp | bindings::RSDMA_GFP_NORETRY
                    };
                    match push_run(&mut pages, flags, 1usize << step.order) {
                        Ok(()) => {
                            walk.got(step.order);
                            blocks += 1;
                        }
                        Err(_) => walk.refused(step.order),
                    }
                }
                if !walk.done() {
                    return Err(Failure::Pages {
                        gathered: plan.pages - walk.left(),
                        wanted: plan.pages,
                    });
                }
                Ok((pages, blocks))
            }
        }
    }

    /// Takes the device's access to the buffer at `dma` away for good
    /// (`mapped` IOVA bytes), before its pages go back.
    fn unmap_buffer(&self, dma: u64, mapped: usize) {
        if let (Some(iommu), true) = (self.iommu.as_deref(), mapped != 0) {
            iommu.unmap_range(dma, mapped, time::cpu_hint());
            iommu.drain();
        }
    }

    /// The buffer at `dma`, which must have been handed out as `cpu`.
    fn buffer(&self, dma: u64, cpu: usize) -> Result<Arc<Buffer>> {
        let bufs = self.buffers.tree.lock();
        let Some(b) = bufs.get(&dma) else {
            dev_err!(self.dev, "rsdma: no DMA buffer at {:#x}", dma);
            return Err(EINVAL);
        };
        if cpu != b.cpu {
            dev_err!(
                self.dev,
                "rsdma: DMA buffer at {:#x} is not at CPU address {:#x}",
                dma,
                cpu
            );
            return Err(EINVAL);
        }
        Ok(b.clone())
    }

    /// Maps `size` bytes of the buffer at `dma` into a user mapping, from
    /// the page the mapping's offset names, with the buffer's protection.
    pub(crate) fn mmap_buffer(&self, vma: &Vma, cpu: usize, dma: u64, size: usize) -> Result {
        let b = self.buffer(dma, cpu)?;
        let pages = size.min(b.size).div_ceil(PAGE_SIZE);
        let (off, want) = (vma.pgoff(), vma.len().div_ceil(PAGE_SIZE));
        if off >= pages || want > pages - off {
            dev_err!(
                self.dev,
                "rsdma: mmap of {} pages at page {} exceeds the {}-page buffer at {:#x}",
                want,
                off,
                pages,
                dma
            );
            return Err(ENXIO);
        }
        vma.set_page_prot(pgprot(b.user, vma.page_prot()));
        b.backing.mmap(vma)
    }

    /// Describes `size` bytes of the buffer at `dma` in `sgt`: one entry
    /// per physically contiguous run of its pages.
    pub(crate) fn buffer_sgtable(
        &self,
        sgt: &SgTableOut,
        cpu: usize,
        dma: u64,
        size: usize,
    ) -> Result {
        let b = self.buffer(dma, cpu)?;
        if size == 0 || size > b.size {
            dev_err!(
                self.dev,
                "rsdma: get_sgtable of {} bytes of the {}-byte buffer at {:#x}",
                size,
                b.size,
                dma
            );
            return Err(EINVAL);
        }
        sgt.set_runs(b.backing.runs(size as u64, MAX_SG_RUN))
    }

    /// Frees the buffer at `dma` (`what` names the op in messages) after
    /// checking the driver's size and, when given, CPU address.  Returns
    /// whether it was freed.
    pub(crate) fn free_buffer(
        &self,
        size: usize,
        cpu: Option<usize>,
        dma: u64,
        what: &str,
    ) -> bool {
        let buf = {
            let mut bufs = self.buffers.tree.lock();
            match bufs.get(&dma) {
                None => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} of unknown buffer at DMA address {:#x}",
                        what,
                        dma
                    );
                    return false;
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
                    return false;
                }
                Some(b) if cpu.is_some_and(|c| c != b.cpu) => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} at {:#x} with the wrong CPU address",
                        what,
                        dma
                    );
                    return false;
                }
                Some(_) => bufs.remove(&dma),
            }
        };
        let Some(b) = buf else {
            return false;
        };
        // The device loses access before the kernel mapping and the pages
        // go (an mmap or get_sgtable still running keeps the buffer until
        // it is done; user mappings hold their own page references).
        self.unmap_buffer(dma, b.mapped);
        self.buffers.live.fetch_sub(1, Relaxed);
        self.buffers
            .pages
            .fetch_sub(b.backing.page_count() as u64, Relaxed);
        self.buffers.blocks.fetch_sub(b.blocks as u64, Relaxed);
        drop(b);
        true
    }

    /// Warns about buffers the driver never freed (at teardown).
    pub(crate) fn abandon_buffers(&self) {
        let (n, bytes) = self.buffers.abandon();
        if n > 0 {
            dev_warn!(
                self.dev,
                "rsdma: {} DMA buffer(s) ({} bytes) were never freed; their memory is kept",
                n,
                bytes
            );
        }
    }
}
