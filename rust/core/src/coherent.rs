//! Declared coherent memory pools (the `dma_declare_coherent_memory` idea of
//! kernel/dma/coherent.c).
//!
//! A [`CoherentPool`] manages a device's declared memory as a bitmap of
//! pages; allocations are `2^order` pages aligned to their size (first fit).
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

    /// Whether `[dev_addr, dev_addr+size)` lies in the pool (is it ours to
    /// free or mmap?).
    pub fn contains(&self, dev_addr: u64, size: u64) -> bool {
        let end = self.dev_base + ((self.pages as u64) << self.page_shift);
        dev_addr >= self.dev_base && dev_addr.checked_add(size).is_some_and(|e| e <= end)
    }

    fn words(&self) -> usize {
        bitmap::words_for(self.pages)
    }

    /// Allocates `size` bytes: `2^order` pages aligned to their size.
    pub fn alloc(&mut self, size: u64) -> Result<CoherentAlloc, CoherentError> {
        let order = order_for(size, self.page_shift).ok_or(CoherentError::InvalidSize)?;
        if order >= 48 || (1usize << order) > self.pages {
            return Err(CoherentError::InvalidSize);
        }
        let n = 1usize << order;
        let w = self.words();
        let pages = self.pages;
        let bits = self.bits.as_mut();
        let (used, marks) = bits.split_at_mut(w);
        let (starts, ends) = marks.split_at_mut(w);
        let p = bitmap::find_zero_area(used, 0, pages, n, n).ok_or(CoherentError::NoSpace)?;
        bitmap::set_range(used, p, n);
        bitmap::set_range(starts, p, 1);
        bitmap::set_range(ends, p + n - 1, 1);
        self.used += n;
        let off = (p as u64) << self.page_shift;
        Ok(CoherentAlloc {
            dev_addr: self.dev_base + off,
            phys: self.phys_base + off,
            bytes: (n as u64) << self.page_shift,
        })
    }

    /// Frees the allocation of `size` bytes at `dev_addr`.
    pub fn free(&mut self, dev_addr: u64, size: u64) -> Result<(), CoherentError> {
        let order = order_for(size, self.page_shift).ok_or(CoherentError::NotAllocated)?;
        let bytes = 1u64
            .checked_shl(order + self.page_shift)
            .ok_or(CoherentError::NotAllocated)?;
        if !self.contains(dev_addr, bytes) || (dev_addr - self.dev_base) & (bytes - 1) != 0 {
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn model(pages in 1usize..200, ops in proptest::collection::vec((any::<bool>(), 1u64..40000, any::<usize>()), 1..100)) {
            let mut p = pool(pages, false);
            let mut cells = vec![false; pages];
            let mut live: Vec<(u64, u64)> = Vec::new();
            for (alloc, size, pick) in ops {
                if alloc {
                    let n = (size.div_ceil(4096)).next_power_of_two() as usize;
                    let want = (0..pages).step_by(n).find(|&s| s + n <= pages && cells[s..s + n].iter().all(|c| !c));
                    match (p.alloc(size), want) {
                        (Ok(a), Some(s)) => {
                            prop_assert_eq!(a.dev_addr, 0x4000_0000 + ((s as u64) << 12));
                            for c in &mut cells[s..s + n] { *c = true; }
                            live.push((a.dev_addr, size));
                        }
                        (Err(_), None) => {}
                        (r, w) => prop_assert!(false, "{:?} vs {:?}", r, w),
                    }
                } else if !live.is_empty() {
                    let (a, size) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(p.free(a, size), Ok(()));
                    let s = ((a - 0x4000_0000) >> 12) as usize;
                    let n = (size.div_ceil(4096)).next_power_of_two() as usize;
                    for c in &mut cells[s..s + n] { *c = false; }
                }
                prop_assert_eq!(p.used_pages(), cells.iter().filter(|c| **c).count());
            }
            for (a, size) in live { prop_assert_eq!(p.free(a, size), Ok(())); }
            prop_assert_eq!(p.used_pages(), 0);
        }
    }
}
