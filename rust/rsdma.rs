// SPDX-License-Identifier: GPL-2.0

//! rsdma: a `struct dma_map_ops` implementation for arm64 in Rust.
//!
//! A driver attaches one of its devices to rsdma (`include/rsdma.h`); from
//! then on the kernel's DMA API on that device goes through rsdma's ops,
//! backed by an IOMMU domain rsdma owns.  See `Documentation/rsdma.rst`.

// The device state's pin-initialiser has many fields.
#![recursion_limit = "256"]

use kernel::{c_str, prelude::*, sync::Arc};

pub mod api;
pub mod attach;
pub mod bounce;
pub mod cache;
pub mod claim;
pub mod coherent;
pub mod debug;
pub mod declared;
pub mod dev;
pub mod dmabuf;
pub mod inject;
pub mod iommu;
pub mod iova_api;
pub mod ops;
pub mod params;
pub mod profile;
pub mod route;

/// The abstraction layer: the wrappers of kernel APIs rsdma.ko uses (the
/// samples compile their own selection of the same files).
#[path = "kapi"]
pub mod kapi {
    pub mod bindings;
    pub mod bus;
    pub mod cache;
    pub mod debugfs;
    pub mod device;
    pub mod devres;
    pub mod dma_buf;
    pub mod dma_ops;
    pub mod dma_shared;
    pub mod ffi;
    pub mod fmt;
    pub mod io;
    pub mod iommu;
    pub mod memremap;
    pub mod miscdev;
    pub mod mm;
    pub mod module;
    pub mod page;
    pub mod pci;
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
    pub mod claim;
    pub mod claimspec;
    pub mod coherent;
    pub mod cpu_access;
    pub mod declared;
    pub mod dma;
    pub mod importer_sync;
    pub mod inject;
    pub mod iova;
    pub mod pages;
    pub mod route;
    pub mod sg;
    pub mod span;
    pub mod tracker;
    pub mod uapi;
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

/// The module's state, dropped in this order at unload: the claim file,
/// the bus notifiers, the claims, `/dev/rsdma`, the dma-buf file, then the
/// debugfs directory.
struct Rsdma {
    #[cfg(rsdma_profile)]
    _profile_file: kapi::debugfs::CommandFile<profile::ProfileView>,
    #[cfg(rsdma_inject)]
    _inject_file: kapi::debugfs::CommandFile<inject::InjectView>,
    _claim_file: kapi::debugfs::CommandFile<claim::Claims>,
    _notifiers: claim::Notifiers,
    _claims: Arc<claim::Claims>,
    _misc: Pin<KBox<kapi::miscdev::Registration<dmabuf::ioctl::RsdmaMisc>>>,
    _dmabuf_file: kapi::debugfs::CommandFile<debug::ExportView>,
    _debugfs: kapi::debugfs::Dir,
}

impl kernel::Module for Rsdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let debugfs = kapi::debugfs::Dir::new(c_str!("rsdma"), None);
        let registry = Arc::pin_init(dmabuf::registry::Registry::new(), GFP_KERNEL)?;
        let dmabuf_file = kapi::debugfs::CommandFile::new(
            &debugfs,
            c_str!("dmabuf"),
            Arc::new(debug::ExportView(registry.clone()), GFP_KERNEL)?,
        );
        let misc = kapi::miscdev::Registration::new(
            c_str!("rsdma"),
            None,
            Arc::new(dmabuf::ioctl::RsdmaMisc { registry }, GFP_KERNEL)?,
        )?;
        if !kapi::dma_ops::kernel_has_dma_ops() {
            pr_warn!("rsdma: this kernel has no per-device DMA ops (CONFIG_ARCH_HAS_DMA_OPS); attaching will fail\n");
        }
        let claims = Arc::pin_init(claim::Claims::new()?, GFP_KERNEL)?;
        let at_load = match params::claim() {
            Some(text) => {
                let text = text.to_str().map_err(|_| {
                    pr_err!("claim= is not UTF-8\n");
                    EINVAL
                })?;
                claims.add(text)?
            }
            None => KVec::new(),
        };
        let notifiers = claim::Notifiers::register(&claims)?;
        let claim_file = kapi::debugfs::CommandFile::new(&debugfs, c_str!("claim"), claims.clone());
        pr_info!(
            "rsdma {} loaded (debugfs: {})\n",
            VERSION,
            if debugfs.is_present() {
                "/sys/kernel/debug/rsdma"
            } else {
                "absent"
            }
        );
        #[cfg(rsdma_profile)]
        let profile_file = kapi::debugfs::CommandFile::new(
            &debugfs,
            c_str!("profile"),
            Arc::new(profile::ProfileView, GFP_KERNEL)?,
        );
        #[cfg(rsdma_inject)]
        let inject_file = {
            pr_info!("rsdma: fault injection points compiled in (debugfs rsdma/inject)\n");
            kapi::debugfs::CommandFile::new(
                &debugfs,
                c_str!("inject"),
                Arc::new(inject::InjectView, GFP_KERNEL)?,
            )
        };
        // Last: a device taken over from here on holds a module reference,
        // so nothing after this may fail.
        claims.take_over_bound(&at_load);
        Ok(Rsdma {
            #[cfg(rsdma_profile)]
            _profile_file: profile_file,
            #[cfg(rsdma_inject)]
            _inject_file: inject_file,
            _claim_file: claim_file,
            _notifiers: notifiers,
            _claims: claims,
            _misc: misc,
            _dmabuf_file: dmabuf_file,
            _debugfs: debugfs,
        })
    }
}

impl Drop for Rsdma {
    fn drop(&mut self) {
        pr_info!("rsdma unloaded\n");
    }
}
