// SPDX-License-Identifier: GPL-2.0

//! rsdma: a `struct dma_map_ops` implementation for arm64 in Rust.
//!
//! A driver attaches one of its devices to rsdma; from then on the kernel's
//! DMA API on that device goes through rsdma's ops, backed by an IOMMU
//! domain rsdma owns.  See `Documentation/rsdma.rst`.

use kernel::{c_str, prelude::*};

pub mod kapi;

module! {
    type: Rsdma,
    name: "rsdma",
    author: "the rsdma developers",
    description: "DMA mapping operations with an IOMMU-backed IOVA allocator",
    license: "GPL",
}

/// rsdma's version, logged at load.
const VERSION: &str = "0.1.0";

struct Rsdma {
    _debugfs: kapi::debugfs::Dir,
}

impl kernel::Module for Rsdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let debugfs = kapi::debugfs::Dir::new(c_str!("rsdma"), None);
        pr_info!("rsdma {} loaded (debugfs: {})\n", VERSION,
            if debugfs.is_present() { "/sys/kernel/debug/rsdma" } else { "absent" });
        Ok(Rsdma { _debugfs: debugfs })
    }
}

impl Drop for Rsdma {
    fn drop(&mut self) {
        pr_info!("rsdma unloaded\n");
    }
}
