use super::*;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

type HostAlloc = IovaAllocator<Vec<u64>, Vec<Slot<Vec<u64>>>>;

fn make(cfg: IovaConfig) -> HostAlloc {
    let table = (0..cfg.chunk_count()).map(|_| Slot::new()).collect();
    IovaAllocator::new(cfg, table).unwrap()
}

/// The caller's side of the growth protocol: allocate outside, install, retry.
fn grow<R>(
    a: &mut HostAlloc,
    mut op: impl FnMut(&mut HostAlloc) -> Result<R, IovaError>,
) -> Result<R, IovaError> {
    loop {
        match op(a) {
            Err(IovaError::NeedChunk { index }) => {
                let words = a.config().chunk_words();
                a.install_chunk(index, vec![0xdead_beef; words])
                    .map_err(|e| e.0)
                    .unwrap();
            }
            r => return r,
        }
    }
}

#[test]
fn config_rules() {
    assert!(IovaConfig::new(13, 32).is_err());
    assert!(IovaConfig::new(12, 19).is_err());
    assert!(IovaConfig::new(12, 49).is_err());
    let c = IovaConfig::new(12, 48).unwrap();
    assert_eq!(c.chunk_count(), 4096);
    assert_eq!(c.chunk_shift(), 24);
    let c = IovaConfig::new(12, 32).unwrap();
    assert_eq!(c.chunk_shift(), 15);
    assert_eq!(c.chunk_count(), 32);
    let c = IovaConfig::new(16, 20).unwrap();
    assert_eq!(c.granules(), 16);
    assert_eq!(c.chunk_count(), 1);
    assert!(IovaConfig::new(12, 48)
        .unwrap()
        .with_chunk_shift(20)
        .is_err());
    assert!(IovaConfig::new(12, 32)
        .unwrap()
        .with_max_align_order(25)
        .is_err());
}

#[test]
fn basic_alloc_free_and_growth() {
    let cfg = IovaConfig::new(12, 32).unwrap();
    let mut a = make(cfg);
    assert_eq!(a.alloc(1, u64::MAX), Err(IovaError::NeedChunk { index: 0 }));
    assert_eq!(a.stats().used, 0);
    grow(&mut a, |a| a.reserve(0, 1)).unwrap();
    let x = grow(&mut a, |a| a.alloc(1, u64::MAX)).unwrap();
    assert_eq!(x, 0x1000);
    let y = a.alloc(3, u64::MAX).unwrap();
    assert_eq!(y, 0x4000, "3 granules align to 4");
    let z = a.alloc(2, u64::MAX).unwrap();
    assert_eq!(z, 0x2000);
    assert_eq!(a.stats().used, 6);
    assert_eq!(
        a.free(y, 2),
        Err(IovaError::NotAllocated {
            iova: y,
            granules: 2
        })
    );
    assert_eq!(
        a.free(y + 0x1000, 2),
        Err(IovaError::NotAllocated {
            iova: y + 0x1000,
            granules: 2
        })
    );
    assert!(
        a.free(0, 1).is_err(),
        "reserved granule is not an allocation"
    );
    assert!(a.free(x, 3).is_err(), "spans two allocations");
    a.free(y, 3).unwrap();
    assert!(a.free(y, 3).is_err(), "double free");
    a.free(x, 1).unwrap();
    a.free(z, 2).unwrap();
    let s = a.stats();
    assert_eq!(
        (s.used, s.reserved, s.allocs, s.frees, s.bad_frees),
        (0, 1, 3, 3, 5)
    );
    assert_eq!(s.high_water, 6);
    assert_eq!(a.largest_free_run(), cfg.granules() - 1);
}

#[test]
fn limit_and_span_chunks() {
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(4)
        .unwrap();
    let mut a = make(cfg);
    // 40 granules, aligned to 64: spans four 16-granule chunks.
    let x = grow(&mut a, |a| a.alloc(40, u64::MAX)).unwrap();
    assert_eq!(x, 0);
    assert_eq!(a.stats().chunks, 3);
    let y = grow(&mut a, |a| a.alloc(40, u64::MAX)).unwrap();
    assert_eq!(y, 64 << 12);
    assert_eq!(
        grow(&mut a, |a| a.alloc(40, (128 << 12) - 1)),
        Err(IovaError::NoSpace)
    );
    assert_eq!(a.stats().alloc_failures, 1);
    let z = grow(&mut a, |a| a.alloc(8, (128 << 12) - 1)).unwrap();
    assert_eq!(z, 40 << 12);
    a.free(x, 40).unwrap();
    a.free(y, 40).unwrap();
    a.free(z, 8).unwrap();
    assert_eq!(a.largest_free_run(), cfg.granules());
}

#[test]
fn thirty_two_bit_first() {
    // 2^36-byte space, 64K granules; fill nothing: result must be low.
    let cfg = IovaConfig::new(16, 36).unwrap();
    let mut a = make(cfg);
    let x = grow(&mut a, |a| a.alloc(16, u64::MAX)).unwrap();
    assert!(x < 1 << 32);
    // Reserve everything below 4 GiB: now it must go above.
    grow(&mut a, |a| a.reserve(0, 1 << 32)).unwrap();
    let y = grow(&mut a, |a| a.alloc(16, u64::MAX)).unwrap();
    assert!(y >= 1 << 32);
    assert_eq!(
        grow(&mut a, |a| a.alloc(16, u32::MAX as u64)),
        Err(IovaError::NoSpace)
    );
}

#[test]
fn wholly_reserved_chunks_cost_no_memory() {
    let cfg = IovaConfig::new(12, 40).unwrap();
    let mut a = make(cfg);
    let g = cfg.chunk_granules() << 12;
    assert_eq!(a.reserve(g, 3 * g), Ok(3 * cfg.chunk_granules()));
    assert_eq!(a.stats().chunks, 0);
    assert_eq!(a.reserve(g, 3 * g), Ok(0));
    assert_eq!(
        a.install_chunk(1, vec![0; cfg.chunk_words()])
            .map_err(|e| e.0),
        Err(IovaError::ChunkNotNeeded)
    );
    assert_eq!(
        a.install_chunk(0, vec![0; 3]).map_err(|e| e.0),
        Err(IovaError::BadChunk)
    );
    assert_eq!(
        a.install_chunk(9999, vec![0; 3]).map_err(|e| e.0),
        Err(IovaError::ChunkNotNeeded)
    );
}

#[test]
fn max_space_48_bits() {
    let cfg = IovaConfig::new(12, 48).unwrap();
    let mut a = make(cfg);
    grow(&mut a, |a| a.reserve(0, 1 << 47)).unwrap();
    let x = grow(&mut a, |a| a.alloc(1 << 20, u64::MAX)).unwrap();
    assert_eq!(x, 1 << 47);
    a.free(x, 1 << 20).unwrap();
    assert_eq!(a.free_granules(), 1 << 35);
}

#[test]
fn huge_inputs_do_not_panic() {
    let cfg = IovaConfig::new(12, 32).unwrap();
    let mut a = make(cfg);
    assert_eq!(a.alloc(0, u64::MAX), Err(IovaError::InvalidSize));
    assert_eq!(a.alloc(u64::MAX, u64::MAX), Err(IovaError::InvalidSize));
    assert!(a.free(!0xfff, u64::MAX).is_err());
    assert!(a.free(0x1234, 1).is_err());
    assert_eq!(a.reserve(u64::MAX, u64::MAX), Ok(0));
    assert_eq!(
        grow(&mut a, |a| a.reserve(u32::MAX as u64, u64::MAX)),
        Ok(1)
    );
    assert_eq!(a.alloc(1, 0), Err(IovaError::NeedChunk { index: 0 }));
}

#[test]
fn caches_round_trip_and_flush() {
    let cfg = IovaConfig::new(12, 24).unwrap();
    let mut a = make(cfg);
    let mut cpu = CpuCache::new();
    assert_eq!(cache_order(0), None);
    assert_eq!(cache_order(1), Some(0));
    assert_eq!(cache_order(3), Some(2));
    assert_eq!(cache_order(32), Some(5));
    assert_eq!(cache_order(128), Some(7));
    assert_eq!(cache_order(129), None);
    let mut live = Vec::new();
    for _ in 0..2 * MAG_SIZE + 1 {
        live.push(grow(&mut a, |a| a.alloc(4, u64::MAX)).unwrap());
    }
    let (last, held) = live.split_last().unwrap();
    for &x in held {
        assert!(cpu.free(2, x));
    }
    assert!(!cpu.free(2, *last), "both magazines full");
    assert_eq!(cpu.cached(), 2 * MAG_SIZE);
    assert_eq!(
        a.stats().used,
        4 * (2 * MAG_SIZE as u64 + 1),
        "cached ranges stay allocated"
    );
    // Most recent first, and only under the limit.
    assert_eq!(cpu.alloc(2, 12, u64::MAX), Some(held[2 * MAG_SIZE - 1]));
    let low = cpu.alloc(2, 12, 0x3fff).unwrap();
    assert_eq!(low, 0);
    assert_eq!(cpu.alloc(2, 12, 0x2fff), None, "no range ends below");
    assert_eq!(cpu.alloc(1, 12, u64::MAX), None, "other order");
    a.free(low, 4).unwrap();
    a.free(held[2 * MAG_SIZE - 1], 4).unwrap();
    assert_eq!(cpu.flush_into(&mut a), 2 * MAG_SIZE - 2);
    assert_eq!(cpu.cached(), 0);
    assert!(cpu.free(2, *last));
    assert_eq!(cpu.flush_into(&mut a), 1);
    assert_eq!(a.stats().used, 0);
    assert_eq!(a.stats().bad_frees, 0);
}

#[test]
fn size_buckets() {
    assert_eq!(bucket_size(0, 0), 1);
    assert_eq!(bucket_size(1, 2), 2);
    assert_eq!(
        (0..BUCKETS).map(|b| bucket_size(6, b)).collect::<Vec<_>>(),
        [33, 43, 53, 64]
    );
    for o in 0..=MAX_ALIGN_ORDER as usize {
        assert_eq!(bucket_size(o, BUCKETS - 1), 1 << o);
        let lo = if o == 0 { 1 } else { (1u64 << (o - 1)) + 1 };
        assert_eq!(bucket_size(o, 0), lo);
        for n in [lo, (lo + (1 << o)) / 2, 1 << o] {
            let b = bucket_of(o, n);
            assert!(bucket_size(o, b) <= n);
            assert!(b + 1 == BUCKETS || bucket_size(o, b + 1) > n);
        }
    }
}

#[test]
fn hints_follow_frees_of_every_size() {
    // Fill a chunk with 1-granule allocations, free a scattered pattern,
    // then every size must still get the first fit.
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(8)
        .unwrap();
    let mut a = make(cfg);
    let total = cfg.granules();
    let mut free = vec![false; total as usize];
    for _ in 0..total {
        grow(&mut a, |a| a.alloc(1, u64::MAX)).unwrap();
    }
    let mut x = 12345u64;
    for g in 0..total {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if (x >> 33) % 3 == 0 || (g / 64) % 7 == 3 {
            a.free(g << 12, 1).unwrap();
            free[g as usize] = true;
        }
    }
    for n in [1u64, 3, 5, 7, 12, 33, 40, 50, 64, 65, 100, 2, 9] {
        let align = 1u64 << ceil_log2(n);
        let want = (0..total)
            .step_by(align as usize)
            .find(|&p| p + n <= total && free[p as usize..(p + n) as usize].iter().all(|&f| f));
        let got = a.alloc(n, u64::MAX).ok().map(|v| v >> 12);
        assert_eq!(got, want, "size {n}");
        if let Some(p) = got {
            free[p as usize..(p + n) as usize].fill(false);
        }
    }
}

#[test]
fn free_validation_across_words_and_chunks() {
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(7)
        .unwrap();
    let mut a = make(cfg);
    // 200 granules align to 256: two 128-granule chunks, four words each.
    let x = grow(&mut a, |a| a.alloc(200, u64::MAX)).unwrap();
    let y = grow(&mut a, |a| a.alloc(56, u64::MAX)).unwrap();
    assert_eq!((x, y), (0, 256 << 12), "56 granules align to 64");
    assert!(a.free(x, 199).is_err(), "end mark elsewhere");
    assert!(a.free(x + 0x1000, 199).is_err(), "start mark elsewhere");
    assert!(a.free(x, 256).is_err(), "spans two allocations");
    assert!(a.free(x, 201).is_err());
    assert!(a.free(y, 57).is_err(), "runs into free space");
    assert_eq!(a.stats().bad_frees, 5);
    a.free(x, 200).unwrap();
    a.free(y, 56).unwrap();
    assert_eq!(a.stats().used, 0);
    assert_eq!(a.largest_free_run(), cfg.granules());
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { n: u64, limit_frac: u8 },
    Free { pick: usize },
    FreeBogus { g: u64, n: u64 },
    Reserve { g: u64, n: u64 },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prop_oneof![3 => 1u64..=4, 2 => 1u64..=70], 0u8..=255).prop_map(|(n, limit_frac)| Op::Alloc { n, limit_frac }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => (0u64..5000, 0u64..80).prop_map(|(g, n)| Op::FreeBogus { g, n }),
        1 => (0u64..5000, 0u64..40).prop_map(|(g, n)| Op::Reserve { g, n }),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Free,
    Used,
    Reserved,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The allocator against a per-granule model: exact first fit, limit and
    /// alignment, validated frees, exact accounting, everything free at the end.
    #[test]
    fn model(gshift in prop_oneof![Just(12u32), Just(14), Just(16)],
             space_bits in 20u32..=24, cs_pick in any::<u32>(), max_align in 0u32..=8,
             ops in proptest::collection::vec(op_strategy(), 1..120)) {
        let gb = space_bits - gshift;
        let cs = cs_pick % (gb + 1);
        let cfg = IovaConfig::new(gshift, space_bits).unwrap()
            .with_chunk_shift(cs).unwrap().with_max_align_order(max_align).unwrap();
        let total = cfg.granules();
        let mut a = make(cfg);
        let mut cells = vec![Cell::Free; total as usize];
        let mut live: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { n, limit_frac } => {
                    let limit_g = ((total * (limit_frac as u64 + 1)) / 256).max(1);
                    let dma_limit = (limit_g << gshift).wrapping_sub(1);
                    let end = limit_g.min(total);
                    let align = 1u64 << ceil_log2(n).min(max_align);
                    let want = (0..end).step_by(align as usize).find(|&p| {
                        p + n <= end && cells[p as usize..(p + n) as usize].iter().all(|c| *c == Cell::Free)
                    });
                    let got = grow(&mut a, |a| a.alloc(n, dma_limit));
                    match want {
                        Some(p) => {
                            prop_assert_eq!(got, Ok(p << gshift));
                            for c in &mut cells[p as usize..(p + n) as usize] { *c = Cell::Used; }
                            live.push((p, n));
                        }
                        None => prop_assert!(got == Err(IovaError::NoSpace) || (n > total && got == Err(IovaError::InvalidSize)), "{:?}", got),
                    }
                }
                Op::Free { pick } => {
                    if live.is_empty() { continue; }
                    let (p, n) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(a.free(p << gshift, n), Ok(()));
                    for c in &mut cells[p as usize..(p + n) as usize] { *c = Cell::Free; }
                }
                Op::FreeBogus { g, n } => {
                    let pos = live.iter().position(|&x| x == (g, n));
                    let r = a.free(g << gshift, n);
                    prop_assert_eq!(r.is_ok(), pos.is_some());
                    if let Some(i) = pos {
                        live.swap_remove(i);
                        for c in &mut cells[g as usize..(g + n) as usize] { *c = Cell::Free; }
                    }
                }
                Op::Reserve { g, n } => {
                    let lo = g.min(total);
                    let hi = (g + n).min(total);
                    let want = cells[lo as usize..hi as usize].iter().filter(|c| **c == Cell::Free).count() as u64;
                    let got = grow(&mut a, |a| a.reserve(g << gshift, n << gshift));
                    prop_assert_eq!(got, Ok(want));
                    for c in &mut cells[lo as usize..hi as usize] {
                        if *c == Cell::Free { *c = Cell::Reserved; }
                    }
                }
            }
            let s = a.stats();
            prop_assert_eq!(s.used, cells.iter().filter(|c| **c == Cell::Used).count() as u64);
            prop_assert_eq!(s.reserved, cells.iter().filter(|c| **c == Cell::Reserved).count() as u64);
        }
        let mut best = 0u64;
        let mut run = 0u64;
        for c in &cells {
            if *c == Cell::Free { run += 1; best = best.max(run); } else { run = 0; }
        }
        prop_assert_eq!(a.largest_free_run(), best);
        for (p, n) in live.drain(..) {
            prop_assert_eq!(a.free(p << gshift, n), Ok(()));
        }
        prop_assert_eq!(a.stats().used, 0);
        prop_assert_eq!(a.free_granules() + a.stats().reserved, total);
    }
}

#[test]
fn claim_takes_a_fixed_range_or_nothing() {
    let cfg = IovaConfig::new(12, 24)
        .unwrap()
        .with_chunk_shift(4)
        .unwrap();
    let mut a = make(cfg);
    grow(&mut a, |a| a.reserve(0, 1)).unwrap();
    // Bad ranges: empty, misaligned, past the end of the space.
    assert_eq!(a.claim(0x10000, 0), Err(IovaError::InvalidSize));
    assert_eq!(a.claim(0x10800, 1), Err(IovaError::InvalidSize));
    assert_eq!(
        a.claim((cfg.granules() - 2) << 12, 3),
        Err(IovaError::InvalidSize)
    );
    // The reserved granule 0 stands in the way.
    assert_eq!(a.claim(0, 4), Err(IovaError::InUse { granule: 0 }));
    // 40 granules from granule 20: three chunks, all installed on demand.
    grow(&mut a, |a| a.claim(20 << 12, 40)).unwrap();
    assert_eq!(a.stats().used, 40);
    assert_eq!(a.stats().chunks, 4, "chunk 0 (reserve) and chunks 1-3");
    // Neither alloc nor a second claim gets any of it.
    assert_eq!(
        grow(&mut a, |a| a.claim(59 << 12, 2)),
        Err(IovaError::InUse { granule: 59 })
    );
    let x = grow(&mut a, |a| a.alloc(16, u64::MAX)).unwrap();
    assert!(
        x >> 12 >= 60 || (x >> 12) + 16 <= 20,
        "{x:#x} overlaps the claim"
    );
    // It is one allocation: only the exact range frees it.
    assert!(a.free(20 << 12, 39).is_err());
    assert!(a.free(21 << 12, 39).is_err());
    a.free(20 << 12, 40).unwrap();
    a.free(x, 16).unwrap();
    assert_eq!(a.stats().used, 0);
    // A wholly reserved absent chunk is in use too.
    grow(&mut a, |a| a.reserve(64 << 12, 16 << 12)).unwrap();
    assert_eq!(
        grow(&mut a, |a| a.claim(70 << 12, 1)),
        Err(IovaError::InUse { granule: 70 })
    );
    assert_eq!(a.stats().bad_frees, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Claims and allocations never overlap, and each comes back whole.
    #[test]
    fn claims_and_allocs_never_overlap(
        ops in proptest::collection::vec((any::<bool>(), 0u64..256, 1u64..24), 1..80)
    ) {
        let cfg = IovaConfig::new(12, 20).unwrap().with_chunk_shift(5).unwrap();
        let mut a = make(cfg);
        let mut owner = vec![false; cfg.granules() as usize];
        let mut live: Vec<(u64, u64)> = Vec::new();
        for (claim, at, n) in ops {
            let r = if claim {
                grow(&mut a, |a| a.claim(at << 12, n)).map(|()| at << 12)
            } else {
                grow(&mut a, |a| a.alloc(n, u64::MAX))
            };
            let end = at.saturating_add(n);
            match r {
                Ok(iova) => {
                    let g = (iova >> 12) as usize;
                    for o in &mut owner[g..g + n as usize] {
                        prop_assert!(!*o, "granule {:#x} handed out twice", g);
                        *o = true;
                    }
                    live.push((iova, n));
                }
                Err(IovaError::InUse { granule }) => {
                    prop_assert!(claim);
                    prop_assert!(granule >= at && granule < end);
                    prop_assert!(owner[granule as usize]);
                }
                Err(IovaError::InvalidSize) => prop_assert!(claim && end > cfg.granules()),
                Err(e) => prop_assert!(!claim && e == IovaError::NoSpace, "{:?}", e),
            }
        }
        for (iova, n) in live {
            prop_assert_eq!(a.free(iova, n), Ok(()));
        }
        prop_assert_eq!(a.stats().used, 0);
    }
}
