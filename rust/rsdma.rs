// SPDX-License-Identifier: GPL-2.0

//! rsdma: a `struct dma_map_ops` implementation for arm64 in Rust.
//!
//! A driver attaches one of its devices to rsdma (`include/rsdma.h`); from
//! then on the kernel's DMA API on that device goes through rsdma's ops,
//! backed by an IOMMU domain rsdma owns.  See `Documentation/rsdma.rst`.

// The device state's pin-initialiser has many fields.
#![recursion_limit = "256"]

use kernel::{c_str, prelude::*};

pub mod api;
pub mod attach;
pub mod bounce;
pub mod cache;
pub mod coherent;
pub mod debug;
pub mod dev;
pub mod iommu;
pub mod ops;
pub mod params;
pub mod route;

/// The abstraction layer: the wrappers of kernel APIs rsdma.ko uses (the
/// samples compile their own selection of the same files).
#[path = "kapi"]
pub mod kapi {
    pub mod bindings;
    pub mod cache;
    pub mod debugfs;
    pub mod device;
    pub mod devres;
    pub mod dma_ops;
    pub mod ffi;
    pub mod fmt;
    pub mod iommu;
    pub mod mm;
    pub mod page;
    pub mod scatterlist;
    pub mod sync;
    pub mod time;
    pub mod timer;
    pub mod vmalloc;

    pub use self::ffi::errno;
    pub(crate) use self::ffi::is_err_ptr;
}

/// The allocators, tracker, planners and decision tables, shared with the
/// host-tested `rsdma-core` crate by source.
#[path = "core/src"]
pub mod rsdma_core {
    pub mod bitmap;
    pub mod bounce;
    pub mod cache;
    pub mod coherent;
    pub mod dma;
    pub mod iova;
    pub mod pages;
    pub mod route;
    pub mod sg;
    pub mod tracker;
}

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
