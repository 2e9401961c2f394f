// SPDX-License-Identifier: GPL-2.0

//! IOTLB invalidation of unmapped IOVAs: strict (invalidated before the
//! unmap returns) or lazy (queued per CPU and invalidated in batches).
//!
//! In lazy mode an unmapped range stays reachable by the device until its
//! batch is flushed, and its IOVAs are not reused before that.  A batch is
//! flushed when its queue fills, when its oldest entry is `flush_ms` old at
//! the next unmap, or by a timer `flush_ms` after its first entry if no
//! further unmap comes.

use super::Iommu;
use crate::dev_warn;
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::time;
use crate::kapi::timer::Expired;
use crate::new_irq_spinlock;
use crate::profile::{self, Step};
use crate::rsdma_core::iova::MAG_SIZE;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;

/// Lazy mode: unmaps held back before the queue is flushed.  A flushed
/// batch goes to its CPU's IOVA cache, which holds two magazines per size:
/// a longer queue would send the rest of each batch to the bitmap, and the
/// maps after it would search the bitmap for their IOVAs.
const FLUSH_QUEUE_LEN: usize = 2 * MAG_SIZE;
/// Lazy mode: the default longest deferral, in ms.
pub(crate) const DEFAULT_FLUSH_MS: u32 = 10;

/// IOVAs unmapped on one CPU whose IOTLB entries may still be live.
struct FlushQueue {
    /// `FLUSH_QUEUE_LEN` slots (IOVA, length), the first `len` in use.
    entries: KVec<(u64, u64)>,
    len: usize,
    /// `jiffies` of the oldest entry.
    oldest: u64,
}

/// How a device's unmaps are invalidated.
pub(crate) struct Flush {
    /// Longest deferral in jiffies; unused in strict mode.
    jiffies: u64,
    /// Lazy mode: one queue per CPU; strict mode: none.
    queues: KVec<Pin<KBox<IrqSpinLock<FlushQueue>>>>,
    /// IOTLB invalidations of whole batches.
    pub(crate) flushes: AtomicU64,
}

impl Flush {
    /// Strict invalidation, or lazy with at most `flush_ms` of deferral
    /// (0: the default).
    pub(crate) fn new(lazy: bool, flush_ms: u32) -> Result<Self> {
        let mut queues = KVec::new();
        if lazy {
            let cpus = time::nr_cpu_ids();
            queues.reserve(cpus, GFP_KERNEL)?;
            for _ in 0..cpus {
                let fq = FlushQueue {
                    entries: KVec::from_elem((0, 0), FLUSH_QUEUE_LEN, GFP_KERNEL)?,
                    len: 0,
                    oldest: 0,
                };
                queues.push(
                    KBox::pin_init(new_irq_spinlock!(fq, "Flush::queues"), GFP_KERNEL)?,
                    GFP_KERNEL,
                )?;
            }
        }
        let ms = if flush_ms == 0 {
            DEFAULT_FLUSH_MS
        } else {
            flush_ms
        };
        Ok(Self {
            jiffies: time::msecs_to_jiffies(ms),
            queues,
            flushes: AtomicU64::new(0),
        })
    }

    /// Whether invalidation is deferred.
    pub(crate) fn is_lazy(&self) -> bool {
        !self.queues.is_empty()
    }
}

impl Iommu {
    /// Tears down the mapping of `len` bytes at `iova` (whole granules) and
    /// gives the IOVAs back once the IOTLB cannot hold them any more; `cpu`
    /// is the CPU the caller runs on (a hint), whose queue and IOVA cache
    /// take them.
    pub(crate) fn release(&self, iova: u64, len: u64, cpu: usize) {
        let Some(q) = self.flush.queues.get(cpu % self.flush.queues.len().max(1)) else {
            // Strict.
            let unmap = profile::start(Step::PageTableUnmap);
            let n = self.domain.unmap(iova, len as usize);
            unmap.end();
            if n as u64 != len {
                dev_warn!(
                    self.dev,
                    "rsdma: unmapped {} of {} bytes at {:#x}",
                    n,
                    len,
                    iova
                );
            }
            let _free = profile::start(Step::IovaFree);
            self.space.free_on(cpu, iova, len >> self.shift);
            return;
        };
        let unmap = profile::start(Step::PageTableUnmap);
        self.domain.unmap_deferred(iova, len as usize);
        unmap.end();
        let _queue = profile::start(Step::FlushQueue);
        let now = time::jiffies();
        let mut fq = q.lock();
        if fq.len == 0 {
            fq.oldest = now;
        }
        // A queue is flushed as soon as it fills, so there is room.
        let n = fq.len;
        if let Some(e) = fq.entries.get_mut(n) {
            *e = (iova, len);
            fq.len += 1;
        }
        if fq.len >= FLUSH_QUEUE_LEN || now.wrapping_sub(fq.oldest) >= self.flush.jiffies {
            self.flush_locked(&mut fq, cpu);
        } else if fq.len == 1 {
            // The first entry of a batch: flush within `flush_ms` even if
            // no other unmap comes.
            self.timer.arm(self, self.flush.jiffies);
        }
    }

    /// Invalidates the IOTLB once, after which the queued IOVAs may be
    /// reused; they go to CPU `cpu`'s IOVA cache (a hint).
    fn flush_locked(&self, fq: &mut FlushQueue, cpu: usize) {
        if fq.len == 0 {
            return;
        }
        self.domain.flush_all();
        self.flush.flushes.fetch_add(1, Relaxed);
        let shift = self.shift;
        self.space.free_batch_on(
            cpu,
            fq.entries
                .iter()
                .take(fq.len)
                .map(|&(iova, len)| (iova, len >> shift)),
        );
        fq.len = 0;
    }

    /// Flushes every CPU's queue: afterwards no unmapped IOVA is reachable
    /// or held back.
    pub(crate) fn drain(&self) {
        let cpu = time::cpu_hint();
        for q in self.flush.queues.iter() {
            self.flush_locked(&mut q.lock(), cpu);
        }
    }
}

impl Expired for Iommu {
    fn expired(&self) {
        self.drain();
    }
}
