//! Host benchmark of the rsdma-core IOVA allocator.
//!
//! Measures alloc+free pairs at 0, 50 and 90 % occupancy for 1, 16, 64 and
//! 512 granules in a 2^20-granule space (4 KiB granules, 4 GiB), through
//! rsdma's `IovaSpace` with and without a per-CPU cache, against a naive
//! first-fit bitmap written here; then a churn run of 10^7 mixed operations.
//! Prints a table and writes JSON to `$RSDMA_BENCH_HOST_OUT` (default
//! `build/bench-host.json`).

use rsdma_core::iova::{
    cache_order, CpuCache, GrowContext, IovaAllocator, IovaConfig, IovaSpace, Lock, Slot, SpaceEnv,
};
use std::cell::UnsafeCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const GSHIFT: u32 = 12;
const SPACE_BITS: u32 = 32;
const GRANULES: u64 = 1 << (SPACE_BITS - GSHIFT);
const SIZES: [u64; 4] = [1, 16, 64, 512];
const OCCUPANCIES: [u32; 3] = [0, 50, 90];
const CHURN_OPS: usize = 10_000_000;
const NAIVE_CHURN_OPS: usize = 1_000_000;
const CHURN_BATCH: usize = 1000;

type HostAlloc = IovaAllocator<Vec<u64>, Vec<Slot<Vec<u64>>>>;

/// xorshift64* pseudo-random numbers (deterministic runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The naive baseline: one flat bitmap, first fit from address 0 on every
/// allocation (word-at-a-time zero search, then a check of the candidate
/// run), the way a plain `bitmap_find_next_zero_area` allocator works.
struct Naive {
    words: Vec<u64>,
}

impl Naive {
    fn new() -> Self {
        Naive {
            words: vec![0; (GRANULES / 64) as usize],
        }
    }

    fn bit(&self, i: u64) -> bool {
        self.words[(i / 64) as usize] >> (i % 64) & 1 != 0
    }

    fn next_zero(&self, from: u64) -> Option<u64> {
        let mut i = from;
        while i < GRANULES {
            let w = !self.words[(i / 64) as usize] & (!0u64 << (i % 64));
            if w != 0 {
                return Some(i / 64 * 64 + w.trailing_zeros() as u64);
            }
            i = (i / 64 + 1) * 64;
        }
        None
    }

    fn alloc(&mut self, n: u64) -> Option<u64> {
        let align = n.next_power_of_two();
        let mut start = 0;
        loop {
            let z = self.next_zero(start)?;
            let pos = z.div_ceil(align) * align;
            if pos + n > GRANULES {
                return None;
            }
            match (pos..pos + n).find(|&i| self.bit(i)) {
                None => {
                    self.set(pos, n, true);
                    return Some(pos);
                }
                Some(i) => start = i + 1,
            }
        }
    }

    fn set(&mut self, pos: u64, n: u64, v: bool) {
        for i in pos..pos + n {
            let w = &mut self.words[(i / 64) as usize];
            if v {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

/// A test-and-set spinlock, the space's lock here as in the kernel: taking
/// it is one atomic compare-exchange, releasing it one release store.
///
/// # Invariants
///
/// `locked` is true exactly while a [`SpinGuard`] of this lock exists.
struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through a `SpinGuard`, and at most one
// exists at a time (type invariant), so threads sharing the lock hand `T`
// over to each other, never share it: `T: Send` is enough, as for `Mutex`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }
}

/// Holds a [`SpinLock`]; releases it when dropped.
struct SpinGuard<'a, T>(&'a SpinLock<T>);

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one of its lock (type invariant of
        // `SpinLock`), so nothing else reaches the value while it lives.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // INVARIANT: the only guard goes away.
        self.0.locked.store(false, Ordering::Release);
    }
}

impl<T> Lock for SpinLock<T> {
    type Target = T;
    type Guard<'a>
        = SpinGuard<'a, T>
    where
        Self: 'a;

    fn lock(&self) -> SpinGuard<'_, T> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // INVARIANT: `locked` went from false to true here.
        SpinGuard(self)
    }
}

/// The benchmark's environment: one CPU, chunks from the heap.
struct Host;

impl SpaceEnv for Host {
    type Chunk = Vec<u64>;
    type Table = Vec<Slot<Vec<u64>>>;
    type AllocLock = SpinLock<HostAlloc>;
    type CacheLock = SpinLock<CpuCache>;
    type Caches = Vec<SpinLock<CpuCache>>;

    fn cpu(&self) -> usize {
        0
    }

    fn new_chunk(&self, words: usize, _ctx: GrowContext) -> Option<Vec<u64>> {
        Some(vec![0; words])
    }
}

type Space = IovaSpace<Host>;

/// A space with one CPU cache, or none (`cached` false: the bitmap alone).
fn new_space(cached: bool) -> Space {
    let cfg = IovaConfig::new(GSHIFT, SPACE_BITS).expect("config");
    let table = (0..cfg.chunk_count()).map(|_| Slot::new()).collect();
    let alloc = IovaAllocator::new(cfg, table).expect("allocator");
    let caches = if cached {
        vec![SpinLock::new(CpuCache::new())]
    } else {
        Vec::new()
    };
    IovaSpace::new(Host, SpinLock::new(alloc), caches)
}

/// Allocates `n` granules; returns the address and the size taken (small
/// sizes are rounded up to a power of two, cached or not).
fn alloc(s: &Space, n: u64) -> Option<(u64, u64)> {
    let size = cache_order(n).map_or(n, |o| 1 << o);
    s.alloc(n, u64::MAX).ok().map(|x| (x, size))
}

/// An occupancy pattern: ranges `(start, len)` of used granules.
///
/// `fragmented`: the used granules fill the zone `[0, occ + 5 %)` as runs
/// separated by holes of 1 to 7 granules, and the rest is free (small
/// requests fit in the holes, larger ones must skip the zone).
/// `packed`: the lowest `occ` % is used without holes.
fn pattern(occ: u32, fragmented: bool, rng: &mut Rng) -> Vec<(u64, u64)> {
    let target = GRANULES * occ as u64 / 100;
    if target == 0 {
        return Vec::new();
    }
    if !fragmented {
        return vec![(0, target)];
    }
    let zone = GRANULES * (occ as u64 + 5) / 100;
    let hole_mean = 4u64;
    let used_mean = hole_mean * target / (zone - target);
    let mut out = Vec::new();
    let mut p = 0;
    let mut used = 0;
    while p < zone && used < target {
        let u = (1 + rng.below(2 * used_mean))
            .min(target - used)
            .min(zone - p);
        out.push((p, u));
        used += u;
        p += u + 1 + rng.below(7);
    }
    out
}

fn apply_mine(space: &Space, pat: &[(u64, u64)]) {
    for &(s, n) in pat {
        space.reserve(s << GSHIFT, n << GSHIFT).expect("reserve");
    }
}

fn apply_naive(b: &mut Naive, pat: &[(u64, u64)]) {
    for &(s, n) in pat {
        b.set(s, n, true);
    }
}

/// Median ns per call of `f` over repeated timed batches.
fn measure(mut f: impl FnMut()) -> f64 {
    // Calibrate: batches of about 100 us.
    let t = Instant::now();
    let mut calls = 0u64;
    while t.elapsed() < Duration::from_millis(2) {
        f();
        calls += 1;
    }
    let per = t.elapsed().as_nanos() as f64 / calls as f64;
    let batch = ((100_000.0 / per) as usize).clamp(1, 100_000);
    let mut samples: Vec<f64> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

#[derive(Default, Clone, Copy)]
struct Cell {
    nocache: f64,
    cache: f64,
    naive: f64,
}

struct Churn {
    ops: usize,
    first_median: f64,
    last_median: f64,
    first_mean: f64,
    last_mean: f64,
    mean_occupancy: f64,
}

fn churn_size(rng: &mut Rng) -> u64 {
    let r = rng.below(100);
    if r < 70 {
        1
    } else if r < 90 {
        2 + rng.below(15)
    } else if r < 98 {
        17 + rng.below(48)
    } else {
        65 + rng.below(448)
    }
}

/// Mixed allocs and frees around 50 % occupancy (prefilled first), timed in
/// batches of 1000 operations; reports the first and last million.
fn churn<A, F>(ops: usize, mut alloc: A, mut free: F) -> Churn
where
    A: FnMut(u64) -> Option<(u64, u64)>,
    F: FnMut(u64, u64),
{
    let mut rng = Rng(0x5eed_1234_9876_abcd);
    let target = GRANULES / 2;
    let mut live: Vec<(u64, u64)> = Vec::new();
    let mut used = 0u64;
    while used < target {
        let n = churn_size(&mut rng);
        if let Some((x, s)) = alloc(n) {
            live.push((x, s));
            used += s;
        }
    }
    let batches = ops / CHURN_BATCH;
    let mut per_batch = Vec::with_capacity(batches);
    let mut occ_sum = 0f64;
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..CHURN_BATCH {
            let want_alloc = if used < target {
                rng.below(10) < 6
            } else {
                rng.below(10) < 4
            };
            if want_alloc || live.is_empty() {
                let n = churn_size(&mut rng);
                if let Some((x, s)) = alloc(n) {
                    live.push((x, s));
                    used += s;
                }
            } else {
                let i = rng.below(live.len() as u64) as usize;
                let (x, s) = live.swap_remove(i);
                free(x, s);
                used -= s;
            }
        }
        per_batch.push(t.elapsed().as_nanos() as f64 / CHURN_BATCH as f64);
        occ_sum += used as f64 / GRANULES as f64;
    }
    let million = (1_000_000 / CHURN_BATCH).min(batches);
    let stat = |s: &[f64]| {
        let mut v = s.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 2], s.iter().sum::<f64>() / s.len() as f64)
    };
    let (fm, fa) = stat(&per_batch[..million]);
    let (lm, la) = stat(&per_batch[batches - million..]);
    for (x, s) in live {
        free(x, s);
    }
    Churn {
        ops,
        first_median: fm,
        last_median: lm,
        first_mean: fa,
        last_mean: la,
        mean_occupancy: occ_sum / batches as f64,
    }
}

fn run_pairs(fragmented: bool) -> Vec<(u32, u64, Cell)> {
    let mut out = Vec::new();
    for &occ in &OCCUPANCIES {
        let pat = pattern(occ, fragmented, &mut Rng(0x1234_5678 + occ as u64));
        for &n in &SIZES {
            let mut cell = Cell::default();
            for (cached, out) in [(false, &mut cell.nocache), (true, &mut cell.cache)] {
                let s = new_space(cached);
                apply_mine(&s, &pat);
                *out = measure(|| {
                    let x = s.alloc(n, u64::MAX).expect("alloc");
                    s.free(black_box(x), n).expect("free");
                });
            }
            let mut b = Naive::new();
            apply_naive(&mut b, &pat);
            cell.naive = measure(|| {
                let x = b.alloc(n).expect("alloc");
                b.set(black_box(x), n, false);
            });
            out.push((occ, n, cell));
        }
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn main() {
    let started = Instant::now();
    let mut report = String::new();
    let mut json = String::from(
        "{\n  \"space_granules\": 1048576,\n  \"granule_bytes\": 4096,\n  \"pairs\": [\n",
    );
    let mut frag_cells = Vec::new();
    let mut first = true;
    for fragmented in [true, false] {
        let name = if fragmented { "fragmented" } else { "packed" };
        let cells = run_pairs(fragmented);
        let _ = writeln!(
            report,
            "\nalloc+free pair, median ns ({name} occupancy; 2^20 granules of 4 KiB)"
        );
        let _ = writeln!(
            report,
            "{:>5} {:>6} | {:>10} {:>10} {:>10} | {:>12}",
            "occ%", "gran", "bitmap", "bitmap+pcp", "naive", "naive/bitmap"
        );
        for (occ, n, c) in &cells {
            let _ = writeln!(
                report,
                "{:>5} {:>6} | {:>10.1} {:>10.1} {:>10.1} | {:>11.1}x",
                occ,
                n,
                c.nocache,
                c.cache,
                c.naive,
                c.naive / c.nocache
            );
            if !first {
                json.push_str(",\n");
            }
            first = false;
            let _ = write!(
                json,
                "    {{\"pattern\": \"{name}\", \"occupancy_pct\": {occ}, \"granules\": {n}, \"bitmap_ns\": {:.2}, \"bitmap_pcp_ns\": {:.2}, \"naive_ns\": {:.2}}}",
                c.nocache, c.cache, c.naive
            );
        }
        if fragmented {
            frag_cells = cells;
        } else {
            // Targets are also reported for the packed pattern below.
            frag_cells.extend(cells.into_iter().map(|(o, n, c)| (o + 1000, n, c)));
        }
    }
    json.push_str("\n  ],\n");

    eprintln!("churn: {CHURN_OPS} ops through the cached path ...");
    let s = new_space(true);
    let churn_pcp = churn(
        CHURN_OPS,
        |n| alloc(&s, n),
        |x, n| {
            let _ = s.free(x, n);
        },
    );
    let s = new_space(false);
    let churn_plain = churn(
        CHURN_OPS,
        |n| alloc(&s, n),
        |x, n| {
            let _ = s.free(x, n);
        },
    );
    eprintln!("churn: {NAIVE_CHURN_OPS} ops through the naive baseline ...");
    let mut b = Naive::new();
    let cell = std::cell::RefCell::new(&mut b);
    let churn_naive = churn(
        NAIVE_CHURN_OPS,
        |n| cell.borrow_mut().alloc(n).map(|x| (x, n)),
        |x, s| cell.borrow_mut().set(x, s, false),
    );
    let _ = writeln!(
        report,
        "\nchurn (mixed sizes 1..512, ~50 % occupancy), ns/op per batch of {CHURN_BATCH}"
    );
    let _ = writeln!(
        report,
        "{:<12} {:>9} | {:>12} {:>12} | {:>12} {:>12} | {:>6} {:>5}",
        "path", "ops", "first median", "first mean", "last median", "last mean", "drift", "occ%"
    );
    json.push_str("  \"churn\": [\n");
    for (i, (name, ch)) in [
        ("bitmap+pcp", &churn_pcp),
        ("bitmap", &churn_plain),
        ("naive", &churn_naive),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = writeln!(
            report,
            "{:<12} {:>9} | {:>12.1} {:>12.1} | {:>12.1} {:>12.1} | {:>5.2}x {:>5.1}",
            name,
            ch.ops,
            ch.first_median,
            ch.first_mean,
            ch.last_median,
            ch.last_mean,
            ch.last_median / ch.first_median,
            ch.mean_occupancy * 100.0
        );
        let _ = write!(
            json,
            "    {{\"path\": \"{name}\", \"ops\": {}, \"first_million_median_ns\": {:.2}, \"first_million_mean_ns\": {:.2}, \"last_million_median_ns\": {:.2}, \"last_million_mean_ns\": {:.2}, \"mean_occupancy\": {:.4}}}{}",
            ch.ops, ch.first_median, ch.first_mean, ch.last_median, ch.last_mean, ch.mean_occupancy,
            if i < 2 { ",\n" } else { "\n" }
        );
    }
    json.push_str("  ],\n  \"targets\": [\n");

    // Targets.
    let get = |occ: u32, n: u64| {
        frag_cells
            .iter()
            .find(|c| c.0 == occ && c.1 == n)
            .map(|c| c.2)
            .unwrap_or_default()
    };
    let mut targets: Vec<(String, f64, String, bool)> = Vec::new();
    let t1 = get(50, 1).cache;
    targets.push((
        "1-granule pair, 50 %, with cache (fragmented)".into(),
        t1,
        "<= 40 ns".into(),
        t1 <= 40.0,
    ));
    let t1p = get(1050, 1).cache;
    targets.push((
        "1-granule pair, 50 %, with cache (packed)".into(),
        t1p,
        "<= 40 ns".into(),
        t1p <= 40.0,
    ));
    for (base, pname) in [(0u32, "fragmented"), (1000, "packed")] {
        for &n in &SIZES {
            for (var, pick) in [("no cache", 0), ("cache", 1)] {
                let f = |c: Cell| if pick == 0 { c.nocache } else { c.cache };
                let r = f(get(base + 90, n)) / f(get(base, n));
                targets.push((
                    format!("90 % / 0 %, {n} gran, {var} ({pname})"),
                    r,
                    "<= 2.0x".into(),
                    r <= 2.0,
                ));
            }
        }
        for &n in &SIZES {
            let c = get(base + 90, n);
            let r = c.naive / c.nocache;
            targets.push((
                format!("naive / bitmap at 90 %, {n} gran, no cache ({pname})"),
                r,
                ">= 5.0x".into(),
                r >= 5.0,
            ));
        }
    }
    for (name, ch) in [("bitmap+pcp", &churn_pcp), ("bitmap", &churn_plain)] {
        let r = ch.last_median / ch.first_median;
        targets.push((
            format!("churn drift last/first million median, {name}"),
            r,
            "<= 1.10x".into(),
            r <= 1.10,
        ));
    }
    let _ = writeln!(report, "\ntargets");
    for (i, (name, v, want, ok)) in targets.iter().enumerate() {
        let _ = writeln!(
            report,
            "  {:<58} {:>9.2}  {:<9} {}",
            name,
            v,
            want,
            verdict(*ok)
        );
        let _ = write!(
            json,
            "    {{\"target\": \"{name}\", \"value\": {v:.3}, \"want\": \"{want}\", \"met\": {ok}}}{}",
            if i + 1 < targets.len() { ",\n" } else { "\n" }
        );
    }
    let met = targets.iter().filter(|t| t.3).count();
    let _ = writeln!(
        report,
        "  {met}/{} targets met; run took {:.1} s",
        targets.len(),
        started.elapsed().as_secs_f64()
    );
    json.push_str("  ]\n}\n");
    print!("{report}");
    let out =
        std::env::var("RSDMA_BENCH_HOST_OUT").unwrap_or_else(|_| "build/bench-host.json".into());
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&out, json) {
        Ok(()) => println!("wrote {out}"),
        Err(e) => eprintln!("cannot write {out}: {e}"),
    }
}
