// SPDX-License-Identifier: GPL-2.0

//! PCI drivers and devices.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use super::{bindings, device, io::Mmio};
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::error::{code::*, to_result, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// The vendor and device ID of `dev` when it is a PCI device.
pub fn ids(dev: &device::Device) -> Option<(u16, u16)> {
    let (mut vendor, mut device) = (0u16, 0u16);
    // SAFETY: the device is live; the outputs are valid for writes.
    let is_pci = unsafe { bindings::rsdma_helper_pci_ids(dev.as_raw(), &mut vendor, &mut device) };
    is_pci.then_some((vendor, device))
}

/// A `struct pci_dev`.
///
/// # Invariants
///
/// A `&Device` points to a live PCI device bound to the driver that was
/// handed the reference (it is only given out inside probe and remove, or
/// borrowed from the driver's own data while bound).
#[repr(transparent)]
pub struct Device(Opaque<bindings::pci_dev>);

impl Device {
    /// Borrows a `struct pci_dev`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live PCI device for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::pci_dev) -> &'a Self {
        // SAFETY: transparent wrapper; liveness is the caller's promise.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The raw `struct pci_dev *`.
    pub fn as_raw(&self) -> *mut bindings::pci_dev {
        self.0.get()
    }

    /// The generic device.
    pub fn as_dev(&self) -> &device::Device {
        // SAFETY: the embedded `struct device` lives as long as the PCI
        // device (type invariant).
        unsafe { device::Device::from_raw(bindings::rsdma_helper_pci_dev(self.as_raw())) }
    }

    /// The vendor ID.
    pub fn vendor_id(&self) -> u16 {
        // SAFETY: the device is live (type invariant); `vendor` is set at
        // enumeration and never changes.
        unsafe { (*self.as_raw()).vendor }
    }

    /// The device ID.
    pub fn device_id(&self) -> u16 {
        // SAFETY: as for `vendor_id`.
        unsafe { (*self.as_raw()).device }
    }

    /// Enables the device (`pci_enable_device`) until the guard drops.
    pub fn enable(&self) -> Result<Enabled> {
        // SAFETY: the device is live (type invariant).
        to_result(unsafe { bindings::pci_enable_device(self.as_raw()) })?;
        // INVARIANT: enabled just above.
        Ok(Enabled {
            pdev: self.as_raw(),
        })
    }

    /// Lets the device master the bus (`pci_set_master`).
    pub fn set_master(&self) {
        // SAFETY: the device is live (type invariant).
        unsafe { bindings::pci_set_master(self.as_raw()) };
    }

    /// Requests and maps BAR `bar` (`pci_request_region` + `pci_iomap`).
    pub fn iomap_region(&self, bar: u32, name: &'static CStr) -> Result<Bar> {
        if bar > 5 {
            return Err(EINVAL);
        }
        let pdev = self.as_raw();
        // SAFETY: the device is live (type invariant); `name` is static.
        to_result(unsafe { bindings::pci_request_region(pdev, bar as i32, name.as_char_ptr()) })?;
        // SAFETY: as above; the region is ours now.
        let len = unsafe { bindings::rsdma_helper_pci_resource_len(pdev, bar as i32) } as usize;
        // SAFETY: the device is live and the region requested.
        let base = unsafe { bindings::pci_iomap(pdev, bar as i32, 0) };
        if base.is_null() || len == 0 {
            // SAFETY: requested above.
            unsafe { bindings::pci_release_region(pdev, bar as i32) };
            return Err(ENOMEM);
        }
        // INVARIANT: the BAR is requested and `base` maps `len` bytes until
        // `Bar::drop` unmaps it.
        Ok(Bar {
            pdev,
            bar,
            // SAFETY: `base` maps `len` bytes until `Bar` drops, and `Mmio`
            // lives inside `Bar`.
            mmio: unsafe { Mmio::new(base, len) },
        })
    }
}

/// An enabled PCI device; dropping it disables the device.
///
/// # Invariants
///
/// `pdev` was enabled by [`Device::enable`] and stays live while bound.
pub struct Enabled {
    pdev: *mut bindings::pci_dev,
}

impl Drop for Enabled {
    fn drop(&mut self) {
        // SAFETY: enabled by us (type invariant).
        unsafe { bindings::pci_disable_device(self.pdev) };
    }
}

// SAFETY: the pointer is only used to disable the device, from any thread.
unsafe impl Send for Enabled {}
// SAFETY: no access through `&Enabled`.
unsafe impl Sync for Enabled {}

/// A requested and mapped BAR.
///
/// # Invariants
///
/// BAR `bar` of `pdev` is requested by us and mapped by `mmio`.
pub struct Bar {
    pdev: *mut bindings::pci_dev,
    bar: u32,
    mmio: Mmio,
}

impl core::ops::Deref for Bar {
    type Target = Mmio;

    fn deref(&self) -> &Mmio {
        &self.mmio
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // SAFETY: mapped and requested by us (type invariant).
        unsafe {
            bindings::pci_iounmap(self.pdev, self.mmio.base_ptr());
            bindings::pci_release_region(self.pdev, self.bar as i32);
        }
    }
}

// SAFETY: see `Mmio`; the pointers are used only in drop.
unsafe impl Send for Bar {}
// SAFETY: as above.
unsafe impl Sync for Bar {}

/// A PCI driver.
pub trait Driver {
    /// Per-device state, created by `probe` and handed back to `remove`.
    type Data: Send + Sync;

    /// The driver's name.
    const NAME: &'static CStr;

    /// The (vendor, device) pairs the driver binds to; at most
    /// [`MAX_IDS`].
    const IDS: &'static [(u16, u16)];

    /// Whether the driver manages the device's DMA translation itself
    /// (`driver_managed_dma`): the IOMMU core then leaves the device's
    /// group without a kernel-owned DMA domain while it is bound.
    const MANAGED_DMA: bool = false;

    /// Binds to `dev`.
    fn probe(dev: &Device) -> Result<Pin<KBox<Self::Data>>>;

    /// Unbinds from `dev`; `data` drops afterwards.
    fn remove(dev: &Device, data: Pin<KBox<Self::Data>>) {
        let _ = (dev, data);
    }
}

/// The largest number of IDs a [`Driver`] may list.
pub const MAX_IDS: usize = 8;

/// A registered PCI driver; dropping it unregisters the driver (which
/// removes it from every device first).
///
/// # Invariants
///
/// `drv` is registered with the PCI core and lives at a fixed address (the
/// registration is only handed out boxed and pinned).
#[pin_data(PinnedDrop)]
pub struct Registration<T: Driver> {
    #[pin]
    drv: Opaque<bindings::pci_driver>,
    #[pin]
    ids: Opaque<[bindings::pci_device_id; MAX_IDS + 1]>,
    _p: PhantomData<T>,
}

// SAFETY: the PCI core serialises use of the registered driver.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` offers no access.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver + 'static> Registration<T> {
    /// Registers `T`, owned by the calling module.
    pub fn new() -> Result<Pin<KBox<Self>>> {
        if T::IDS.is_empty() || T::IDS.len() > MAX_IDS {
            return Err(EINVAL);
        }
        let reg = KBox::pin_init(
            pin_init!(Self {
                drv <- zeroed(),
                ids <- zeroed(),
                _p: PhantomData,
            }),
            GFP_KERNEL,
        )?;
        let ids = reg.ids.get().cast::<bindings::pci_device_id>();
        for (i, &(vendor, device)) in T::IDS.iter().enumerate() {
            // SAFETY: `i < MAX_IDS`; the table is ours and not yet
            // registered, so nobody else reads it.  The last entry stays
            // zeroed: the terminator.
            unsafe {
                let id = &mut *ids.add(i);
                id.vendor = vendor.into();
                id.device = device.into();
                id.subvendor = !0;
                id.subdevice = !0;
            }
        }
        let drv = reg.drv.get();
        // SAFETY: `drv` is ours, zeroed, and not yet registered; every
        // pointer stored in it outlives the registration.
        unsafe {
            (*drv).name = T::NAME.as_char_ptr();
            (*drv).id_table = ids;
            (*drv).probe = Some(probe_callback::<T>);
            (*drv).remove = Some(remove_callback::<T>);
            bindings::rsdma_helper_pci_driver_set_managed_dma(drv, T::MANAGED_DMA);
        }
        // SAFETY: `drv` is fully initialised and pinned for as long as the
        // registration lives; the owner is this module.
        to_result(unsafe {
            bindings::__pci_register_driver(
                drv,
                super::module::this_module(),
                T::NAME.as_char_ptr(),
            )
        })?;
        // INVARIANT: registered above, and pinned in its box.
        Ok(reg)
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant); this removes every bound
        // device before returning.
        unsafe { bindings::pci_unregister_driver(self.drv.get()) };
    }
}

/// Initialises C data to all zeroes, the state C expects of a fresh
/// `pci_driver` or ID table.
fn zeroed<T>() -> impl PinInit<Opaque<T>> {
    Opaque::ffi_init(|p: *mut T| {
        // SAFETY: `p` is valid for writes of one `T`, and all-zero is a
        // valid `pci_driver` and `pci_device_id` table.
        unsafe { core::ptr::write_bytes(p, 0, 1) }
    })
}

/// # Safety
///
/// Called by the PCI core for a device matching the registration.
unsafe extern "C" fn probe_callback<T: Driver>(
    pdev: *mut bindings::pci_dev,
    _id: *const bindings::pci_device_id,
) -> core::ffi::c_int {
    // SAFETY: the PCI core passes a live device that stays bound (and so
    // live) until `remove_callback`.
    let dev = unsafe { Device::from_raw(pdev) };
    match T::probe(dev) {
        Ok(data) => {
            // SAFETY: the data is given to the C side and taken back
            // exactly once, pinned, in `remove_callback`.
            let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
            // SAFETY: `pdev` is live.
            unsafe { bindings::rsdma_helper_pci_set_drvdata(pdev, ptr.cast()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the PCI core for a device `probe_callback` bound.
unsafe extern "C" fn remove_callback<T: Driver>(pdev: *mut bindings::pci_dev) {
    // SAFETY: the device is live until this returns.
    let dev = unsafe { Device::from_raw(pdev) };
    // SAFETY: `pdev` is live.
    let ptr = unsafe { bindings::rsdma_helper_pci_get_drvdata(pdev) }.cast::<T::Data>();
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from `KBox::into_raw` in `probe_callback` and is
    // taken back only here; it was pinned and stays pinned.
    let data = unsafe { Pin::new_unchecked(KBox::from_raw(ptr)) };
    // SAFETY: `pdev` is live; clear the stale pointer.
    unsafe { bindings::rsdma_helper_pci_set_drvdata(pdev, core::ptr::null_mut()) };
    T::remove(dev, data);
}
