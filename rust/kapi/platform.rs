// SPDX-License-Identifier: GPL-2.0

//! Platform drivers bound through the device tree, and platform devices a
//! driver creates under its own.
//!
//! C header: [`include/linux/platform_device.h`](srctree/include/linux/platform_device.h)

use super::{bindings, device};
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::error::{code::*, to_result, Error, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A `struct platform_device`.
///
/// # Invariants
///
/// A `&Device` points to a live platform device (bound to the driver that
/// was handed the reference, or created by [`Child::register`]).
#[repr(transparent)]
pub struct Device(Opaque<bindings::platform_device>);

impl Device {
    /// Borrows a `struct platform_device`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live platform device for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::platform_device) -> &'a Self {
        // SAFETY: transparent wrapper; liveness is the caller's promise.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The raw `struct platform_device *`.
    pub fn as_raw(&self) -> *mut bindings::platform_device {
        self.0.get()
    }

    /// The generic device.
    pub fn as_dev(&self) -> &device::Device {
        // SAFETY: the embedded `struct device` lives as long as the platform
        // device (type invariant).
        unsafe { device::Device::from_raw(core::ptr::addr_of_mut!((*self.as_raw()).dev)) }
    }
}

/// A platform driver matched by device-tree `compatible` strings.
pub trait Driver {
    /// Per-device state, created by `probe` and handed back to `remove`.
    type Data: Send + Sync;

    /// The driver's name.
    const NAME: &'static CStr;

    /// The `compatible` strings the driver binds to; at most [`MAX_IDS`],
    /// each shorter than 128 bytes.
    const COMPATIBLE: &'static [&'static CStr];

    /// Whether the driver manages the device's DMA translation itself
    /// (`driver_managed_dma`).
    const MANAGED_DMA: bool = false;

    /// Binds to `dev`.
    fn probe(dev: &Device) -> Result<Pin<KBox<Self::Data>>>;

    /// Unbinds from `dev`; `data` drops afterwards.
    fn remove(dev: &Device, data: Pin<KBox<Self::Data>>) {
        let _ = (dev, data);
    }
}

/// The largest number of `compatible` strings a [`Driver`] may list.
pub const MAX_IDS: usize = 4;

/// A registered platform driver; dropping it unregisters the driver (which
/// unbinds it from every device first).
///
/// # Invariants
///
/// `drv` is registered with the driver core and lives at a fixed address
/// (the registration is only handed out boxed and pinned).
#[pin_data(PinnedDrop)]
pub struct Registration<T: Driver> {
    #[pin]
    drv: Opaque<bindings::platform_driver>,
    #[pin]
    ids: Opaque<[bindings::of_device_id; MAX_IDS + 1]>,
    _p: PhantomData<T>,
}

// SAFETY: the driver core serialises use of the registered driver.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` offers no access.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver + 'static> Registration<T> {
    /// Registers `T`, owned by the calling module.
    pub fn new() -> Result<Pin<KBox<Self>>> {
        if T::COMPATIBLE.is_empty() || T::COMPATIBLE.len() > MAX_IDS {
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
        let ids = reg.ids.get().cast::<bindings::of_device_id>();
        for (i, compat) in T::COMPATIBLE.iter().enumerate() {
            let bytes = compat.as_bytes();
            // SAFETY: `i < MAX_IDS`; the table is ours and not yet
            // registered.  The last entry stays zeroed: the terminator.
            let field = unsafe { &mut (*ids.add(i)).compatible };
            if bytes.len() >= field.len() {
                return Err(EINVAL);
            }
            for (d, &b) in field.iter_mut().zip(bytes) {
                *d = b as _;
            }
        }
        let drv = reg.drv.get();
        // SAFETY: `drv` is ours, zeroed and not yet registered; every
        // pointer stored in it outlives the registration.
        unsafe {
            (*drv).driver.name = T::NAME.as_char_ptr();
            (*drv).driver.of_match_table = ids;
            (*drv).probe = Some(probe_callback::<T>);
            (*drv).__bindgen_anon_1.remove = Some(remove_callback::<T>);
            (*drv).driver_managed_dma = T::MANAGED_DMA;
        }
        // SAFETY: `drv` is fully initialised and pinned for as long as the
        // registration lives; the owner is this module.
        to_result(unsafe {
            bindings::__platform_driver_register(drv, super::module::this_module())
        })?;
        // INVARIANT: registered above, and pinned in its box.
        Ok(reg)
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant); this unbinds every device
        // before returning.
        unsafe { bindings::platform_driver_unregister(self.drv.get()) };
    }
}

/// Initialises C data to all zeroes, the state C expects of a fresh
/// `platform_driver` or ID table.
fn zeroed<T>() -> impl PinInit<Opaque<T>> {
    Opaque::ffi_init(|p: *mut T| {
        // SAFETY: `p` is valid for writes of one `T`, and all-zero is a
        // valid `platform_driver` and `of_device_id` table.
        unsafe { core::ptr::write_bytes(p, 0, 1) }
    })
}

/// # Safety
///
/// Called by the driver core for a device matching the registration.
unsafe extern "C" fn probe_callback<T: Driver>(pdev: *mut bindings::platform_device) -> i32 {
    // SAFETY: the driver core passes a live device that stays bound (and so
    // live) until `remove_callback`.
    let dev = unsafe { Device::from_raw(pdev) };
    match T::probe(dev) {
        Ok(data) => {
            // SAFETY: the data is given to the C side and taken back
            // exactly once, pinned, in `remove_callback`.
            let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
            // SAFETY: `pdev` is live.
            unsafe { bindings::rsdma_helper_platform_set_drvdata(pdev, ptr.cast()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the driver core for a device `probe_callback` bound.
unsafe extern "C" fn remove_callback<T: Driver>(pdev: *mut bindings::platform_device) {
    // SAFETY: the device is live until this returns.
    let dev = unsafe { Device::from_raw(pdev) };
    // SAFETY: `pdev` is live.
    let ptr = unsafe { bindings::rsdma_helper_platform_get_drvdata(pdev) }.cast::<T::Data>();
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from `KBox::into_raw` in `probe_callback` and is
    // taken back only here; it was pinned and stays pinned.
    let data = unsafe { Pin::new_unchecked(KBox::from_raw(ptr)) };
    // SAFETY: `pdev` is live; clear the stale pointer.
    unsafe { bindings::rsdma_helper_platform_set_drvdata(pdev, core::ptr::null_mut()) };
    T::remove(dev, data);
}

/// A platform device a driver creates under one of its own devices
/// (`platform_device_register_full`), with no driver of its own;
/// unregistered on drop.
///
/// # Invariants
///
/// `pdev` is a registered platform device this value owns.
pub struct Child {
    pdev: *mut bindings::platform_device,
}

impl Child {
    /// Registers a platform device called `name` (with an automatic
    /// instance number) under `parent`.
    pub fn register(parent: &device::Device, name: &'static CStr) -> Result<Self> {
        // SAFETY: all-zero is a valid `platform_device_info` (no resources,
        // no data, the default DMA mask).
        let mut info: bindings::platform_device_info = unsafe { core::mem::zeroed() };
        info.parent = parent.as_raw();
        info.name = name.as_char_ptr();
        info.id = bindings::PLATFORM_DEVID_AUTO;
        // SAFETY: `info` is valid for the call, which copies what it keeps;
        // `name` is static and `parent` live.
        let pdev = unsafe { bindings::platform_device_register_full(&info) };
        if super::is_err_ptr(pdev) {
            return Err(if pdev.is_null() {
                ENOMEM
            } else {
                Error::from_errno(pdev as isize as i32)
            });
        }
        // INVARIANT: registered above.
        Ok(Self { pdev })
    }

    /// The child as a platform device.
    pub fn as_platform(&self) -> &Device {
        // SAFETY: registered and owned (type invariant) for as long as
        // `self`.
        unsafe { Device::from_raw(self.pdev) }
    }

    /// The child as a generic device.
    pub fn as_dev(&self) -> &device::Device {
        self.as_platform().as_dev()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: registered by us (type invariant), unregistered once.
        unsafe { bindings::platform_device_unregister(self.pdev) };
    }
}

// SAFETY: a platform device may be used and unregistered from any thread.
unsafe impl Send for Child {}
// SAFETY: `&Child` only hands out shared references to the device.
unsafe impl Sync for Child {}
