// SPDX-License-Identifier: GPL-2.0

//! rsdma's abstraction layer: safe wrappers over the C APIs rsdma uses that
//! the 6.12 `kernel` crate does not wrap (PCI, devices, pages,
//! scatterlists, debugfs, MMIO).
//!
//! This is the only place in rsdma with `unsafe` code and the only user of
//! [`bindings`]; the ops table, the policy and the samples use the safe
//! types here.

pub mod bindings;
pub mod debugfs;
pub mod device;
pub mod fmt;

/// Whether `ptr` is null or an `ERR_PTR` (`IS_ERR_OR_NULL`).
pub(crate) fn is_err_ptr<T>(ptr: *const T) -> bool {
    const MAX_ERRNO: usize = 4095;
    ptr.is_null() || (ptr as usize) >= 0usize.wrapping_sub(MAX_ERRNO)
}
