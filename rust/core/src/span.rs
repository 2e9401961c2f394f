//! Byte ranges of a buffer laid over its segment lists.
//!
//! A buffer is described by lists of segments that each cover it in byte
//! order: its physically contiguous runs, and the DMA segments a device's
//! mapping of it made.  [`pieces`] cuts a byte range of the buffer at every
//! boundary of two such lists, so that each [`Piece`] lies inside one
//! segment of each: inside one run it is physically contiguous, inside one
//! DMA segment its device addresses are contiguous, and a sync of just that
//! piece is what a partial CPU access needs.
//!
//! [`entries`] cuts physically contiguous runs into scatterlist entries
//! that a device's limits allow (maximum segment size, segment boundary),
//! which is what the DMA API expects of whoever builds a list.

use core::fmt;

/// A range does not lie inside both lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// End of the range asked for (`None`: it overflows).
    pub end: Option<u64>,
    /// Bytes both lists cover.
    pub covered: u64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "range ends at {end}, segments cover {}", self.covered),
            None => write!(f, "range overflows, segments cover {}", self.covered),
        }
    }
}

/// Part of a range inside one segment of each list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Offset of the piece in the buffer.
    pub at: u64,
    /// Bytes.
    pub len: u64,
    /// Index of its segment in the first list, and its offset there.
    pub a: (usize, u64),
    /// Index of its segment in the second list, and its offset there.
    pub b: (usize, u64),
}

/// A cursor over one list: the segment holding the current byte.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    lens: &'a [u64],
    i: usize,
    start: u64,
}

impl Cursor<'_> {
    /// Moves to the segment holding byte `pos`; returns its index, `pos`'s
    /// offset in it and the segment's end.
    fn seek(&mut self, pos: u64) -> Option<(usize, u64, u64)> {
        loop {
            let len = *self.lens.get(self.i)?;
            let end = self.start.checked_add(len)?;
            if pos < end {
                return Some((self.i, pos - self.start, end));
            }
            self.start = end;
            self.i += 1;
        }
    }
}

/// The pieces of a range ([`pieces`]).
pub struct Pieces<'a> {
    a: Cursor<'a>,
    b: Cursor<'a>,
    pos: u64,
    end: u64,
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        if self.pos >= self.end {
            return None;
        }
        let (ai, aoff, aend) = self.a.seek(self.pos)?;
        let (bi, boff, bend) = self.b.seek(self.pos)?;
        let stop = aend.min(bend).min(self.end);
        let p = Piece {
            at: self.pos,
            len: stop - self.pos,
            a: (ai, aoff),
            b: (bi, boff),
        };
        self.pos = stop;
        Some(p)
    }
}

fn total(lens: &[u64]) -> Option<u64> {
    lens.iter().try_fold(0u64, |s, &l| s.checked_add(l))
}

/// Cuts `[offset, offset+len)` at the segment boundaries of `a` and `b`
/// (segment lengths, each list covering the buffer from byte 0 in order).
/// Pass the same list twice to cut at one list's boundaries only.
pub fn pieces<'a>(
    a: &'a [u64],
    b: &'a [u64],
    offset: u64,
    len: u64,
) -> Result<Pieces<'a>, OutOfRange> {
    let covered = total(a)
        .unwrap_or(u64::MAX)
        .min(total(b).unwrap_or(u64::MAX));
    let end = offset.checked_add(len);
    match end {
        Some(e) if e <= covered => Ok(Pieces {
            a: Cursor {
                lens: a,
                i: 0,
                start: 0,
            },
            b: Cursor {
                lens: b,
                i: 0,
                start: 0,
            },
            pos: offset,
            end: e,
        }),
        _ => Err(OutOfRange { end, covered }),
    }
}

/// The pieces of `[offset, offset+len)` in a buffer already cut into
/// `all`: the pieces [`pieces`] gives for the whole buffer, kept (they
/// never change while a mapping lives).  Finds the first piece by binary
/// search, so a small range of a large buffer costs little; yields what
/// `pieces` would yield for the range itself.
pub fn within(all: &[Piece], offset: u64, len: u64) -> Result<Within<'_>, OutOfRange> {
    let covered = all.last().map_or(0, |p| p.at.saturating_add(p.len));
    let end = offset.checked_add(len);
    match end {
        Some(e) if e <= covered => Ok(Within {
            rest: &all[all.partition_point(|p| p.at.saturating_add(p.len) <= offset)..],
            pos: offset,
            end: e,
        }),
        _ => Err(OutOfRange { end, covered }),
    }
}

/// The pieces of a range of a cut buffer ([`within`]).
pub struct Within<'a> {
    rest: &'a [Piece],
    pos: u64,
    end: u64,
}

impl Iterator for Within<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        if self.pos >= self.end {
            return None;
        }
        let (p, rest) = self.rest.split_first()?;
        self.rest = rest;
        let skip = self.pos.checked_sub(p.at)?;
        let stop = p.at.saturating_add(p.len).min(self.end);
        let piece = Piece {
            at: self.pos,
            len: stop - self.pos,
            a: (p.a.0, p.a.1 + skip),
            b: (p.b.0, p.b.1 + skip),
        };
        self.pos = stop;
        Some(piece)
    }
}

/// The scatterlist entries of some runs ([`entries`]).
pub struct Entries<'a> {
    runs: &'a [(u64, u64)],
    i: usize,
    done: u64,
    max_seg: u64,
    boundary_mask: u64,
}

impl Iterator for Entries<'_> {
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        loop {
            let &(phys, len) = self.runs.get(self.i)?;
            if self.done >= len {
                self.i += 1;
                self.done = 0;
                continue;
            }
            let p = phys.checked_add(self.done)?;
            // Bytes to the next segment boundary (none at the top of the
            // address space).
            let to_boundary = (p | self.boundary_mask)
                .checked_sub(p)
                .and_then(|b| b.checked_add(1))
                .unwrap_or(u64::MAX);
            let n = (len - self.done).min(self.max_seg).min(to_boundary);
            self.done += n;
            // `n <= max_seg <= u32::MAX`.
            return Some((p, n as u32));
        }
    }
}

/// Cuts physically contiguous runs `(phys, len)` into entries of at most
/// `max_seg` bytes (at least 1) that do not cross a multiple of
/// `boundary_mask + 1` (`boundary_mask` is a power of two minus one).
pub fn entries(runs: &[(u64, u64)], max_seg: u32, boundary_mask: u64) -> Entries<'_> {
    Entries {
        runs,
        i: 0,
        done: 0,
        max_seg: u64::from(max_seg.max(1)),
        boundary_mask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn cuts_at_both_lists() {
        // Runs of 4096 bytes; DMA segments of 8192, 4096, 4096.
        let runs = [4096u64; 4];
        let dma = [8192u64, 4096, 4096];
        let p: Vec<Piece> = pieces(&runs, &dma, 2048, 8192).unwrap().collect();
        assert_eq!(
            p,
            [
                Piece {
                    at: 2048,
                    len: 2048,
                    a: (0, 2048),
                    b: (0, 2048)
                },
                Piece {
                    at: 4096,
                    len: 4096,
                    a: (1, 0),
                    b: (0, 4096)
                },
                Piece {
                    at: 8192,
                    len: 2048,
                    a: (2, 0),
                    b: (1, 0)
                },
            ]
        );
        assert!(pieces(&runs, &dma, 1, 16384).is_err());
        assert!(pieces(&runs, &dma, u64::MAX, 2).is_err());
        assert_eq!(pieces(&runs, &dma, 16384, 0).unwrap().count(), 0);
    }

    #[test]
    fn zero_length_segments_are_skipped() {
        let a = [0u64, 10, 0, 10];
        let p: Vec<Piece> = pieces(&a, &a, 5, 10).unwrap().collect();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].a, p[1].a), ((1, 5), (3, 0)));
    }

    #[test]
    fn entries_respect_limits() {
        let e: Vec<(u64, u32)> = entries(&[(0x1_0000, 0x3_0000)], 0x1_0000, u64::MAX).collect();
        assert_eq!(
            e,
            [
                (0x1_0000, 0x1_0000),
                (0x2_0000, 0x1_0000),
                (0x3_0000, 0x1_0000)
            ]
        );
        // A 64 KiB boundary cuts a run that starts in the middle.
        let e: Vec<(u64, u32)> = entries(&[(0x8000, 0x1_0000)], 0x10_0000, 0xffff).collect();
        assert_eq!(e, [(0x8000, 0x8000), (0x1_0000, 0x8000)]);
        // Up to the top of the address space.
        let e: Vec<(u64, u32)> = entries(&[(u64::MAX - 0xfff, 0x1000)], 0x1000, u64::MAX).collect();
        assert_eq!(e, [(u64::MAX - 0xfff, 0x1000)]);
        assert_eq!(entries(&[(0, 0)], 4096, u64::MAX).count(), 0);
    }

    proptest! {
        /// Cutting once and looking ranges up gives what cutting each
        /// range gives.
        #[test]
        fn within_matches_pieces(
            a in proptest::collection::vec(1u64..5000, 1..40),
            b in proptest::collection::vec(1u64..5000, 1..40),
            off in 0u64..100_000,
            len in 0u64..100_000,
        ) {
            let total = a.iter().sum::<u64>().min(b.iter().sum::<u64>());
            let all: Vec<Piece> = pieces(&a, &b, 0, total).unwrap().collect();
            match (pieces(&a, &b, off, len), within(&all, off, len)) {
                (Ok(want), Ok(got)) => {
                    prop_assert_eq!(got.collect::<Vec<_>>(), want.collect::<Vec<_>>())
                }
                (Err(_), Err(_)) => {}
                (want, got) => prop_assert!(false, "pieces {:?}, within {:?}", want.is_ok(), got.is_ok()),
            }
        }
    }

    proptest! {
        /// Pieces tile the range in order, each inside one segment of each
        /// list at the offsets given.
        #[test]
        fn pieces_tile_the_range(a in proptest::collection::vec(0u64..5000, 1..20),
                                 b in proptest::collection::vec(0u64..5000, 1..20),
                                 off in 0u64..100_000, len in 0u64..100_000) {
            let starts = |l: &[u64]| -> Vec<u64> {
                l.iter().scan(0u64, |s, &x| { let v = *s; *s += x; Some(v) }).collect()
            };
            let (sa, sb) = (starts(&a), starts(&b));
            match pieces(&a, &b, off, len) {
                Err(_) => {
                    let cov = a.iter().sum::<u64>().min(b.iter().sum());
                    prop_assert!(off + len > cov);
                }
                Ok(it) => {
                    let mut pos = off;
                    for p in it {
                        prop_assert_eq!(p.at, pos);
                        prop_assert!(p.len > 0);
                        prop_assert_eq!(sa[p.a.0] + p.a.1, p.at);
                        prop_assert_eq!(sb[p.b.0] + p.b.1, p.at);
                        prop_assert!(p.a.1 + p.len <= a[p.a.0]);
                        prop_assert!(p.b.1 + p.len <= b[p.b.0]);
                        pos += p.len;
                    }
                    prop_assert_eq!(pos, off + len);
                }
            }
        }

        /// Entries cover the runs exactly, in order, within the limits.
        #[test]
        fn entries_cover_runs(runs in proptest::collection::vec((0u64..1 << 40, 0u64..1 << 20), 0..10),
                              max_seg in 1u32..1 << 18, bshift in 12u32..40) {
            let mask = (1u64 << bshift) - 1;
            let mut it = entries(&runs, max_seg, mask);
            for &(phys, len) in &runs {
                let mut done = 0;
                while done < len {
                    let (p, l) = it.next().unwrap();
                    prop_assert_eq!(p, phys + done);
                    prop_assert!(l > 0 && l <= max_seg);
                    prop_assert_eq!(p & !mask, (p + u64::from(l) - 1) & !mask);
                    done += u64::from(l);
                }
                prop_assert_eq!(done, len);
            }
            prop_assert!(it.next().is_none());
        }
    }
}
