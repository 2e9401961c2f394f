// SPDX-License-Identifier: GPL-2.0

//! The client side of rsdma's exported API (`include/rsdma.h`), for
//! drivers in other modules that attach their devices to rsdma.
//!
//! Compiled into client modules only (rsdma itself defines these symbols).

use crate::kapi::{bindings, device::Device};
use kernel::error::{to_result, Result};

/// How to attach a device.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Defer IOTLB invalidation to a bounded flush queue.
    pub lazy: bool,
    /// Longest deferral in lazy mode, in ms (0: the default).
    pub flush_ms: u32,
    /// Do not run the mapping tracker.
    pub no_tracker: bool,
    /// Bounce mappings that do not fill whole IOMMU granules.
    pub untrusted: bool,
    /// Treat the device as not snooping the CPU caches.
    pub noncoherent: bool,
}

/// Attaches `dev` to rsdma (`rsdma_attach`).
pub fn attach(dev: &Device, cfg: &Config) -> Result {
    let mut flags = 0;
    if cfg.lazy {
        flags |= bindings::RSDMA_ATTACH_LAZY;
    }
    if cfg.no_tracker {
        flags |= bindings::RSDMA_ATTACH_NO_TRACKER;
    }
    if cfg.untrusted {
        flags |= bindings::RSDMA_ATTACH_UNTRUSTED;
    }
    if cfg.noncoherent {
        flags |= bindings::RSDMA_ATTACH_NONCOHERENT;
    }
    let c = bindings::rsdma_config {
        flags,
        flush_ms: cfg.flush_ms,
    };
    // SAFETY: the device is live; `c` outlives the call.
    to_result(unsafe { bindings::rsdma_attach(dev.as_raw(), &c) })
}

/// Detaches `dev` from rsdma (`rsdma_detach`).
pub fn detach(dev: &Device) -> Result {
    // SAFETY: the device is live.
    to_result(unsafe { bindings::rsdma_detach(dev.as_raw()) })
}
