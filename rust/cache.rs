// SPDX-License-Identifier: GPL-2.0

//! Cache maintenance for devices that do not snoop the CPU caches: carries
//! out what rsdma-core's table (`core/src/cache.rs`) decides for each
//! ownership transfer.

use crate::debug::Stats;
use crate::dev::RsdmaDev;
use crate::kapi::cache;
use crate::rsdma_core::cache::{for_cpu, for_device, CacheOp};
use crate::rsdma_core::dma::Direction;

impl RsdmaDev {
    /// Before the device accesses `len` bytes at `phys`.
    pub(crate) fn sync_for_device_phys(&self, phys: u64, len: usize, dir: Direction) {
        if let Some(op) = for_device(self.coherent, dir) {
            run(op, phys, len);
            Stats::count(&self.debug.stats.here().cache_maintenance);
        }
    }

    /// Before the CPU reads what the device wrote to `len` bytes at `phys`.
    pub(crate) fn sync_for_cpu_phys(&self, phys: u64, len: usize, dir: Direction) {
        if let Some(op) = for_cpu(self.coherent, dir) {
            run(op, phys, len);
            Stats::count(&self.debug.stats.here().cache_maintenance);
        }
    }
}

/// Hands `len` bytes at `phys` to a device (`coherent` or not).
pub(crate) fn to_device(coherent: bool, phys: u64, len: usize, dir: Direction) {
    if let Some(op) = for_device(coherent, dir) {
        run(op, phys, len);
    }
}

/// Hands `len` bytes at `phys` back to the CPU after a device (`coherent`
/// or not) may have written them.
pub(crate) fn to_cpu(coherent: bool, phys: u64, len: usize, dir: Direction) {
    if let Some(op) = for_cpu(coherent, dir) {
        run(op, phys, len);
    }
}

/// Carries out `op` on `len` bytes at `phys`.
pub(crate) fn run(op: CacheOp, phys: u64, len: usize) {
    match op {
        CacheOp::Clean => cache::clean(phys, len),
        CacheOp::Invalidate => cache::invalidate(phys, len),
        CacheOp::CleanInvalidate => {
            cache::clean(phys, len);
            cache::invalidate(phys, len);
        }
    }
}
