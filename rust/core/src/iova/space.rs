//! The IO address space of one device: the bitmap allocator, one magazine
//! cache per CPU, and the growth loop, composed once.
//!
//! [`IovaSpace`] is what a DMA layer calls to get and give back IOVAs. It
//! owns the locks it needs but knows nothing about how they are built: the
//! caller describes them, its chunk allocator and the current CPU through a
//! [`SpaceEnv`] (the kernel module with `IrqSpinLock`s and `KVec`s, the host
//! tests and benchmark with `std` mutexes and `Vec`s).
//!
//! # Locking
//!
//! Two kinds of lock: one around the [`IovaAllocator`], and one around each
//! [`CpuCache`]. A CPU cache's lock is taken before the allocator's, never
//! after it, and only the cache of the calling CPU is locked on the common
//! paths (the lock makes a migration between choosing the cache and using it
//! harmless). No memory is allocated while either lock is held: a missing
//! chunk is allocated with both released (see [`IovaSpace::alloc`]).

use super::{cache_order, CpuCache, IovaAllocator, IovaConfig, IovaError, IovaStats, Slot};
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;

/// Chunks one operation may install before it gives up with
/// [`SpaceError::NoMemory`] (a request spanning more absent chunks succeeds
/// on a later call: installed chunks stay).
pub const GROW_ATTEMPTS: usize = 4;

/// A lock around a `Target`, as [`IovaSpace`] uses it.
///
/// The guard gives mutable access until it is dropped. A lock that must not
/// move (a kernel spinlock) is used through a pinned pointer: `Pin<P>` is a
/// `Lock` when `P` points to one, so `Pin<KBox<IrqSpinLock<T>>>` needs only
/// the implementation for `IrqSpinLock<T>` itself, and so does a shared
/// reference.
pub trait Lock {
    /// The protected value.
    type Target: ?Sized;
    /// Proof of holding the lock; releases it when dropped.
    type Guard<'a>: DerefMut<Target = Self::Target>
    where
        Self: 'a;

    /// Takes the lock, waiting as long as it takes.
    fn lock(&self) -> Self::Guard<'_>;
}

impl<L: Lock + ?Sized> Lock for &L {
    type Target = L::Target;
    type Guard<'a>
        = L::Guard<'a>
    where
        Self: 'a;

    fn lock(&self) -> Self::Guard<'_> {
        (**self).lock()
    }
}

impl<P> Lock for Pin<P>
where
    P: Deref,
    P::Target: Lock,
{
    type Target = <P::Target as Lock>::Target;
    type Guard<'a>
        = <P::Target as Lock>::Guard<'a>
    where
        Self: 'a;

    fn lock(&self) -> Self::Guard<'_> {
        (**self).lock()
    }
}

/// Where a chunk allocation happens, for [`SpaceEnv::new_chunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowContext {
    /// On the map path, possibly in atomic context: must not sleep
    /// (`GFP_ATOMIC`).
    Atomic,
    /// At set-up ([`IovaSpace::reserve`]): may sleep (`GFP_KERNEL`).
    MaySleep,
}

/// What an [`IovaSpace`] needs from its user: the types of its storage and
/// locks, the current CPU, and chunk memory.
///
/// The kernel module implements it with `IrqSpinLock`s (see
/// `kapi/sync.rs`), which must stay pinned, so it holds them boxed:
///
/// ```ignore
/// // kapi/sync.rs: the one `Lock` implementation the module needs; pinned
/// // boxes of it are `Lock`s through `impl Lock for Pin<P>`.
/// impl<T> iova::Lock for IrqSpinLock<T> {
///     type Target = T;
///     type Guard<'a> = kernel::sync::lock::Guard<'a, T, IrqSaveBackend>
///     where
///         Self: 'a;
///
///     fn lock(&self) -> Self::Guard<'_> {
///         kernel::sync::lock::Lock::lock(self)
///     }
/// }
///
/// // attach.rs
/// struct KernelSpace;
///
/// impl SpaceEnv for KernelSpace {
///     type Chunk = Chunk; // KVec<u64>, with AsRef/AsMut<[u64]>
///     type Table = ChunkTable; // KVVec<Slot<Chunk>>, with AsRef/AsMut
///     type AllocLock = Pin<KBox<IrqSpinLock<IovaAllocator<Chunk, ChunkTable>>>>;
///     type CacheLock = Pin<KBox<IrqSpinLock<CpuCache>>>;
///     type Caches = KVec<Self::CacheLock>; // one per possible CPU
///
///     fn cpu(&self) -> usize {
///         crate::kapi::time::cpu_hint()
///     }
///
///     fn new_chunk(&self, words: usize, ctx: GrowContext) -> Option<Chunk> {
///         let gfp = match ctx {
///             GrowContext::Atomic => GFP_ATOMIC,
///             GrowContext::MaySleep => GFP_KERNEL,
///         };
///         KVec::from_elem(0u64, words, gfp).ok().map(Chunk)
///     }
/// }
///
/// // In attach(): build the allocator, lock it, make the space, reserve.
/// let alloc = KBox::pin_init(new_irq_spinlock!(iova, "RsdmaDev::iova"), GFP_KERNEL)?;
/// let space = IovaSpace::new(KernelSpace, alloc, caches);
/// space.reserve(0, ap_start.max(1u64 << shift))?;
/// ```
pub trait SpaceEnv {
    /// A chunk buffer of [`IovaConfig::chunk_words`] words.
    type Chunk: AsRef<[u64]> + AsMut<[u64]>;
    /// The chunk table ([`IovaConfig::chunk_count`] slots).
    type Table: AsRef<[Slot<Self::Chunk>]> + AsMut<[Slot<Self::Chunk>]>;
    /// The lock around the allocator.
    type AllocLock: Lock<Target = IovaAllocator<Self::Chunk, Self::Table>>;
    /// The lock around one CPU's cache.
    type CacheLock: Lock<Target = CpuCache>;
    /// The CPU caches, indexed by CPU (may be empty: no caching).
    type Caches: Deref<Target = [Self::CacheLock]>;

    /// The calling CPU's number (taken modulo the number of caches). A hint:
    /// the cache locks keep a stale answer safe.
    fn cpu(&self) -> usize;

    /// A buffer of `words` words (any content), or `None` when memory is
    /// short. Called with no lock of the space held.
    fn new_chunk(&self, words: usize, ctx: GrowContext) -> Option<Self::Chunk>;
}

/// Errors of an [`IovaSpace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceError {
    /// No range fits under the limit, even after every CPU cache was
    /// returned to the bitmap. A caller holding IOVAs back (lazy
    /// invalidation queues) can release them and try again.
    NoSpace,
    /// A chunk could not be allocated, or the operation needed more than
    /// [`GROW_ATTEMPTS`] of them; nothing was allocated.
    NoMemory,
    /// The allocator refused the request (an invalid size, a free of
    /// something that is not a live allocation, a bad chunk buffer).
    Iova(IovaError),
}

impl From<IovaError> for SpaceError {
    fn from(e: IovaError) -> Self {
        match e {
            IovaError::NoSpace => Self::NoSpace,
            e => Self::Iova(e),
        }
    }
}

impl fmt::Display for SpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSpace => f.write_str("iova: no space under the limit"),
            Self::NoMemory => f.write_str("iova: out of memory for a chunk"),
            Self::Iova(e) => e.fmt(f),
        }
    }
}

/// An IO address space: the bitmap allocator under its lock and one
/// magazine cache per CPU under its own.
///
/// Sizes are in granules. Ranges of 1 to 128 granules ([`cache_order`]) are
/// rounded up to a power of two and go through the calling CPU's cache, and
/// must be freed with the size they were allocated with (the rounding is
/// the same on both sides). Cached ranges stay allocated in the bitmap
/// ([`IovaStats::used`] counts them).
pub struct IovaSpace<E: SpaceEnv> {
    env: E,
    cfg: IovaConfig,
    alloc: E::AllocLock,
    caches: E::Caches,
}

/// The allocator type of an environment.
type Alloc<E> = IovaAllocator<<E as SpaceEnv>::Chunk, <E as SpaceEnv>::Table>;

impl<E: SpaceEnv> IovaSpace<E> {
    /// A space over the allocator behind `alloc` (reserve ranges with
    /// [`Self::reserve`] before the first allocation) with `caches`, one per
    /// CPU.
    pub fn new(env: E, alloc: E::AllocLock, caches: E::Caches) -> Self {
        let cfg = *alloc.lock().config();
        IovaSpace {
            env,
            cfg,
            alloc,
            caches,
        }
    }

    /// The allocator's configuration.
    pub fn config(&self) -> &IovaConfig {
        &self.cfg
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// The allocator's counters.
    pub fn stats(&self) -> IovaStats {
        self.alloc.lock().stats()
    }

    /// Ranges held in the CPU caches (locks each cache in turn).
    pub fn cached(&self) -> usize {
        self.caches.iter().map(|c| c.lock().cached()).sum()
    }

    /// Allocates `granules` granules ending at or below the inclusive
    /// address `dma_limit` (the device's DMA mask, clipped to the aperture
    /// by the caller). Returns the IO virtual address.
    ///
    /// A cacheable size is served by the calling CPU's cache when it holds a
    /// range under the limit. Otherwise the bitmap gives the first fit from
    /// address 0, which puts a range below 4 GiB whenever one fits: the
    /// result is the one iommu-dma's two tries (32-bit addresses, then the
    /// full limit) would give, found in one search. A missing chunk is
    /// allocated ([`GrowContext::Atomic`]) with no lock held, installed,
    /// and the allocation retried. When nothing fits, every CPU cache is
    /// returned to the bitmap and the allocation retried once.
    ///
    /// Errors: [`SpaceError::NoSpace`] after that retry,
    /// [`SpaceError::NoMemory`], [`SpaceError::Iova`] for an invalid size.
    pub fn alloc(&self, granules: u64, dma_limit: u64) -> Result<u64, SpaceError> {
        self.alloc_on(self.env.cpu(), granules, dma_limit)
    }

    /// [`Self::alloc`] on the cache of CPU `cpu`, a caller that already
    /// knows which CPU it runs on (a hint: any CPU's cache is correct).
    pub fn alloc_on(&self, cpu: usize, granules: u64, dma_limit: u64) -> Result<u64, SpaceError> {
        let order = cache_order(granules);
        let n = match order {
            Some(o) => {
                if let Some(c) = self.cache(cpu) {
                    let hit = c.lock().alloc(o, self.cfg.granule_shift(), dma_limit);
                    if let Some(iova) = hit {
                        return Ok(iova);
                    }
                }
                // `o < CACHE_ORDERS`.
                1u64 << o
            }
            None => granules,
        };
        match self.alloc_bitmap(n, dma_limit) {
            Err(SpaceError::NoSpace) => {
                self.flush_caches();
                self.alloc_bitmap(n, dma_limit)
            }
            r => r,
        }
    }

    /// Frees the allocation of `granules` granules at `iova`: a cacheable
    /// size into the calling CPU's cache (when both of its magazines of that
    /// size are full, the older one goes back to the bitmap first), any
    /// other into the bitmap.
    ///
    /// A range the cache could not have handed out (misaligned for its
    /// size, or outside the space) is given to the bitmap, which rejects it.
    /// A cached range is not otherwise checked: a double free of a cacheable
    /// size goes undetected here, and the range may then be handed out
    /// twice (as with iova.c's rcaches); catching it is the tracker's job.
    ///
    /// Errors: [`SpaceError::Iova`] with [`IovaError::NotAllocated`].
    pub fn free(&self, iova: u64, granules: u64) -> Result<(), SpaceError> {
        self.free_on(self.env.cpu(), iova, granules)
    }

    /// [`Self::free`] into the cache of CPU `cpu` (a hint, as for
    /// [`Self::alloc_on`]).
    pub fn free_on(&self, cpu: usize, iova: u64, granules: u64) -> Result<(), SpaceError> {
        match self.cache(cpu) {
            Some(c) => self.free_under(&mut c.lock(), iova, granules),
            None => self.free_bitmap(iova, granules),
        }
    }

    /// Frees every range of `ranges` (IOVA, granules) as [`Self::free`]
    /// does, taking the calling CPU's cache lock once for all of them: what
    /// a lazy invalidation queue gives back after its flush.  Returns how
    /// many frees were rejected (not live allocations).
    pub fn free_batch(&self, ranges: impl IntoIterator<Item = (u64, u64)>) -> usize {
        self.free_batch_on(self.env.cpu(), ranges)
    }

    /// [`Self::free_batch`] into the cache of CPU `cpu` (a hint, as for
    /// [`Self::alloc_on`]).
    pub fn free_batch_on(&self, cpu: usize, ranges: impl IntoIterator<Item = (u64, u64)>) -> usize {
        let mut rejected = 0usize;
        let mut guard = self.cache(cpu).map(|c| c.lock());
        for (iova, granules) in ranges {
            let r = match guard.as_mut() {
                Some(c) => self.free_under(c, iova, granules),
                None => self.free_bitmap(iova, granules),
            };
            if r.is_err() {
                rejected += 1;
            }
        }
        rejected
    }

    /// [`Self::free`] with the calling CPU's cache `c` locked.
    fn free_under(&self, c: &mut CpuCache, iova: u64, granules: u64) -> Result<(), SpaceError> {
        if let Some(o) = cache_order(granules) {
            if self.cacheable(iova, o) {
                if c.free(o, iova) {
                    return Ok(());
                }
                c.spill(o, &mut self.alloc.lock());
                if c.free(o, iova) {
                    return Ok(());
                }
            }
        }
        self.free_bitmap(iova, granules)
    }

    /// Frees straight into the bitmap, with the size a cacheable one is
    /// rounded to.
    fn free_bitmap(&self, iova: u64, granules: u64) -> Result<(), SpaceError> {
        // `o < CACHE_ORDERS`.
        let n = cache_order(granules).map_or(granules, |o| 1u64 << o);
        self.alloc.lock().free(iova, n).map_err(SpaceError::from)
    }

    /// Reserves the bytes `[start, start+len)` so that they are never
    /// allocated (address 0, the MSI window, the platform's reserved
    /// regions), installing chunks as needed ([`GrowContext::MaySleep`]:
    /// call it at set-up, before the first allocation). Returns the number
    /// of granules newly reserved.
    ///
    /// Errors: [`SpaceError::NoMemory`].
    pub fn reserve(&self, start: u64, len: u64) -> Result<u64, SpaceError> {
        self.grow(GrowContext::MaySleep, |a| a.reserve(start, len))
    }

    /// Allocates exactly `granules` granules at `iova` ([`IovaAllocator::claim`]),
    /// installing chunks as needed ([`GrowContext::MaySleep`]). Ranges the
    /// CPU caches hold are returned to the bitmap before giving up, so only
    /// live allocations and reservations stand in the way. Give the range
    /// back with [`Self::unclaim`].
    ///
    /// Errors: [`SpaceError::Iova`] with [`IovaError::InUse`] or
    /// [`IovaError::InvalidSize`], [`SpaceError::NoMemory`].
    pub fn claim(&self, iova: u64, granules: u64) -> Result<(), SpaceError> {
        match self.grow(GrowContext::MaySleep, |a| a.claim(iova, granules)) {
            Err(SpaceError::Iova(IovaError::InUse { .. })) => {
                self.flush_caches();
                self.grow(GrowContext::MaySleep, |a| a.claim(iova, granules))
            }
            r => r,
        }
    }

    /// Gives back a range [`Self::claim`] allocated, straight to the bitmap
    /// (its size need not be one the caches round to).
    ///
    /// Errors: [`SpaceError::Iova`] with [`IovaError::NotAllocated`].
    pub fn unclaim(&self, iova: u64, granules: u64) -> Result<(), SpaceError> {
        self.alloc
            .lock()
            .free(iova, granules)
            .map_err(SpaceError::from)
    }

    /// Returns every CPU cache's ranges to the bitmap; returns how many.
    pub fn flush_caches(&self) -> usize {
        let mut n = 0usize;
        for c in self.caches.iter() {
            let mut c = c.lock();
            n = n.saturating_add(c.flush_into(&mut self.alloc.lock()));
        }
        n
    }

    /// CPU `cpu`'s cache (modulo the cache count), if there are caches.
    fn cache(&self, cpu: usize) -> Option<&E::CacheLock> {
        let caches: &[E::CacheLock] = &self.caches;
        match caches.len() {
            0 => None,
            n => caches.get(cpu % n),
        }
    }

    /// Whether `iova` can be a live allocation of `2^order` granules: inside
    /// the space and aligned as [`IovaAllocator::alloc`] aligns that size.
    fn cacheable(&self, iova: u64, order: usize) -> bool {
        let Ok(o) = u32::try_from(order) else {
            return false;
        };
        let align_shift = self.cfg.granule_shift() + o.min(self.cfg.max_align_order());
        let (Some(align), Some(bytes)) = (
            1u64.checked_shl(align_shift),
            1u64.checked_shl(self.cfg.granule_shift() + o),
        ) else {
            return false;
        };
        let Some(space) = 1u64.checked_shl(self.cfg.space_bits()) else {
            return false;
        };
        iova & (align - 1) == 0 && iova.checked_add(bytes).is_some_and(|e| e <= space)
    }

    /// Allocates from the bitmap, growing it as needed.
    fn alloc_bitmap(&self, granules: u64, dma_limit: u64) -> Result<u64, SpaceError> {
        self.grow(GrowContext::Atomic, |a| a.alloc(granules, dma_limit))
    }

    /// Runs `op` under the allocator's lock; while it answers
    /// [`IovaError::NeedChunk`], allocates the chunk with the lock dropped,
    /// installs it (another CPU may have installed it meanwhile: its buffer
    /// is then dropped, outside the lock) and runs `op` again.
    fn grow<R>(
        &self,
        ctx: GrowContext,
        mut op: impl FnMut(&mut Alloc<E>) -> Result<R, IovaError>,
    ) -> Result<R, SpaceError> {
        let mut installs = 0usize;
        loop {
            let r = {
                let mut a = self.alloc.lock();
                op(&mut a)
            };
            let index = match r {
                Err(IovaError::NeedChunk { index }) => index,
                r => return r.map_err(SpaceError::from),
            };
            if installs >= GROW_ATTEMPTS {
                return Err(SpaceError::NoMemory);
            }
            installs += 1;
            let chunk = self
                .env
                .new_chunk(self.cfg.chunk_words(), ctx)
                .ok_or(SpaceError::NoMemory)?;
            let r = self.alloc.lock().install_chunk(index, chunk);
            match r {
                Ok(()) | Err((IovaError::ChunkNotNeeded, _)) => {}
                Err((e, _)) => return Err(SpaceError::Iova(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
