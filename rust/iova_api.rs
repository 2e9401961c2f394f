// SPDX-License-Identifier: GPL-2.0

//! rsdma's IO address space for other modules (`include/rsdma.h`,
//! `rsdma_iova_*`): the allocator each attached device gets (bitmap plus
//! per-CPU magazine caches, `rust/iommu/space.rs`), standing alone, tied to
//! no device and to no IOMMU domain.  For comparisons with the kernel's
//! iova.c (`make bench`) and for drivers that manage an IOMMU domain
//! themselves.
//!
//! Compiled into rsdma.ko only; `rust/api_exports.c` exports the symbols.

use crate::iommu::{space::Space, MAX_SPACE_BITS};
use crate::kapi::{bindings, time};
use crate::rsdma_core::iova::{IovaError, SpaceError};
use kernel::prelude::*;

/// The C handle is a [`Space`] in a `KBox`: `struct rsdma_iova_space` is
/// opaque to C, and every pointer C holds came from
/// [`rsdma_iova_space_create`].
type Handle = bindings::rsdma_iova_space;

/// Concurrent `alloc`/`free` from several CPUs share one [`Space`]:
/// it must be `Sync` (its allocator and caches sit behind spinlocks).
const _: fn() = || {
    fn shared<T: Sync + Send>() {}
    shared::<Space>();
};

/// The space behind `s`, or `None` for NULL.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`] and not be
/// destroyed before the returned reference's last use.
unsafe fn space<'a>(s: *const Handle) -> Option<&'a Space> {
    // SAFETY: `s` is NULL or a live `KBox<Space>` turned into a pointer by
    // `rsdma_iova_space_create`, by the caller's promise; only shared
    // references are made from it until `rsdma_iova_space_destroy`.
    unsafe { s.cast::<Space>().as_ref() }
}

/// `rsdma_iova_space_create`: see `include/rsdma.h`.
#[no_mangle]
pub extern "C" fn rsdma_iova_space_create(
    granule_shift: core::ffi::c_uint,
    bits: core::ffi::c_uint,
) -> *mut Handle {
    if bits > MAX_SPACE_BITS {
        pr_err!(
            "an IO address space of {} bits; at most {}\n",
            bits,
            MAX_SPACE_BITS
        );
        return core::ptr::null_mut();
    }
    let space = Space::new_standalone(granule_shift, bits).and_then(|space| {
        // IOVA 0 stays out, so that 0 is never an address `alloc` returns.
        space.reserve(0, 1)?;
        Ok(KBox::new(space, GFP_KERNEL)?)
    });
    match space {
        Ok(b) => KBox::into_raw(b).cast(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// `rsdma_iova_space_destroy`: see `include/rsdma.h`.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`], not yet
/// destroyed, with no call on it under way or to come.
#[no_mangle]
pub unsafe extern "C" fn rsdma_iova_space_destroy(s: *mut Handle) {
    if s.is_null() {
        return;
    }
    // SAFETY: `s` is the pointer `KBox::into_raw` gave for a `KBox<Space>`
    // in `rsdma_iova_space_create`, and nothing uses it any more, by the
    // caller's promise: the box is taken back and dropped.
    drop(unsafe { KBox::from_raw(s.cast::<Space>()) });
}

/// `rsdma_iova_space_claim`: see `include/rsdma.h`.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`] and stay
/// undestroyed during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_iova_space_claim(
    s: *mut Handle,
    iova: bindings::dma_addr_t,
    granules: u64,
) -> core::ffi::c_int {
    // SAFETY: the caller's promise.
    let Some(space) = (unsafe { space(s) }) else {
        return EINVAL.to_errno();
    };
    match space.claim(iova, granules) {
        Ok(()) => 0,
        Err(SpaceError::Iova(IovaError::InUse { .. })) => EBUSY.to_errno(),
        Err(SpaceError::NoMemory) => ENOMEM.to_errno(),
        Err(_) => EINVAL.to_errno(),
    }
}

/// `rsdma_iova_alloc`: see `include/rsdma.h`.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`] and stay
/// undestroyed during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_iova_alloc(
    s: *mut Handle,
    granules: u64,
    limit: bindings::dma_addr_t,
) -> bindings::dma_addr_t {
    // SAFETY: the caller's promise.
    let Some(space) = (unsafe { space(s) }) else {
        return 0;
    };
    space
        .alloc_on(time::cpu_hint(), granules, limit)
        .unwrap_or(0)
}

/// `rsdma_iova_free`: see `include/rsdma.h`.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`] and stay
/// undestroyed during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_iova_free(
    s: *mut Handle,
    iova: bindings::dma_addr_t,
    granules: u64,
) -> core::ffi::c_int {
    // SAFETY: the caller's promise.
    let Some(space) = (unsafe { space(s) }) else {
        return EINVAL.to_errno();
    };
    match space.try_free_on(time::cpu_hint(), iova, granules) {
        Ok(()) => 0,
        Err(_) => EINVAL.to_errno(),
    }
}

/// `rsdma_iova_space_used`: see `include/rsdma.h`.
///
/// # Safety
///
/// `s` must be NULL or come from [`rsdma_iova_space_create`] and stay
/// undestroyed during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_iova_space_used(s: *const Handle) -> u64 {
    // SAFETY: the caller's promise.
    unsafe { space(s) }.map_or(0, |space| space.stats().used)
}
