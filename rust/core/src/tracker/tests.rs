use super::*;
use proptest::prelude::*;
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const DEV: u64 = 0xd00d;

fn tracker(cap: usize) -> Tracker<Vec<Slot>> {
    Tracker::new(vec![None; cap], UNMAP_COMPARED_ATTRS)
}

fn single(addr: u64, size: u64, dir: Direction) -> Mapping {
    Mapping {
        dev: DEV,
        dev_addr: addr,
        size,
        kind: MapKind::Single,
        dir,
        attrs: Attrs::empty(),
        sg_nents: 0,
        cpu_addr: 0x8000_0000 + addr,
    }
}

fn only(f: Findings) -> Finding {
    assert_eq!(f.len(), 1, "{f:?}");
    *f.iter().next().unwrap()
}

#[test]
fn clean_lifecycle_has_no_findings() {
    let mut t = tracker(16);
    let m = single(0x1000, 0x200, Direction::FromDevice);
    assert!(t.map(m).is_empty());
    t.mapping_error_checked(DEV, 0x1000);
    assert!(t
        .sync_for_cpu(DEV, 0x1000, 0x200, Direction::FromDevice, None)
        .is_empty());
    assert!(t.cpu_access(DEV, 0x1100).is_empty());
    assert!(t
        .sync_for_device(DEV, 0x1000, 0x200, Direction::FromDevice, None)
        .is_empty());
    assert!(t.unmap(m).is_empty());
    assert_eq!(t.live(), 0);
}

#[test]
fn unmap_may_drop_no_warn_and_skip_cpu_sync() {
    // NVMe maps requests with DMA_ATTR_NO_WARN and unmaps them without.
    let mut t = tracker(16);
    let m = Mapping {
        attrs: Attrs::NO_WARN,
        ..single(0x1000, 0x200, Direction::ToDevice)
    };
    t.map(m);
    t.mapping_error_checked(DEV, 0x1000);
    let u = Mapping {
        attrs: Attrs::SKIP_CPU_SYNC,
        ..m
    };
    assert!(t.unmap(u).is_empty());
}

#[test]
fn each_unmap_finding() {
    let mut t = tracker(16);
    let m = single(0x1000, 0x200, Direction::ToDevice);
    t.map(m);
    // never checked
    assert!(matches!(only(t.unmap(m)), Finding::ErrorNotChecked { .. }));
    // double unmap
    assert!(matches!(only(t.unmap(m)), Finding::DoubleUnmap { .. }));
    // never mapped
    assert!(matches!(
        only(t.unmap(single(0x9000, 1, Direction::ToDevice))),
        Finding::UnmapNotMapped { .. }
    ));
    // size, direction, kind, attrs mismatch at once
    t.map(m);
    t.mapping_error_checked(DEV, 0x1000);
    let bad = Mapping {
        size: 0x100,
        dir: Direction::FromDevice,
        kind: MapKind::Page,
        attrs: Attrs::WEAK_ORDERING,
        ..m
    };
    let f: Vec<Finding> = t.unmap(bad).iter().copied().collect();
    assert_eq!(f.len(), 4, "{f:?}");
    assert!(matches!(
        f[0],
        Finding::SizeMismatch {
            mapped: 0x200,
            unmapped: 0x100,
            ..
        }
    ));
    assert!(matches!(
        f[1],
        Finding::KindMismatch {
            mapped: MapKind::Single,
            unmapped: MapKind::Page,
            ..
        }
    ));
    assert!(matches!(f[2], Finding::DirectionMismatch { .. }));
    assert!(matches!(f[3], Finding::AttrsMismatch { .. }));
    // SKIP_CPU_SYNC may differ
    t.map(m);
    t.mapping_error_checked(DEV, 0x1000);
    assert!(t
        .unmap(Mapping {
            attrs: Attrs::SKIP_CPU_SYNC,
            ..m
        })
        .is_empty());
}

#[test]
fn sg_coherent_and_sync_findings() {
    let mut t = tracker(16);
    let sg = Mapping {
        kind: MapKind::Sg,
        sg_nents: 3,
        ..single(0x4000, 0x3000, Direction::Bidirectional)
    };
    assert!(t.map(sg).is_empty());
    assert!(matches!(
        only(t.sync_for_cpu(DEV, 0x4000, 0x100, Direction::ToDevice, Some(2))),
        Finding::SgCountMismatch { .. }
    ));
    assert!(matches!(
        only(t.sync_for_device(DEV, 0x6000, 0x2000, Direction::ToDevice, Some(3))),
        Finding::SyncOutOfRange { offset: 0x2000, .. }
    ));
    assert!(
        t.sync_for_device(DEV, 0x4000, 0x10, Direction::ToDevice, Some(3))
            .is_empty(),
        "a redundant sync_for_device is not misuse"
    );
    assert!(matches!(
        only(t.cpu_access(DEV, 0x5000)),
        Finding::CpuAccessWhileDeviceOwned {
            dev_addr: 0x4000,
            ..
        }
    ));
    assert!(matches!(
        only(t.unmap(Mapping { sg_nents: 2, ..sg })),
        Finding::SgCountMismatch {
            mapped: 3,
            passed: 2,
            ..
        }
    ));
    let m = single(0x8000, 0x100, Direction::ToDevice);
    t.map(m);
    assert!(matches!(
        only(t.sync_for_cpu(DEV, 0x8000, 0x100, Direction::FromDevice, None)),
        Finding::SyncDirection { .. }
    ));
    assert!(matches!(
        only(t.sync_for_cpu(DEV, 0x20000, 1, Direction::FromDevice, None)),
        Finding::SyncNotMapped { .. }
    ));
    let c = Mapping {
        kind: MapKind::Coherent,
        dir: Direction::Bidirectional,
        ..single(0x10000, 0x1000, Direction::Bidirectional)
    };
    t.map(c);
    assert!(t.cpu_access(DEV, 0x10000).is_empty());
    assert!(matches!(
        only(t.unmap(Mapping { cpu_addr: 1, ..c })),
        Finding::CpuAddrMismatch { .. }
    ));
    assert!(matches!(
        only(t.map(Mapping {
            dir: Direction::None,
            ..m
        })),
        Finding::InvalidDirection { .. }
    ));
}

#[test]
fn leaks_forget_and_table_full() {
    let mut t = tracker(4);
    for i in 0..3 {
        assert!(t
            .map(single(0x1000 * (i + 1), 0x10, Direction::ToDevice))
            .is_empty());
    }
    assert!(matches!(
        only(t.map(single(0x9000, 0x10, Direction::ToDevice))),
        Finding::TableFull { .. }
    ));
    assert!(
        t.map(single(0xa000, 0x10, Direction::ToDevice)).is_empty(),
        "reported once"
    );
    assert!(t.overflowed());
    assert!(
        t.unmap(single(0x9000, 0x10, Direction::ToDevice))
            .is_empty(),
        "suppressed after overflow"
    );
    let other = Mapping {
        dev: 7,
        ..single(0x1000, 0x10, Direction::ToDevice)
    };
    let mut t2 = tracker(8);
    t2.map(other);
    t2.map(single(0x1000, 0x10, Direction::ToDevice));
    t2.map(single(0x2000, 0x10, Direction::ToDevice));
    let leaks: Vec<Finding> = t2.leaks(DEV).collect();
    assert_eq!(leaks.len(), 2);
    assert!(leaks[0].to_string().starts_with("leaked single mapping"));
    assert_eq!(t2.forget(DEV), 2);
    assert_eq!(t2.live(), 1);
    assert!(t2.get(7, 0x1000).is_some());
}

#[test]
fn display_is_one_line() {
    let f = Finding::SyncOutOfRange {
        dev: 1,
        dev_addr: 0x1000,
        mapped: 0x100,
        offset: 0x80,
        size: 0x100,
    };
    let s = f.to_string();
    assert!(!s.contains('\n'));
    assert_eq!(
        s,
        "sync of [0x80+0x100] outside mapping 0x1000 of size 0x100"
    );
}

/// A mapping made with `DMA_ATTR_SKIP_CPU_SYNC`.
fn skip_sync(m: Mapping) -> Mapping {
    Mapping {
        attrs: Attrs::SKIP_CPU_SYNC,
        ..m
    }
}

/// Asserts that a call reported nothing.
#[track_caller]
fn none(f: Findings) {
    assert!(f.is_empty(), "{f:?}");
}

/// page_pool_dma_map: map a page with `SKIP_CPU_SYNC`, then
/// `page_pool_dma_sync_for_device` of the part the device may write; the
/// driver receives into it, syncs what arrived for the CPU, and the pool
/// recycles the page (a second `sync_for_device`, possibly with no CPU sync
/// in between) and finally unmaps it with `SKIP_CPU_SYNC`.
#[test]
fn page_pool_sequence_has_no_findings() {
    let mut t = tracker(16);
    let (page, headroom) = (0x10_0000, 0x100);
    let m = skip_sync(single(page, 0x1000, Direction::FromDevice));
    none(t.map(m));
    t.mapping_error_checked(DEV, page);
    assert_eq!(t.get(DEV, page).map(Entry::owner), Some(Owner::Cpu));
    // The CPU may still write the page (e.g. its headroom).
    none(t.cpu_access(DEV, page + 0x10));
    let (at, len) = (page + headroom, 0x1000 - headroom);
    none(t.sync_for_device(DEV, at, len, Direction::FromDevice, None));
    assert_eq!(t.get(DEV, page).map(Entry::owner), Some(Owner::Split));
    none(t.cpu_access(DEV, page + 0x10));
    // ... device DMA of a 0x5ea-byte frame ...
    none(t.sync_for_cpu(DEV, at, 0x5ea, Direction::FromDevice, None));
    none(t.cpu_access(DEV, at));
    none(t.cpu_access(DEV, at + 0x5e9));
    // Recycle: the pool syncs the dirtied part for the device again.
    none(t.sync_for_device(DEV, at, 0x5ea, Direction::FromDevice, None));
    none(t.sync_for_device(DEV, at, len, Direction::FromDevice, None));
    none(t.unmap(m));
    assert_eq!(t.live(), 0);
}

/// igb_alloc_rx_buffers: the page is mapped once with `SKIP_CPU_SYNC` and
/// each half is passed to the device with
/// `dma_sync_single_range_for_device` while the stack still reads the
/// other.
#[test]
fn igb_half_page_sequence_has_no_findings() {
    let mut t = tracker(16);
    let page = 0x20_0000;
    let m = Mapping {
        kind: MapKind::Page,
        ..skip_sync(single(page, 0x1000, Direction::FromDevice))
    };
    none(t.map(m));
    t.mapping_error_checked(DEV, page);
    for round in 0..4u64 {
        let half = page + (round % 2) * 0x800;
        let other = page + ((round + 1) % 2) * 0x800;
        none(t.sync_for_device(DEV, half, 0x600, Direction::FromDevice, None));
        // The stack still reads the frame received in the other half.
        if round > 0 {
            none(t.cpu_access(DEV, other + 0x3c));
        }
        // ... device DMA of a 60-byte frame ...
        none(t.sync_for_cpu(DEV, half, 0x3c, Direction::FromDevice, None));
        none(t.cpu_access(DEV, half));
        none(t.cpu_access(DEV, half + 0x3b));
    }
    none(t.unmap(m));
}

#[test]
fn redundant_sync_for_device_is_not_a_finding() {
    let mut t = tracker(16);
    let m = single(0x3000, 0x200, Direction::ToDevice);
    none(t.map(m));
    t.mapping_error_checked(DEV, 0x3000);
    none(t.sync_for_device(DEV, 0x3000, 0x200, Direction::ToDevice, None));
    none(t.sync_for_device(DEV, 0x3080, 0x20, Direction::ToDevice, None));
    assert_eq!(t.get(DEV, 0x3000).map(Entry::owner), Some(Owner::Device));
    none(t.unmap(m));
}

/// What the device owns is still reported: after a plain map, and inside
/// the range a `SKIP_CPU_SYNC` mapping passed to the device.
#[test]
fn cpu_access_to_device_owned_parts_is_reported() {
    let mut t = tracker(16);
    let plain = single(0x1_0000, 0x1000, Direction::Bidirectional);
    none(t.map(plain));
    assert_eq!(t.get(DEV, 0x1_0000).map(Entry::owner), Some(Owner::Device));
    for at in [0x1_0000, 0x1_0fff] {
        assert!(matches!(
            only(t.cpu_access(DEV, at)),
            Finding::CpuAccessWhileDeviceOwned {
                dev_addr: 0x1_0000,
                ..
            }
        ));
    }
    none(t.sync_for_cpu(DEV, 0x1_0000, 0x1000, Direction::Bidirectional, None));
    none(t.cpu_access(DEV, 0x1_0fff));

    let skip = skip_sync(single(0x2_0000, 0x1000, Direction::ToDevice));
    none(t.map(skip));
    none(t.sync_for_device(DEV, 0x2_0400, 0x400, Direction::ToDevice, None));
    none(t.cpu_access(DEV, 0x2_03ff));
    none(t.cpu_access(DEV, 0x2_0800));
    assert!(matches!(
        only(t.cpu_access(DEV, 0x2_0400)),
        Finding::CpuAccessWhileDeviceOwned { .. }
    ));
    assert!(matches!(
        only(t.cpu_access(DEV, 0x2_07ff)),
        Finding::CpuAccessWhileDeviceOwned { .. }
    ));
    // A sync of the whole mapping hands all of it over.
    none(t.sync_for_device(DEV, 0x2_0000, 0x1000, Direction::ToDevice, None));
    assert_eq!(t.get(DEV, 0x2_0000).map(Entry::owner), Some(Owner::Device));
    assert!(!t.cpu_access(DEV, 0x2_0000).is_empty());
}

/// Misuse around `SKIP_CPU_SYNC` mappings is still reported.
#[test]
fn skip_cpu_sync_mappings_still_checked() {
    let mut t = tracker(16);
    let m = skip_sync(single(0x4_0000, 0x800, Direction::FromDevice));
    none(t.map(m));
    t.mapping_error_checked(DEV, 0x4_0000);
    assert!(matches!(
        only(t.sync_for_device(DEV, 0x4_0400, 0x800, Direction::FromDevice, None)),
        Finding::SyncOutOfRange { offset: 0x400, .. }
    ));
    assert!(matches!(
        only(t.sync_for_device(DEV, 0x4_0000, 0x10, Direction::ToDevice, None)),
        Finding::SyncDirection { .. }
    ));
    assert!(matches!(
        only(t.sync_for_cpu(DEV, 0x5_0000, 0x10, Direction::FromDevice, None)),
        Finding::SyncNotMapped { .. }
    ));
    assert!(matches!(
        only(t.unmap(Mapping {
            dir: Direction::ToDevice,
            ..m
        })),
        Finding::DirectionMismatch { .. }
    ));
    assert!(matches!(only(t.unmap(m)), Finding::DoubleUnmap { .. }));
    assert!(matches!(
        only(t.unmap(skip_sync(single(0x6_0000, 8, Direction::FromDevice)))),
        Finding::UnmapNotMapped { .. }
    ));
}

#[test]
fn attrs_mismatch_names_the_attributes() {
    let mut t = tracker(16);
    let m = Mapping {
        attrs: Attrs::WEAK_ORDERING,
        ..single(0x1000, 0x10, Direction::ToDevice)
    };
    none(t.map(m));
    t.mapping_error_checked(DEV, 0x1000);
    let f = only(t.unmap(Mapping {
        attrs: Attrs::SKIP_CPU_SYNC.union(Attrs::PRIVILEGED),
        ..m
    }));
    assert_eq!(
        f.to_string(),
        "unmap of 0x1000 with attrs SKIP_CPU_SYNC|PRIVILEGED, mapped with WEAK_ORDERING"
    );
    // Only the compared attributes count.
    let mut loose = Tracker::new(vec![None; 8], Attrs::PRIVILEGED);
    none(loose.map(m));
    loose.mapping_error_checked(DEV, 0x1000);
    none(loose.unmap(Mapping {
        attrs: Attrs::NO_WARN,
        ..m
    }));
}

#[test]
fn parts_edges() {
    // Small mappings: one byte per part.
    assert_eq!(parts::all(0), 0);
    assert_eq!(parts::all(1), 1);
    assert_eq!(parts::all(5), 0b11111);
    assert_eq!(parts::within(5, 1, 3), 0b01110);
    assert_eq!(parts::touching(5, 4, u64::MAX), 0b10000);
    assert_eq!(parts::within(5, 5, 1), 0);
    assert_eq!(parts::at(5, 5), 0);
    // 100 bytes: parts of 2 bytes, 50 of them.
    assert_eq!(parts::all(100), (1 << 50) - 1);
    assert_eq!(parts::within(100, 1, 4), 0b10);
    assert_eq!(parts::touching(100, 1, 4), 0b111);
    assert_eq!(parts::within(100, 97, 10), 1 << 49);
    // A last part shorter than the others counts when covered to the end.
    assert_eq!(parts::all(0x1001), u64::MAX);
    // 0x1001 bytes: parts of 0x41, the last one [0xfff, 0x1001).
    assert_eq!(parts::within(0x1001, 0x1000, 1), 0);
    assert_eq!(parts::within(0x1001, 0xfff, 2), 1 << 63);
    assert_eq!(parts::within(0x1001, 0xfff, 1), 0);
    assert_eq!(parts::touching(0x1001, 0x1000, 1), 1 << 63);
    // Huge values neither overflow nor panic.
    assert_eq!(parts::all(u64::MAX), u64::MAX);
    assert_eq!(parts::within(u64::MAX, 0, u64::MAX), u64::MAX);
    assert_eq!(parts::at(u64::MAX, u64::MAX - 1), 1 << 63);
    assert_eq!(parts::touching(u64::MAX, u64::MAX, 1), 0);
}

#[test]
fn part_owners_show_a_partial_sync() {
    let mut t = tracker(16);
    // A 64 KiB scatter-gather mapping made without CPU sync, then handed to
    // the device: 64 parts of 1 KiB.
    let m = Mapping {
        kind: MapKind::Sg,
        sg_nents: 16,
        attrs: Attrs::SKIP_CPU_SYNC,
        ..single(0x10_0000, 0x1_0000, Direction::Bidirectional)
    };
    t.map(m);
    let owners = |t: &Tracker<Vec<Slot>>| t.entries(DEV).next().unwrap().parts().to_string();
    assert_eq!(owners(&t), "c".repeat(64));
    t.sync_for_device(DEV, 0x10_0000, 0x1_0000, Direction::Bidirectional, Some(16));
    assert_eq!(owners(&t), "D".repeat(64));
    // The CPU takes [16 KiB, 24 KiB): parts 16..24.
    t.sync_for_cpu(DEV, 0x10_4000, 0x2000, Direction::Bidirectional, None);
    let want = format!("{}{}{}", "D".repeat(16), "c".repeat(8), "D".repeat(40));
    assert_eq!(owners(&t), want);
    t.map(Mapping {
        kind: MapKind::Coherent,
        ..single(0x20_0000, 3, Direction::Bidirectional)
    });
    assert_eq!(t.entries(DEV).count(), 2);
    assert_eq!(t.entries(DEV + 1).count(), 0);
    assert_eq!(t.get(DEV, 0x20_0000).unwrap().parts().to_string(), "sss");
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        slot: u8,
        size: u64,
        dir: u8,
        skip: bool,
    },
    Unmap {
        slot: u8,
        wrong_size: bool,
    },
    SyncCpu {
        slot: u8,
    },
    SyncDev {
        slot: u8,
    },
    Access {
        slot: u8,
    },
}

fn dir_of(d: u8) -> Direction {
    [
        Direction::Bidirectional,
        Direction::ToDevice,
        Direction::FromDevice,
    ][(d % 3) as usize]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Against a simple model: the tracker reports exactly the misuse the
    /// model predicts, keeps the same live set (even through the probe-chain
    /// shifts of removal), and reports the remaining mappings as leaks.
    #[test]
    fn model(ops in proptest::collection::vec(prop_oneof![
        (0u8..12, 1u64..0x3000, any::<u8>(), any::<bool>())
            .prop_map(|(slot, size, dir, skip)| Op::Map { slot, size, dir, skip }),
        (0u8..12, any::<bool>()).prop_map(|(slot, wrong_size)| Op::Unmap { slot, wrong_size }),
        (0u8..12).prop_map(|slot| Op::SyncCpu { slot }),
        (0u8..12).prop_map(|slot| Op::SyncDev { slot }),
        (0u8..12).prop_map(|slot| Op::Access { slot }),
    ], 1..200)) {
        let mut t = tracker(64);
        // Model: per address slot, the live (size, dir, cpu_owned) and whether it was ever unmapped.
        let mut model: Vec<Option<(u64, Direction, bool)>> = vec![None; 12];
        let mut recent: Vec<u8> = Vec::new();
        let addr = |s: u8| 0x10_0000 * (s as u64 + 1);
        for op in ops {
            match op {
                Op::Map { slot, size, dir, skip } => {
                    if model[slot as usize].is_some() { continue; }
                    let d = dir_of(dir);
                    let m = single(addr(slot), size, d);
                    let m = if skip { skip_sync(m) } else { m };
                    prop_assert!(t.map(m).is_empty());
                    t.mapping_error_checked(DEV, addr(slot));
                    model[slot as usize] = Some((size, d, skip));
                }
                Op::Unmap { slot, wrong_size } => {
                    let f: Vec<Finding> = match model[slot as usize] {
                        Some((size, d, _)) => {
                            let s = if wrong_size { size + 1 } else { size };
                            t.unmap(single(addr(slot), s, d)).iter().copied().collect()
                        }
                        None => t.unmap(single(addr(slot), 1, Direction::ToDevice)).iter().copied().collect(),
                    };
                    match model[slot as usize].take() {
                        Some(_) if wrong_size => prop_assert!(matches!(f[..], [Finding::SizeMismatch { .. }]), "unexpected findings"),
                        Some(_) => prop_assert!(f.is_empty()),
                        None if recent.contains(&slot) => prop_assert!(matches!(f[..], [Finding::DoubleUnmap { .. }]), "unexpected findings"),
                        None => prop_assert!(matches!(f[..], [Finding::UnmapNotMapped { .. }]), "unexpected findings"),
                    }
                    if f.is_empty() || matches!(f[..], [Finding::SizeMismatch { .. }]) {
                        recent.push(slot);
                        if recent.len() > 32 { recent.remove(0); }
                    }
                }
                Op::SyncCpu { slot } | Op::SyncDev { slot } => {
                    let to_cpu = matches!(op, Op::SyncCpu { .. });
                    let f: Vec<Finding> = match model[slot as usize].as_mut() {
                        Some((size, d, cpu)) => {
                            let r = if to_cpu {
                                t.sync_for_cpu(DEV, addr(slot), *size, *d, None)
                            } else {
                                t.sync_for_device(DEV, addr(slot), *size, *d, None)
                            };
                            *cpu = to_cpu;
                            let f: Vec<Finding> = r.iter().copied().collect();
                            prop_assert!(f.is_empty());
                            f
                        }
                        None => {
                            let r = t.sync_for_cpu(DEV, addr(slot), 1, Direction::ToDevice, None);
                            let f: Vec<Finding> = r.iter().copied().collect();
                            prop_assert!(matches!(f[..], [Finding::SyncNotMapped { .. }]), "unexpected findings");
                            f
                        }
                    };
                    let _ = f;
                }
                Op::Access { slot } => {
                    let f = t.cpu_access(DEV, addr(slot));
                    match model[slot as usize] {
                        Some((_, _, false)) => prop_assert!(matches!(only(f), Finding::CpuAccessWhileDeviceOwned { .. }), "unexpected findings"),
                        _ => prop_assert!(f.is_empty()),
                    }
                }
            }
            prop_assert_eq!(t.live(), model.iter().flatten().count());
        }
        let mut leaks: Vec<u64> = t.leaks(DEV).map(|f| match f { Finding::Leak { dev_addr, .. } => dev_addr, _ => 0 }).collect();
        leaks.sort();
        let want: Vec<u64> = (0..12u8).filter(|&s| model[s as usize].is_some()).map(addr).collect();
        prop_assert_eq!(leaks, want);
        t.forget(DEV);
        prop_assert_eq!(t.live(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Syncs of arbitrary ranges against a byte-exact model of what the
    /// device owns: the parts the tracker marks device-owned never hold a
    /// byte the CPU owns (so correct CPU accesses are never reported), and
    /// a whole-mapping hand-over marks everything.
    #[test]
    fn ownership_is_never_overreported(
        size in 1u64..3000,
        skip in any::<bool>(),
        ops in proptest::collection::vec((any::<bool>(), 0u64..3200, 0u64..3200), 1..40),
    ) {
        let base = 0x40_0000;
        let mut t = tracker(8);
        let m = single(base, size, Direction::Bidirectional);
        let m = if skip { skip_sync(m) } else { m };
        prop_assert!(t.map(m).is_empty());
        let mut device = vec![!skip; size as usize];
        for (to_cpu, off, len) in ops {
            let f = if to_cpu {
                t.sync_for_cpu(DEV, base + off.min(size - 1), len, Direction::Bidirectional, None)
            } else {
                t.sync_for_device(DEV, base + off.min(size - 1), len, Direction::Bidirectional, None)
            };
            let off = off.min(size - 1);
            let in_range = off + len <= size;
            prop_assert_eq!(f.is_empty(), in_range, "{:?}", f);
            let end = (off + len).min(size);
            for b in &mut device[off as usize..end as usize] {
                *b = !to_cpu;
            }
            let parts = t.get(DEV, base).map_or(0, |e| e.device_parts);
            let ps = size.div_ceil(OWNER_PARTS);
            for i in 0..OWNER_PARTS {
                if parts & (1 << i) != 0 {
                    let lo = (i * ps).min(size) as usize;
                    let hi = ((i + 1) * ps).min(size) as usize;
                    prop_assert!(lo < hi);
                    prop_assert!(device[lo..hi].iter().all(|&d| d), "part {} over-reported", i);
                }
            }
            if !to_cpu && off == 0 && end == size {
                prop_assert_eq!(parts, parts::all(size));
            }
            for probe in [0, off, end - 1, size - 1] {
                let reported = !t.cpu_access(DEV, base + probe).is_empty();
                prop_assert!(!reported || device[probe as usize]);
            }
        }
    }
}
