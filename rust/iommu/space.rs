// SPDX-License-Identifier: GPL-2.0

//! The IO address space of a device: rsdma-core's [`IovaSpace`] (bitmap
//! allocator, per-CPU magazine caches, growth outside the lock) over kernel
//! memory and `IrqSpinLock`s.  A space may also stand alone, tied to no
//! device (`rust/iova_api.rs`); its messages then name no device.

use crate::dev_err;
use crate::inject::{self, Point};
use crate::kapi::device::Device;
use crate::kapi::sync::{IrqSaveBackend, IrqSpinLock};
use crate::kapi::time;
use crate::new_irq_spinlock;
use crate::rsdma_core::iova::{
    CpuCache, GrowContext, IovaAllocator, IovaConfig, IovaSpace, IovaStats, Lock, Slot, SpaceEnv,
    SpaceError,
};
use kernel::prelude::*;
use kernel::types::ARef;

impl<T> Lock for IrqSpinLock<T> {
    type Target = T;
    type Guard<'a>
        = kernel::sync::lock::Guard<'a, T, IrqSaveBackend>
    where
        Self: 'a;

    fn lock(&self) -> Self::Guard<'_> {
        kernel::sync::lock::Lock::lock(self)
    }
}

/// A chunk of the IOVA bitmap.
pub(crate) struct Chunk(KVec<u64>);

impl AsRef<[u64]> for Chunk {
    fn as_ref(&self) -> &[u64] {
        &self.0
    }
}

impl AsMut<[u64]> for Chunk {
    fn as_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

/// The IOVA allocator's chunk table.
pub(crate) struct ChunkTable(KVVec<Slot<Chunk>>);

impl AsRef<[Slot<Chunk>]> for ChunkTable {
    fn as_ref(&self) -> &[Slot<Chunk>] {
        &self.0
    }
}

impl AsMut<[Slot<Chunk>]> for ChunkTable {
    fn as_mut(&mut self) -> &mut [Slot<Chunk>] {
        &mut self.0
    }
}

/// Kernel memory, kernel locks and the current CPU, for [`IovaSpace`].
pub(crate) struct Kernel;

impl SpaceEnv for Kernel {
    type Chunk = Chunk;
    type Table = ChunkTable;
    type AllocLock = Pin<KBox<IrqSpinLock<IovaAllocator<Chunk, ChunkTable>>>>;
    type CacheLock = Pin<KBox<IrqSpinLock<CpuCache>>>;
    type Caches = KVec<Self::CacheLock>;

    fn cpu(&self) -> usize {
        time::cpu_hint()
    }

    fn new_chunk(&self, words: usize, ctx: GrowContext) -> Option<Chunk> {
        if inject::fails(Point::IovaGrow) {
            return None;
        }
        let gfp = match ctx {
            GrowContext::Atomic => GFP_ATOMIC,
            GrowContext::MaySleep => GFP_KERNEL,
        };
        KVec::from_elem(0u64, words, gfp).ok().map(Chunk)
    }
}

/// A device's IO address space, or a standalone one.
pub(crate) struct Space {
    /// The device whose space this is (named in messages), if any.
    dev: Option<ARef<Device>>,
    iovas: IovaSpace<Kernel>,
}

/// Logs an error line, "rsdma: " and `args`, naming `dev` when there is
/// one (the module's own prefix says "rsdma: " otherwise).
fn log_err(dev: Option<&Device>, args: core::fmt::Arguments<'_>) {
    match dev {
        Some(dev) => dev_err!(dev, "rsdma: {}", args),
        None => pr_err!("{}\n", args),
    }
}

impl Space {
    /// A space of `2^bits` bytes in granules of `2^shift` bytes for `dev`,
    /// with one cache per possible CPU.
    pub(crate) fn new(dev: &Device, shift: u32, bits: u32) -> Result<Self> {
        Self::build(Some(dev), shift, bits)
    }

    /// The same space tied to no device.
    pub(crate) fn new_standalone(shift: u32, bits: u32) -> Result<Self> {
        Self::build(None, shift, bits)
    }

    fn build(dev: Option<&Device>, shift: u32, bits: u32) -> Result<Self> {
        let cfg = IovaConfig::new(shift, bits).map_err(|e| {
            log_err(
                dev,
                format_args!(
                    "unsupported IO address space ({} bits, granule shift {}): {}",
                    bits, shift, e
                ),
            );
            EINVAL
        })?;
        let mut slots = KVVec::with_capacity(cfg.chunk_count(), GFP_KERNEL)?;
        for _ in 0..cfg.chunk_count() {
            slots.push(Slot::new(), GFP_KERNEL)?;
        }
        let alloc = IovaAllocator::new(cfg, ChunkTable(slots)).map_err(|_| EINVAL)?;
        let alloc = KBox::pin_init(new_irq_spinlock!(alloc, "Space::alloc"), GFP_KERNEL)?;
        let cpus = time::nr_cpu_ids();
        let mut caches = KVec::with_capacity(cpus, GFP_KERNEL)?;
        for _ in 0..cpus {
            caches.push(
                KBox::pin_init(
                    new_irq_spinlock!(CpuCache::new(), "Space::caches"),
                    GFP_KERNEL,
                )?,
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            dev: dev.map(Device::get),
            iovas: IovaSpace::new(Kernel, alloc, caches),
        })
    }

    /// Keeps `len` bytes at `start` out of the space (at set-up).
    pub(crate) fn reserve(&self, start: u64, len: u64) -> Result {
        self.iovas.reserve(start, len).map(|_| ()).map_err(|e| {
            log_err(
                self.dev.as_deref(),
                format_args!("cannot reserve IOVA {:#x}+{:#x}: {}", start, len, e),
            );
            match e {
                SpaceError::NoMemory => ENOMEM,
                _ => EINVAL,
            }
        })
    }

    /// `granules` of IOVA at or below `limit`, from the IOVA cache of `cpu`
    /// (the CPU the caller runs on, a hint).
    pub(crate) fn alloc_on(
        &self,
        cpu: usize,
        granules: u64,
        limit: u64,
    ) -> Result<u64, SpaceError> {
        self.iovas.alloc_on(cpu, granules, limit)
    }

    /// Gives back what [`Space::alloc_on`] returned, into the IOVA cache of
    /// `cpu` (a hint); a free that is not one live allocation is logged.
    pub(crate) fn free_on(&self, cpu: usize, iova: u64, granules: u64) {
        let _ = self.try_free_on(cpu, iova, granules);
    }

    /// [`Space::free_on`], which also returns a rejected free's error.
    pub(crate) fn try_free_on(
        &self,
        cpu: usize,
        iova: u64,
        granules: u64,
    ) -> Result<(), SpaceError> {
        self.iovas.free_on(cpu, iova, granules).inspect_err(|e| {
            log_err(
                self.dev.as_deref(),
                format_args!("IOVA free of {:#x} rejected: {}", iova, e),
            )
        })
    }

    /// Gives back a batch of (IOVA, granules) ranges [`Space::alloc_on`]
    /// returned, into CPU `cpu`'s cache (a hint), taking its lock once.
    pub(crate) fn free_batch_on(&self, cpu: usize, ranges: impl IntoIterator<Item = (u64, u64)>) {
        let rejected = self.iovas.free_batch_on(cpu, ranges);
        if rejected != 0 {
            log_err(
                self.dev.as_deref(),
                format_args!("{} IOVA frees of a batch rejected", rejected),
            );
        }
    }

    /// Takes exactly `granules` at `iova` out of the space, for memory
    /// mapped there for good (a declared region).
    pub(crate) fn claim(&self, iova: u64, granules: u64) -> Result<(), SpaceError> {
        self.iovas.claim(iova, granules)
    }

    /// Gives back what [`Space::claim`] took.
    pub(crate) fn unclaim(&self, iova: u64, granules: u64) {
        if let Err(e) = self.iovas.unclaim(iova, granules) {
            log_err(
                self.dev.as_deref(),
                format_args!("IOVA release of {:#x} rejected: {}", iova, e),
            );
        }
    }

    /// Returns every CPU cache's IOVAs to the bitmap.
    pub(crate) fn flush_caches(&self) {
        self.iovas.flush_caches();
    }

    /// The allocator's counters.
    pub(crate) fn stats(&self) -> IovaStats {
        self.iovas.stats()
    }
}
