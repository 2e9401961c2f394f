use super::super::{ceil_log2, MAG_SIZE};
use super::*;
use proptest::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec;
use std::vec::Vec;

type HostAlloc = IovaAllocator<Vec<u64>, Vec<Slot<Vec<u64>>>>;

impl<T> Lock for Mutex<T> {
    type Target = T;
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        Self: 'a;

    fn lock(&self) -> MutexGuard<'_, T> {
        Mutex::lock(self).unwrap_or_else(PoisonError::into_inner)
    }
}

impl<L: Lock> Lock for Arc<L> {
    type Target = L::Target;
    type Guard<'a>
        = L::Guard<'a>
    where
        Self: 'a;

    fn lock(&self) -> Self::Guard<'_> {
        (**self).lock()
    }
}

std::thread_local! {
    /// The "CPU" the current test thread runs on.
    static CPU: Cell<usize> = const { Cell::new(0) };
}

fn on_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

/// The host environment: `std` mutexes, `Vec` storage, a chunk allocator
/// that can be told to fail, and an optional rival that installs the chunk
/// being allocated, as another CPU could.
#[derive(Default)]
struct Host {
    /// Chunk allocations so far.
    calls: AtomicUsize,
    /// Fail every allocation whose number (from 1) is a multiple of this.
    fail_every: AtomicUsize,
    /// Installs the needed chunk itself during `new_chunk`.
    rival: Option<Arc<Mutex<HostAlloc>>>,
    /// Whether the rival acted.
    raced: AtomicBool,
}

impl SpaceEnv for Host {
    type Chunk = Vec<u64>;
    type Table = Vec<Slot<Vec<u64>>>;
    type AllocLock = Arc<Mutex<HostAlloc>>;
    type CacheLock = Mutex<CpuCache>;
    type Caches = Vec<Mutex<CpuCache>>;

    fn cpu(&self) -> usize {
        CPU.with(Cell::get)
    }

    fn new_chunk(&self, words: usize, _ctx: GrowContext) -> Option<Vec<u64>> {
        let k = self.calls.fetch_add(1, Relaxed) + 1;
        let every = self.fail_every.load(Relaxed);
        if every != 0 && k % every == 0 {
            return None;
        }
        if let Some(rival) = &self.rival {
            let mut a = rival.lock();
            if let Err(IovaError::NeedChunk { index }) = a.alloc(1, u64::MAX) {
                a.install_chunk(index, vec![7; words])
                    .map_err(|e| e.0)
                    .unwrap();
                a.alloc(1, u64::MAX).unwrap();
                self.raced.store(true, Relaxed);
            }
        }
        Some(vec![0xdead_beef; words])
    }
}

fn allocator(cfg: IovaConfig) -> Arc<Mutex<HostAlloc>> {
    let table = (0..cfg.chunk_count()).map(|_| Slot::new()).collect();
    Arc::new(Mutex::new(IovaAllocator::new(cfg, table).unwrap()))
}

fn space_with(cfg: IovaConfig, cpus: usize, env: Host) -> IovaSpace<Host> {
    let caches = (0..cpus).map(|_| Mutex::new(CpuCache::new())).collect();
    let alloc = match &env.rival {
        Some(a) => a.clone(),
        None => allocator(cfg),
    };
    IovaSpace::new(env, alloc, caches)
}

fn space(cfg: IovaConfig, cpus: usize) -> IovaSpace<Host> {
    space_with(cfg, cpus, Host::default())
}

#[test]
fn small_sizes_round_trip_through_cpu_caches() {
    let cfg = IovaConfig::new(12, 32).unwrap();
    let s = space(cfg, 2);
    assert_eq!(s.reserve(0, 1), Ok(1));
    on_cpu(0);
    let x = s.alloc(3, u64::MAX).unwrap();
    assert_eq!(x, 0x4000, "3 granules round up to 4, aligned to 4");
    assert_eq!(s.stats().used, 4);
    s.free(x, 3).unwrap();
    assert_eq!(s.cached(), 1);
    assert_eq!(s.stats().used, 4, "cached ranges stay allocated");
    // The other CPU does not see CPU 0's cache.
    on_cpu(1);
    let y = s.alloc(4, u64::MAX).unwrap();
    assert_eq!(y, 0x8000);
    // CPU 0 gets its range back without touching the bitmap.
    on_cpu(0);
    let allocs = s.stats().allocs;
    assert_eq!(s.alloc(4, u64::MAX), Ok(x));
    assert_eq!(s.stats().allocs, allocs);
    // A range freed on another CPU is cached there.
    on_cpu(1);
    s.free(x, 4).unwrap();
    s.free(y, 4).unwrap();
    assert_eq!(s.cached(), 2);
    assert_eq!(s.flush_caches(), 2);
    assert_eq!(s.cached(), 0);
    assert_eq!(s.stats().used, 0);
    // Larger sizes go to the bitmap directly.
    let z = s.alloc(129, u64::MAX).unwrap();
    assert_eq!(z, 0x100000, "129 granules align to 256");
    s.free(z, 129).unwrap();
    assert_eq!((s.cached(), s.stats().used), (0, 0));
    assert_eq!(s.stats().bad_frees, 0);
}

#[test]
fn no_caches_means_bitmap_only() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let s = space(cfg, 0);
    let x = s.alloc(1, u64::MAX).unwrap();
    s.free(x, 1).unwrap();
    assert_eq!(s.stats().used, 0);
    assert_eq!(s.flush_caches(), 0);
}

#[test]
fn full_magazines_go_back_to_the_bitmap() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let s = space(cfg, 1);
    on_cpu(0);
    let live: Vec<u64> = (0..2 * MAG_SIZE + 1)
        .map(|_| s.alloc(1, u64::MAX).unwrap())
        .collect();
    let other = s.alloc(2, u64::MAX).unwrap();
    s.free(other, 2).unwrap();
    for &x in &live {
        s.free(x, 1).unwrap();
    }
    // The last free found both magazines full: the older one went back to
    // the bitmap, then the range was cached; the other size stayed cached.
    assert_eq!(s.cached(), MAG_SIZE + 2);
    assert_eq!(s.stats().used, MAG_SIZE as u64 + 1 + 2);
    assert_eq!(s.stats().bad_frees, 0);
    assert_eq!(s.flush_caches(), MAG_SIZE + 2);
    assert_eq!(s.stats().used, 0);
}

#[test]
fn a_batch_frees_as_single_frees_do() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let s = space(cfg, 2);
    on_cpu(1);
    // More than both magazines hold, a size the caches do not take, and
    // a range that is not allocated.
    let mut ranges: Vec<(u64, u64)> = (0..2 * MAG_SIZE + 5)
        .map(|_| (s.alloc(1, u64::MAX).unwrap(), 1))
        .collect();
    let big = s.alloc(200, u64::MAX).unwrap();
    ranges.push((big, 200));
    ranges.push((big + (1 << 20), 200));
    assert_eq!(s.free_batch(ranges.iter().copied()), 1);
    let st = s.stats();
    assert_eq!(st.bad_frees, 1);
    // Cached: one full magazine and five; the rest went back.
    assert_eq!(s.cached(), MAG_SIZE + 5);
    assert_eq!(st.used, MAG_SIZE as u64 + 5);
    on_cpu(0);
    assert_eq!(s.cached(), MAG_SIZE + 5, "the batch went to CPU 1's cache");
    s.flush_caches();
    assert_eq!(s.stats().used, 0);
}

#[test]
fn bogus_frees_are_rejected_not_cached() {
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_max_align_order(1)
        .unwrap();
    let s = space(cfg, 1);
    on_cpu(0);
    let a = s.alloc(1, u64::MAX).unwrap();
    let b = s.alloc(4, u64::MAX).unwrap();
    assert_eq!(b, 0x2000, "alignment capped at 2 granules");
    let bad = |iova, granules| SpaceError::Iova(IovaError::NotAllocated { iova, granules });
    assert_eq!(
        s.free(0x1800, 1),
        Err(bad(0x1800, 1)),
        "not granule-aligned"
    );
    assert_eq!(s.free(0x1000, 2), Err(bad(0x1000, 2)), "misaligned for 2");
    assert_eq!(
        s.free(1 << 24, 1),
        Err(bad(1 << 24, 1)),
        "outside the space"
    );
    assert_eq!(s.free(0x4000, 129), Err(bad(0x4000, 129)));
    assert_eq!(s.cached(), 0);
    assert_eq!(s.stats().bad_frees, 4);
    s.free(b, 3).unwrap();
    s.free(a, 1).unwrap();
    assert_eq!(s.cached(), 2);
}

#[test]
fn thirty_two_bit_addresses_first() {
    // 2^36 bytes in 64 KiB granules: 32 chunks of 2 GiB.
    let cfg = IovaConfig::new(16, 36).unwrap();
    let s = space(cfg, 1);
    on_cpu(0);
    let x = s.alloc(40, u64::MAX).unwrap();
    assert!(x < 1 << 32);
    assert_eq!(s.stats().chunks, 1);
    // Fill the 32-bit space but one aligned 64-granule block.
    let hole = 64u64 << 16;
    s.reserve(0, hole).unwrap();
    s.reserve(2 * hole, (1 << 32) - 2 * hole).unwrap();
    let y = s.alloc(64, u64::MAX).unwrap();
    assert_eq!(y, hole, "the 32-bit hole before anything above");
    let z = s.alloc(64, u64::MAX).unwrap();
    assert_eq!(z, 1 << 32, "then above 4 GiB");
    assert_eq!(s.alloc(33, u64::from(u32::MAX)), Err(SpaceError::NoSpace));
    assert_eq!(s.alloc(1, u64::from(u32::MAX)), Err(SpaceError::NoSpace));
    let w = s.alloc(1, (1 << 33) - 1).unwrap();
    assert_eq!(w, (1 << 32) + (64 << 16));
}

#[test]
fn growth_survives_failing_chunk_allocations() {
    // 2^24 bytes in 4 KiB granules, 16 chunks of 256 granules.
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(8)
        .unwrap();
    let env = Host::default();
    env.fail_every.store(2, Relaxed);
    let s = space_with(cfg, 1, env);
    on_cpu(0);
    let mut live = Vec::new();
    let mut failures = 0;
    while live.len() < 64 {
        match s.alloc(200, u64::MAX) {
            Ok(x) => live.push(x),
            Err(SpaceError::NoMemory) => failures += 1,
            Err(SpaceError::NoSpace) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Every other chunk allocation fails; each is retried by the next call.
    assert_eq!(live.len(), 16);
    assert_eq!(failures, 15);
    assert_eq!(s.stats().chunks, 16);
    assert_eq!(s.stats().used, 16 * 200);
    for x in live {
        s.free(x, 200).unwrap();
    }
    assert_eq!(s.stats().used, 0);
}

#[test]
fn growth_is_bounded_per_operation() {
    // 16-granule chunks: 128 granules span 8 absent chunks.
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(4)
        .unwrap();
    let s = space(cfg, 0);
    assert_eq!(s.alloc(128, u64::MAX), Err(SpaceError::NoMemory));
    assert_eq!(s.stats().chunks, GROW_ATTEMPTS as u64);
    assert_eq!(s.stats().used, 0, "nothing allocated");
    assert_eq!(s.alloc(128, u64::MAX), Ok(0), "chunks stay installed");
    assert_eq!(s.stats().chunks, 8);
    assert_eq!(s.env().calls.load(Relaxed), 8);
    // Reservations grow the same way (an absent chunk wholly covered needs
    // no buffer; a partly covered one does).
    assert_eq!(s.reserve(0x8_8000, 0x1_1000), Ok(0x11));
    assert_eq!(s.stats().chunks, 10);
}

#[test]
fn chunk_installed_meanwhile_is_dropped() {
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(8)
        .unwrap();
    let env = Host {
        rival: Some(allocator(cfg)),
        ..Host::default()
    };
    let s = space_with(cfg, 1, env);
    on_cpu(0);
    // The rival takes granule 0 and installs chunk 0 while the space
    // allocates its own copy, which then comes back and is dropped.
    assert_eq!(s.alloc(2, u64::MAX), Ok(0x2000));
    assert!(s.env().raced.load(Relaxed));
    assert_eq!(s.stats().chunks, 1);
    assert_eq!(s.stats().used, 3);
}

#[test]
fn no_space_flushes_every_cpu_cache() {
    // 16 granules, one chunk.
    let cfg = IovaConfig::new(16, 20).unwrap();
    let s = space(cfg, 4);
    let mut live = Vec::new();
    for cpu in 0..4 {
        on_cpu(cpu);
        for _ in 0..4 {
            live.push((cpu, s.alloc(1, u64::MAX).unwrap()));
        }
    }
    assert_eq!(s.alloc(1, u64::MAX), Err(SpaceError::NoSpace));
    // Each CPU frees its own: all of it is cached, none in the bitmap.
    for &(cpu, x) in &live {
        on_cpu(cpu);
        s.free(x, 1).unwrap();
    }
    assert_eq!((s.cached(), s.stats().used), (16, 16));
    // CPU 0 wants 2 granules: its cache has none, the bitmap is full until
    // the caches are flushed.
    on_cpu(0);
    let failures = s.stats().alloc_failures;
    assert_eq!(s.alloc(2, u64::MAX), Ok(0));
    assert_eq!(s.stats().alloc_failures, failures + 1);
    assert_eq!((s.cached(), s.stats().used), (0, 2));
    // Exhausted again: NoSpace after the flush, until the caller frees.
    let rest: Vec<u64> = (0..7).map(|_| s.alloc(2, u64::MAX).unwrap()).collect();
    assert_eq!(s.alloc(1, u64::MAX), Err(SpaceError::NoSpace));
    s.free(rest[3], 2).unwrap();
    on_cpu(2);
    assert_eq!(s.alloc(2, u64::MAX), Ok(rest[3]), "after a flush");
    assert_eq!(s.alloc(3, u64::MAX), Err(SpaceError::NoSpace));
    assert_eq!(
        s.alloc(0, u64::MAX),
        Err(SpaceError::Iova(IovaError::InvalidSize))
    );
    assert_eq!(
        s.alloc(17, u64::MAX),
        Err(SpaceError::Iova(IovaError::InvalidSize))
    );
}

#[test]
fn threads_never_share_a_range() {
    let cfg = IovaConfig::new(12, 26)
        .unwrap()
        .with_chunk_shift(10)
        .unwrap();
    let s = space(cfg, 4);
    s.reserve(0, 1).unwrap();
    let owner: Vec<AtomicBool> = (0..cfg.granules())
        .map(|_| AtomicBool::new(false))
        .collect();
    std::thread::scope(|t| {
        for cpu in 0..4usize {
            let (s, owner) = (&s, &owner);
            t.spawn(move || {
                on_cpu(cpu);
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ cpu as u64;
                let mut live: Vec<(u64, u64)> = Vec::new();
                for _ in 0..20_000 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if rng % 2 == 0 || live.is_empty() {
                        let n = [1, 1, 2, 3, 8, 17, 32, 40, 100][(rng >> 8) as usize % 9];
                        let limit = if rng >> 20 & 1 == 0 {
                            u64::MAX
                        } else {
                            0x7f_ffff
                        };
                        let Ok(x) = s.alloc(n, limit) else { continue };
                        let size = cache_order(n).map_or(n, |o| 1 << o);
                        assert!(x + (size << 12) - 1 <= limit);
                        for o in &owner[(x >> 12) as usize..((x >> 12) + size) as usize] {
                            assert!(!o.swap(true, Relaxed), "double allocation");
                        }
                        live.push((x, n));
                    } else {
                        let (x, n) = live.swap_remove((rng >> 32) as usize % live.len());
                        let size = cache_order(n).map_or(n, |o| 1 << o);
                        for o in &owner[(x >> 12) as usize..((x >> 12) + size) as usize] {
                            o.store(false, Relaxed);
                        }
                        s.free(x, n).unwrap();
                    }
                }
                for (x, n) in live {
                    let size = cache_order(n).map_or(n, |o| 1 << o);
                    for o in &owner[(x >> 12) as usize..((x >> 12) + size) as usize] {
                        o.store(false, Relaxed);
                    }
                    s.free(x, n).unwrap();
                }
            });
        }
    });
    s.flush_caches();
    let st = s.stats();
    assert_eq!((st.used, st.bad_frees), (0, 0));
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { cpu: usize, n: u64, low: bool },
    Free { cpu: usize, pick: usize },
    Flush,
    FailChunks(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..4, prop_oneof![4 => 1u64..=4, 2 => 1u64..=40], any::<bool>())
            .prop_map(|(cpu, n, low)| Op::Alloc { cpu, n, low }),
        5 => (0usize..4, any::<usize>()).prop_map(|(cpu, pick)| Op::Free { cpu, pick }),
        1 => Just(Op::Flush),
        1 => (0usize..4).prop_map(Op::FailChunks),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random operations from four CPUs, with a chunk allocator that fails
    /// at times: allocations stay disjoint, under their limit and aligned;
    /// `NoSpace` means no fit even with every cached range returned; the
    /// bitmap counts exactly the live and cached ranges; everything is
    /// free at the end.
    #[test]
    fn model(ops in proptest::collection::vec(op_strategy(), 1..400)) {
        let cfg = IovaConfig::new(12, 20).unwrap().with_chunk_shift(6).unwrap();
        let s = space(cfg, 4);
        let total = cfg.granules();
        let mut owner = vec![false; total as usize];
        let mut live: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { cpu, n, low } => {
                    on_cpu(cpu);
                    let limit = if low { 0x7_ffff } else { u64::MAX };
                    let size = cache_order(n).map_or(n, |o| 1 << o);
                    let align = 1u64 << ceil_log2(size);
                    match s.alloc(n, limit) {
                        Ok(x) => {
                            let g = x >> 12;
                            prop_assert!(x + (size << 12) - 1 <= limit);
                            prop_assert_eq!(g % align, 0);
                            for o in &mut owner[g as usize..(g + size) as usize] {
                                prop_assert!(!*o, "double allocation");
                                *o = true;
                            }
                            live.push((x, n));
                        }
                        Err(SpaceError::NoSpace) => {
                            prop_assert_eq!(s.cached(), 0);
                            let end = total.min((limit >> 12) + 1);
                            let fit = (0..end).step_by(align as usize).any(|p| {
                                p + size <= end && owner[p as usize..(p + size) as usize].iter().all(|o| !o)
                            });
                            prop_assert!(!fit, "NoSpace with a fit");
                        }
                        Err(SpaceError::NoMemory) => {}
                        Err(e) => return Err(TestCaseError::fail(std::format!("{e}"))),
                    }
                }
                Op::Free { cpu, pick } => {
                    if live.is_empty() { continue; }
                    on_cpu(cpu);
                    let (x, n) = live.swap_remove(pick % live.len());
                    let size = cache_order(n).map_or(n, |o| 1 << o);
                    let g = x >> 12;
                    owner[g as usize..(g + size) as usize].fill(false);
                    prop_assert_eq!(s.free(x, n), Ok(()));
                }
                Op::Flush => {
                    s.flush_caches();
                    prop_assert_eq!(s.cached(), 0);
                }
                Op::FailChunks(k) => s.env().fail_every.store(k, Relaxed),
            }
            let held: u64 = live.iter().map(|&(_, n)| cache_order(n).map_or(n, |o| 1 << o)).sum();
            prop_assert!(s.stats().used >= held);
            if s.cached() == 0 {
                prop_assert_eq!(s.stats().used, held);
            }
        }
        for (x, n) in live.drain(..) {
            prop_assert_eq!(s.free(x, n), Ok(()));
        }
        s.flush_caches();
        prop_assert_eq!(s.stats().used, 0);
        prop_assert_eq!(s.stats().bad_frees, 0);
    }

    /// iommu-dma's two tries (32-bit addresses, then the full limit) and
    /// the single first-fit search `IovaSpace` does choose the same range.
    #[test]
    fn one_search_equals_two_tries(
        ops in proptest::collection::vec((any::<bool>(), 1u64..=300, 0u8..=255, any::<usize>()), 1..200),
        max_align in 0u32..=10,
    ) {
        // 2^34 bytes of 64 KiB granules: a quarter below 4 GiB.
        let cfg = IovaConfig::new(16, 34).unwrap().with_chunk_shift(12).unwrap()
            .with_max_align_order(max_align).unwrap();
        let grow = |a: &mut HostAlloc, n: u64, limit: u64| loop {
            match a.alloc(n, limit) {
                Err(IovaError::NeedChunk { index }) => {
                    a.install_chunk(index, vec![0; cfg.chunk_words()]).map_err(|e| e.0).unwrap();
                }
                r => break r,
            }
        };
        let (one, two) = (allocator(cfg), allocator(cfg));
        let (mut one, mut two) = (one.lock(), two.lock());
        // Most of the 32-bit space used, so that both outcomes happen.
        for a in [&mut *one, &mut *two] {
            loop {
                match a.reserve(0x1000_0000, 0xefff_0000) {
                    Err(IovaError::NeedChunk { index }) => {
                        a.install_chunk(index, vec![0; cfg.chunk_words()]).map_err(|e| e.0).unwrap();
                    }
                    r => { r.unwrap(); break; }
                }
            }
        }
        let mut live = Vec::new();
        for (is_alloc, n, lim, pick) in ops {
            if is_alloc {
                let limit = (u64::from(lim) + 1) << 26 | 0x3ff_ffff;
                let a = grow(&mut one, n, limit);
                let b = if limit > u64::from(u32::MAX) {
                    match grow(&mut two, n, u64::from(u32::MAX)) {
                        Err(IovaError::NoSpace) => grow(&mut two, n, limit),
                        r => r,
                    }
                } else {
                    grow(&mut two, n, limit)
                };
                prop_assert_eq!(a, b);
                if let Ok(x) = a {
                    live.push((x, n));
                }
            } else if !live.is_empty() {
                let (x, n) = live.swap_remove(pick % live.len());
                prop_assert_eq!(one.free(x, n), Ok(()));
                prop_assert_eq!(two.free(x, n), Ok(()));
            }
        }
    }
}

#[test]
fn claim_gets_cached_ranges_back_first() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let s = space(cfg, 2);
    on_cpu(0);
    let x = s.alloc(4, u64::MAX).unwrap();
    s.free(x, 4).unwrap();
    assert_eq!(s.cached(), 1, "the range waits in CPU 0's cache");
    // A claim over it flushes the caches and succeeds.
    on_cpu(1);
    s.claim(x, 3).unwrap();
    assert_eq!(s.cached(), 0);
    assert_eq!(s.stats().used, 3);
    // A live allocation is not given up.
    let y = s.alloc(1, u64::MAX).unwrap();
    assert_eq!(
        s.claim(y, 1),
        Err(SpaceError::Iova(IovaError::InUse { granule: y >> 12 }))
    );
    // unclaim takes the exact size, which the caches would round.
    assert!(s.unclaim(x, 4).is_err());
    s.unclaim(x, 3).unwrap();
    s.free(y, 1).unwrap();
    s.flush_caches();
    assert_eq!(s.stats().used, 0);
}

#[test]
fn a_caller_may_name_its_cpu() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let s = space(cfg, 2);
    on_cpu(0);
    let x = s.alloc_on(1, 4, u64::MAX).unwrap();
    s.free_on(1, x, 4).unwrap();
    // Cached on CPU 1: CPU 0's own calls do not see it, CPU 1's do.
    let y = s.alloc(4, u64::MAX).unwrap();
    assert_ne!(x, y);
    assert_eq!(s.alloc_on(1, 4, u64::MAX), Ok(x));
    s.free_batch_on(1, [(x, 4), (y, 4)]);
    on_cpu(1);
    assert_eq!(s.alloc(4, u64::MAX), Ok(y));
    assert_eq!(s.alloc(4, u64::MAX), Ok(x));
}
