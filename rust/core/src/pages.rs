//! Buffers built from the page allocator (`dma_alloc_attrs`,
//! `dma_alloc_pages`): how the pages are gathered, how the CPU sees them,
//! and how they split into physically contiguous runs.
//!
//! A device behind an IOMMU does not need physically contiguous memory:
//! the pages of a buffer may lie anywhere, mapped at one contiguous IOVA
//! range, and the kernel gets a contiguous virtual mapping of them (or
//! none). [`plan`] decides, from the device and the request, what the
//! buffer is made of:
//!
//! | route  | request                                              | layout                          |
//! |--------|------------------------------------------------------|---------------------------------|
//! | IOMMU  | `FORCE_CONTIGUOUS`, or a caller that cannot sleep    | one contiguous run              |
//! | IOMMU  | `ALLOC_SINGLE_PAGES`                                 | scattered, smallest blocks only |
//! | IOMMU  | otherwise                                            | scattered, largest blocks first |
//! | direct | any                                                  | one contiguous run              |
//! | any    | `dma_alloc_pages`                                    | one contiguous run              |
//!
//! and how the CPU reaches it ([`CpuMap`], [`Protection`]):
//!
//! | device       | request                 | kernel mapping                     | user mapping   |
//! |--------------|-------------------------|------------------------------------|----------------|
//! | any          | `NO_KERNEL_MAPPING`     | none                               | as below       |
//! | coherent     | contiguous              | the linear map                     | cacheable      |
//! | coherent     | scattered               | a remap, cacheable                 | cacheable      |
//! | not coherent | `WRITE_COMBINE`         | a remap, write-combined            | write-combined |
//! | not coherent | otherwise               | a remap, non-cacheable             | non-cacheable  |
//! | any          | `dma_alloc_pages`       | the linear map (the caller syncs)  | -              |
//!
//! A remap needs a caller that may sleep; a non-coherent device's buffers
//! are written back and invalidated once, when they are handed out, so
//! that no cached line shadows the uncached mapping.
//!
//! [`Gather`] walks the block sizes down, largest first, dropping a size
//! for good once the allocator refuses it (as the page allocator will
//! keep refusing it for a while), and [`runs`] turns the pages into the
//! physically contiguous runs that `get_sgtable`, the IOMMU mapping and
//! cache maintenance work on.

use super::dma::Attrs;
use super::route::AllocRoute;
use core::fmt;

/// How a CPU mapping of the buffer caches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Normal cacheable memory (the device snoops the caches).
    Cacheable,
    /// Normal non-cacheable memory (`pgprot_dmacoherent`).
    NonCacheable,
    /// Write-combined memory (`pgprot_writecombine`).
    WriteCombine,
}

impl Protection {
    /// A short name, for log lines and debugfs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cacheable => "cacheable",
            Self::NonCacheable => "non-cacheable",
            Self::WriteCombine => "write-combined",
        }
    }
}

/// How the kernel reaches the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuMap {
    /// No kernel mapping (`DMA_ATTR_NO_KERNEL_MAPPING`): the driver gets an
    /// opaque cookie.
    None,
    /// The kernel's linear map of the (contiguous) pages.
    Linear,
    /// A new contiguous kernel mapping of the pages with this protection.
    Remap(Protection),
}

/// What the buffer's pages are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Blocks of `2^min_order` to `2^max_order` pages, wherever the page
    /// allocator finds them.
    Scattered {
        /// The smallest block (the IOMMU granule, in pages, as an order).
        min_order: u32,
        /// The largest block tried first.
        max_order: u32,
    },
    /// One physically contiguous run, carved from a block of `2^order`
    /// pages (the pages past the buffer go back at once).
    Contiguous {
        /// The order of the block.
        order: u32,
    },
}

/// What is being allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `dma_alloc_attrs`: coherent memory.
    Coherent,
    /// `dma_alloc_pages` (`dma_alloc_noncoherent`): pages the caller keeps
    /// coherent with `dma_sync_*`.
    Pages,
}

/// An allocation request and the facts about the device it depends on.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// Bytes asked for.
    pub size: u64,
    /// What is being allocated.
    pub purpose: Purpose,
    /// The request's attributes.
    pub attrs: Attrs,
    /// Whether the caller may sleep (its GFP flags allow direct reclaim).
    pub may_block: bool,
    /// Where the memory comes from ([`super::route::alloc`]).
    pub route: AllocRoute,
    /// Whether the device snoops the CPU caches.
    pub coherent: bool,
    /// log2 of the CPU page size.
    pub page_shift: u32,
    /// log2 of the IOMMU granule (the page size without an IOMMU).
    pub granule_shift: u32,
    /// The largest block the page allocator gives (`MAX_PAGE_ORDER`).
    pub max_order: u32,
    /// The most bytes one allocation may take (the module's bound).
    pub limit: u64,
}

/// What [`plan`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Pages to gather (the size rounded up to whole pages and granules).
    pub pages: usize,
    /// What the pages are.
    pub layout: Layout,
    /// How the kernel reaches them.
    pub cpu: CpuMap,
    /// The protection of a user mapping (`mmap`).
    pub user: Protection,
    /// Whether the pages are written back and invalidated once before
    /// they are handed out (a device that does not snoop the caches).
    pub clean: bool,
}

/// Why a request cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Zero bytes.
    Empty,
    /// More than the module's bound on one allocation.
    OverLimit {
        /// The bound in bytes.
        limit: u64,
    },
    /// A contiguous run larger than the page allocator's largest block.
    TooLargeContiguous {
        /// The largest block in pages.
        max_pages: u64,
    },
    /// An uncached kernel mapping for a caller that cannot sleep (making
    /// one may sleep, and rsdma keeps no pool of premapped memory).
    NeedsSleep,
    /// Page or granule sizes rsdma does not handle.
    BadGeometry,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("zero bytes requested"),
            Self::OverLimit { limit } => write!(
                f,
                "larger than the {} MiB one allocation may take (rsdma.coherent_max_mib)",
                limit >> 20
            ),
            Self::TooLargeContiguous { max_pages } => write!(
                f,
                "physically contiguous memory is limited to {} pages",
                max_pages
            ),
            Self::NeedsSleep => f.write_str(
                "an uncached kernel mapping cannot be made without sleeping (GFP flags forbid it)",
            ),
            Self::BadGeometry => f.write_str("unsupported page or IOMMU granule size"),
        }
    }
}

/// The smallest order whose block holds `pages` pages.
fn order_for(pages: u64) -> u32 {
    if pages <= 1 {
        0
    } else {
        64 - (pages - 1).leading_zeros()
    }
}

/// Decides what a buffer for `req` is made of and how the CPU reaches it.
pub fn plan(req: &Request) -> Result<Plan, PlanError> {
    if !(12..=16).contains(&req.page_shift)
        || !(12..=16).contains(&req.granule_shift)
        || req.max_order > 20
    {
        return Err(PlanError::BadGeometry);
    }
    if req.size == 0 {
        return Err(PlanError::Empty);
    }
    if req.size > req.limit {
        return Err(PlanError::OverLimit { limit: req.limit });
    }
    let iommu = req.route == AllocRoute::Iova;
    // Whole IOMMU granules behind an IOMMU, whole pages in any case.
    let min_order = if iommu {
        req.granule_shift.saturating_sub(req.page_shift)
    } else {
        0
    };
    let unit = 1u64 << (req.page_shift + min_order);
    let bytes = req
        .size
        .checked_next_multiple_of(unit)
        .ok_or(PlanError::OverLimit { limit: req.limit })?;
    let pages = bytes >> req.page_shift;
    let npages = usize::try_from(pages).map_err(|_| PlanError::OverLimit { limit: req.limit })?;
    let attrs = req.attrs;
    let contiguous = match req.purpose {
        Purpose::Pages => true,
        Purpose::Coherent => !iommu || !req.may_block || attrs.contains(Attrs::FORCE_CONTIGUOUS),
    };
    let layout = if contiguous {
        let order = order_for(pages);
        if order > req.max_order {
            return Err(PlanError::TooLargeContiguous {
                max_pages: 1u64 << req.max_order,
            });
        }
        Layout::Contiguous { order }
    } else if attrs.contains(Attrs::ALLOC_SINGLE_PAGES) {
        Layout::Scattered {
            min_order,
            max_order: min_order,
        }
    } else {
        Layout::Scattered {
            min_order,
            max_order: req.max_order.max(min_order),
        }
    };
    let user = if req.coherent {
        Protection::Cacheable
    } else if attrs.contains(Attrs::WRITE_COMBINE) {
        Protection::WriteCombine
    } else {
        Protection::NonCacheable
    };
    let cpu = match req.purpose {
        Purpose::Pages => CpuMap::Linear,
        Purpose::Coherent if attrs.contains(Attrs::NO_KERNEL_MAPPING) => CpuMap::None,
        Purpose::Coherent => match (user, layout) {
            (Protection::Cacheable, Layout::Contiguous { .. }) => CpuMap::Linear,
            _ if !req.may_block => return Err(PlanError::NeedsSleep),
            (p, _) => CpuMap::Remap(p),
        },
    };
    Ok(Plan {
        pages: npages,
        layout,
        cpu,
        user,
        clean: !req.coherent,
    })
}

/// One allocation [`Gather`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The block's order.
    pub order: u32,
    /// Whether the allocator should try hard (reclaim, compaction, retry):
    /// only for the smallest blocks, since larger ones are a convenience
    /// and a smaller size is tried next (`__GFP_NORETRY` otherwise).
    pub try_hard: bool,
}

/// The walk through block sizes that gathers a scattered buffer: the
/// largest block that still fits what is missing, falling back to smaller
/// ones, each size dropped for good once the allocator refuses it.
#[derive(Clone, Copy, Debug)]
pub struct Gather {
    /// Pages still missing.
    left: usize,
    /// Bit `k`: blocks of order `k` may still be tried.
    orders: u64,
}

impl Gather {
    /// The walk for `pages` pages (a multiple of `2^min_order`) in blocks
    /// of order `min_order..=max_order` (at most 63).
    pub fn new(pages: usize, min_order: u32, max_order: u32) -> Self {
        let max = max_order.min(63);
        let min = min_order.min(max);
        let below_max = if max == 63 {
            u64::MAX
        } else {
            (1u64 << (max + 1)) - 1
        };
        Self {
            left: pages,
            orders: below_max & !((1u64 << min) - 1),
        }
    }

    /// Pages still missing.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Whether every page has been gathered.
    pub fn done(&self) -> bool {
        self.left == 0
    }

    /// The next block to allocate; `None` when done, or when no allowed
    /// block fits what is missing (the allocation has failed).
    pub fn next_step(&self) -> Option<Step> {
        if self.left == 0 {
            return None;
        }
        let fits = (usize::BITS - 1 - self.left.leading_zeros()).min(63);
        let fit_mask = if fits == 63 {
            u64::MAX
        } else {
            (1u64 << (fits + 1)) - 1
        };
        let usable = self.orders & fit_mask;
        if usable == 0 {
            return None;
        }
        let order = 63 - usable.leading_zeros();
        Some(Step {
            order,
            try_hard: usable.count_ones() == 1,
        })
    }

    /// The allocator gave a block of `order`.
    pub fn got(&mut self, order: u32) {
        self.left = self.left.saturating_sub(1usize << order.min(63));
    }

    /// The allocator refused a block of `order`: smaller blocks from now
    /// on.
    pub fn refused(&mut self, order: u32) {
        if order < 64 {
            self.orders &= !(1u64 << order);
        }
    }
}

/// A physically contiguous run of a buffer's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Where the run starts in the buffer, in bytes.
    pub offset: u64,
    /// The physical address of its first byte.
    pub phys: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// The runs of `bytes` bytes of a buffer whose pages, of `page_size`
/// bytes each, lie at the physical addresses `pages` yields, in buffer
/// order.  Consecutive pages that follow each other in memory merge into
/// one run, up to `max_len` bytes (rounded down to whole pages, at least
/// one page).  The runs cover exactly `bytes` bytes, or fewer when the
/// pages run out.
pub fn runs<I: Iterator<Item = u64>>(
    pages: I,
    page_size: u64,
    bytes: u64,
    max_len: u64,
) -> Runs<I> {
    let page_size = page_size.max(1);
    let max_len = (max_len - max_len % page_size).max(page_size);
    Runs {
        pages,
        page_size,
        left: bytes,
        offset: 0,
        max_len,
        pending: None,
    }
}

/// The iterator [`runs`] returns.
#[derive(Clone, Debug)]
pub struct Runs<I> {
    pages: I,
    page_size: u64,
    /// Bytes not yet yielded.
    left: u64,
    /// Buffer offset of the next run.
    offset: u64,
    max_len: u64,
    /// A page read ahead that starts the next run.
    pending: Option<u64>,
}

impl<I: Iterator<Item = u64>> Iterator for Runs<I> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        if self.left == 0 {
            return None;
        }
        let phys = match self.pending.take() {
            Some(p) => p,
            None => self.pages.next()?,
        };
        let mut len = self.page_size;
        while len < self.left && len < self.max_len {
            match self.pages.next() {
                Some(p) if Some(p) == phys.checked_add(len) => len += self.page_size,
                Some(p) => {
                    self.pending = Some(p);
                    break;
                }
                None => break,
            }
        }
        let len = len.min(self.left);
        let run = Run {
            offset: self.offset,
            phys,
            len,
        };
        self.left -= len;
        self.offset += len;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn req(size: u64, attrs: Attrs) -> Request {
        Request {
            size,
            purpose: Purpose::Coherent,
            attrs,
            may_block: true,
            route: AllocRoute::Iova,
            coherent: true,
            page_shift: 12,
            granule_shift: 12,
            max_order: 10,
            limit: 256 << 20,
        }
    }

    #[test]
    fn layouts() {
        let p = plan(&req(64 << 20, Attrs::empty())).unwrap();
        assert_eq!(p.pages, 16384);
        assert_eq!(
            p.layout,
            Layout::Scattered {
                min_order: 0,
                max_order: 10
            }
        );
        assert_eq!(p.cpu, CpuMap::Remap(Protection::Cacheable));
        assert!(!p.clean);
        let p = plan(&req(100, Attrs::ALLOC_SINGLE_PAGES)).unwrap();
        assert_eq!(
            (p.pages, p.layout),
            (
                1,
                Layout::Scattered {
                    min_order: 0,
                    max_order: 0
                }
            )
        );
        let p = plan(&req(3 << 12, Attrs::FORCE_CONTIGUOUS)).unwrap();
        assert_eq!(p.layout, Layout::Contiguous { order: 2 });
        assert_eq!(p.cpu, CpuMap::Linear);
        assert_eq!(
            plan(&req(8 << 20, Attrs::FORCE_CONTIGUOUS)),
            Err(PlanError::TooLargeContiguous { max_pages: 1024 })
        );
        assert_eq!(
            plan(&req(4 << 20, Attrs::FORCE_CONTIGUOUS)).unwrap().layout,
            Layout::Contiguous { order: 10 }
        );
        // Without an IOMMU, or for a caller that cannot sleep: contiguous.
        let r = Request {
            route: AllocRoute::Direct,
            ..req(5000, Attrs::empty())
        };
        assert_eq!(plan(&r).unwrap().layout, Layout::Contiguous { order: 1 });
        let r = Request {
            may_block: false,
            ..req(5000, Attrs::empty())
        };
        assert_eq!(plan(&r).unwrap().layout, Layout::Contiguous { order: 1 });
        // dma_alloc_pages: contiguous and linear, whatever the attributes.
        let r = Request {
            purpose: Purpose::Pages,
            coherent: false,
            ..req(5000, Attrs::NO_KERNEL_MAPPING)
        };
        let p = plan(&r).unwrap();
        assert_eq!(
            (p.layout, p.cpu, p.clean),
            (Layout::Contiguous { order: 1 }, CpuMap::Linear, true)
        );
    }

    #[test]
    fn protections() {
        let nc = |attrs| {
            plan(&Request {
                coherent: false,
                ..req(8192, attrs)
            })
        };
        let p = nc(Attrs::WRITE_COMBINE).unwrap();
        assert_eq!(
            (p.cpu, p.user, p.clean),
            (
                CpuMap::Remap(Protection::WriteCombine),
                Protection::WriteCombine,
                true
            )
        );
        let p = nc(Attrs::empty()).unwrap();
        assert_eq!(p.cpu, CpuMap::Remap(Protection::NonCacheable));
        assert_eq!(p.user, Protection::NonCacheable);
        // Contiguous memory for a non-coherent device is remapped too.
        let p = nc(Attrs::FORCE_CONTIGUOUS).unwrap();
        assert_eq!(p.cpu, CpuMap::Remap(Protection::NonCacheable));
        let p = nc(Attrs::NO_KERNEL_MAPPING.union(Attrs::WRITE_COMBINE)).unwrap();
        assert_eq!((p.cpu, p.user), (CpuMap::None, Protection::WriteCombine));
        // A coherent device ignores WRITE_COMBINE.
        let p = plan(&req(8192, Attrs::WRITE_COMBINE)).unwrap();
        assert_eq!(
            (p.cpu, p.user),
            (CpuMap::Remap(Protection::Cacheable), Protection::Cacheable)
        );
        // An uncached mapping needs a caller that may sleep; no mapping
        // does not.
        let atomic = |coherent, attrs| {
            plan(&Request {
                may_block: false,
                coherent,
                ..req(8192, attrs)
            })
        };
        assert_eq!(atomic(false, Attrs::empty()), Err(PlanError::NeedsSleep));
        assert_eq!(atomic(true, Attrs::empty()).unwrap().cpu, CpuMap::Linear);
        assert_eq!(
            atomic(false, Attrs::NO_KERNEL_MAPPING).unwrap().cpu,
            CpuMap::None
        );
    }

    #[test]
    fn bounds_and_geometry() {
        assert_eq!(plan(&req(0, Attrs::empty())), Err(PlanError::Empty));
        assert_eq!(
            plan(&req((256 << 20) + 1, Attrs::empty())),
            Err(PlanError::OverLimit { limit: 256 << 20 })
        );
        assert!(plan(&req(256 << 20, Attrs::empty())).is_ok());
        let r = Request {
            limit: u64::MAX,
            ..req(u64::MAX, Attrs::empty())
        };
        assert!(matches!(plan(&r), Err(PlanError::OverLimit { .. })));
        // A 64 KiB granule with 4 KiB pages: blocks of at least 16 pages.
        let r = Request {
            granule_shift: 16,
            ..req(5000, Attrs::ALLOC_SINGLE_PAGES)
        };
        let p = plan(&r).unwrap();
        assert_eq!(
            (p.pages, p.layout),
            (
                16,
                Layout::Scattered {
                    min_order: 4,
                    max_order: 4
                }
            )
        );
        // 16 KiB pages, 4 KiB granule.
        let r = Request {
            page_shift: 14,
            ..req(5000, Attrs::empty())
        };
        assert_eq!(plan(&r).unwrap().pages, 1);
        let r = Request {
            page_shift: 11,
            ..req(5000, Attrs::empty())
        };
        assert_eq!(plan(&r), Err(PlanError::BadGeometry));
    }

    #[test]
    fn gather_falls_back_and_never_retries_a_refused_size() {
        let mut g = Gather::new(1000, 0, 10);
        // 1000 pages: order 9 is the largest that fits.
        assert_eq!(
            g.next_step(),
            Some(Step {
                order: 9,
                try_hard: false
            })
        );
        g.got(9);
        assert_eq!(g.left(), 488);
        assert_eq!(g.next_step().map(|s| s.order), Some(8));
        g.refused(8);
        assert_eq!(g.next_step().map(|s| s.order), Some(7));
        g.got(7);
        g.got(7);
        g.got(7);
        assert_eq!(g.left(), 104);
        assert_eq!(g.next_step().map(|s| s.order), Some(6));
        for o in 1..=6 {
            g.refused(o);
        }
        assert_eq!(
            g.next_step(),
            Some(Step {
                order: 0,
                try_hard: true
            })
        );
        g.refused(0);
        assert_eq!(g.next_step(), None);
        assert!(!g.done());
        let mut g = Gather::new(4, 0, 0);
        for _ in 0..4 {
            assert_eq!(
                g.next_step(),
                Some(Step {
                    order: 0,
                    try_hard: true
                })
            );
            g.got(0);
        }
        assert!(g.done());
        assert_eq!(g.next_step(), None);
        // Granule blocks: 16 pages at least.
        let g = Gather::new(48, 4, 10);
        assert_eq!(g.next_step().map(|s| s.order), Some(5));
    }

    #[test]
    fn runs_merge_and_cut() {
        let pages = [0x1000u64, 0x2000, 0x3000, 0x8000, 0x9000, 0x5000];
        let r: Vec<Run> = runs(pages.iter().copied(), 0x1000, 0x5800, u64::MAX).collect();
        assert_eq!(
            r,
            [
                Run {
                    offset: 0,
                    phys: 0x1000,
                    len: 0x3000
                },
                Run {
                    offset: 0x3000,
                    phys: 0x8000,
                    len: 0x2000
                },
                Run {
                    offset: 0x5000,
                    phys: 0x5000,
                    len: 0x800
                },
            ]
        );
        let r: Vec<Run> = runs(pages.iter().copied(), 0x1000, 0x3000, 0x2fff).collect();
        assert_eq!(
            r.iter().map(|r| (r.phys, r.len)).collect::<Vec<_>>(),
            [(0x1000, 0x2000), (0x3000, 0x1000)]
        );
        assert_eq!(runs(pages.iter().copied(), 0x1000, 0, 1).count(), 0);
        // Fewer pages than bytes: the runs stop with the pages.
        let total: u64 = runs([0x1000u64].into_iter(), 0x1000, 0x9000, u64::MAX)
            .map(|r| r.len)
            .sum();
        assert_eq!(total, 0x1000);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the allocator refuses, the walk gathers exactly the
        /// pages asked for or stops, tries sizes in non-increasing order,
        /// never a refused size again, never a block larger than what is
        /// missing, and tries hard only on its smallest size.
        #[test]
        fn gather_model(pages in 1usize..5000, min in 0u32..4, max in 0u32..12,
                        refuse in proptest::collection::vec(any::<bool>(), 64)) {
            let (min, max) = (min.min(max), max);
            let pages = pages.next_multiple_of(1 << min);
            let mut g = Gather::new(pages, min, max);
            let mut got = 0usize;
            let mut refused = 0u64;
            let mut last = u32::MAX;
            let mut i = 0;
            while let Some(s) = g.next_step() {
                prop_assert!(s.order >= min && s.order <= max);
                prop_assert!(s.order <= last);
                prop_assert!(refused & (1 << s.order) == 0);
                prop_assert!((1usize << s.order) <= g.left());
                let smaller_left = (min..s.order).any(|o| refused & (1 << o) == 0);
                prop_assert_eq!(s.try_hard, !smaller_left);
                last = s.order;
                if refuse[i % refuse.len()] {
                    g.refused(s.order);
                    refused |= 1 << s.order;
                } else {
                    g.got(s.order);
                    got += 1 << s.order;
                }
                i += 1;
            }
            prop_assert_eq!(got + g.left(), pages);
            prop_assert!(g.done() || refused & (1 << min) != 0);
        }

        /// The runs add up to the bytes, follow the pages in order, are
        /// each physically contiguous, at most `max_len` long, and no two
        /// neighbours could have been one run.
        #[test]
        fn runs_model(starts in proptest::collection::vec(0u64..64, 1..80),
                      cut in 0u64..4096, max_pages in 1u64..9) {
            let pages: Vec<u64> = starts.iter().map(|s| s << 12).collect();
            let bytes = ((pages.len() as u64) << 12).saturating_sub(cut);
            let max_len = max_pages << 12;
            let r: Vec<Run> = runs(pages.iter().copied(), 4096, bytes, max_len).collect();
            prop_assert_eq!(r.iter().map(|r| r.len).sum::<u64>(), bytes);
            let mut off = 0u64;
            for (k, run) in r.iter().enumerate() {
                prop_assert_eq!(run.offset, off);
                prop_assert!(run.len <= max_len && run.len > 0);
                for p in 0..run.len.div_ceil(4096) {
                    let page = ((run.offset >> 12) + p) as usize;
                    prop_assert_eq!(pages[page], run.phys + (p << 12));
                }
                if let Some(next) = r.get(k + 1) {
                    prop_assert!(next.phys != run.phys + run.len || run.len == max_len);
                }
                off += run.len;
            }
        }
    }
}
