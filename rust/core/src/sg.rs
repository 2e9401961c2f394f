//! Scatter-gather merge planner, as iommu-dma's `iommu_dma_map_sg` and
//! `__finalise_sg` do it.
//!
//! Given physical segments and the device's limits, [`plan`] lays the
//! segments out in one IOVA range: each keeps its offset within the IOMMU
//! granule and is padded to granule boundaries, and a segment that would
//! cross a segment boundary is moved up to the next boundary. It returns the
//! IOVA length to allocate, what to map where ([`SegMap`]) and the merged DMA
//! segments ([`DmaSegment`]) that the device sees: consecutive segments merge
//! when the next one starts on a granule boundary, does not start on a
//! segment boundary, and the result stays within the maximum segment size.
//!
//! Offsets are relative to the IOVA base. The layout is valid for a base
//! aligned to [`Plan::required_align`] (the IOVA allocator's size alignment
//! gives that); then no DMA segment crosses a boundary.

use core::fmt;

/// Device limits for the planner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SgLimits {
    /// `dma_get_max_seg_size`.
    pub max_seg_size: u32,
    /// `dma_get_seg_boundary` (a power of two minus one).
    pub seg_boundary_mask: u64,
    /// log2 of the IOMMU granule.
    pub granule_shift: u32,
}

/// Where one input segment is mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegMap {
    /// Granule-aligned physical address to map.
    pub phys: u64,
    /// Offset of the mapping from the IOVA base (granule-aligned).
    pub iova_offset: u64,
    /// Bytes to map (whole granules).
    pub len: u64,
}

/// One merged DMA segment as the device sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaSegment {
    /// Offset of the segment's first byte from the IOVA base.
    pub iova_offset: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Result of [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Bytes of IOVA space to allocate (granule multiple).
    pub iova_len: u64,
    /// Alignment the IOVA base must have.
    pub required_align: u64,
    /// Number of [`SegMap`] entries written (one per input segment).
    pub maps: usize,
    /// Number of [`DmaSegment`] entries written.
    pub segments: usize,
}

/// Planner errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgError {
    /// Limits are inconsistent (mask not a power of two minus one, mask or
    /// maximum segment smaller than a granule, granule shift out of range).
    BadLimits,
    /// An output slice is shorter than the input.
    OutputTooSmall,
    /// A padded length does not fit (the `-EOVERFLOW` of iommu-dma).
    Overflow,
}

impl fmt::Display for SgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadLimits => "sg: bad device limits",
            Self::OutputTooSmall => "sg: output too small",
            Self::Overflow => "sg: length overflow",
        })
    }
}

/// Plans the mapping of `segments` (`(phys, len)`) under `limits`, writing
/// one [`SegMap`] per segment into `maps` and the merged segments into
/// `out` (both at least as long as `segments`).
pub fn plan(
    segments: &[(u64, u32)],
    limits: &SgLimits,
    maps: &mut [SegMap],
    out: &mut [DmaSegment],
) -> Result<Plan, SgError> {
    let gshift = limits.granule_shift;
    if !(9..=30).contains(&gshift) {
        return Err(SgError::BadLimits);
    }
    let gran = 1u64 << gshift;
    let mask = limits.seg_boundary_mask;
    if mask.wrapping_add(1) & mask != 0 || mask < gran - 1 || u64::from(limits.max_seg_size) < gran
    {
        return Err(SgError::BadLimits);
    }
    if maps.len() < segments.len() || out.len() < segments.len() {
        return Err(SgError::OutputTooSmall);
    }
    // Layout: per segment its IOVA offset, padded length and the padding
    // that follows it (iommu-dma keeps that in the previous sg->length).
    let mut iova_len = 0u64;
    let mut prev: Option<usize> = None;
    for (i, &(phys, len)) in segments.iter().enumerate() {
        let off = phys & (gran - 1);
        let s_len = u64::from(len)
            .checked_add(off)
            .and_then(|x| x.checked_add(gran - 1))
            .ok_or(SgError::Overflow)?
            & !(gran - 1);
        if s_len > u64::from(u32::MAX) {
            return Err(SgError::Overflow);
        }
        let pad = mask.wrapping_sub(iova_len).wrapping_add(1) & mask;
        if pad != 0 && pad < s_len.saturating_sub(1) {
            if let Some(p) = prev.and_then(|p| out.get_mut(p)) {
                let padded = u64::from(p.len).checked_add(pad).ok_or(SgError::Overflow)?;
                p.len = u32::try_from(padded).map_err(|_| SgError::Overflow)?;
            }
            iova_len = iova_len.checked_add(pad).ok_or(SgError::Overflow)?;
        }
        if let Some(m) = maps.get_mut(i) {
            *m = SegMap {
                phys: phys - off,
                iova_offset: iova_len,
                len: s_len,
            };
        }
        // out[i].len holds the IOVA length of segment i (with its pad).
        if let Some(o) = out.get_mut(i) {
            *o = DmaSegment {
                iova_offset: 0,
                len: s_len as u32,
            };
        }
        iova_len = iova_len.checked_add(s_len).ok_or(SgError::Overflow)?;
        prev = Some(i);
    }
    // Finalise: merge into out (count <= i at every step, so reading
    // out[i] before writing out[count] is safe).
    let max_len = u64::from(limits.max_seg_size);
    let mut dma = 0u64;
    let mut cur_len = 0u64;
    let mut count = 0usize;
    for (i, &(phys, len)) in segments.iter().enumerate() {
        let off = phys & (gran - 1);
        let s_length = u64::from(len);
        let s_iova_len = u64::from(out.get(i).map_or(0, |o| o.len));
        if cur_len != 0
            && off == 0
            && dma & mask != 0
            && max_len.saturating_sub(cur_len) >= s_length
        {
            cur_len += s_length;
            if let Some(o) = count.checked_sub(1).and_then(|c| out.get_mut(c)) {
                o.len = cur_len as u32;
            }
        } else {
            if let Some(o) = out.get_mut(count) {
                *o = DmaSegment {
                    iova_offset: dma + off,
                    len,
                };
            }
            count += 1;
            cur_len = s_length;
        }
        dma += s_iova_len;
        if s_length + off < s_iova_len {
            cur_len = 0;
        }
    }
    let pow2 = iova_len.checked_next_power_of_two().unwrap_or(1 << 63);
    Ok(Plan {
        iova_len,
        required_align: core::cmp::min(mask.saturating_add(1), pow2).max(gran),
        maps: segments.len(),
        segments: count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn run(segs: &[(u64, u32)], l: &SgLimits) -> (Plan, Vec<SegMap>, Vec<DmaSegment>) {
        let mut maps = vec![SegMap::default(); segs.len()];
        let mut out = vec![DmaSegment::default(); segs.len()];
        let p = plan(segs, l, &mut maps, &mut out).unwrap();
        out.truncate(p.segments);
        (p, maps, out)
    }

    const L: SgLimits = SgLimits {
        max_seg_size: 65536,
        seg_boundary_mask: u32::MAX as u64,
        granule_shift: 12,
    };

    #[test]
    fn page_list_merges() {
        let segs = [(0x10000, 4096), (0x50000, 4096), (0x20000, 4096)];
        let (p, maps, out) = run(&segs, &L);
        assert_eq!(p.iova_len, 3 * 4096);
        assert_eq!(
            out,
            [DmaSegment {
                iova_offset: 0,
                len: 3 * 4096
            }]
        );
        assert_eq!(
            maps[1],
            SegMap {
                phys: 0x50000,
                iova_offset: 4096,
                len: 4096
            }
        );
    }

    #[test]
    fn offsets_break_merges_and_are_kept() {
        let segs = [(0x10100, 100), (0x20000, 4096), (0x30010, 10)];
        let (p, _, out) = run(&segs, &L);
        assert_eq!(p.iova_len, 3 * 4096);
        assert_eq!(
            out,
            [
                DmaSegment {
                    iova_offset: 0x100,
                    len: 100
                },
                DmaSegment {
                    iova_offset: 4096,
                    len: 4096
                },
                DmaSegment {
                    iova_offset: 8192 + 0x10,
                    len: 10
                }
            ]
        );
    }

    #[test]
    fn max_size_and_boundary() {
        let l = SgLimits {
            max_seg_size: 8192,
            seg_boundary_mask: 0x3fff,
            granule_shift: 12,
        };
        let segs = [
            (0x1000, 4096),
            (0x3000, 4096),
            (0x5000, 4096),
            (0x7000, 8192),
        ];
        let (p, maps, out) = run(&segs, &l);
        // third starts a new segment (max size); fourth would cross 0x4000 boundary: padded.
        assert_eq!(maps[3].iova_offset, 0x4000);
        assert_eq!(p.iova_len, 0x6000);
        assert_eq!(
            out,
            [
                DmaSegment {
                    iova_offset: 0,
                    len: 8192
                },
                DmaSegment {
                    iova_offset: 0x2000,
                    len: 4096
                },
                DmaSegment {
                    iova_offset: 0x4000,
                    len: 8192
                }
            ]
        );
        assert_eq!(p.required_align, 0x4000);
    }

    #[test]
    fn errors() {
        let bad = SgLimits {
            seg_boundary_mask: 0x1234,
            ..L
        };
        assert_eq!(
            plan(
                &[(0, 1)],
                &bad,
                &mut [SegMap::default()],
                &mut [DmaSegment::default()]
            ),
            Err(SgError::BadLimits)
        );
        assert_eq!(
            plan(&[(0, 1)], &L, &mut [], &mut [DmaSegment::default()]),
            Err(SgError::OutputTooSmall)
        );
        assert_eq!(
            plan(
                &[(0xfff, u32::MAX)],
                &L,
                &mut [SegMap::default()],
                &mut [DmaSegment::default()]
            ),
            Err(SgError::Overflow)
        );
        // An input segment longer than the maximum must not underflow the
        // merge test (found by fuzzing).
        let small = SgLimits {
            max_seg_size: 4096,
            ..L
        };
        let (_, _, out) = run(&[(0x1000, 8192), (0x4000, 4096)], &small);
        assert_eq!(out.len(), 2);
        let (p, _, out) = run(&[], &L);
        assert_eq!((p.iova_len, out.len()), (0, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every input byte appears once, in order, at its planned address;
        /// maps are granule-aligned, disjoint and inside the range; no DMA
        /// segment exceeds the maximum size or crosses a boundary.
        #[test]
        fn invariants(segs in proptest::collection::vec((0u64..1 << 30, 1u32..20000), 0..24),
                      gshift in prop_oneof![Just(12u32), Just(14), Just(16)],
                      bshift in 16u32..24, max_pick in 0u32..4) {
            let gran = 1u64 << gshift;
            let boundary = 1u64 << bshift;
            let max_seg = [gran, 65536, boundary, 3 * gran][max_pick as usize].min(boundary) as u32;
            let l = SgLimits { max_seg_size: max_seg, seg_boundary_mask: boundary - 1, granule_shift: gshift };
            let (p, maps, out) = run(&segs, &l);
            prop_assert_eq!(p.iova_len % gran, 0);
            let mut end = 0;
            for (m, &(phys, len)) in maps.iter().zip(&segs) {
                prop_assert_eq!(m.phys % gran, 0);
                prop_assert_eq!(m.iova_offset % gran, 0);
                prop_assert!(m.iova_offset >= end);
                prop_assert!(m.phys <= phys && phys + len as u64 <= m.phys + m.len);
                end = m.iova_offset + m.len;
            }
            prop_assert!(end <= p.iova_len);
            // Walk the DMA segments and the input bytes together.
            let mut want: Vec<(u64, u64)> = maps.iter().zip(&segs).map(|(m, &(phys, len))| (m.iova_offset + (phys - m.phys), len as u64)).collect();
            let mut total_out = 0u64;
            let mut cursor = 0usize;
            for d in &out {
                prop_assert!(d.len <= max_seg || segs.iter().any(|s| s.1 == d.len));
                let first = d.iova_offset / boundary;
                let last = (d.iova_offset + d.len as u64 - 1) / boundary;
                prop_assert!(first == last || d.len as u64 > boundary - (d.iova_offset % boundary) && segs.iter().any(|s| s.1 == d.len), "crosses a boundary");
                // this DMA segment must be exactly a run of consecutive inputs
                let mut pos = d.iova_offset;
                let mut left = d.len as u64;
                while left > 0 {
                    let (a, n) = want[cursor];
                    prop_assert_eq!(a, pos);
                    prop_assert!(n <= left);
                    pos += n;
                    left -= n;
                    cursor += 1;
                }
                total_out += d.len as u64;
            }
            prop_assert_eq!(cursor, want.len());
            want.clear();
            prop_assert_eq!(total_out, segs.iter().map(|s| s.1 as u64).sum::<u64>());
        }
    }
}
