//! Fuzz bounce areas: mappings disjoint, low bits kept, spans aligned and
//! holding their mapping, exact accounting.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::bounce::{Area, BounceGeometry, BounceRequest, BounceSlot};

fuzz_target!(|data: &[u8]| {
    let mut a = Area::new(
        BounceGeometry::swiotlb(0x4000_0000),
        128,
        vec![BounceSlot::default(); 256],
    )
    .unwrap();
    let mut live: Vec<(u64, u64, u64)> = Vec::new();
    for op in data.chunks_exact(16) {
        let x = u64::from_le_bytes(op[..8].try_into().unwrap());
        let y = u64::from_le_bytes(op[8..].try_into().unwrap());
        if x & 1 == 0 {
            let r = BounceRequest {
                orig: x >> 1,
                len: y % 300_000,
                min_align_mask: [0, 0xfff, 0x3f, y >> 40][(y >> 20) as usize % 4],
                alloc_align_mask: [0, 0, 0xfff, (y >> 50)][(y >> 22) as usize % 4],
                boundary_mask: [u64::MAX, 0xffff, (1 << (y >> 58)) - 1][(y >> 24) as usize % 3],
                span_align_mask: [0, 0xfff, 0xffff, y >> 44][(y >> 26) as usize % 4],
            };
            if let Ok(m) = a.map(&r) {
                let t = m.tlb_addr;
                assert_eq!(
                    t & r.min_align_mask & 0x7ff,
                    r.orig & r.min_align_mask & 0x7ff
                );
                assert_eq!(m.len, r.len);
                assert!(m.span_start <= t && t - m.span_start + r.len <= m.span_len);
                assert_eq!(m.span_start & r.span_align_mask, 0);
                assert_eq!(m.span_len & r.span_align_mask, 0);
                assert_eq!(a.lookup(t), Some((r.orig, r.len)));
                live.push((t, r.orig, r.len));
            }
        } else if !live.is_empty() {
            let (t, o, l) = live.swap_remove((y as usize) % live.len());
            assert_eq!(a.unmap(t), Ok((o, l)));
        } else {
            let _ = a.unmap(y);
        }
    }
    for (t, o, l) in live {
        assert_eq!(a.unmap(t), Ok((o, l)));
    }
    assert_eq!(a.used(), 0);
});
