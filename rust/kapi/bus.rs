// SPDX-License-Identifier: GPL-2.0

//! Buses: their devices, and notifiers of what happens to them (a driver
//! about to bind, bound, unbound, a device going away).
//!
//! C header: [`include/linux/device/bus.h`](srctree/include/linux/device/bus.h)

use super::{bindings, device::Device};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{to_result, Result};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// The buses a notifier can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// `pci_bus_type`.
    Pci,
    /// `platform_bus_type`.
    Platform,
}

impl Bus {
    fn as_raw(self) -> *const bindings::bus_type {
        match self {
            Bus::Pci => core::ptr::addr_of!(bindings::pci_bus_type),
            Bus::Platform => core::ptr::addr_of!(bindings::platform_bus_type),
        }
    }

    /// Calls `f` on every device of the bus (`bus_for_each_dev`).  Each
    /// device is live during its call; keep a reference
    /// ([`Device::get`]) to use it later.
    pub fn for_each_dev<F: FnMut(&Device)>(self, mut f: F) {
        /// # Safety
        ///
        /// `ctx` must be the `&mut G` passed below, and `dev` a device the
        /// bus holds for the call.
        unsafe extern "C" fn trampoline<G: FnMut(&Device)>(
            dev: *mut bindings::device,
            ctx: *mut core::ffi::c_void,
        ) -> core::ffi::c_int {
            // SAFETY: the caller's promise.
            let (f, dev) = unsafe { (&mut *ctx.cast::<G>(), Device::from_raw(dev)) };
            f(dev);
            0
        }
        let ctx: *mut F = &mut f;
        // SAFETY: the bus is registered (built in); the callback and its
        // context are valid for the call, which does not keep them.  The
        // callback always returns 0, so the walk covers every device and
        // the result carries nothing.
        unsafe {
            bindings::bus_for_each_dev(
                self.as_raw(),
                core::ptr::null_mut(),
                ctx.cast(),
                Some(trampoline::<F>),
            )
        };
    }
}

/// What happened to a device, as a bus notifier hears it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A driver is about to bind: after the bus set up the device's DMA
    /// (`dma_configure`), before the driver's probe.
    BindDriver,
    /// The driver's probe succeeded.
    BoundDriver,
    /// The driver is about to be unbound (before its remove).
    UnbindDriver,
    /// The driver is gone: after its remove, the bus's `dma_cleanup` and
    /// the release of its managed resources.
    UnboundDriver,
    /// The driver's probe failed.  Sent *before* the managed resources
    /// the failed probe left are released (under the same device lock).
    DriverNotBound,
    /// The device is about to be removed from the bus.
    DelDevice,
}

impl Event {
    fn from_raw(action: core::ffi::c_ulong) -> Option<Self> {
        let a = u32::try_from(action).ok()?;
        Some(match a {
            bindings::bus_notifier_event_BUS_NOTIFY_BIND_DRIVER => Event::BindDriver,
            bindings::bus_notifier_event_BUS_NOTIFY_BOUND_DRIVER => Event::BoundDriver,
            bindings::bus_notifier_event_BUS_NOTIFY_UNBIND_DRIVER => Event::UnbindDriver,
            bindings::bus_notifier_event_BUS_NOTIFY_UNBOUND_DRIVER => Event::UnboundDriver,
            bindings::bus_notifier_event_BUS_NOTIFY_DRIVER_NOT_BOUND => Event::DriverNotBound,
            bindings::bus_notifier_event_BUS_NOTIFY_DEL_DEVICE => Event::DelDevice,
            _ => return None,
        })
    }
}

/// What a [`Notifier`] calls.  Calls come in process context, with the
/// device's lock held for the driver events, and may sleep.
pub trait Listener: Send + Sync {
    /// `ev` happened to `dev` on `bus`.
    fn event(&self, bus: Bus, ev: Event, dev: &Device);
}

/// A bus notifier (`bus_register_notifier`), unregistered on drop.
///
/// # Invariants
///
/// `nb` is the first field; while `registered` is set, `nb` is on the
/// bus's notifier chain and its callback is [`Notifier::callback`] for
/// this `T`.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct Notifier<T: Listener> {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    bus: Bus,
    registered: AtomicBool,
    listener: Arc<T>,
}

impl<T: Listener> Notifier<T> {
    /// Has `listener` called for every event on `bus` from now until the
    /// notifier is dropped.
    pub fn register(bus: Bus, listener: Arc<T>) -> Result<Pin<KBox<Self>>> {
        let this = KBox::pin_init(
            pin_init!(Self {
                nb <- Opaque::ffi_init(|nb: *mut bindings::notifier_block| {
                    // SAFETY: `nb` is valid for writes; all-zero is a valid
                    // notifier block (no callback, no next, priority 0).
                    unsafe {
                        nb.write(core::mem::zeroed());
                        (*nb).notifier_call = Some(Self::callback);
                    }
                }),
                bus,
                registered: AtomicBool::new(false),
                listener,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the block is pinned for the life of `this` and its
        // callback matches `Self`; drop unregisters it.
        to_result(unsafe { bindings::bus_register_notifier(bus.as_raw(), this.nb.get()) })?;
        // INVARIANT: registered just above.
        this.registered.store(true, Ordering::Release);
        Ok(this)
    }

    /// # Safety
    ///
    /// Called by the bus's notifier chain with a block of a live
    /// `Notifier<T>` and a live device.
    unsafe extern "C" fn callback(
        nb: *mut bindings::notifier_block,
        action: core::ffi::c_ulong,
        data: *mut core::ffi::c_void,
    ) -> core::ffi::c_int {
        // SAFETY: `nb` is the first field of a live `Notifier<T>` (type
        // invariant; `Opaque` is transparent), and bus notifiers pass the
        // device as `data`.
        let (this, dev) = unsafe {
            (
                &*nb.cast::<Self>().cast_const(),
                Device::from_raw(data.cast()),
            )
        };
        if let Some(ev) = Event::from_raw(action) {
            this.listener.event(this.bus, ev, dev);
        }
        bindings::NOTIFY_DONE as core::ffi::c_int
    }
}

#[pinned_drop]
impl<T: Listener> PinnedDrop for Notifier<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.registered.load(Ordering::Acquire) {
            // SAFETY: registered (type invariant).  Unregistering waits
            // for the callbacks running on the chain, so none uses `self`
            // afterwards.
            unsafe { bindings::bus_unregister_notifier(self.bus.as_raw(), self.nb.get()) };
        }
    }
}

// SAFETY: the notifier block is only read and written by the bus's
// notifier chain, under the chain's lock; the other fields are immutable
// or atomic, and `T` is `Send + Sync`.
unsafe impl<T: Listener> Send for Notifier<T> {}
// SAFETY: as above; `&Notifier` gives no access to the block.
unsafe impl<T: Listener> Sync for Notifier<T> {}
