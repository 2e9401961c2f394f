// SPDX-License-Identifier: GPL-2.0

//! A platform driver that gives its device the memory the device tree
//! reserves for it, through rsdma's declared coherent memory.
//!
//! The device's node names its memory (the regions themselves live under
//! `/reserved-memory`, marked `no-map`):
//!
//! ```text
//! rsdma-sample {
//!         compatible = "rsdma,sample";
//!         memory-region = <&rsdma_map>, <&rsdma_io>;
//! };
//! ```
//!
//! At probe the driver attaches its device to rsdma and declares the first
//! region as memory the CPU maps normally.  From then on every
//! `dma_alloc_coherent()` on the device is served from that region first.
//! Unbinding the driver detaches the device, which drops the region.
//!
//! QEMU virt has no platform device that does DMA, so `checks.rs` plays
//! the device for the scenarios: it reads and writes the buffers at the bus
//! addresses the DMA API gave, and compares the bytes.
//!
//! Safe Rust only: the unsafe code lives in rsdma's abstraction layer.

use kernel::prelude::*;
use kernel::{c_str, sync::Arc};

/// The wrappers of kernel APIs this driver uses.
#[path = "../../rust/kapi"]
pub mod kapi {
    pub mod bindings;
    pub mod debugfs;
    pub mod device;
    pub mod dma;
    pub mod dma_buf_import;
    pub mod dma_ops;
    pub mod ffi;
    pub mod fmt;
    pub mod io;
    pub mod memremap;
    pub mod mm;
    pub mod module;
    pub mod of;
    pub mod of_reserved_mem;
    pub mod page;
    pub mod platform;
    pub mod scatterlist;

    pub use self::ffi::errno;
    pub(crate) use self::ffi::is_err_ptr;
}

/// The types the DMA API speaks in, from rsdma-core.
#[path = "../../rust/core/src"]
pub mod rsdma_core {
    pub mod dma;
    pub mod span;
}

/// rsdma's C API (`include/rsdma.h`).
#[path = "../../rust/client.rs"]
pub mod rsdma;

mod checks;

use kapi::debugfs::{CommandFile, Dir};
use kapi::{of_reserved_mem, platform};
use rsdma::MemFlags;

module! {
    type: SampleModule,
    name: "rsdma_platform",
    author: "the rsdma developers",
    description: "Sample platform driver: declared coherent memory from the device tree",
    license: "GPL",
}

/// What the driver keeps per bound device (the debugfs file drops first).
struct SampleData {
    _run: CommandFile<checks::Checks>,
    _dir: Dir,
}

struct SampleDriver;

impl platform::Driver for SampleDriver {
    type Data = SampleData;
    const NAME: &'static CStr = c_str!("rsdma_platform");
    const COMPATIBLE: &'static [&'static CStr] = &[c_str!("rsdma,sample")];
    /// rsdma takes the device's DMA over.
    const MANAGED_DMA: bool = true;

    fn probe(pdev: &platform::Device) -> Result<Pin<KBox<SampleData>>> {
        let dev = pdev.as_dev();
        // Every DMA call on the device goes through rsdma from here on.  If
        // probe fails below, the driver core's cleanup detaches it again.
        rsdma::attach(dev, &rsdma::Config::default())?;
        // The first `memory-region`: memory the CPU maps normally.
        let mem = of_reserved_mem::memory_region(dev, 0)?;
        // Without an IOMMU the device sees the memory at its bus address.
        let bus = dev.phys_to_dma(mem.phys());
        rsdma::declare_coherent_memory(dev, &mem, bus, MemFlags::MAP)?;
        dev_info!(
            dev,
            "{:#x} bytes at {:#x} serve dma_alloc_coherent (bus address {:#x})",
            mem.len(),
            mem.phys(),
            bus
        );

        // The scenarios' checks: /sys/kernel/debug/rsdma_platform/<dev>/run.
        let io = of_reserved_mem::memory_region(dev, 1)?;
        let checks = Arc::pin_init(checks::Checks::new(dev, mem, io), GFP_KERNEL)?;
        let dir = Dir::new_under_root_dir(c_str!("rsdma_platform"), dev.name());
        let run = CommandFile::new(&dir, c_str!("run"), checks);
        Ok(KBox::pin(
            SampleData {
                _run: run,
                _dir: dir,
            },
            GFP_KERNEL,
        )?)
    }
}

/// The driver is unregistered (every device unbound) before the debugfs
/// directory the devices live under goes.
struct SampleModule {
    _reg: Pin<KBox<platform::Registration<SampleDriver>>>,
    _dir: Dir,
}

impl kernel::Module for SampleModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let dir = Dir::new(c_str!("rsdma_platform"), None);
        let reg = platform::Registration::<SampleDriver>::new()?;
        Ok(SampleModule {
            _reg: reg,
            _dir: dir,
        })
    }
}
