// SPDX-License-Identifier: GPL-2.0

//! rsdma: a `struct dma_map_ops` implementation for arm64 in Rust.
//!
//! A driver attaches one of its devices to rsdma (`include/rsdma.h`); from
//! then on the kernel's DMA API on that device goes through rsdma's ops,
//! backed by an IOMMU domain rsdma owns.  See `Documentation/rsdma.rst`.

// The device state's pin-initialiser has many fields.
#![recursion_limit = "256"]

use kernel::{c_str, prelude::*};

pub mod attach;
pub mod kapi;

/// The allocators, tracker and planners, shared with the host-tested
/// `rsdma-core` crate by source.
#[path = "core/src"]
pub mod rsdma_core {
    pub mod bitmap;
    pub mod bounce;
    pub mod cache;
    pub mod coherent;
    pub mod iova;
    pub mod sg;
    pub mod tracker;
}

/// The C API other modules call (`include/rsdma.h`).
#[path = "kapi/export.rs"]
pub mod export;

module! {
    type: Rsdma,
    name: "rsdma",
    author: "the rsdma developers",
    description: "DMA mapping operations with an IOMMU-backed IOVA allocator",
    license: "GPL",
}

/// rsdma's version, logged at load.
const VERSION: &str = "0.2.0";

/// Whether attached devices run the mapping tracker unless their driver
/// opts out.
pub fn tracker_default() -> bool {
    true
}

struct Rsdma {
    _debugfs: kapi::debugfs::Dir,
}

impl kernel::Module for Rsdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let debugfs = kapi::debugfs::Dir::new(c_str!("rsdma"), None);
        if !kapi::dma_ops::kernel_has_dma_ops() {
            pr_warn!("rsdma: this kernel has no per-device DMA ops (CONFIG_ARCH_HAS_DMA_OPS); attaching will fail\n");
        }
        pr_info!(
            "rsdma {} loaded (debugfs: {})\n",
            VERSION,
            if debugfs.is_present() {
                "/sys/kernel/debug/rsdma"
            } else {
                "absent"
            }
        );
        Ok(Rsdma { _debugfs: debugfs })
    }
}

impl Drop for Rsdma {
    fn drop(&mut self) {
        pr_info!("rsdma unloaded\n");
    }
}
