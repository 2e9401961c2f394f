// SPDX-License-Identifier: GPL-2.0

//! Device-managed actions: run when the device's driver unbinds.
//!
//! C header: [`include/linux/device.h`](srctree/include/linux/device.h)

use super::{bindings, device::Device};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{to_result, Result};
use kernel::sync::Arc;

/// What runs when the device's driver unbinds, unless taken back first.
pub trait Release: Send + Sync + Sized {
    /// Whether an action is registered for this object; [`register`] sets
    /// it, and whichever of the release and [`unregister`] clears it owns
    /// the reference the action held.
    fn armed(&self) -> &AtomicBool;

    /// Called once, with the reference [`register`] gave away.
    fn release(this: Arc<Self>);
}

/// # Safety
///
/// Called by devres with the pointer `register` gave it.
unsafe extern "C" fn release_callback<T: Release>(data: *mut core::ffi::c_void) {
    // SAFETY: `data` came from `Arc::into_raw` in `register`; the reference
    // it stands for is still held (by the action) until `armed` is cleared.
    let obj = unsafe { &*data.cast::<T>().cast_const() };
    if obj.armed().swap(false, Ordering::AcqRel) {
        // SAFETY: we cleared `armed`, so the action's reference is ours.
        T::release(unsafe { Arc::from_raw(data.cast::<T>().cast_const()) });
    }
}

/// Arranges for `T::release(obj)` to run when `dev`'s driver unbinds.
pub fn register<T: Release>(dev: &Device, obj: Arc<T>) -> Result {
    obj.armed().store(true, Ordering::Release);
    let raw = Arc::into_raw(obj);
    // SAFETY: the device is live; the callback matches the data's type.
    let ret = unsafe {
        bindings::rsdma_helper_devm_add_action(
            dev.as_raw(),
            Some(release_callback::<T>),
            raw.cast_mut().cast(),
        )
    };
    if ret != 0 {
        // SAFETY: not registered, so the reference is still ours.
        let obj = unsafe { Arc::from_raw(raw) };
        obj.armed().store(false, Ordering::Release);
    }
    to_result(ret)
}

/// Takes back the action [`register`] set up for `obj` on `dev`, with the
/// reference it held; `None` when it is not registered (or already ran).
pub fn unregister<T: Release>(dev: &Device, obj: &T) -> Option<Arc<T>> {
    if !obj.armed().swap(false, Ordering::AcqRel) {
        return None;
    }
    let raw: *const T = obj;
    // SAFETY: the device is live and the action registered (`armed` was
    // set and we cleared it, so it has not run).
    unsafe {
        bindings::rsdma_helper_devm_remove_action(
            dev.as_raw(),
            Some(release_callback::<T>),
            raw.cast_mut().cast(),
        )
    };
    // SAFETY: `raw` is the pointer `register` got from `Arc::into_raw`; we
    // cleared `armed`, so the reference is ours.
    Some(unsafe { Arc::from_raw(raw) })
}
