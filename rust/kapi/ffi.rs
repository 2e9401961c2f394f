// SPDX-License-Identifier: GPL-2.0

//! What every wrapper of the abstraction layer shares: `ERR_PTR` checks and
//! the errnos the `kernel` crate has no name for.

use super::bindings;

/// Whether `ptr` is null or an `ERR_PTR` (`IS_ERR_OR_NULL`).
pub(crate) fn is_err_ptr<T>(ptr: *const T) -> bool {
    const MAX_ERRNO: usize = 4095;
    ptr.is_null() || (ptr as usize) >= 0usize.wrapping_sub(MAX_ERRNO)
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

    /// `EOPNOTSUPP`: the kernel, or the object asked, lacks what the
    /// operation needs.
    pub fn not_supported() -> Error {
        Error::from_errno(-(bindings::EOPNOTSUPP as i32))
    }
}
