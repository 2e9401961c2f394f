// SPDX-License-Identifier: GPL-2.0

//! rsdma.ko's module parameters (declared in `params.c`), read within their
//! bounds.

use crate::kapi::bindings;

/// Largest pool: what one page allocation gives (order 10).
const MAX_POOL_KIB: u32 = 4096;
/// Most pools a device may have.
const MAX_POOLS: u32 = 64;
/// The largest bound on one allocation, in MiB.
const MAX_COHERENT_MIB: u32 = 65536;

/// Bytes of bounce pools a device gets at attach (`bounce_kib`), at
/// least 64 KiB, at most [`MAX_POOL_KIB`].
pub(crate) fn bounce_bytes() -> usize {
    // SAFETY: a plain read of a parameter set at load time.
    let kib = unsafe { bindings::rsdma_param_bounce_kib() };
    (kib.clamp(64, MAX_POOL_KIB) as usize) << 10
}

/// Pools a device may grow to under pressure (`bounce_max_pools`).
pub(crate) fn bounce_max_pools() -> usize {
    // SAFETY: as above.
    let n = unsafe { bindings::rsdma_param_bounce_max_pools() };
    n.clamp(1, MAX_POOLS) as usize
}

/// Most bytes of a buffer from `/dev/rsdma` (`dmabuf_max_kib`; may change
/// at run time).
pub(crate) fn dmabuf_max_bytes() -> u64 {
    // SAFETY: as above.
    let kib = unsafe { bindings::rsdma_param_dmabuf_max_kib() };
    u64::from(kib) << 10
}

/// The most bytes one coherent or page allocation may take
/// (`coherent_max_mib`, which may change at any time), at least 1 MiB.
pub(crate) fn coherent_max_bytes() -> u64 {
    // SAFETY: as above; the value is read once.
    let mib = unsafe { bindings::rsdma_param_coherent_max_mib() };
    u64::from(mib.clamp(1, MAX_COHERENT_MIB)) << 20
}

/// The claim specs given at load (`claim=`), if any.
pub(crate) fn claim() -> Option<&'static kernel::str::CStr> {
    // SAFETY: a plain read of a parameter set at load time (read-only
    // afterwards: mode 0444).
    let p = unsafe { bindings::rsdma_param_claim() };
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null charp parameter is a NUL-terminated string that
    // lives as long as the module.
    Some(unsafe { kernel::str::CStr::from_char_ptr(p) })
}
