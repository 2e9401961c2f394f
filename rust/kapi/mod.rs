// SPDX-License-Identifier: GPL-2.0

//! rsdma's abstraction layer: safe wrappers over the C APIs rsdma uses that
//! the 6.12 `kernel` crate does not wrap (PCI, devices, pages,
//! scatterlists, debugfs, MMIO).
//!
//! This is the only place in rsdma with `unsafe` code and the only user of
//! [`bindings`]; the ops table, the policy and the samples use the safe
//! types here.

pub mod bindings;
pub mod cache;
pub mod debugfs;
pub mod device;
pub mod devres;
pub mod dma;
pub mod dma_ops;
pub mod fmt;
pub mod io;
pub mod iommu;
pub mod miscdev;
pub mod page;
pub mod pci;
pub mod scatterlist;
pub mod sync;
pub mod time;
pub mod timer;

/// Whether `ptr` is null or an `ERR_PTR` (`IS_ERR_OR_NULL`).
pub(crate) fn is_err_ptr<T>(ptr: *const T) -> bool {
    const MAX_ERRNO: usize = 4095;
    ptr.is_null() || (ptr as usize) >= 0usize.wrapping_sub(MAX_ERRNO)
}

extern "C" {
    /// The module this code is linked into (`THIS_MODULE`).
    static mut __this_module: bindings::module;
}

/// `THIS_MODULE`: the owner to give the C structures this module registers.
pub(crate) fn this_module() -> *mut bindings::module {
    // Taking the address of the module's own `struct module` (defined for
    // every module by modpost) reads nothing.
    core::ptr::addr_of_mut!(__this_module)
}

/// Errors the `kernel` crate has no name for.
pub mod errno {
    use super::bindings;
    use kernel::error::Error;

    /// `ETIMEDOUT`: a device did not answer in time.
    pub fn timed_out() -> Error {
        Error::from_errno(-(bindings::ETIMEDOUT as i32))
    }

    /// `EBUSY`-like refusal for a device another owner holds: `EEXIST`.
    pub fn exists() -> Error {
        Error::from_errno(-(bindings::EEXIST as i32))
    }

    /// `EOPNOTSUPP`: the kernel lacks what the operation needs.
    pub fn not_supported() -> Error {
        Error::from_errno(-(bindings::EOPNOTSUPP as i32))
    }
}
