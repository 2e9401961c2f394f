// SPDX-License-Identifier: GPL-2.0

//! CPU cache maintenance for DMA by devices that are not cache-coherent.
//!
//! C header: [`include/linux/libnvdimm.h`](srctree/include/linux/libnvdimm.h)
//!
//! arm64 keeps its DMA cache maintenance (`arch_sync_dma_for_*`) to the
//! kernel, but exports the persistent-memory pair: clean to the point of
//! persistence (which includes the point of coherency) and invalidate to
//! the point of coherency.  These are the same operations.

use super::bindings;

/// Writes dirty lines covering `len` bytes of RAM at `phys` back to memory.
pub fn clean(phys: u64, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: cleaning is harmless for any linear-map address; `phys` is RAM
    // the caller maps for DMA, so it is in the linear map.
    unsafe { bindings::rsdma_helper_cache_clean(bindings::rsdma_helper_phys_to_virt(phys), len) };
}

/// Discards the cached lines covering `len` bytes of RAM at `phys`, so
/// that the CPU reads what the device wrote.
///
/// Lines only partly covered are cleaned first by the architecture, so
/// neighbouring data is not lost.
pub fn invalidate(phys: u64, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: as in `clean`; the buffer is owned by the device at this point
    // (the caller syncs for the CPU), so discarding its lines loses nothing.
    unsafe { bindings::rsdma_helper_cache_inval(bindings::rsdma_helper_phys_to_virt(phys), len) };
}
