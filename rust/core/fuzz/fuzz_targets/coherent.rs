//! Fuzz declared coherent pools: alloc/free/bogus free never corrupt.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::coherent::{storage_words, CoherentPool};

fuzz_target!(|data: &[u8]| {
    let pages = 100;
    // A device base off any large boundary: alignment is of the device
    // address itself.
    let mut p = CoherentPool::new(
        0x1000_0000,
        0x2000_3000,
        pages << 12,
        12,
        true,
        vec![0; storage_words(pages as usize)],
    )
    .unwrap();
    let mut live: Vec<(u64, u64)> = Vec::new();
    for op in data.chunks_exact(9) {
        let v = u64::from_le_bytes(op[1..].try_into().unwrap());
        match op[0] % 3 {
            0 => {
                let limit = 0x2000_3000 + (v >> 40) % (pages << 12);
                if let Ok(a) = p.alloc_below(v % (1 << 20), limit) {
                    assert_eq!(a.dev_addr % a.bytes, 0);
                    assert!(a.dev_addr + a.bytes - 1 <= limit);
                    live.push((a.dev_addr, v % (1 << 20)));
                }
            }
            1 if !live.is_empty() => {
                let (a, s) = live.swap_remove(v as usize % live.len());
                p.free(a, s).unwrap();
            }
            _ => {
                let (a, s) = (v >> 20, v & 0xfffff);
                if p.free(a, s).is_ok() {
                    let i = live
                        .iter()
                        .position(|l| l.0 == a)
                        .expect("freed a non-allocation");
                    live.swap_remove(i);
                }
            }
        }
    }
    for (a, s) in live {
        p.free(a, s).unwrap();
    }
    assert_eq!(p.used_pages(), 0);
});
