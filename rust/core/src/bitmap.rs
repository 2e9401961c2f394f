//! Word bitmaps over caller-provided `[u64]` storage, and a hierarchical
//! summary index ([`Hier`]) that finds a clear bit without a linear scan.
//!
//! Bit `i` lives in word `i / 64` at position `i % 64`. Every function takes
//! bit indices that may come from input: an index outside the storage is
//! never a panic; setters report it with `false`, finders treat missing words
//! as the end of the bitmap.

/// Bits per bitmap word.
pub const WORD_BITS: usize = 64;

/// Deepest hierarchy [`Hier`] supports (2^(6*6) bits, far above any use).
pub const MAX_LEVELS: usize = 6;

/// Mask of the `k` lowest bits (`k >= 64` gives all ones).
#[inline]
pub fn low_mask(k: usize) -> u64 {
    if k >= WORD_BITS {
        !0
    } else {
        (1u64 << k) - 1
    }
}

/// Mask of bits `[lo, hi)` of one word (empty when `lo >= hi`; bounds past
/// 64 count as 64).
#[inline]
pub fn range_mask(lo: usize, hi: usize) -> u64 {
    low_mask(hi) & !low_mask(lo)
}

/// Mask of the bit positions of one word that are multiples of the power of
/// two `align` (`align >= 64` gives bit 0 only; `align <= 1` all bits).
#[inline]
pub fn align_pattern(align: usize) -> u64 {
    match align {
        0 | 1 => !0,
        2 => 0x5555_5555_5555_5555,
        4 => 0x1111_1111_1111_1111,
        8 => 0x0101_0101_0101_0101,
        16 => 0x0001_0001_0001_0001,
        32 => 0x0000_0001_0000_0001,
        _ => 1,
    }
}

/// Bit `i` of the result is set when bits `[i, i+n)` of `free` are all set
/// (runs that would leave the word do not count); `n` is 1 to 64 (0 counts
/// as 1, more than 64 as 64).
#[inline]
pub fn run_starts(free: u64, n: usize) -> u64 {
    let n = n.clamp(1, WORD_BITS);
    let mut x = free;
    let mut have = 1;
    // Invariant: bit i of x is the AND of bits [i, i+have) of `free`.
    while have < n && x != 0 {
        let s = core::cmp::min(have, n - have);
        x &= x >> s;
        have += s;
    }
    x
}

/// Sets bit `i`; `false` (touching nothing) if it is outside the storage.
#[inline]
pub fn set_bit(words: &mut [u64], i: usize) -> bool {
    match words.get_mut(i / WORD_BITS) {
        Some(w) => {
            *w |= 1u64 << (i % WORD_BITS);
            true
        }
        None => false,
    }
}

/// Clears bit `i`; `false` (touching nothing) if it is outside the storage.
#[inline]
pub fn clear_bit(words: &mut [u64], i: usize) -> bool {
    match words.get_mut(i / WORD_BITS) {
        Some(w) => {
            *w &= !(1u64 << (i % WORD_BITS));
            true
        }
        None => false,
    }
}

/// Number of words needed for `bits` bits.
#[inline]
pub const fn words_for(bits: usize) -> usize {
    bits.div_ceil(WORD_BITS)
}

/// Whether bit `i` is set; a bit outside the storage reads as set (unusable).
#[inline]
pub fn test(words: &[u64], i: usize) -> bool {
    match words.get(i / WORD_BITS) {
        Some(w) => w & (1u64 << (i % WORD_BITS)) != 0,
        None => true,
    }
}

/// Applies `f(word_index, mask)` to each word covering bits `[start, start+len)`.
/// Returns `false` (touching nothing) if the range leaves the storage.
fn for_each_word(
    words: &mut [u64],
    start: usize,
    len: usize,
    mut f: impl FnMut(&mut u64, u64),
) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    if end > words.len().saturating_mul(WORD_BITS) {
        return false;
    }
    let mut i = start;
    while i < end {
        let w = i / WORD_BITS;
        let lo = i % WORD_BITS;
        let hi = core::cmp::min(WORD_BITS, lo + (end - i));
        if let Some(word) = words.get_mut(w) {
            f(word, range_mask(lo, hi));
        }
        i += hi - lo;
    }
    true
}

/// Sets bits `[start, start+len)`. Returns `false` if out of range.
pub fn set_range(words: &mut [u64], start: usize, len: usize) -> bool {
    for_each_word(words, start, len, |w, m| *w |= m)
}

/// Clears bits `[start, start+len)`. Returns `false` if out of range.
pub fn clear_range(words: &mut [u64], start: usize, len: usize) -> bool {
    for_each_word(words, start, len, |w, m| *w &= !m)
}

/// First set bit in `[from, end)`, if any (bits past the storage are ignored).
pub fn find_next_one(words: &[u64], from: usize, end: usize) -> Option<usize> {
    find_next(words, from, end, false)
}

/// First clear bit in `[from, end)`, if any (bits past the storage are ignored).
pub fn find_next_zero(words: &[u64], from: usize, end: usize) -> Option<usize> {
    find_next(words, from, end, true)
}

fn find_next(words: &[u64], from: usize, end: usize, invert: bool) -> Option<usize> {
    let end = core::cmp::min(end, words.len().saturating_mul(WORD_BITS));
    let mut i = from;
    while i < end {
        let w = i / WORD_BITS;
        let raw = *words.get(w)?;
        let word = if invert { !raw } else { raw } & !low_mask(i % WORD_BITS);
        if word != 0 {
            let bit = w * WORD_BITS + word.trailing_zeros() as usize;
            return if bit < end { Some(bit) } else { None };
        }
        i = (w + 1) * WORD_BITS;
    }
    None
}

/// Number of set bits in `[start, end)` (bits past the storage are ignored).
pub fn count_ones(words: &[u64], start: usize, end: usize) -> usize {
    let end = core::cmp::min(end, words.len().saturating_mul(WORD_BITS));
    let mut n = 0;
    let mut i = start;
    while i < end {
        let w = i / WORD_BITS;
        let lo = i % WORD_BITS;
        let hi = core::cmp::min(WORD_BITS, lo + (end - i));
        if let Some(word) = words.get(w) {
            n += (word & range_mask(lo, hi)).count_ones() as usize;
        }
        i += hi - lo;
    }
    n
}

/// Length of the longest run of clear bits in `[start, end)`.
pub fn longest_zero_run(words: &[u64], start: usize, end: usize) -> usize {
    let end = core::cmp::min(end, words.len().saturating_mul(WORD_BITS));
    let mut best = 0;
    let mut i = start;
    while let Some(z) = find_next_zero(words, i, end) {
        let stop = find_next_one(words, z, end).unwrap_or(end);
        best = core::cmp::max(best, stop - z);
        i = stop;
    }
    best
}

/// Rounds `x` up to a multiple of the power of two `align` (saturating).
#[inline]
pub fn align_up(x: usize, align: usize) -> usize {
    let m = align.saturating_sub(1);
    x.saturating_add(m) & !m
}

/// First-fit search for `n` clear bits starting at a multiple of the power of
/// two `align`, inside `[start, end)` (the `bitmap_find_next_zero_area` idea).
pub fn find_zero_area(
    words: &[u64],
    start: usize,
    end: usize,
    n: usize,
    align: usize,
) -> Option<usize> {
    find_zero_area_off(words, start, end, n, align, 0)
}

/// As [`find_zero_area`], for a bitmap whose bit 0 stands for position
/// `align_offset` of a larger space: the run starts at a bit `p` where
/// `p + align_offset` is a multiple of `align` (the
/// `bitmap_find_next_zero_area_off` idea).
pub fn find_zero_area_off(
    words: &[u64],
    start: usize,
    end: usize,
    n: usize,
    align: usize,
    align_offset: usize,
) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let off = align_offset & align.saturating_sub(1);
    // The first candidate at or after `x`: `align_up(x + off) - off >= x`.
    let up = |x: usize| align_up(x.checked_add(off)?, align).checked_sub(off);
    let mut pos = up(start)?;
    loop {
        let z = find_next_zero(words, pos, end)?;
        pos = up(z)?;
        let stop = pos.checked_add(n)?;
        if stop > end {
            return None;
        }
        match find_next_one(words, pos, stop) {
            None => return Some(pos),
            Some(one) => pos = up(one.checked_add(1)?)?,
        }
    }
}

/// Layout of a hierarchical bitmap: level 0 holds the bits themselves, and
/// bit `j` of level `k + 1` is set when word `j` of level `k` is all ones.
/// Finding a clear bit therefore walks up and down at most `depth` words per
/// level instead of scanning.
///
/// The levels are stored back to back in one `[u64]` buffer of
/// [`Hier::words`] words; [`Hier::init`] prepares it (bits past `bits`, at
/// every level, are kept set so that they are never found).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hier {
    /// `(offset, words)` of each level inside the buffer.
    levels: [(usize, usize); MAX_LEVELS],
    depth: usize,
    bits: usize,
}

impl Hier {
    /// Layout for `bits` bits (`bits >= 1`, at most 2^36); `None` otherwise.
    pub const fn new(bits: usize) -> Option<Self> {
        if bits == 0 || bits > (1usize << 36) {
            return None;
        }
        let mut levels = [(0usize, 0usize); MAX_LEVELS];
        let mut depth = 0;
        let mut n = bits;
        let mut off = 0;
        loop {
            let words = words_for(n);
            levels[depth] = (off, words);
            off += words;
            depth += 1;
            if words == 1 || depth == MAX_LEVELS {
                break;
            }
            n = words;
        }
        Some(Hier {
            levels,
            depth,
            bits,
        })
    }

    /// Number of bits indexed.
    pub const fn bits(&self) -> usize {
        self.bits
    }

    /// Total words the buffer must hold (all levels).
    pub const fn words(&self) -> usize {
        let (off, n) = self.levels[self.depth - 1];
        off + n
    }

    /// Words of level 0 (the bits themselves).
    pub const fn level0_words(&self) -> usize {
        self.levels[0].1
    }

    /// Clears the buffer to "all bits clear" and sets the padding bits.
    /// Returns `false` if `buf` is shorter than [`Hier::words`].
    pub fn init(&self, buf: &mut [u64]) -> bool {
        let Some(buf) = buf.get_mut(..self.words()) else {
            return false;
        };
        buf.fill(0);
        let mut n = self.bits;
        for l in 0..self.depth {
            let (off, words) = self.levels[l];
            let tail = n % WORD_BITS;
            if tail != 0 {
                if let Some(w) = buf.get_mut(off + words - 1) {
                    *w |= !low_mask(tail);
                }
            }
            n = words;
        }
        true
    }

    /// The level-0 words of `buf`.
    pub fn level0<'a>(&self, buf: &'a [u64]) -> &'a [u64] {
        buf.get(..self.levels[0].1).unwrap_or(&[])
    }

    /// Whether every bit is set (the top word is all ones).
    pub fn is_full(&self, buf: &[u64]) -> bool {
        let (off, _) = self.levels[self.depth - 1];
        buf.get(off).is_some_and(|w| *w == !0)
    }

    /// First clear bit at or after `from`, or `None`.
    pub fn find_zero(&self, buf: &[u64], from: usize) -> Option<usize> {
        if from >= self.bits {
            return None;
        }
        let mut level = 0;
        let mut idx = from;
        loop {
            let (off, words) = self.levels[level];
            let w = idx / WORD_BITS;
            if w >= words {
                return None;
            }
            let word = *buf.get(off + w)? | low_mask(idx % WORD_BITS);
            if word != !0 {
                let mut j = w * WORD_BITS + (!word).trailing_zeros() as usize;
                while level > 0 {
                    level -= 1;
                    let (off, _) = self.levels[level];
                    let word = *buf.get(off + j)?;
                    if word == !0 {
                        debug_assert!(false, "hier summary out of sync");
                        return None;
                    }
                    j = j * WORD_BITS + (!word).trailing_zeros() as usize;
                }
                return if j < self.bits { Some(j) } else { None };
            }
            if level + 1 == self.depth {
                return None;
            }
            idx = w + 1;
            level += 1;
        }
    }

    /// Sets bits `[start, start+len)` and updates the summaries.
    /// Returns `false` (touching nothing) if the range is out of bounds.
    pub fn set_range(&self, buf: &mut [u64], start: usize, len: usize) -> bool {
        self.apply(buf, start, len, true)
    }

    /// Clears bits `[start, start+len)` and updates the summaries.
    /// Returns `false` (touching nothing) if the range is out of bounds.
    pub fn clear_range(&self, buf: &mut [u64], start: usize, len: usize) -> bool {
        self.apply(buf, start, len, false)
    }

    /// Sets or clears level-0 bits word by word; a summary changes only when
    /// a word's full state does, and the changes to one summary word are
    /// applied together (level 0 starts the buffer).
    fn apply(&self, buf: &mut [u64], start: usize, len: usize, set: bool) -> bool {
        let end = match start.checked_add(len) {
            Some(end) if end <= self.bits && buf.len() >= self.words() => end,
            _ => return false,
        };
        // Pending bits of summary word `pend_w` (level 1).
        let mut pend_w = 0;
        let mut pend = 0u64;
        let mut i = start;
        while i < end {
            let w = i / WORD_BITS;
            let lo = i % WORD_BITS;
            let hi = core::cmp::min(WORD_BITS, lo + (end - i));
            i += hi - lo;
            let Some(word) = buf.get_mut(w) else {
                break;
            };
            let old = *word;
            let m = range_mask(lo, hi);
            let changed = if set {
                *word = old | m;
                old != !0 && *word == !0
            } else {
                *word = old & !m;
                old == !0 && *word != !0
            };
            if changed {
                if pend != 0 && pend_w != w / WORD_BITS {
                    self.summary_apply(buf, 1, pend_w, pend, set);
                    pend = 0;
                }
                pend_w = w / WORD_BITS;
                pend |= 1u64 << (w % WORD_BITS);
            }
        }
        if pend != 0 {
            self.summary_apply(buf, 1, pend_w, pend, set);
        }
        true
    }

    /// Sets (or clears) `mask` in word `w` of level `level`, whose bits
    /// changed full state in the level below, and carries the change up
    /// while a summary word's own full state changes.
    fn summary_apply(&self, buf: &mut [u64], level: usize, w: usize, mask: u64, set: bool) {
        let (mut w, mut mask) = (w, mask);
        for &(off, _) in self.levels.get(level..self.depth).unwrap_or(&[]) {
            let Some(s) = buf.get_mut(off + w) else {
                return;
            };
            let old = *s;
            if set {
                *s = old | mask;
                if old == !0 || *s != !0 {
                    return;
                }
            } else {
                *s = old & !mask;
                if old != !0 || *s == !0 {
                    return;
                }
            }
            mask = 1u64 << (w % WORD_BITS);
            w /= WORD_BITS;
        }
    }

    /// Word `w` of level 0 became full (the caller set its bits directly):
    /// sets its summary bit, and further up while summary words become full.
    pub fn summary_set(&self, buf: &mut [u64], w: usize) {
        self.summary_apply(buf, 1, w / WORD_BITS, 1u64 << (w % WORD_BITS), true);
    }

    /// Word `w` of level 0 stopped being full (the caller cleared bits of it
    /// directly): clears its summary bit, and further up while summary words
    /// stop being full.
    pub fn summary_clear(&self, buf: &mut [u64], w: usize) {
        self.summary_apply(buf, 1, w / WORD_BITS, 1u64 << (w % WORD_BITS), false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn masks() {
        assert_eq!(low_mask(0), 0);
        assert_eq!(low_mask(3), 7);
        assert_eq!(low_mask(64), !0);
        assert_eq!(range_mask(2, 4), 0b1100);
    }

    #[test]
    fn flat_ops() {
        let mut w = vec![0u64; 4];
        assert!(set_range(&mut w, 60, 10));
        assert_eq!(find_next_one(&w, 0, 256), Some(60));
        assert_eq!(find_next_zero(&w, 60, 256), Some(70));
        assert_eq!(count_ones(&w, 0, 256), 10);
        assert!(!set_range(&mut w, 250, 10));
        assert_eq!(find_zero_area(&w, 0, 256, 64, 64), Some(128));
        assert_eq!(find_zero_area(&w, 0, 256, 60, 4), Some(0));
        assert_eq!(find_zero_area(&w, 1, 256, 60, 4), Some(72));
        // Bit 0 stands for position 3 of the larger space: 4-aligned runs
        // start at bits 1, 5, 9, ...
        assert_eq!(find_zero_area_off(&w, 0, 256, 8, 4, 3), Some(1));
        assert_eq!(find_zero_area_off(&w, 0, 256, 60, 4, 3), Some(73));
        assert_eq!(find_zero_area_off(&w, 0, 256, 64, 64, 3), Some(125));
        assert_eq!(find_zero_area_off(&w, 0, 256, 192, 64, 3), None);
        assert_eq!(find_zero_area_off(&w, 0, 256, 1, 1, 3), Some(0));
        assert_eq!(longest_zero_run(&w, 0, 256), 186);
        assert!(clear_range(&mut w, 60, 10));
        assert_eq!(count_ones(&w, 0, 256), 0);
    }

    #[test]
    fn word_helpers() {
        assert_eq!(range_mask(3, 3), 0);
        assert_eq!(range_mask(0, 64), !0);
        assert_eq!(align_pattern(1), !0);
        assert_eq!(align_pattern(4) & 0xff, 0x11);
        assert_eq!(align_pattern(64), 1);
        assert_eq!(align_pattern(128), 1);
        for n in 0..=70usize {
            for free in [
                0u64,
                !0,
                0xf0f0,
                0x00ff_ff00_0000_ffff,
                1 << 63,
                0x7fff_ffff_ffff_fffe,
            ] {
                let want = (0..64).fold(0u64, |acc, i| {
                    let k = n.clamp(1, 64);
                    if i + k <= 64 && (i..i + k).all(|j| free >> j & 1 == 1) {
                        acc | 1 << i
                    } else {
                        acc
                    }
                });
                assert_eq!(run_starts(free, n), want, "free {free:#x} n {n}");
            }
        }
        let mut w = vec![0u64; 2];
        assert!(set_bit(&mut w, 70));
        assert!(test(&w, 70));
        assert!(clear_bit(&mut w, 70));
        assert!(!test(&w, 70));
        assert!(!set_bit(&mut w, 128));
        assert!(!clear_bit(&mut w, 128));
    }

    #[test]
    fn hier_direct_word_updates() {
        // 64 * 64 * 2 bits: three levels.
        let h = Hier::new(8192).unwrap();
        let mut b = vec![0u64; h.words()];
        assert!(h.init(&mut b));
        for w in 0..128 {
            b[w] = !0;
            h.summary_set(&mut b, w);
        }
        assert!(h.is_full(&b));
        assert_eq!(h.find_zero(&b, 0), None);
        b[100] &= !(1 << 5);
        h.summary_clear(&mut b, 100);
        assert!(!h.is_full(&b));
        assert_eq!(h.find_zero(&b, 0), Some(100 * 64 + 5));
        // Range updates spanning summary words keep the levels in sync.
        assert!(h.clear_range(&mut b, 60 * 64, 10 * 64));
        assert_eq!(h.find_zero(&b, 0), Some(60 * 64));
        assert!(h.set_range(&mut b, 60 * 64, 10 * 64));
        assert_eq!(h.find_zero(&b, 0), Some(100 * 64 + 5));
    }

    #[test]
    fn hier_small_and_padding() {
        let h = Hier::new(5).unwrap();
        let mut b = vec![0u64; h.words()];
        assert!(h.init(&mut b));
        assert!(h.set_range(&mut b, 0, 5));
        assert!(h.is_full(&b));
        assert_eq!(h.find_zero(&b, 0), None);
        assert!(h.clear_range(&mut b, 3, 1));
        assert_eq!(h.find_zero(&b, 0), Some(3));
        assert_eq!(h.find_zero(&b, 4), None);
    }

    /// A bitmap of `bits` bits with the runs `(start, len)` that fit set,
    /// and its model.
    fn with_runs(bits: usize, runs: &[(usize, usize)]) -> (Vec<u64>, Vec<bool>) {
        let mut w = vec![0u64; words_for(bits)];
        let mut model = vec![false; bits];
        for &(s, l) in runs {
            if s + l <= bits {
                set_range(&mut w, s, l);
                for m in &mut model[s..s + l] {
                    *m = true;
                }
            }
        }
        (w, model)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn hier_matches_model(bits in 1usize..20000,
                              ops in proptest::collection::vec((any::<bool>(), 0usize..20000, 0usize..300), 1..60),
                              probes in proptest::collection::vec(0usize..20000, 1..20)) {
            let h = Hier::new(bits).unwrap();
            let mut b = vec![0u64; h.words()];
            h.init(&mut b);
            let mut model = vec![false; bits];
            for (set, s, l) in ops {
                let ok = if set { h.set_range(&mut b, s, l) } else { h.clear_range(&mut b, s, l) };
                prop_assert_eq!(ok, s + l <= bits);
                if ok {
                    for m in &mut model[s..s + l] { *m = set; }
                }
                for &p in &probes {
                    let want = (p..bits).find(|&i| !model[i]);
                    prop_assert_eq!(h.find_zero(&b, p), want);
                }
                prop_assert_eq!(h.is_full(&b), model.iter().all(|&x| x));
            }
            let l0: Vec<u64> = h.level0(&b).to_vec();
            prop_assert_eq!(count_ones(&l0, 0, bits), model.iter().filter(|&&x| x).count());
        }

        #[test]
        fn zero_area_matches_model(bits in 1usize..1000,
                                   sets in proptest::collection::vec((0usize..1000, 1usize..40), 0..30),
                                   n in 1usize..100, align_order in 0u32..7, start in 0usize..1000) {
            let (w, model) = with_runs(bits, &sets);
            let align = 1usize << align_order;
            let want = (start..bits).filter(|p| p % align == 0)
                .find(|&p| p + n <= bits && model[p..p + n].iter().all(|&x| !x));
            prop_assert_eq!(find_zero_area(&w, start, bits, n, align), want);
        }

        #[test]
        fn zero_area_off_matches_model(bits in 1usize..1000,
                                       sets in proptest::collection::vec((0usize..1000, 1usize..40), 0..30),
                                       n in 1usize..100, align_order in 0u32..7, start in 0usize..1000,
                                       offset in 0usize..200) {
            let (w, model) = with_runs(bits, &sets);
            let align = 1usize << align_order;
            let want = (start..bits).filter(|p| (p + offset) % align == 0)
                .find(|&p| p + n <= bits && model[p..p + n].iter().all(|&x| !x));
            prop_assert_eq!(find_zero_area_off(&w, start, bits, n, align, offset), want);
        }
    }
}
