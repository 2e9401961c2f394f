//! Fuzz the IOVA allocator: random ops, checked against a granule model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::iova::{IovaAllocator, IovaConfig, IovaError, Slot};

fuzz_target!(|data: &[u8]| {
    let mut it = data.chunks_exact(8);
    let Some(h) = it.next() else { return };
    let gshift = [12, 14, 16][h[0] as usize % 3];
    let space_bits = 20 + (h[1] as u32 % 5);
    let gb = space_bits - gshift;
    let Ok(cfg) = IovaConfig::new(gshift, space_bits)
        .and_then(|c| c.with_chunk_shift(h[2] as u32 % (gb + 1)))
        .and_then(|c| c.with_max_align_order(h[3] as u32 % 10))
    else {
        return;
    };
    let table = (0..cfg.chunk_count())
        .map(|_| Slot::new())
        .collect::<Vec<_>>();
    let mut a: IovaAllocator<Vec<u64>, _> = IovaAllocator::new(cfg, table).unwrap();
    let total = cfg.granules() as usize;
    let mut cells = vec![0u8; total];
    let mut live: Vec<(u64, u64)> = Vec::new();
    for op in it {
        let v = u64::from_le_bytes(op.try_into().unwrap());
        let arg = v >> 8;
        let r = match op[0] % 4 {
            0 => {
                let n = (arg % 80) + 1;
                let limit = (arg >> 8) % (total as u64 + 1);
                let lim = (limit << gshift).wrapping_sub(1);
                loop {
                    match a.alloc(n, lim) {
                        Err(IovaError::NeedChunk { index }) => {
                            a.install_chunk(index, vec![0; cfg.chunk_words()])
                                .map_err(|e| e.0)
                                .unwrap();
                        }
                        Ok(x) => {
                            let g = (x >> gshift) as usize;
                            assert!(x.checked_add((n << gshift) - 1).unwrap() <= lim);
                            for c in &mut cells[g..g + n as usize] {
                                assert_eq!(*c, 0);
                                *c = 1;
                            }
                            live.push((x, n));
                            break Ok(());
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
            1 if !live.is_empty() => {
                let (x, n) = live.swap_remove(arg as usize % live.len());
                let g = (x >> gshift) as usize;
                cells[g..g + n as usize].fill(0);
                a.free(x, n)
            }
            2 => {
                let r = a.free(arg % (1 << 30), (arg >> 30) % 70);
                if r.is_ok() {
                    // Only a live allocation can be freed.
                    let x = arg % (1 << 30);
                    let n = (arg >> 30) % 70;
                    let i = live
                        .iter()
                        .position(|&l| l == (x, n))
                        .expect("freed a non-allocation");
                    live.swap_remove(i);
                    let g = (x >> gshift) as usize;
                    cells[g..g + n as usize].fill(0);
                }
                Ok(())
            }
            _ => {
                let s = (arg % (total as u64)) << gshift;
                let l = ((arg >> 20) % 64) << gshift;
                loop {
                    match a.reserve(s, l) {
                        Err(IovaError::NeedChunk { index }) => {
                            a.install_chunk(index, vec![0; cfg.chunk_words()])
                                .map_err(|e| e.0)
                                .unwrap();
                        }
                        Ok(_) => {
                            let g = (s >> gshift) as usize;
                            let e = (g + (l >> gshift) as usize).min(total);
                            for c in &mut cells[g..e] {
                                if *c == 0 {
                                    *c = 2;
                                }
                            }
                            break Ok(());
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        let _ = r;
        let used = cells.iter().filter(|&&c| c == 1).count() as u64;
        assert_eq!(a.stats().used, used);
    }
    for (x, n) in live {
        a.free(x, n).unwrap();
    }
    assert_eq!(a.stats().used, 0);
});
