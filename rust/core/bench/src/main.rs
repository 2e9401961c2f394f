//! Host benchmark of the rsdma-core IOVA allocator.
//!
//! Measures alloc+free pairs at 0, 50 and 90 % occupancy for 1, 16, 64 and
//! 512 granules in a 2^20-granule space (4 KiB granules, 4 GiB), with and
//! without the per-CPU cache, against a naive first-fit bitmap written here;
//! then a churn run of 10^7 mixed operations. Prints a table and writes JSON
//! to `$RSDMA_BENCH_HOST_OUT` (default `build/bench-host.json`).

use rsdma_core::iova::{cache_order, CpuCache, Depot, IovaAllocator, IovaConfig, IovaError, Slot};
use std::fmt::Write as _;
use std::hint::black_box;
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

fn new_alloc() -> HostAlloc {
    let cfg = IovaConfig::new(GSHIFT, SPACE_BITS).expect("config");
    let table = (0..cfg.chunk_count()).map(|_| Slot::new()).collect();
    IovaAllocator::new(cfg, table).expect("allocator")
}

fn grow<R>(
    a: &mut HostAlloc,
    mut op: impl FnMut(&mut HostAlloc) -> Result<R, IovaError>,
) -> Result<R, IovaError> {
    loop {
        match op(a) {
            Err(IovaError::NeedChunk { index }) => {
                let words = a.config().chunk_words();
                if a.install_chunk(index, vec![0; words]).is_err() {
                    return Err(IovaError::BadChunk);
                }
            }
            r => return r,
        }
    }
}

/// The kernel's allocation path: per-CPU cache, depot, bitmap (flushing the
/// caches and retrying on NoSpace).
struct Cached {
    a: HostAlloc,
    cpu: CpuCache,
    depot: Depot,
}

impl Cached {
    fn alloc(&mut self, n: u64) -> Option<(u64, u64)> {
        let order = cache_order(n);
        let size = order.map_or(n, |o| 1 << o);
        if let Some(o) = order {
            if let Some(x) = self.cpu.alloc(o, GSHIFT, u64::MAX) {
                return Some((x, size));
            }
            if self.depot.refill(&mut self.cpu, o) {
                if let Some(x) = self.cpu.alloc(o, GSHIFT, u64::MAX) {
                    return Some((x, size));
                }
            }
        }
        match grow(&mut self.a, |a| a.alloc(size, u64::MAX)) {
            Ok(x) => Some((x, size)),
            Err(_) => {
                self.cpu.flush_into(&mut self.a);
                self.depot.flush_into(&mut self.a);
                grow(&mut self.a, |a| a.alloc(size, u64::MAX))
                    .ok()
                    .map(|x| (x, size))
            }
        }
    }

    fn free(&mut self, x: u64, size: u64) {
        if let Some(o) = cache_order(size) {
            if 1 << o == size {
                if !self.cpu.free(o, x) {
                    if let Some(mut m) = self.depot.absorb(&mut self.cpu, o) {
                        self.a.free_magazine(&mut m, o);
                    }
                    self.cpu.free(o, x);
                }
                return;
            }
        }
        let _ = self.a.free(x, size);
    }
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

fn apply_mine(a: &mut HostAlloc, pat: &[(u64, u64)]) {
    for &(s, n) in pat {
        grow(a, |a| a.reserve(s << GSHIFT, n << GSHIFT)).expect("reserve");
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
            let mut a = new_alloc();
            apply_mine(&mut a, &pat);
            cell.nocache = measure(|| {
                let x = grow(&mut a, |a| a.alloc(n, u64::MAX)).expect("alloc");
                a.free(black_box(x), n).expect("free");
            });
            let mut a = new_alloc();
            apply_mine(&mut a, &pat);
            let mut c = Cached {
                a,
                cpu: CpuCache::new(),
                depot: Depot::new(),
            };
            cell.cache = measure(|| {
                let (x, s) = c.alloc(n).expect("alloc");
                c.free(black_box(x), s);
            });
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
    let mut c = Cached {
        a: new_alloc(),
        cpu: CpuCache::new(),
        depot: Depot::new(),
    };
    let cell = std::cell::RefCell::new(&mut c);
    let churn_pcp = churn(
        CHURN_OPS,
        |n| cell.borrow_mut().alloc(n),
        |x, s| cell.borrow_mut().free(x, s),
    );
    let mut a = new_alloc();
    let cell = std::cell::RefCell::new(&mut a);
    let churn_plain = churn(
        CHURN_OPS,
        |n| {
            grow(&mut cell.borrow_mut(), |a| a.alloc(n, u64::MAX))
                .ok()
                .map(|x| (x, n))
        },
        |x, s| {
            let _ = cell.borrow_mut().free(x, s);
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
