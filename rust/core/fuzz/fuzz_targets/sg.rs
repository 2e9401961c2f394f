//! Fuzz the sg planner: never panics; when it plans, the DMA segments cover
//! the input bytes in order and respect the maximum size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::sg::{plan, DmaSegment, SegMap, SgLimits};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let l = SgLimits {
        max_seg_size: u32::from_le_bytes(data[0..4].try_into().unwrap()),
        seg_boundary_mask: (1u64 << (data[4] % 64)).wrapping_sub(1),
        granule_shift: u32::from(data[5] % 32),
    };
    let segs: Vec<(u64, u32)> = data[8..]
        .chunks_exact(12)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()) >> 16,
                u32::from_le_bytes(c[8..].try_into().unwrap()) >> (data[6] % 32),
            )
        })
        .collect();
    let mut maps = vec![SegMap::default(); segs.len()];
    let mut out = vec![DmaSegment::default(); segs.len()];
    if let Ok(p) = plan(&segs, &l, &mut maps, &mut out) {
        let total: u64 = segs.iter().map(|s| u64::from(s.1)).sum();
        let got: u64 = out[..p.segments].iter().map(|d| u64::from(d.len)).sum();
        assert_eq!(total, got);
        for w in maps.windows(2) {
            assert!(w[0].iova_offset + w[0].len <= w[1].iova_offset);
        }
    }
});
