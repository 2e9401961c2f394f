use super::*;
use proptest::prelude::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const DEV: u64 = 0xd00d;

fn tracker(cap: usize) -> Tracker<Vec<Slot>> {
    Tracker::new(vec![None; cap], !ATTR_SKIP_CPU_SYNC)
}

fn single(addr: u64, size: u64, dir: Direction) -> Mapping {
    Mapping {
        dev: DEV,
        dev_addr: addr,
        size,
        kind: MapKind::Single,
        dir,
        attrs: 0,
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
        attrs: 1 << 1,
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
            attrs: ATTR_SKIP_CPU_SYNC,
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
    assert!(matches!(
        only(t.sync_for_device(DEV, 0x4000, 0x10, Direction::ToDevice, Some(3))),
        Finding::SyncForDeviceWhileDeviceOwned { .. }
    ));
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

#[derive(Clone, Debug)]
enum Op {
    Map { slot: u8, size: u64, dir: u8 },
    Unmap { slot: u8, wrong_size: bool },
    SyncCpu { slot: u8 },
    SyncDev { slot: u8 },
    Access { slot: u8 },
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
        (0u8..12, 1u64..0x3000, any::<u8>()).prop_map(|(slot, size, dir)| Op::Map { slot, size, dir }),
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
                Op::Map { slot, size, dir } => {
                    if model[slot as usize].is_some() { continue; }
                    let d = dir_of(dir);
                    prop_assert!(t.map(single(addr(slot), size, d)).is_empty());
                    t.mapping_error_checked(DEV, addr(slot));
                    model[slot as usize] = Some((size, d, false));
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
                            let was_cpu = *cpu;
                            *cpu = to_cpu;
                            let f: Vec<Finding> = r.iter().copied().collect();
                            if !to_cpu && !was_cpu {
                                prop_assert!(matches!(f[..], [Finding::SyncForDeviceWhileDeviceOwned { .. }]), "unexpected findings");
                            } else {
                                prop_assert!(f.is_empty());
                            }
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
