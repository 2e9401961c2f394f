// SPDX-License-Identifier: GPL-2.0

//! Map/unmap load on the edu device from kernel threads, checking the
//! IOVAs the DMA layer hands out: no two live mappings may share an IOVA
//! page.
//!
//! `overlap_start N` starts N threads; each keeps [`SLOTS`] mappings of 1
//! byte to 64 KiB at random offsets of their buffers, in random
//! directions, and maps or unmaps a random slot at a time.  Every mapping
//! is entered in one table of live IOVA ranges shared by the threads right
//! after it is made and leaves it right before it is unmapped, so a new
//! range that meets one in the table was given out while still in use.
//! `overlap_stop` stops the threads, unmaps everything and reports the
//! counts.  No DMA takes place: this is the allocator under concurrency.

use crate::dev_err;
use crate::kapi::device::Device;
use crate::kapi::dma::{Direction, Mapping};
use crate::kapi::kthread::{self, Body, Thread};
use crate::kapi::page::{fill_random, Pages};
use crate::kapi::time::now_ns;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::ARef;
use kernel::{c_str, new_mutex};

/// Most threads one device runs.
pub(crate) const MAX_THREADS: usize = 4;
/// Mappings each thread keeps.
const SLOTS: usize = 16;
/// Each slot's buffer, the longest mapping.
const BUF_LEN: usize = 64 * 1024;
/// The smallest IOMMU granule: two mappings meeting in one are an overlap
/// whatever granule the IOMMU uses.
const IOVA_PAGE: u64 = 4096;
/// Map or unmap steps between two short sleeps.
const PAUSE_EVERY: u32 = 8;
/// Overlaps logged in full; the rest are only counted.
const LOGGED: u64 = 8;

/// What the threads of one device share.
#[pin_data]
pub(crate) struct Overlap {
    dev: ARef<Device>,
    /// Live mappings as IOVA page ranges `[start, end)`, a slot for each
    /// mapping every thread may hold.
    #[pin]
    live: Mutex<[Option<(u64, u64)>; MAX_THREADS * SLOTS]>,
    maps: AtomicU64,
    unmaps: AtomicU64,
    overlaps: AtomicU64,
    /// Mappings the DMA layer refused (or buffers that could not be had).
    failures: AtomicU64,
    started_ns: u64,
}

/// A small xorshift generator, seeded from the kernel's random pool.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        Self(u64::from_ne_bytes(b) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Overlap {
    fn new(dev: ARef<Device>) -> impl PinInit<Self> {
        pin_init!(Self {
            dev,
            live <- new_mutex!([None; MAX_THREADS * SLOTS], "Overlap::live"),
            maps: AtomicU64::new(0),
            unmaps: AtomicU64::new(0),
            overlaps: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            started_ns: now_ns(),
        })
    }

    /// The IOVA pages `m` covers.
    fn pages_of(m: &Mapping) -> (u64, u64) {
        let start = m.dma_addr() & !(IOVA_PAGE - 1);
        let end = (m.dma_addr() + m.len() as u64).next_multiple_of(IOVA_PAGE);
        (start, end)
    }

    /// Enters a new mapping's range, counting (and logging) any live
    /// range it meets.
    fn enter(&self, r: (u64, u64)) {
        let mut live = self.live.lock();
        for &(s, e) in live.iter().flatten() {
            if r.0 < e && s < r.1 {
                let n = self.overlaps.fetch_add(1, Relaxed);
                if n < LOGGED {
                    dev_err!(
                        self.dev,
                        "overlap: new IOVA range {:#x}..{:#x} meets live {:#x}..{:#x}",
                        r.0,
                        r.1,
                        s,
                        e
                    );
                }
            }
        }
        // There is a slot for every mapping of every thread.
        match live.iter_mut().find(|x| x.is_none()) {
            Some(free) => *free = Some(r),
            None => {
                self.failures.fetch_add(1, Relaxed);
            }
        }
    }

    /// Removes a mapping's range before it is unmapped.
    fn leave(&self, r: (u64, u64)) {
        let mut live = self.live.lock();
        if let Some(x) = live.iter_mut().find(|x| **x == Some(r)) {
            *x = None;
        }
    }

    /// Maps or unmaps slot `i`.
    fn step(
        &self,
        rng: &mut Rng,
        bufs: &mut [Option<Pages>],
        maps: &mut [Option<Mapping>],
        i: usize,
    ) {
        if let Some(m) = maps[i].take() {
            self.leave(Self::pages_of(&m));
            match m.unmap() {
                Ok(p) => bufs[i] = Some(p),
                Err(_) => {
                    self.failures.fetch_add(1, Relaxed);
                }
            }
            self.unmaps.fetch_add(1, Relaxed);
            return;
        }
        let pages = match bufs[i].take() {
            Some(p) => p,
            None => match Pages::alloc(BUF_LEN) {
                Ok(p) => p,
                Err(_) => {
                    self.failures.fetch_add(1, Relaxed);
                    return;
                }
            },
        };
        let len = 1 + rng.below(BUF_LEN as u64) as usize;
        let off = rng.below((BUF_LEN - len + 1) as u64) as usize;
        let dir = match rng.below(3) {
            0 => Direction::ToDevice,
            1 => Direction::FromDevice,
            _ => Direction::Bidirectional,
        };
        match Mapping::new_at(&self.dev, pages, off, len, dir) {
            Ok(m) => {
                self.enter(Self::pages_of(&m));
                self.maps.fetch_add(1, Relaxed);
                maps[i] = Some(m);
            }
            // The buffer went with the refused mapping; the next map of
            // this slot allocates another.
            Err(_) => {
                self.failures.fetch_add(1, Relaxed);
            }
        }
    }
}

impl Body for Overlap {
    fn run(&self) {
        let mut rng = Rng::new();
        let mut bufs: [Option<Pages>; SLOTS] = core::array::from_fn(|_| None);
        let mut maps: [Option<Mapping>; SLOTS] = core::array::from_fn(|_| None);
        let mut n = 0u32;
        while !kthread::should_stop() {
            let i = rng.below(SLOTS as u64) as usize;
            self.step(&mut rng, &mut bufs, &mut maps, i);
            n = n.wrapping_add(1);
            // A pause now and then leaves the CPUs to the other paths
            // under test.
            if n % PAUSE_EVERY == 0 {
                crate::kapi::io::msleep(1);
            } else {
                kthread::cond_resched();
            }
        }
        for m in maps.iter_mut() {
            if let Some(m) = m.take() {
                self.leave(Self::pages_of(&m));
                drop(m);
                self.unmaps.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The threads running on one device.
pub(crate) struct Load {
    shared: Arc<Overlap>,
    threads: KVec<Thread<Overlap>>,
}

impl Load {
    /// Starts `n` threads (1 to [`MAX_THREADS`]) on `dev`.
    pub(crate) fn start(dev: &Device, n: usize) -> Result<Self> {
        if n == 0 || n > MAX_THREADS {
            return Err(EINVAL);
        }
        let shared = Arc::pin_init(Overlap::new(dev.get()), GFP_KERNEL)?;
        let mut threads = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            threads.push(
                Thread::spawn(shared.clone(), c_str!("rsdma_edu_ovl"))?,
                GFP_KERNEL,
            )?;
        }
        Ok(Self { shared, threads })
    }

    /// Stops the threads (they unmap what they hold) and writes the
    /// counts to `out`; returns whether no overlap was seen.
    pub(crate) fn stop(mut self, out: &mut dyn core::fmt::Write) -> bool {
        let n = self.threads.len();
        drop(core::mem::replace(&mut self.threads, KVec::new()));
        let o = &self.shared;
        let ms = (now_ns() - o.started_ns) / 1_000_000;
        let (maps, unmaps) = (o.maps.load(Relaxed), o.unmaps.load(Relaxed));
        let overlaps = o.overlaps.load(Relaxed);
        let _ = writeln!(
            out,
            "overlap: {} threads, {} ms, {} maps, {} unmaps, {} overlaps, {} failures, {} live",
            n,
            ms,
            maps,
            unmaps,
            overlaps,
            o.failures.load(Relaxed),
            o.live.lock().iter().flatten().count()
        );
        overlaps == 0
    }
}
