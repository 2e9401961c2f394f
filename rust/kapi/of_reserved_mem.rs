// SPDX-License-Identifier: GPL-2.0

//! Memory the device tree reserves for devices (`/reserved-memory`).
//!
//! C header: [`include/linux/of_reserved_mem.h`](srctree/include/linux/of_reserved_mem.h)

use super::memremap::PhysRange;
use super::{bindings, device::Device, of::Node};
use kernel::c_str;
use kernel::error::{code::*, Result};
use kernel::str::CStr;

/// The reserved region `node` describes (`of_reserved_mem_lookup`);
/// `ENOENT` when it is not a `/reserved-memory` region.
pub fn region(node: &Node) -> Result<PhysRange> {
    // SAFETY: the node is live (we hold a reference).
    let r = unsafe { bindings::of_reserved_mem_lookup(node.as_raw()) };
    if r.is_null() {
        return Err(ENOENT);
    }
    // SAFETY: reserved regions are set up at boot and never freed.
    let (base, size) = unsafe { ((*r).base, (*r).size) };
    // SAFETY: the kernel keeps reserved memory out of its allocators; it
    // belongs to the devices the device tree gives it to.
    unsafe { PhysRange::new(base, size) }
}

/// The `index`th region of `dev`'s `memory-region` property.
pub fn memory_region(dev: &Device, index: u32) -> Result<PhysRange> {
    let node = Node::phandle_of(dev, c_str!("memory-region"), index).ok_or(ENOENT)?;
    region(&node)
}

/// The reserved region at the full device-tree `path`, for a device the
/// device tree does not describe (a PCI device).
pub fn region_at(path: &CStr) -> Result<PhysRange> {
    region(&Node::by_path(path).ok_or(ENOENT)?)
}
