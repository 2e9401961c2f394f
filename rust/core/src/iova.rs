//! IOVA space allocator: a bitmap of granules, grown in chunks on demand.
//!
//! The IO virtual address space (2^20 to 2^48 bytes, granule 4, 16 or
//! 64 KiB) is split into equal chunks. Each chunk's bitmap is allocated by the
//! caller only when an allocation or a partial reservation first lands in it
//! (the ARM "extensions" idea, without the 4 GiB limit and with allocations
//! free to span chunks). An absent chunk is wholly free, or wholly reserved.
//!
//! Searches are first fit from the lowest address, so a fit below 4 GiB is
//! always taken before one above it (the "32-bit addresses first" rule of
//! iommu-dma comes for free), under the caller's DMA limit, size-aligned up
//! to a configurable order. They do not scan linearly: a per-chunk
//! hierarchical summary ([`super::bitmap::Hier`]) skips full words, a chunk
//! bitmap skips full chunks, requests that fit in one word test a whole word
//! at once, and lower-bound hints per alignment order and size bucket skip
//! the prefix known to hold no fit (a free lowers a hint only to a fit it
//! created).
//!
//! # Growth protocol
//!
//! [`IovaAllocator::alloc`] and [`IovaAllocator::reserve`] never allocate.
//! When the range they chose lies in an absent chunk they return
//! [`IovaError::NeedChunk`] without changing anything; the caller drops its
//! lock, allocates [`IovaConfig::chunk_words`] words, retakes the lock, calls
//! [`IovaAllocator::install_chunk`] and retries. A chunk another CPU
//! installed meanwhile comes back to be freed.
//!
//! # Per-CPU caches
//!
//! [`CpuCache`] holds freed ranges of 1 to 128 granules in two magazines per
//! size, as iova.c's per-CPU rcaches do for 1 to 32. Cached ranges stay
//! allocated in the bitmap until they are given back to it (a full size's
//! older magazine, [`CpuCache::spill`]; every size, [`CpuCache::flush_into`]).
//!
//! [`IovaSpace`] composes the allocator, one cache per CPU and the growth
//! loop under the caller's locks; it is what the kernel module and the
//! benchmark use.

use super::bitmap::{self, Hier, WORD_BITS};
use core::fmt;
use core::marker::PhantomData;

pub mod space;

pub use space::{GrowContext, IovaSpace, Lock, SpaceEnv, SpaceError, GROW_ATTEMPTS};

/// Most chunks an address space is split into (size of the chunk table).
pub const MAX_CHUNKS: usize = 4096;
/// Largest supported size-alignment order (in granules).
pub const MAX_ALIGN_ORDER: u32 = 24;
/// Smallest IO address space, in address bits.
pub const MIN_SPACE_BITS: u32 = 20;
/// Largest IO address space, in address bits.
pub const MAX_SPACE_BITS: u32 = 48;
/// Largest chunk, as log2 of its granule count.
pub const MAX_CHUNK_SHIFT: u32 = 24;

const HINTS: usize = MAX_ALIGN_ORDER as usize + 1;
/// Size buckets per alignment order that keep their own search hint.
const BUCKETS: usize = 4;

/// Smallest size of bucket `b` of order `o`: the sizes `(2^(o-1), 2^o]`
/// that `2^o` aligns are split in [`BUCKETS`] ranges, the last one starting
/// (and ending) at `2^o` (orders 0 and 1 have one size).
#[inline]
fn bucket_size(o: usize, b: usize) -> u64 {
    if o == 0 {
        return 1;
    }
    let half = 1u64 << (o - 1);
    half + 1 + (b as u64 * (half - 1)) / (BUCKETS as u64 - 1)
}

/// The bucket of order `o` whose smallest size is the largest one at most
/// `n` (`n` in `(2^(o-1), 2^o]`).
#[inline]
fn bucket_of(o: usize, n: u64) -> usize {
    let mut b = BUCKETS - 1;
    while b > 0 && bucket_size(o, b) > n {
        b -= 1;
    }
    b
}

/// Errors of the IOVA allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IovaError {
    /// Chunk `index` must be installed ([`IovaAllocator::install_chunk`])
    /// before the operation can proceed; nothing was changed.
    NeedChunk {
        /// Index of the missing chunk.
        index: usize,
    },
    /// No free range of the requested size under the limit.
    NoSpace,
    /// A zero size, or a size larger than the space.
    InvalidSize,
    /// Unsupported configuration (granule, space size or chunk size).
    InvalidConfig,
    /// The chunk table has the wrong length.
    BadTable,
    /// The chunk buffer has the wrong length.
    BadChunk,
    /// The chunk index is out of range, or the chunk is present or reserved.
    ChunkNotNeeded,
    /// `claim` of a range some granule of which is allocated or reserved.
    InUse {
        /// First granule of the range that is not free.
        granule: u64,
    },
    /// `free` of a range that is not exactly one live allocation.
    NotAllocated {
        /// IO virtual address passed to `free`.
        iova: u64,
        /// Size in granules passed to `free`.
        granules: u64,
    },
}

impl fmt::Display for IovaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedChunk { index } => write!(f, "iova: chunk {index} needed"),
            Self::NoSpace => f.write_str("iova: no space under the limit"),
            Self::InvalidSize => f.write_str("iova: invalid size"),
            Self::InvalidConfig => f.write_str("iova: invalid configuration"),
            Self::BadTable => f.write_str("iova: chunk table has the wrong length"),
            Self::BadChunk => f.write_str("iova: chunk buffer has the wrong length"),
            Self::ChunkNotNeeded => f.write_str("iova: chunk not needed"),
            Self::InUse { granule } => write!(f, "iova: granule {granule:#x} is in use"),
            Self::NotAllocated { iova, granules } => {
                write!(
                    f,
                    "iova: free of {iova:#x}+{granules} granules, not allocated"
                )
            }
        }
    }
}

/// Geometry of an IO address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IovaConfig {
    granule_shift: u32,
    space_bits: u32,
    chunk_shift: u32,
    max_align_order: u32,
}

impl IovaConfig {
    /// A space of `2^space_bits` bytes in granules of `2^granule_shift` bytes.
    ///
    /// `granule_shift` is 12, 14 or 16; `space_bits` is 20 to 48. The chunk
    /// size is chosen so that the chunk table has at most [`MAX_CHUNKS`]
    /// entries and a chunk covers at least 2^15 granules (when the space is
    /// that large); allocations are size-aligned up to [`MAX_ALIGN_ORDER`].
    pub const fn new(granule_shift: u32, space_bits: u32) -> Result<Self, IovaError> {
        if !matches!(granule_shift, 12 | 14 | 16)
            || space_bits < MIN_SPACE_BITS
            || space_bits > MAX_SPACE_BITS
        {
            return Err(IovaError::InvalidConfig);
        }
        let gbits = space_bits - granule_shift;
        let mut cs = gbits.saturating_sub(12);
        if cs < 15 {
            cs = 15;
        }
        if cs > gbits {
            cs = gbits;
        }
        Ok(IovaConfig {
            granule_shift,
            space_bits,
            chunk_shift: cs,
            max_align_order: MAX_ALIGN_ORDER,
        })
    }

    /// Same space with chunks of `2^chunk_shift` granules (at most
    /// [`MAX_CHUNK_SHIFT`], at most the space, and at most [`MAX_CHUNKS`]
    /// chunks).
    pub const fn with_chunk_shift(mut self, chunk_shift: u32) -> Result<Self, IovaError> {
        let gbits = self.space_bits - self.granule_shift;
        if chunk_shift > gbits || chunk_shift > MAX_CHUNK_SHIFT || gbits - chunk_shift > 12 {
            return Err(IovaError::InvalidConfig);
        }
        self.chunk_shift = chunk_shift;
        Ok(self)
    }

    /// Same space with size alignment capped at `2^order` granules.
    pub const fn with_max_align_order(mut self, order: u32) -> Result<Self, IovaError> {
        if order > MAX_ALIGN_ORDER {
            return Err(IovaError::InvalidConfig);
        }
        self.max_align_order = order;
        Ok(self)
    }

    /// log2 of the granule size in bytes.
    pub const fn granule_shift(&self) -> u32 {
        self.granule_shift
    }

    /// log2 of the address space size in bytes.
    pub const fn space_bits(&self) -> u32 {
        self.space_bits
    }

    /// log2 of the granules per chunk.
    pub const fn chunk_shift(&self) -> u32 {
        self.chunk_shift
    }

    /// Largest size-alignment order.
    pub const fn max_align_order(&self) -> u32 {
        self.max_align_order
    }

    /// Granules in the whole space.
    pub const fn granules(&self) -> u64 {
        1u64 << (self.space_bits - self.granule_shift)
    }

    /// Granules per chunk.
    pub const fn chunk_granules(&self) -> u64 {
        1u64 << self.chunk_shift
    }

    /// Length of the chunk table the caller provides.
    pub const fn chunk_count(&self) -> usize {
        1usize << (self.space_bits - self.granule_shift - self.chunk_shift)
    }

    /// Words (u64) of one chunk buffer: summary-indexed bitmap, plus the
    /// start and end markers that let `free` validate its argument.
    pub const fn chunk_words(&self) -> usize {
        let bits = 1usize << self.chunk_shift;
        match Hier::new(bits) {
            Some(h) => h.words() + 2 * bitmap::words_for(bits),
            None => 0,
        }
    }
}

/// One entry of the chunk table: the chunk's bitmap if installed, and its
/// free granule count.
#[derive(Debug)]
pub struct Slot<C> {
    chunk: Option<C>,
    free: u64,
}

impl<C> Slot<C> {
    /// An empty slot (the allocator sets it up in [`IovaAllocator::new`]).
    pub const fn new() -> Self {
        Slot {
            chunk: None,
            free: 0,
        }
    }

    /// Whether the chunk's bitmap is installed.
    pub fn is_installed(&self) -> bool {
        self.chunk.is_some()
    }
}

impl<C> Default for Slot<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of an [`IovaAllocator`] (all in granules or events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IovaStats {
    /// Granules in the space.
    pub granules: u64,
    /// Granules held by live allocations (including per-CPU cached ones).
    pub used: u64,
    /// Granules reserved (never allocated).
    pub reserved: u64,
    /// Highest value `used` reached.
    pub high_water: u64,
    /// Allocations that failed with [`IovaError::NoSpace`].
    pub alloc_failures: u64,
    /// Successful allocations.
    pub allocs: u64,
    /// Successful frees.
    pub frees: u64,
    /// Frees rejected as not matching a live allocation.
    pub bad_frees: u64,
    /// Chunks installed.
    pub chunks: u64,
}

/// Bitmap IOVA allocator over caller-provided storage.
///
/// `T` is the chunk table ([`IovaConfig::chunk_count`] [`Slot`]s, allocated
/// once by the caller), `C` a chunk buffer of [`IovaConfig::chunk_words`]
/// words. One allocator is one lock domain.
///
/// # Invariants
///
/// For every installed chunk, its summary levels match its bitmap and its
/// `free` count equals its clear bits; an absent chunk has `free` equal to
/// the chunk size (all free) or zero (wholly reserved). Bit `c` of `full` is
/// set exactly when chunk `c` has no free granule. With `F(n, a)` the first
/// granule where a free, `a`-aligned run of `n` granules starts,
/// `hints[o][b]` is a lower bound on `F(bucket_size(o, b), 2^o)` (the last
/// bucket is `F(2^o, 2^o)`); bit `o` of `raised` is set when a hint of order
/// `o` may be non-zero.
pub struct IovaAllocator<C, T> {
    cfg: IovaConfig,
    hier: Hier,
    marks: usize,
    table: T,
    full: [u64; MAX_CHUNKS / WORD_BITS],
    hints: [[u64; BUCKETS]; HINTS],
    raised: u32,
    stats: IovaStats,
    _chunk: PhantomData<C>,
}

#[inline]
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

#[inline]
fn align_up(x: u64, align: u64) -> u64 {
    let m = align.saturating_sub(1);
    x.saturating_add(m) & !m
}

impl<C, T> IovaAllocator<C, T>
where
    C: AsRef<[u64]> + AsMut<[u64]>,
    T: AsRef<[Slot<C>]> + AsMut<[Slot<C>]>,
{
    /// An allocator for `cfg` using `table` ([`IovaConfig::chunk_count`]
    /// slots; any chunks in it are dropped). All space starts free.
    pub fn new(cfg: IovaConfig, mut table: T) -> Result<Self, IovaError> {
        let hier = Hier::new(1usize << cfg.chunk_shift).ok_or(IovaError::InvalidConfig)?;
        if table.as_ref().len() != cfg.chunk_count() {
            return Err(IovaError::BadTable);
        }
        for s in table.as_mut() {
            s.chunk = None;
            s.free = cfg.chunk_granules();
        }
        let mut full = [0u64; MAX_CHUNKS / WORD_BITS];
        bitmap::set_range(&mut full, cfg.chunk_count(), MAX_CHUNKS - cfg.chunk_count());
        Ok(IovaAllocator {
            cfg,
            hier,
            marks: bitmap::words_for(1usize << cfg.chunk_shift),
            table,
            full,
            hints: [[0; BUCKETS]; HINTS],
            raised: 0,
            stats: IovaStats {
                granules: cfg.granules(),
                ..IovaStats::default()
            },
            _chunk: PhantomData,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IovaConfig {
        &self.cfg
    }

    /// Current counters.
    pub fn stats(&self) -> IovaStats {
        self.stats
    }

    /// Free granules (space minus used and reserved).
    pub fn free_granules(&self) -> u64 {
        self.stats
            .granules
            .saturating_sub(self.stats.used)
            .saturating_sub(self.stats.reserved)
    }

    /// Installs `chunk` as chunk `index` after a [`IovaError::NeedChunk`].
    ///
    /// On error the chunk is handed back so that the caller can free it
    /// outside its lock (typically: another CPU installed it first).
    pub fn install_chunk(&mut self, index: usize, mut chunk: C) -> Result<(), (IovaError, C)> {
        let cg = self.cfg.chunk_granules();
        let Some(slot) = self.table.as_mut().get_mut(index) else {
            return Err((IovaError::ChunkNotNeeded, chunk));
        };
        if slot.chunk.is_some() || slot.free != cg {
            return Err((IovaError::ChunkNotNeeded, chunk));
        }
        let buf = chunk.as_mut();
        if buf.len() != self.cfg.chunk_words() || !self.hier.init(buf) {
            return Err((IovaError::BadChunk, chunk));
        }
        if let Some(marks) = buf.get_mut(self.hier.words()..) {
            marks.fill(0);
        }
        slot.chunk = Some(chunk);
        self.stats.chunks += 1;
        Ok(())
    }

    fn slots(&self) -> &[Slot<C>] {
        self.table.as_ref()
    }

    fn chunk_of(&self, g: u64) -> usize {
        (g >> self.cfg.chunk_shift) as usize
    }

    fn local(&self, g: u64) -> usize {
        (g & (self.cfg.chunk_granules() - 1)) as usize
    }

    fn chunk_base(&self, c: usize) -> u64 {
        (c as u64) << self.cfg.chunk_shift
    }

    /// Level-0 bits, start marks and end marks of an installed chunk.
    fn parts<'a>(&self, buf: &'a [u64]) -> (&'a [u64], &'a [u64], &'a [u64]) {
        let l0 = self.hier.level0(buf);
        let hw = self.hier.words();
        let starts = buf.get(hw..hw + self.marks).unwrap_or(&[]);
        let ends = buf.get(hw + self.marks..hw + 2 * self.marks).unwrap_or(&[]);
        (l0, starts, ends)
    }

    /// First free granule in `[from, end)`.
    fn find_zero(&self, from: u64, end: u64) -> Option<u64> {
        let mut p = from;
        let nchunks = self.cfg.chunk_count();
        while p < end {
            let c = self.chunk_of(p);
            let nc = bitmap::find_next_zero(&self.full, c, nchunks)?;
            if nc != c {
                p = self.chunk_base(nc);
                continue;
            }
            let slot = self.slots().get(c)?;
            match &slot.chunk {
                None => return Some(p),
                Some(buf) => {
                    if let Some(l) = self.hier.find_zero(buf.as_ref(), self.local(p)) {
                        let g = self.chunk_base(c) + l as u64;
                        return if g < end { Some(g) } else { None };
                    }
                    p = self.chunk_base(c + 1);
                }
            }
        }
        None
    }

    /// First used granule in `[a, b)`.
    fn find_one(&self, a: u64, b: u64) -> Option<u64> {
        let mut p = a;
        while p < b {
            let c = self.chunk_of(p);
            let base = self.chunk_base(c);
            let next = self.chunk_base(c + 1);
            let slot = self.slots().get(c)?;
            match &slot.chunk {
                None if slot.free == 0 => return Some(p),
                None => {}
                Some(buf) => {
                    let (l0, _, _) = self.parts(buf.as_ref());
                    let stop = (core::cmp::min(b, next) - base) as usize;
                    if let Some(l) = bitmap::find_next_one(l0, self.local(p), stop) {
                        return Some(base + l as u64);
                    }
                }
            }
            p = next;
        }
        None
    }

    /// First fit for `n` granules aligned to `align` in `[start, end)`, with
    /// the first `align`-aligned position at or after `start` where `m <= n`
    /// granules fit (at most the fit itself).
    ///
    /// When an aligned block of `align` granules lies in one bitmap word and
    /// one chunk (`n <= align <= 64`), each word visited is tested for all
    /// its candidates at once; otherwise candidates are tested one by one.
    fn search(&self, start: u64, end: u64, n: u64, align: u64, m: u64) -> Option<(u64, u64)> {
        let mut first_m: Option<u64> = None;
        let words_ok =
            n <= align && align <= WORD_BITS as u64 && align <= self.cfg.chunk_granules();
        let pat = bitmap::align_pattern(align as usize);
        let mut pos = align_up(start, align);
        loop {
            if pos.checked_add(n)? > end {
                return None;
            }
            if words_ok {
                let c = self.chunk_of(pos);
                let next = self.chunk_base(c + 1);
                let slot = self.slots().get(c)?;
                let fit = match &slot.chunk {
                    // A free absent chunk: the first aligned block fits.
                    None if slot.free != 0 => {
                        let p = align_up(pos, align);
                        pos = p;
                        (p < next).then_some(p)
                    }
                    None => None,
                    Some(buf) => {
                        // Walk this chunk's words until a fit or a full word
                        // (full stretches are skipped through the summary).
                        let l0 = self.hier.level0(buf.as_ref());
                        let base = self.chunk_base(c);
                        let l = self.local(pos);
                        let mut w = l / WORD_BITS;
                        let mut free =
                            l0.get(w).map_or(0, |x| !x) & !bitmap::low_mask(l % WORD_BITS);
                        let mut fit = None;
                        while free != 0 {
                            let wbase = base + (w * WORD_BITS) as u64;
                            if first_m.is_none() {
                                let fm = bitmap::run_starts(free, m as usize) & pat;
                                if fm != 0 {
                                    first_m = Some(wbase + u64::from(fm.trailing_zeros()));
                                }
                            }
                            let f = bitmap::run_starts(free, n as usize) & pat;
                            if f != 0 {
                                fit = Some(wbase + u64::from(f.trailing_zeros()));
                                break;
                            }
                            w += 1;
                            if wbase + WORD_BITS as u64 >= end {
                                break;
                            }
                            free = l0.get(w).map_or(0, |x| !x);
                        }
                        // (A chunk smaller than a word has one word.)
                        pos = core::cmp::max(
                            pos,
                            core::cmp::min(base + (w * WORD_BITS) as u64, next),
                        );
                        fit
                    }
                };
                match fit {
                    Some(p) => {
                        if p.checked_add(n)? > end {
                            return None;
                        }
                        return Some((p, first_m.unwrap_or(p)));
                    }
                    // Past used words, full chunks and reserved ones.
                    None if pos < next => pos = self.find_zero(pos, end)?,
                    None => {}
                }
            } else {
                let z = self.find_zero(pos, end)?;
                pos = align_up(z, align);
                let stop = pos.checked_add(n)?;
                if stop > end {
                    return None;
                }
                match self.find_one(pos, stop) {
                    None => return Some((pos, first_m.unwrap_or(pos))),
                    Some(one) => {
                        if first_m.is_none() && one - pos >= m {
                            first_m = Some(pos);
                        }
                        pos = align_up(one + 1, align);
                    }
                }
            }
        }
    }

    /// First absent chunk covering `[g, g+n)` that is not wholly reserved.
    fn missing_chunk(&self, g: u64, n: u64) -> Option<usize> {
        let first = self.chunk_of(g);
        let last = self.chunk_of(g + n - 1);
        (first..=last).find(|&c| self.slots().get(c).is_some_and(|s| s.chunk.is_none()))
    }

    /// Applies `f(chunk_index, slot, local_start, len)` to each chunk piece of
    /// `[g, g+n)`.
    fn for_pieces(
        &mut self,
        g: u64,
        n: u64,
        mut f: impl FnMut(&Hier, usize, &mut Slot<C>, usize, usize),
    ) {
        let cg = self.cfg.chunk_granules();
        let shift = self.cfg.chunk_shift;
        let hier = self.hier;
        let mut p = g;
        let end = g + n;
        while p < end {
            let c = (p >> shift) as usize;
            let next = ((c as u64) + 1) << shift;
            let stop = core::cmp::min(end, next);
            if let Some(slot) = self.table.as_mut().get_mut(c) {
                f(&hier, c, slot, (p & (cg - 1)) as usize, (stop - p) as usize);
            }
            p = stop;
        }
    }

    fn set_full_bit(&mut self, c: usize, full: bool) {
        if full {
            bitmap::set_range(&mut self.full, c, 1);
        } else {
            bitmap::clear_range(&mut self.full, c, 1);
        }
    }

    fn refresh_full(&mut self, g: u64, n: u64) {
        let first = self.chunk_of(g);
        let last = self.chunk_of(g + n - 1);
        for c in first..=last {
            let full = self.slots().get(c).is_some_and(|s| s.free == 0);
            self.set_full_bit(c, full);
        }
    }

    /// Allocates `granules` contiguous granules ending at or below the
    /// inclusive address `dma_limit` (a DMA mask), aligned to the size
    /// rounded up to a power of two (capped at the configured order).
    /// Returns the IO virtual address.
    ///
    /// Errors: [`IovaError::NeedChunk`] (install and retry),
    /// [`IovaError::NoSpace`], [`IovaError::InvalidSize`].
    pub fn alloc(&mut self, granules: u64, dma_limit: u64) -> Result<u64, IovaError> {
        let n = granules;
        if n == 0 || n > self.cfg.granules() {
            return Err(IovaError::InvalidSize);
        }
        let end = core::cmp::min(
            self.cfg.granules(),
            (dma_limit >> self.cfg.granule_shift).saturating_add(1),
        );
        let order = ceil_log2(n);
        let o = order as usize;
        let max = self.cfg.max_align_order as usize;
        // The size class of `2^order` alignment: (2^(order-1), 2^order],
        // split in buckets with a hint each.
        let last = BUCKETS - 1;
        let hint = |o: usize, b: usize| self.hints.get(o).and_then(|h| h.get(b)).copied();
        let (start, align, m, bucket) = if o > max {
            // Capped alignment: F(n, 2^max) >= F(2^max, 2^max).
            (hint(max, last).unwrap_or(0), 1u64 << max, n, last)
        } else {
            let b = bucket_of(o, n);
            let m = bucket_size(o, b);
            // F(m, 2^o) >= F(2^(o-1), 2^(o-1)) bounds it too.
            let below = o.checked_sub(1).and_then(|p| hint(p, last)).unwrap_or(0);
            let start = core::cmp::max(hint(o, b).unwrap_or(0), below);
            (start, 1u64 << order, m, b)
        };
        let Some((pos, first_m)) = self.search(start, end, n, align, m) else {
            self.stats.alloc_failures += 1;
            return Err(IovaError::NoSpace);
        };
        if let Some(index) = self.missing_chunk(pos, n) {
            return Err(IovaError::NeedChunk { index });
        }
        self.mark(pos, n, true);
        if o <= max {
            // The search started at or below F(m, 2^o), so `first_m` is it
            // (past `pos` if that was it: `pos` is used now). Larger sizes
            // fit no lower than `pos`, and not at `pos` any more.
            let past = pos + align;
            self.raised |= 1 << o;
            if let Some(h) = self.hints.get_mut(o) {
                for (b, v) in h.iter_mut().enumerate().skip(bucket) {
                    *v = if b == bucket && first_m != pos {
                        first_m
                    } else {
                        core::cmp::max(*v, past)
                    };
                }
            }
        }
        self.stats.used += n;
        self.stats.allocs += 1;
        self.stats.high_water = core::cmp::max(self.stats.high_water, self.stats.used);
        Ok(pos << self.cfg.granule_shift)
    }

    /// Sets (or clears) `[g, g+n)` in installed chunks, with the allocation
    /// markers (all chunks must be installed; `n >= 1`).
    fn mark(&mut self, g: u64, n: u64, alloc: bool) {
        let last = g + n - 1;
        let shift = self.cfg.chunk_shift;
        let cg = self.cfg.chunk_granules();
        let hw = self.hier.words();
        let marks = self.marks;
        let (cfirst, clast) = ((g >> shift) as usize, (last >> shift) as usize);
        for c in cfirst..=clast {
            let base = (c as u64) << shift;
            let lo = if c == cfirst { (g - base) as usize } else { 0 };
            let hi = if c == clast {
                (last - base) as usize
            } else {
                (cg - 1) as usize
            };
            let Some(slot) = self.table.as_mut().get_mut(c) else {
                continue;
            };
            let Some(buf) = slot.chunk.as_mut() else {
                debug_assert!(false, "mark on absent chunk");
                continue;
            };
            let buf = buf.as_mut();
            let len = hi + 1 - lo;
            let was_full = slot.free == 0;
            let w = lo / WORD_BITS;
            if w == hi / WORD_BITS {
                // One word: the summary changes only if its full state does.
                let m = bitmap::range_mask(lo % WORD_BITS, hi % WORD_BITS + 1);
                if let Some(word) = buf.get_mut(w) {
                    let old = *word;
                    if alloc {
                        *word = old | m;
                        if old != !0 && *word == !0 {
                            self.hier.summary_set(buf, w);
                        }
                    } else {
                        *word = old & !m;
                        if old == !0 && *word != !0 {
                            self.hier.summary_clear(buf, w);
                        }
                    }
                }
            } else if alloc {
                self.hier.set_range(buf, lo, len);
            } else {
                self.hier.clear_range(buf, lo, len);
            }
            slot.free = if alloc {
                slot.free.saturating_sub(len as u64)
            } else {
                core::cmp::min(cg, slot.free + len as u64)
            };
            let op: fn(&mut [u64], usize) -> bool = if alloc {
                bitmap::set_bit
            } else {
                bitmap::clear_bit
            };
            if c == cfirst {
                if let Some(starts) = buf.get_mut(hw..hw + marks) {
                    op(starts, lo);
                }
            }
            if c == clast {
                if let Some(ends) = buf.get_mut(hw + marks..hw + 2 * marks) {
                    op(ends, hi);
                }
            }
            let now_full = slot.free == 0;
            if now_full != was_full {
                self.set_full_bit(c, now_full);
            }
        }
    }

    /// Whether `[g, g+n)` is exactly one live allocation (`n >= 1`, inside
    /// the space): every granule used, the start mark at `g` and nowhere
    /// else in the range, the end mark at `g+n-1` and nowhere else.
    fn is_allocation(&self, g: u64, n: u64) -> bool {
        let last = g + n - 1;
        let (cfirst, clast) = (self.chunk_of(g), self.chunk_of(last));
        let (hw, marks) = (self.hier.words(), self.marks);
        let cg = self.cfg.chunk_granules();
        let (lo, hi) = (self.local(g), self.local(last));
        if cfirst == clast && lo / WORD_BITS == hi / WORD_BITS {
            // The common case: one word.
            let Some(buf) = self.slots().get(cfirst).and_then(|s| s.chunk.as_ref()) else {
                return false;
            };
            let buf = buf.as_ref();
            let w = lo / WORD_BITS;
            let m = bitmap::range_mask(lo % WORD_BITS, hi % WORD_BITS + 1);
            return match (buf.get(w), buf.get(hw + w), buf.get(hw + marks + w)) {
                (Some(used), Some(starts), Some(ends)) => {
                    used & m == m
                        && starts & m == 1u64 << (lo % WORD_BITS)
                        && ends & m == 1u64 << (hi % WORD_BITS)
                }
                _ => false,
            };
        }
        for c in cfirst..=clast {
            let Some(buf) = self.slots().get(c).and_then(|s| s.chunk.as_ref()) else {
                return false;
            };
            let buf = buf.as_ref();
            let lo = if c == cfirst { self.local(g) } else { 0 };
            let hi = if c == clast {
                self.local(last)
            } else {
                (cg - 1) as usize
            };
            for w in lo / WORD_BITS..=hi / WORD_BITS {
                let wlo = if w == lo / WORD_BITS {
                    lo % WORD_BITS
                } else {
                    0
                };
                let whi = if w == hi / WORD_BITS {
                    hi % WORD_BITS
                } else {
                    WORD_BITS - 1
                };
                let m = bitmap::range_mask(wlo, whi + 1);
                let start = if c == cfirst && w == lo / WORD_BITS {
                    1u64 << wlo
                } else {
                    0
                };
                let end = if c == clast && w == hi / WORD_BITS {
                    1u64 << whi
                } else {
                    0
                };
                let (Some(used), Some(starts), Some(ends)) =
                    (buf.get(w), buf.get(hw + w), buf.get(hw + marks + w))
                else {
                    return false;
                };
                if used & m != m || starts & m != start || ends & m != end {
                    return false;
                }
            }
        }
        true
    }

    /// After `[g, g+len)` was freed: lowers a hint only to a fit the free
    /// created. A new fit of `s <= 2^o` granules, `2^o`-aligned, holds a
    /// freed granule, so it starts in `[g rounded down to 2^o, g+len)`; the
    /// free run at each candidate there (at most two before one lies wholly
    /// in the freed range) is measured once and serves every bucket of the
    /// order whose hint is above it. Only orders whose hints were raised
    /// can need it.
    fn lower_hints(&mut self, g: u64, len: u64) {
        let stop = g.saturating_add(len);
        let mut raised = self.raised;
        while raised != 0 {
            let o = raised.trailing_zeros() as usize;
            raised &= raised - 1;
            let Some(&h) = self.hints.get(o) else {
                continue;
            };
            let align = 1u64 << o;
            let mut new = h;
            let mut p = g & !(align - 1);
            while p < stop && new.iter().any(|&v| v > p) {
                let run = self.free_run(p, align);
                for (b, v) in new.iter_mut().enumerate() {
                    if *v > p && run >= bucket_size(o, b) {
                        *v = p;
                    }
                }
                p += align;
            }
            if let Some(hv) = self.hints.get_mut(o) {
                *hv = new;
            }
            if new.iter().all(|&v| v == 0) {
                self.raised &= !(1 << o);
            }
        }
    }

    /// Length of the free run starting at `p`, up to `cap` granules.
    fn free_run(&self, p: u64, cap: u64) -> u64 {
        let stop = core::cmp::min(p.saturating_add(cap), self.cfg.granules());
        if p >= stop {
            return 0;
        }
        let (c, l) = (self.chunk_of(p), self.local(p));
        let lw = l % WORD_BITS;
        if (lw as u64) + cap <= WORD_BITS as u64 && (l as u64) + cap <= self.cfg.chunk_granules() {
            // One word of one chunk (a chunk smaller than a word is one
            // word, its padding bits set).
            if let Some(buf) = self.slots().get(c).and_then(|s| s.chunk.as_ref()) {
                return match self.hier.level0(buf.as_ref()).get(l / WORD_BITS) {
                    Some(w) => core::cmp::min(cap, u64::from((w >> lw).trailing_zeros())),
                    None => 0,
                };
            }
        }
        self.find_one(p, stop).unwrap_or(stop) - p
    }

    /// Frees the allocation of `granules` granules at `iova`. A range that
    /// is not exactly one live allocation is rejected and nothing changes.
    pub fn free(&mut self, iova: u64, granules: u64) -> Result<(), IovaError> {
        let bad = IovaError::NotAllocated { iova, granules };
        let shift = self.cfg.granule_shift;
        let g = iova >> shift;
        let valid = granules != 0
            && iova & ((1u64 << shift) - 1) == 0
            && g.checked_add(granules)
                .is_some_and(|e| e <= self.cfg.granules())
            && self.is_allocation(g, granules);
        if !valid {
            self.stats.bad_frees += 1;
            return Err(bad);
        }
        self.mark(g, granules, false);
        self.lower_hints(g, granules);
        self.stats.used = self.stats.used.saturating_sub(granules);
        self.stats.frees += 1;
        Ok(())
    }

    /// Allocates exactly the `granules` granules at `iova` (a fixed range
    /// the caller chose: memory a device must see at a given address). The
    /// range becomes one live allocation, given back with [`Self::free`].
    ///
    /// Errors: [`IovaError::InvalidSize`] for a zero size, a misaligned
    /// `iova` or a range outside the space; [`IovaError::InUse`] when a
    /// granule of it is allocated or reserved (nothing changes);
    /// [`IovaError::NeedChunk`] (install and retry).
    pub fn claim(&mut self, iova: u64, granules: u64) -> Result<(), IovaError> {
        let shift = self.cfg.granule_shift;
        let g = iova >> shift;
        let inside = granules != 0
            && iova & ((1u64 << shift) - 1) == 0
            && g.checked_add(granules)
                .is_some_and(|e| e <= self.cfg.granules());
        if !inside {
            return Err(IovaError::InvalidSize);
        }
        if let Some(granule) = self.find_one(g, g + granules) {
            return Err(IovaError::InUse { granule });
        }
        // Wholly free absent chunks need their bitmaps for the marks.
        if let Some(index) = self.missing_chunk(g, granules) {
            return Err(IovaError::NeedChunk { index });
        }
        self.mark(g, granules, true);
        self.stats.used += granules;
        self.stats.allocs += 1;
        self.stats.high_water = core::cmp::max(self.stats.high_water, self.stats.used);
        Ok(())
    }

    /// Reserves the bytes `[start, start+len)` (rounded out to granules and
    /// clipped to the space) so that they are never allocated: address 0,
    /// an MSI window, a platform's reserved regions. Granules already in use
    /// are left alone, so reserve before allocating. Returns the number of
    /// granules newly reserved.
    ///
    /// Errors: [`IovaError::NeedChunk`] when the range partly covers an
    /// absent chunk (install and retry; nothing was changed).
    pub fn reserve(&mut self, start: u64, len: u64) -> Result<u64, IovaError> {
        if len == 0 {
            return Ok(0);
        }
        let shift = self.cfg.granule_shift;
        let g = start >> shift;
        let last = start.saturating_add(len - 1) >> shift;
        let total = self.cfg.granules();
        if g >= total {
            return Ok(0);
        }
        let last = core::cmp::min(last, total - 1);
        let n = last - g + 1;
        let cg = self.cfg.chunk_granules();
        // A partly covered absent chunk needs its bitmap.
        for c in [self.chunk_of(g), self.chunk_of(last)] {
            let base = self.chunk_base(c);
            let whole = g <= base && last >= base + cg - 1;
            if let Some(s) = self.slots().get(c) {
                if s.chunk.is_none() && s.free == cg && !whole {
                    return Err(IovaError::NeedChunk { index: c });
                }
            }
        }
        let mut newly = 0u64;
        self.for_pieces(g, n, |hier, _c, slot, lo, len| match slot.chunk.as_mut() {
            None => {
                // Wholly covered absent chunk, or already wholly reserved.
                newly += slot.free;
                slot.free = 0;
            }
            Some(buf) => {
                let buf = buf.as_mut();
                let before = bitmap::count_ones(hier.level0(buf), lo, lo + len);
                hier.set_range(buf, lo, len);
                let added = (len - before) as u64;
                newly += added;
                slot.free = slot.free.saturating_sub(added);
            }
        });
        self.refresh_full(g, n);
        self.stats.reserved += newly;
        Ok(newly)
    }

    /// Longest run of free granules (a fragmentation figure). Walks the
    /// whole bitmap: for statistics, not for the map path.
    pub fn largest_free_run(&self) -> u64 {
        let mut best = 0u64;
        let mut run = 0u64;
        let cg = self.cfg.chunk_granules();
        for s in self.slots() {
            match &s.chunk {
                None if s.free == 0 => run = 0,
                None => {
                    run += cg;
                    best = core::cmp::max(best, run);
                }
                Some(buf) => {
                    let (l0, _, _) = self.parts(buf.as_ref());
                    let cgu = cg as usize;
                    let mut i = 0usize;
                    while i < cgu {
                        match bitmap::find_next_one(l0, i, cgu) {
                            Some(one) => {
                                run += (one - i) as u64;
                                best = core::cmp::max(best, run);
                                run = 0;
                                i = bitmap::find_next_zero(l0, one, cgu).unwrap_or(cgu);
                            }
                            None => {
                                run += (cgu - i) as u64;
                                best = core::cmp::max(best, run);
                                i = cgu;
                            }
                        }
                    }
                }
            }
        }
        best
    }

    /// Frees every entry of `mag` (ranges of `2^order` granules) and empties
    /// it. Returns how many were freed (entries that are not live
    /// allocations are dropped and counted in `bad_frees`).
    pub fn free_magazine(&mut self, mag: &mut Magazine, order: usize) -> usize {
        let mut n = 0;
        while let Some(iova) = mag.pop() {
            if self.free(iova, 1u64 << order).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// Size orders the per-CPU caches hold: 1, 2, 4, ... 128 granules (512 KiB
/// in 4 KiB granules: an NVMe command's largest transfer, or a 64-page
/// buffer, comes back from a cache instead of the bitmap).
pub const CACHE_ORDERS: usize = 8;
/// IOVAs per magazine.
pub const MAG_SIZE: usize = 64;

/// The cache order for a request of `granules` granules: the size rounded up
/// to a power of two, if it is cacheable. A cached request must then be
/// allocated and freed with `1 << order` granules.
pub fn cache_order(granules: u64) -> Option<usize> {
    if granules == 0 {
        return None;
    }
    let o = ceil_log2(granules) as usize;
    if o < CACHE_ORDERS {
        Some(o)
    } else {
        None
    }
}

/// A fixed-size stack of freed IOVAs of one size order.
#[derive(Clone, Debug)]
pub struct Magazine {
    len: usize,
    iovas: [u64; MAG_SIZE],
}

impl Default for Magazine {
    fn default() -> Self {
        Self::new()
    }
}

impl Magazine {
    /// An empty magazine.
    pub const fn new() -> Self {
        Magazine {
            len: 0,
            iovas: [0; MAG_SIZE],
        }
    }

    /// Number of IOVAs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is full.
    pub fn is_full(&self) -> bool {
        self.len >= MAG_SIZE
    }

    /// Pushes `iova`; `false` if full.
    pub fn push(&mut self, iova: u64) -> bool {
        match self.iovas.get_mut(self.len) {
            Some(e) => {
                *e = iova;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Pops the most recent IOVA.
    pub fn pop(&mut self) -> Option<u64> {
        let i = self.len.checked_sub(1)?;
        let v = *self.iovas.get(i)?;
        self.len = i;
        Some(v)
    }

    /// Pops an IOVA whose range of `bytes` bytes ends at or below
    /// `dma_limit` (most recent first).
    fn pop_fitting(&mut self, bytes: u64, dma_limit: u64) -> Option<u64> {
        let fits = |a: u64| a.checked_add(bytes - 1).is_some_and(|e| e <= dma_limit);
        let live = self.iovas.get(..self.len)?;
        let i = live.iter().rposition(|&a| fits(a))?;
        let last = self.len - 1;
        let v = *self.iovas.get(i)?;
        self.iovas.swap(i, last);
        self.len = last;
        Some(v)
    }
}

/// One CPU's cache: a loaded and a previous magazine per order (the
/// iova.c rcache scheme). [`IovaSpace`] keeps one per CPU, each under its
/// own lock, and touches only the calling CPU's on the common paths.
#[derive(Clone, Debug, Default)]
pub struct CpuCache {
    loaded: [Magazine; CACHE_ORDERS],
    prev: [Magazine; CACHE_ORDERS],
}

impl CpuCache {
    /// An empty cache.
    pub const fn new() -> Self {
        CpuCache {
            loaded: [const { Magazine::new() }; CACHE_ORDERS],
            prev: [const { Magazine::new() }; CACHE_ORDERS],
        }
    }

    /// A cached range of `2^order` granules (granule `2^granule_shift`
    /// bytes) below the inclusive `dma_limit`, or `None` (then allocate from
    /// the bitmap).
    pub fn alloc(&mut self, order: usize, granule_shift: u32, dma_limit: u64) -> Option<u64> {
        let shift = granule_shift.checked_add(u32::try_from(order).ok()?)?;
        if shift >= 64 {
            return None;
        }
        let bytes = 1u64 << shift;
        let loaded = self.loaded.get_mut(order)?;
        if let Some(v) = loaded.pop_fitting(bytes, dma_limit) {
            return Some(v);
        }
        let prev = self.prev.get_mut(order)?;
        if prev.is_empty() {
            return None;
        }
        core::mem::swap(loaded, prev);
        loaded.pop_fitting(bytes, dma_limit)
    }

    /// Caches a freed range of `2^order` granules. `false` when both
    /// magazines are full: [`Self::spill`] into the allocator and retry.
    pub fn free(&mut self, order: usize, iova: u64) -> bool {
        let (Some(loaded), Some(prev)) = (self.loaded.get_mut(order), self.prev.get_mut(order))
        else {
            return false;
        };
        if loaded.push(iova) {
            return true;
        }
        if prev.is_full() {
            return false;
        }
        core::mem::swap(loaded, prev);
        loaded.push(iova)
    }

    /// Makes room for [`Self::free`] of `2^order` granules when both
    /// magazines of that order are full: the older one goes back to `alloc`
    /// (the other sizes stay cached).  Returns how many ranges went back.
    pub fn spill<C, T>(&mut self, order: usize, alloc: &mut IovaAllocator<C, T>) -> usize
    where
        C: AsRef<[u64]> + AsMut<[u64]>,
        T: AsRef<[Slot<C>]> + AsMut<[Slot<C>]>,
    {
        match self.prev.get_mut(order) {
            Some(prev) if prev.is_full() => alloc.free_magazine(prev, order),
            _ => 0,
        }
    }

    /// Number of cached ranges, all orders.
    pub fn cached(&self) -> usize {
        self.loaded
            .iter()
            .chain(self.prev.iter())
            .map(Magazine::len)
            .sum()
    }

    /// Frees every cached range back into `alloc`; returns how many.
    pub fn flush_into<C, T>(&mut self, alloc: &mut IovaAllocator<C, T>) -> usize
    where
        C: AsRef<[u64]> + AsMut<[u64]>,
        T: AsRef<[Slot<C>]> + AsMut<[Slot<C>]>,
    {
        let mut n = 0;
        for o in 0..CACHE_ORDERS {
            for m in [self.loaded.get_mut(o), self.prev.get_mut(o)]
                .into_iter()
                .flatten()
            {
                n += alloc.free_magazine(m, o);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests;
