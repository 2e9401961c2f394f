// SPDX-License-Identifier: GPL-2.0

//! Where physical memory lies in the kernel's resource tree.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::bindings;

/// How a physical range relates to the System RAM the kernel manages
/// (`region_intersects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ram {
    /// No byte of it is System RAM: device memory, or memory reserved
    /// `no-map` and kept out of the kernel's linear map.
    None,
    /// All of it is System RAM.
    All,
    /// Part of it is.
    Part,
}

/// How `len` bytes at `phys` relate to System RAM.
pub fn system_ram(phys: u64, len: usize) -> Ram {
    // SAFETY: a lookup in the resource tree; any range is a valid argument.
    let r = unsafe {
        bindings::region_intersects(
            phys,
            len,
            bindings::RSDMA_IORESOURCE_SYSTEM_RAM,
            bindings::RSDMA_IORES_DESC_NONE,
        )
    };
    match r {
        bindings::RSDMA_REGION_DISJOINT => Ram::None,
        bindings::RSDMA_REGION_INTERSECTS => Ram::All,
        _ => Ram::Part,
    }
}
