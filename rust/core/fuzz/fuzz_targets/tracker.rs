//! Fuzz the tracker: arbitrary API sequences never panic, Display is one
//! line, and forgetting a device empties it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::dma::Attrs;
use rsdma_core::tracker::{Direction, MapKind, Mapping, Tracker};

fuzz_target!(|data: &[u8]| {
    let mut t = Tracker::new(vec![None; 32], Attrs::all());
    let dirs = [
        Direction::Bidirectional,
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::None,
    ];
    let kinds = [
        MapKind::Single,
        MapKind::Page,
        MapKind::Sg,
        MapKind::Resource,
        MapKind::Coherent,
    ];
    for op in data.chunks_exact(12) {
        let a = u64::from(u32::from_le_bytes(op[4..8].try_into().unwrap())) & 0xffff;
        let s = u64::from(u32::from_le_bytes(op[8..12].try_into().unwrap()));
        let m = Mapping {
            dev: u64::from(op[1] % 3),
            dev_addr: a,
            size: s,
            kind: kinds[op[2] as usize % 5],
            dir: dirs[op[3] as usize % 4],
            attrs: Attrs::from_bits_truncate(u32::from(op[2] >> 4)),
            sg_nents: u32::from(op[3] >> 4),
            cpu_addr: a,
        };
        let f = match op[0] % 6 {
            0 => t.map(m),
            1 => t.unmap(m),
            2 => t.sync_for_cpu(m.dev, a, s, m.dir, Some(m.sg_nents)),
            3 => t.sync_for_device(m.dev, a, s, m.dir, None),
            4 => t.cpu_access(m.dev, a),
            _ => {
                t.mapping_error_checked(m.dev, a);
                Default::default()
            }
        };
        for x in f.iter() {
            assert!(!x.to_string().contains('\n'));
        }
    }
    for d in 0..3 {
        let leaks = t.leaks(d).count();
        assert_eq!(t.forget(d), leaks);
    }
    assert_eq!(t.live(), 0);
});
