// SPDX-License-Identifier: GPL-2.0

//! rsdma's C API (`include/rsdma.h`): the functions other modules call.
//!
//! Compiled into rsdma.ko only; `rust/api_exports.c` exports the symbols.

use crate::attach;
use crate::kapi::{bindings, device::Device};

/// `rsdma_attach`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller; `config`
/// must be null or point to a valid `struct rsdma_config`.
#[no_mangle]
pub unsafe extern "C" fn rsdma_attach(
    dev: *mut bindings::device,
    config: *const bindings::rsdma_config,
) -> core::ffi::c_int {
    if dev.is_null() {
        return kernel::error::code::EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: null or valid, by the caller's promise.
    let (flags, flush_ms) = match unsafe { config.as_ref() } {
        Some(c) => (c.flags, c.flush_ms),
        None => (0, 0),
    };
    let known = bindings::RSDMA_ATTACH_LAZY
        | bindings::RSDMA_ATTACH_NO_TRACKER
        | bindings::RSDMA_ATTACH_UNTRUSTED;
    if flags & !known != 0 {
        crate::dev_err!(dev, "rsdma: unknown attach flags {:#x}", flags & !known);
        return kernel::error::code::EINVAL.to_errno();
    }
    let cfg = attach::Config {
        lazy: flags & bindings::RSDMA_ATTACH_LAZY != 0,
        flush_ms,
        tracker: flags & bindings::RSDMA_ATTACH_NO_TRACKER == 0 && crate::tracker_default(),
        untrusted: flags & bindings::RSDMA_ATTACH_UNTRUSTED != 0,
        limit: u64::MAX,
    };
    match attach::attach(dev, cfg) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `rsdma_detach`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller.
#[no_mangle]
pub unsafe extern "C" fn rsdma_detach(dev: *mut bindings::device) -> core::ffi::c_int {
    if dev.is_null() {
        return kernel::error::code::EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    match attach::detach(dev) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
