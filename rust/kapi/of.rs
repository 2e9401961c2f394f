// SPDX-License-Identifier: GPL-2.0

//! Device-tree nodes.
//!
//! C header: [`include/linux/of.h`](srctree/include/linux/of.h)

use super::{bindings, device::Device};
use core::ptr::NonNull;
use kernel::str::CStr;

/// A counted reference to a device-tree node, given back on drop
/// (`of_node_put`).
///
/// # Invariants
///
/// `ptr` is a live node this value holds a reference to.
pub struct Node {
    ptr: NonNull<bindings::device_node>,
}

impl Node {
    /// The node at the full `path` (`of_find_node_by_path`).
    pub fn by_path(path: &CStr) -> Option<Node> {
        // SAFETY: `path` is NUL-terminated; the call takes a reference to
        // the node it returns.
        let p = unsafe { bindings::rsdma_helper_of_find_node_by_path(path.as_char_ptr()) };
        // INVARIANT: a node we hold a reference to, or none.
        NonNull::new(p).map(|ptr| Node { ptr })
    }

    /// The node the `index`th phandle of property `name` of `dev`'s own
    /// node points at (`of_parse_phandle`); `None` when `dev` has no node,
    /// no such property, or fewer phandles.
    pub fn phandle_of(dev: &Device, name: &CStr, index: u32) -> Option<Node> {
        let index = i32::try_from(index).ok()?;
        // SAFETY: the device is live; its node pointer is set before it is
        // bound and stays valid while the device lives.
        let np = unsafe { (*dev.as_raw()).of_node };
        if np.is_null() {
            return None;
        }
        // SAFETY: `np` is a live node; `name` is NUL-terminated; the call
        // takes a reference to the node it returns.
        let p = unsafe { bindings::rsdma_helper_of_parse_phandle(np, name.as_char_ptr(), index) };
        // INVARIANT: as in `by_path`.
        NonNull::new(p).map(|ptr| Node { ptr })
    }

    /// The raw `struct device_node *`.
    pub fn as_raw(&self) -> *mut bindings::device_node {
        self.ptr.as_ptr()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: we hold a reference (type invariant) and give it back once.
        unsafe { bindings::rsdma_helper_of_node_put(self.ptr.as_ptr()) };
    }
}

// SAFETY: node references may be taken and dropped on any thread.
unsafe impl Send for Node {}
// SAFETY: `&Node` only reads the pointer.
unsafe impl Sync for Node {}
