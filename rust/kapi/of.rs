// SPDX-License-Identifier: GPL-2.0

//! Device-tree properties of a device's firmware node.
//!
//! C header: [`include/linux/of.h`](srctree/include/linux/of.h)

use super::{bindings, device::Device};

/// The `compatible` property of `dev`'s device-tree node: strings, each
/// ended by a NUL; empty when the device has no node or the node no such
/// property.
pub fn compatible(dev: &Device) -> &[u8] {
    let mut len: core::ffi::c_int = 0;
    // SAFETY: the device is live; `len` is valid for writes.
    let p = unsafe { bindings::rsdma_helper_of_compatible(dev.as_raw(), &mut len) };
    match usize::try_from(len) {
        Ok(len) if !p.is_null() && len > 0 => {
            // SAFETY: `of_get_property` returns the property's value, `len`
            // bytes, which lives as long as the node, which the device
            // holds as long as it lives (longer than `&dev`).
            unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) }
        }
        _ => &[],
    }
}
