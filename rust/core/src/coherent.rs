//! Declared coherent memory pools (the `dma_declare_coherent_memory` idea of
//! kernel/dma/coherent.c).
//!
//! A [`CoherentPool`] manages one region of a device's declared memory as a
//! bitmap of pages, under `dma_alloc_attrs`' rules (see
//! Documentation/core-api/dma-api-howto.rst): a buffer of `size` bytes
//! takes the smallest power-of-two number of pages that holds it, and its
//! device address is aligned to that size, so a buffer of at most 64 KiB
//! never crosses a 64 KiB boundary.  The alignment is of the device address
//! itself, not of the offset in the region: a region that does not start on
//! such a boundary serves a large buffer only from a boundary inside it.
//! First fit, under a limit (the device's coherent DMA mask).
//!
//! An exclusive pool is the only source for its device: when it is
//! exhausted the allocation fails instead of falling back to normal memory.

use super::bitmap;
use core::fmt;

/// Errors of a coherent pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoherentError {
    /// Invalid geometry or storage size.
    BadConfig,
    /// Zero or oversized request.
    InvalidSize,
    /// No free aligned region large enough.
    NoSpace,
    /// `free` of something that is not exactly one live allocation.
    NotAllocated,
}

impl fmt::Display for CoherentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadConfig => "coherent: bad pool configuration",
            Self::InvalidSize => "coherent: invalid size",
            Self::NoSpace => "coherent: pool exhausted",
            Self::NotAllocated => "coherent: free of memory not allocated from the pool",
        })
    }
}

/// One allocation from a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoherentAlloc {
    /// Device address.
    pub dev_addr: u64,
    /// Physical address.
    pub phys: u64,
    /// Bytes reserved (`2^order` pages).
    pub bytes: u64,
}

/// Words of storage a pool of `pages` pages needs.
pub const fn storage_words(pages: usize) -> usize {
    3 * bitmap::words_for(pages)
}

/// A declared coherent region over caller storage `B`
/// ([`storage_words`] words: used pages, allocation starts, allocation ends).
pub struct CoherentPool<B> {
    phys_base: u64,
    dev_base: u64,
    pages: usize,
    page_shift: u32,
    exclusive: bool,
    used: usize,
    /// Highest value `used` reached.
    high_water: usize,
    /// Allocations the pool could not serve.
    failures: u64,
    bits: B,
}

fn order_for(bytes: u64, page_shift: u32) -> Option<u32> {
    let pages = bytes.checked_add((1u64 << page_shift) - 1)? >> page_shift;
    if pages == 0 {
        return None;
    }
    Some(64 - (pages - 1).leading_zeros())
}

impl<B: AsRef<[u64]> + AsMut<[u64]>> CoherentPool<B> {
    /// A pool of `size` bytes at `phys_base` (seen by the device at
    /// `dev_base`), page size `2^page_shift`, using `bits` (cleared).
    pub fn new(
        phys_base: u64,
        dev_base: u64,
        size: u64,
        page_shift: u32,
        exclusive: bool,
        mut bits: B,
    ) -> Result<Self, CoherentError> {
        if !(12..=16).contains(&page_shift) {
            return Err(CoherentError::BadConfig);
        }
        let mask = (1u64 << page_shift) - 1;
        if phys_base & mask != 0 || dev_base & mask != 0 || size & mask != 0 || size == 0 {
            return Err(CoherentError::BadConfig);
        }
        if phys_base.checked_add(size).is_none() || dev_base.checked_add(size).is_none() {
            return Err(CoherentError::BadConfig);
        }
        let pages = usize::try_from(size >> page_shift).map_err(|_| CoherentError::BadConfig)?;
        if bits.as_ref().len() != storage_words(pages) {
            return Err(CoherentError::BadConfig);
        }
        bits.as_mut().fill(0);
        Ok(CoherentPool {
            phys_base,
            dev_base,
            pages,
            page_shift,
            exclusive,
            used: 0,
            high_water: 0,
            failures: 0,
            bits,
        })
    }

    /// Whether the device must not fall back to other memory.
    pub fn exclusive(&self) -> bool {
        self.exclusive
    }

    /// Pages in use.
    pub fn used_pages(&self) -> usize {
        self.used
    }

    /// Pages in the pool.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The most pages that were in use at once.
    pub fn high_water_pages(&self) -> usize {
        self.high_water
    }

    /// Allocations the pool could not serve (no room, or larger than the
    /// pool).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Whether `[dev_addr, dev_addr+size)` lies in the pool (is it ours to
    /// free or mmap?).
    pub fn contains(&self, dev_addr: u64, size: u64) -> bool {
        let end = self.dev_base + ((self.pages as u64) << self.page_shift);
        dev_addr >= self.dev_base && dev_addr.checked_add(size).is_some_and(|e| e <= end)
    }

    fn words(&self) -> usize {
        bitmap::words_for(self.pages)
    }

    /// Allocates `size` bytes: `2^order` pages whose device address is
    /// aligned to their size.
    pub fn alloc(&mut self, size: u64) -> Result<CoherentAlloc, CoherentError> {
        self.alloc_below(size, u64::MAX)
    }

    /// As [`Self::alloc`], with the whole allocation at device addresses at
    /// or below `limit` (a coherent DMA mask).
    pub fn alloc_below(&mut self, size: u64, limit: u64) -> Result<CoherentAlloc, CoherentError> {
        let r = self.find(size, limit);
        if r.is_err() && size != 0 {
            self.failures = self.failures.saturating_add(1);
        }
        let (p, n) = r?;
        let w = self.words();
        let bits = self.bits.as_mut();
        let (used, marks) = bits.split_at_mut(w);
        let (starts, ends) = marks.split_at_mut(w);
        bitmap::set_range(used, p, n);
        bitmap::set_range(starts, p, 1);
        bitmap::set_range(ends, p + n - 1, 1);
        self.used += n;
        self.high_water = self.high_water.max(self.used);
        let off = (p as u64) << self.page_shift;
        Ok(CoherentAlloc {
            dev_addr: self.dev_base + off,
            phys: self.phys_base + off,
            bytes: (n as u64) << self.page_shift,
        })
    }

    /// The first page and page count of a free fit for `size` bytes under
    /// `limit`.
    fn find(&self, size: u64, limit: u64) -> Result<(usize, usize), CoherentError> {
        let order = order_for(size, self.page_shift).ok_or(CoherentError::InvalidSize)?;
        if order >= 48 || (1usize << order) > self.pages {
            return Err(CoherentError::InvalidSize);
        }
        let n = 1usize << order;
        // Pages whose every byte lies at or below `limit`.
        let Some(span) = limit.checked_sub(self.dev_base) else {
            return Err(CoherentError::NoSpace);
        };
        let bytes = (self.pages as u64) << self.page_shift;
        let end = if span >= bytes - 1 {
            self.pages
        } else {
            // `span < bytes - 1`, so neither side overflows or truncates.
            ((span + 1) >> self.page_shift) as usize
        };
        // Page `p` of the pool is page `dev_base / page + p` of the bus.
        let offset = ((self.dev_base >> self.page_shift) & (n as u64 - 1)) as usize;
        let used = self.bits.as_ref().get(..self.words()).unwrap_or(&[]);
        bitmap::find_zero_area_off(used, 0, end, n, n, offset)
            .map(|p| (p, n))
            .ok_or(CoherentError::NoSpace)
    }

    /// Frees the allocation of `size` bytes at `dev_addr`.
    pub fn free(&mut self, dev_addr: u64, size: u64) -> Result<(), CoherentError> {
        let order = order_for(size, self.page_shift).ok_or(CoherentError::NotAllocated)?;
        let bytes = 1u64
            .checked_shl(order + self.page_shift)
            .ok_or(CoherentError::NotAllocated)?;
        if !self.contains(dev_addr, bytes) || dev_addr & (bytes - 1) != 0 {
            return Err(CoherentError::NotAllocated);
        }
        let p = ((dev_addr - self.dev_base) >> self.page_shift) as usize;
        let n = 1usize << order;
        let w = self.words();
        let bits = self.bits.as_mut();
        let (used, marks) = bits.split_at_mut(w);
        let (starts, ends) = marks.split_at_mut(w);
        let ok = bitmap::find_next_zero(used, p, p + n).is_none()
            && bitmap::test(starts, p)
            && bitmap::find_next_one(starts, p + 1, p + n).is_none()
            && bitmap::test(ends, p + n - 1)
            && bitmap::find_next_one(ends, p, p + n - 1).is_none();
        if !ok {
            return Err(CoherentError::NotAllocated);
        }
        bitmap::clear_range(used, p, n);
        bitmap::clear_range(starts, p, 1);
        bitmap::clear_range(ends, p + n - 1, 1);
        self.used -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn pool(pages: usize, exclusive: bool) -> CoherentPool<Vec<u64>> {
        CoherentPool::new(
            0x8000_0000,
            0x4000_0000,
            (pages as u64) << 12,
            12,
            exclusive,
            vec![0; storage_words(pages)],
        )
        .unwrap()
    }

    #[test]
    fn order_aligned_and_validated() {
        let mut p = pool(16, true);
        assert!(p.exclusive());
        let a = p.alloc(100).unwrap();
        assert_eq!(
            (a.dev_addr, a.phys, a.bytes),
            (0x4000_0000, 0x8000_0000, 4096)
        );
        let b = p.alloc(3 * 4096).unwrap();
        assert_eq!(b.dev_addr, 0x4000_4000, "4 pages aligned to 4");
        assert_eq!(p.free(b.dev_addr, 4096), Err(CoherentError::NotAllocated));
        assert_eq!(
            p.free(b.dev_addr + 4096, 2 * 4096),
            Err(CoherentError::NotAllocated)
        );
        assert_eq!(p.free(0x1234, 1), Err(CoherentError::NotAllocated));
        p.free(b.dev_addr, 16384).unwrap();
        assert_eq!(p.free(b.dev_addr, 16384), Err(CoherentError::NotAllocated));
        assert_eq!(p.alloc(17 * 4096), Err(CoherentError::InvalidSize));
        assert_eq!(p.alloc(0), Err(CoherentError::InvalidSize));
        assert_eq!(p.alloc(8 * 4096).unwrap().dev_addr, 0x4000_8000);
        assert_eq!(p.alloc(8 * 4096), Err(CoherentError::NoSpace));
        p.free(a.dev_addr, 1).unwrap();
        assert!(CoherentPool::new(1, 0, 4096, 12, false, vec![0u64; 3]).is_err());
    }

    #[test]
    fn device_address_aligned_whatever_the_base() {
        // The region starts 3 pages past a 16 KiB boundary.
        let mut p = CoherentPool::new(
            0x9000_3000,
            0x4000_3000,
            16 << 12,
            12,
            false,
            vec![0; storage_words(16)],
        )
        .unwrap();
        let a = p.alloc(3 * 4096).unwrap();
        assert_eq!(a.dev_addr, 0x4000_4000, "4 pages on a 16 KiB boundary");
        assert_eq!(a.phys, 0x9000_4000, "the same offset in the region");
        let b = p.alloc(1).unwrap();
        assert_eq!(b.dev_addr, 0x4000_3000, "one page fits before it");
        // 8 pages from a 32 KiB boundary: 0x4000_8000 to 0x4001_0000 fits
        // (the region ends at 0x4001_3000); 16 pages never fit.
        assert_eq!(p.alloc(8 * 4096).unwrap().dev_addr, 0x4000_8000);
        assert_eq!(p.alloc(16 * 4096), Err(CoherentError::NoSpace));
        assert_eq!(p.failures(), 1);
        // A free must name the aligned address and the size.
        assert_eq!(
            p.free(a.dev_addr - 0x1000, 4 * 4096),
            Err(CoherentError::NotAllocated)
        );
        p.free(a.dev_addr, 3 * 4096).unwrap();
        assert_eq!(p.high_water_pages(), 13);
    }

    #[test]
    fn limit_keeps_the_whole_buffer_below_it() {
        let mut p = pool(16, false);
        // The pool covers 0x4000_0000..0x4001_0000; the limit is inclusive.
        assert_eq!(
            p.alloc_below(4096, 0x3fff_ffff),
            Err(CoherentError::NoSpace)
        );
        assert_eq!(
            p.alloc_below(8192, 0x4000_0ffe),
            Err(CoherentError::NoSpace)
        );
        let a = p.alloc_below(4096, 0x4000_0fff).unwrap();
        assert_eq!(a.dev_addr, 0x4000_0000);
        assert_eq!(
            p.alloc_below(4096, 0x4000_1fff).unwrap().dev_addr,
            0x4000_1000
        );
        assert_eq!(
            p.alloc_below(4096, 0x4000_1fff),
            Err(CoherentError::NoSpace)
        );
        assert_eq!(p.alloc_below(4096, u64::MAX).unwrap().dev_addr, 0x4000_2000);
        assert_eq!(p.failures(), 3);
        assert_eq!(p.alloc(0), Err(CoherentError::InvalidSize));
        assert_eq!(p.failures(), 3, "a zero size is no request");
        assert_eq!((p.used_pages(), p.high_water_pages()), (3, 3));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn model(pages in 1usize..200, base_page in 0u64..64, limit_pages in 0u64..260,
                 ops in proptest::collection::vec((any::<bool>(), 1u64..40000, any::<usize>()), 1..100)) {
            let dev_base = 0x4000_0000 + (base_page << 12);
            let mut p = CoherentPool::new(
                0x8000_0000,
                dev_base,
                (pages as u64) << 12,
                12,
                false,
                vec![0; storage_words(pages)],
            ).unwrap();
            // Device addresses at or below the limit.
            let limit = dev_base + (limit_pages << 12) - 1;
            let mut cells = vec![false; pages];
            let mut live: Vec<(u64, u64)> = Vec::new();
            let (mut high, mut failures) = (0usize, 0u64);
            for (alloc, size, pick) in ops {
                if alloc {
                    let n = (size.div_ceil(4096)).next_power_of_two() as usize;
                    let want = (0..pages)
                        .filter(|&s| (base_page as usize + s) % n == 0)
                        .find(|&s| s + n <= pages && s + n <= limit_pages as usize
                              && cells[s..s + n].iter().all(|c| !c));
                    match (p.alloc_below(size, limit), want) {
                        (Ok(a), Some(s)) => {
                            prop_assert_eq!(a.dev_addr, dev_base + ((s as u64) << 12));
                            prop_assert_eq!(a.dev_addr % a.bytes, 0);
                            prop_assert!(a.dev_addr + a.bytes - 1 <= limit);
                            for c in &mut cells[s..s + n] { *c = true; }
                            live.push((a.dev_addr, size));
                        }
                        (Err(_), None) => failures += 1,
                        (r, w) => prop_assert!(false, "{:?} vs {:?}", r, w),
                    }
                } else if !live.is_empty() {
                    let (a, size) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(p.free(a, size), Ok(()));
                    let s = ((a - dev_base) >> 12) as usize;
                    let n = (size.div_ceil(4096)).next_power_of_two() as usize;
                    for c in &mut cells[s..s + n] { *c = false; }
                }
                let used = cells.iter().filter(|c| **c).count();
                high = high.max(used);
                prop_assert_eq!(p.used_pages(), used);
                prop_assert_eq!(p.high_water_pages(), high);
                prop_assert_eq!(p.failures(), failures);
            }
            for (a, size) in live { prop_assert_eq!(p.free(a, size), Ok(())); }
            prop_assert_eq!(p.used_pages(), 0);
        }
    }
}
