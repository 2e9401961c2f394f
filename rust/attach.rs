// SPDX-License-Identifier: GPL-2.0

//! A device's life with rsdma: [`attach`] sets up its state ([`RsdmaDev`])
//! and points the device's `dma_ops` at rsdma; [`detach`], or the driver
//! unbinding, reports what the driver left mapped and restores the device
//! exactly as it was ([`teardown`]).

use crate::bounce::Bounce;
use crate::coherent::Buffers;
use crate::debug::Debug;
use crate::declared::Declared;
use crate::dev::{Life, RsdmaDev};
use crate::iommu::Iommu;
use crate::kapi::dma_ops::{self, Installed};
use crate::kapi::{device::Device, devres, errno, iommu};
use crate::{dev_err, dev_info};
use core::sync::atomic::AtomicBool;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Arc;

/// How a device is attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Defer IOTLB invalidation to a bounded flush queue.
    pub lazy: bool,
    /// Longest deferral in lazy mode, in ms (0: the default).
    pub flush_ms: u32,
    /// Run the mapping tracker.
    pub tracker: bool,
    /// Bounce mappings that do not fill whole IOMMU granules (also when
    /// the bus marks the device untrusted).
    pub untrusted: bool,
    /// Treat the device as not snooping the CPU caches, whatever firmware
    /// says.
    pub noncoherent: bool,
    /// The highest address the device can drive, whatever masks its
    /// driver sets (`u64::MAX`: what the masks say).
    pub limit: u64,
}

impl devres::Release for Installed<RsdmaDev> {
    fn armed(&self) -> &AtomicBool {
        &self.data.armed
    }

    fn release(this: Arc<Self>) {
        teardown(&this, "driver unbound");
    }
}

/// Checks that rsdma can serve `dev` at all; returns whether an IOMMU
/// translates it.
fn check(dev: &Device) -> Result<bool> {
    if !dma_ops::kernel_has_dma_ops() {
        dev_err!(dev, "rsdma: this kernel has no per-device DMA ops (CONFIG_ARCH_HAS_DMA_OPS; on arm64 it comes with CONFIG_XEN)");
        return Err(errno::not_supported());
    }
    if dma_ops::installed_on::<RsdmaDev>(dev).is_some() {
        dev_err!(dev, "rsdma: device is already attached");
        return Err(errno::exists());
    }
    match iommu::group_size(dev) {
        0 => Ok(false),
        1 => Ok(true),
        n => {
            dev_err!(
                dev,
                "rsdma: the device's IOMMU group holds {} devices; rsdma needs it alone",
                n
            );
            Err(EBUSY)
        }
    }
}

/// Attaches `dev` to rsdma: behind its own IOMMU domain when an IOMMU
/// translates it, otherwise direct with bounce pools under its mask.
pub fn attach(dev: &Device, cfg: Config) -> Result {
    let has_iommu = check(dev)?;
    let untrusted = cfg.untrusted || dev.is_untrusted();
    let coherent = dev.is_dma_coherent() && !cfg.noncoherent;
    let iommu = if has_iommu {
        let init = Iommu::new(dev, cfg.lazy, cfg.flush_ms, !cfg.tracker)?;
        Some(KBox::pin_init(init, GFP_KERNEL)?)
    } else {
        None
    };
    let bounce = if !has_iommu || untrusted {
        let b = Bounce::new(dev, coherent, has_iommu, dev.dma_mask().min(cfg.limit))
            .inspect_err(|e| dev_err!(dev, "rsdma: cannot set up the bounce pool: {:?}", e))?;
        Some(b)
    } else {
        None
    };
    let debug = Debug::new(dev, cfg.tracker)?;
    let state = Arc::pin_init(
        Installed::new(try_pin_init!(RsdmaDev {
            dev: dev.get(),
            coherent,
            untrusted,
            limit: cfg.limit,
            iommu,
            bounce,
            buffers <- Buffers::new(),
            declared <- Declared::new(),
            debug <- debug,
            life <- new_mutex!(Life::Ready, "RsdmaDev::life"),
            armed: AtomicBool::new(false),
        }? Error)),
        GFP_KERNEL,
    )?;
    // The domain is attached only once the state that owns it exists, so an
    // error on the way frees a domain no device is attached to.
    if let Some(iommu) = state.data.iommu.as_deref() {
        iommu.attach(dev).inspect_err(|e| {
            dev_err!(
                dev,
                "rsdma: cannot attach the IOMMU domain: {:?} (does the driver set driver_managed_dma?)",
                e
            )
        })?;
    }
    {
        let mut life = state.data.life.lock();
        let saved = dma_ops::install(dev, state.clone());
        *life = Life::Attached {
            saved,
            files: crate::debug::Files::new(&state),
        };
    }
    if let Err(e) = devres::register(dev, state.clone()) {
        dev_err!(dev, "rsdma: cannot register the unbind action: {:?}", e);
        teardown(&state, "attach failed");
        return Err(e);
    }
    let d = &state.data;
    let tracker = if cfg.tracker { "on" } else { "off" };
    let nc = if d.coherent { "" } else { "non-" };
    let trust = if untrusted { ", untrusted" } else { "" };
    match d.iommu.as_deref() {
        Some(iommu) => dev_info!(
            dev,
            "rsdma: attached ({} invalidation, granule {} KiB, IOVA space {} bits, tracker {}, {}coherent{})",
            if cfg.lazy { "lazy" } else { "strict" },
            iommu.granule() >> 10,
            iommu.space_bits(),
            tracker,
            nc,
            trust
        ),
        None => dev_info!(
            dev,
            "rsdma: attached (direct+bounce, no IOMMU, DMA mask {:#x}, tracker {}, {}coherent)",
            d.dma_mask(),
            tracker,
            nc
        ),
    }
    Ok(())
}

/// Detaches `dev` from rsdma.
pub fn detach(dev: &Device) -> Result {
    let Some(state) = dma_ops::installed_on::<RsdmaDev>(dev) else {
        dev_err!(dev, "rsdma: detach of a device that is not attached");
        return Err(EINVAL);
    };
    if devres::unregister(dev, &*state).is_none() {
        // The unbind action is running: it does the teardown.
        return Ok(());
    }
    teardown(&state, "detached");
    Ok(())
}

/// Reports what the driver left mapped, restores the device and gives it
/// back to its default domain.
fn teardown(state: &Arc<Installed<RsdmaDev>>, why: &str) {
    let d = &state.data;
    let dev = &d.dev;
    let saved = {
        let mut life = d.life.lock();
        match core::mem::replace(&mut *life, Life::Detached) {
            // The debugfs files go first: they hold a reference.
            Life::Attached { saved, files } => {
                drop(files);
                saved
            }
            other => {
                *life = other;
                return;
            }
        }
    };
    let _device_ref = dma_ops::restore(dev, state, saved);
    if let Some(iommu) = d.iommu.as_deref() {
        iommu.drain();
    }
    let leaks = d.debug.report_leaks(dev);
    if let Some(iommu) = d.iommu.as_deref() {
        iommu.detach(dev);
    }
    d.abandon_buffers();
    d.abandon_declared();
    if leaks > 0 {
        dev_err!(
            dev,
            "rsdma: {} mapping(s) were still live at detach; unmapped with the domain",
            leaks
        );
    }
    dev_info!(dev, "rsdma: {}; device restored", why);
}
