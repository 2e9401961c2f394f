// SPDX-License-Identifier: GPL-2.0

//! Devices.
//!
//! C header: [`include/linux/device.h`](srctree/include/linux/device.h)

use super::bindings;
use super::fmt::StackStr;
use core::fmt;
use core::ptr::NonNull;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A `struct device`.
///
/// # Invariants
///
/// A `&Device` always points to a live `struct device` whose reference count
/// is held for the lifetime of the reference.
#[repr(transparent)]
pub struct Device(Opaque<bindings::device>);

/// The function that called the DMA API (the first caller outside rsdma and
/// the DMA core), as `symbol+offset/size [module]`; empty when unknown.
pub fn dma_caller() -> StackStr<128> {
    let mut buf = [0u8; 128];
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { bindings::rsdma_helper_dma_caller(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = core::str::from_utf8(&buf[..end]).unwrap_or("?");
    StackStr::from_fmt(format_args!("{}", name))
}

/// Log level of a device message.
#[derive(Clone, Copy)]
pub enum Level {
    /// `dev_err`.
    Err,
    /// `dev_warn`.
    Warn,
    /// `dev_info`.
    Info,
}

impl Device {
    /// The `compatible` property of the device's device-tree node
    /// (`of_get_property`): strings, each ended by a NUL; empty when the
    /// device has no node or the node no such property.
    pub fn of_compatible(&self) -> &[u8] {
        let mut len: core::ffi::c_int = 0;
        // SAFETY: the device is live; `len` is valid for writes.
        let p = unsafe { bindings::rsdma_helper_of_compatible(self.as_raw(), &mut len) };
        match usize::try_from(len) {
            Ok(len) if !p.is_null() && len > 0 => {
                // SAFETY: `of_get_property` returns the property's value,
                // `len` bytes, which lives as long as the node, which the
                // device holds as long as it lives (longer than `&self`).
                unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) }
            }
            _ => &[],
        }
    }

    /// Borrows a `struct device`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct device` whose reference count stays
    /// above zero for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::device) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of `struct device`, and
        // the caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The raw `struct device *`.
    pub fn as_raw(&self) -> *mut bindings::device {
        self.0.get()
    }

    /// The device's name (`dev_name`).
    pub fn name(&self) -> &kernel::str::CStr {
        // SAFETY: the type invariant makes the device live; `dev_name`
        // returns a NUL-terminated string owned by the device.
        let name = unsafe { bindings::rsdma_helper_dev_name(self.as_raw()) };
        // SAFETY: `name` is NUL-terminated and lives as long as the device,
        // which outlives `&self`.
        unsafe { kernel::str::CStr::from_char_ptr(name) }
    }

    /// The device's parent, if it has one.
    pub fn parent(&self) -> Option<&Device> {
        // SAFETY: the device is live (type invariant); its parent is set
        // when it is created.
        let p = unsafe { (*self.as_raw()).parent };
        if p.is_null() {
            return None;
        }
        // SAFETY: a device holds a reference to its parent, so the parent
        // lives at least as long as `self`.
        Some(unsafe { Device::from_raw(p) })
    }

    /// Whether the device is in an IOMMU group (an IOMMU translates its
    /// DMA).
    pub fn has_iommu_group(&self) -> bool {
        // SAFETY: the device is live (type invariant); reading the pointer
        // only.
        !unsafe { (*self.as_raw()).iommu_group }.is_null()
    }

    /// The device's streaming DMA mask, read as `dma_get_mask` reads it
    /// (32 bits when the device has none), without a call into C: every
    /// streaming map reads it.
    pub fn dma_mask(&self) -> u64 {
        // SAFETY: the type invariant makes the device live.
        let mask = unsafe { (*self.as_raw()).dma_mask };
        if mask.is_null() {
            return u64::from(u32::MAX);
        }
        // SAFETY: a device's `dma_mask` points to the mask its bus keeps
        // for it, which lives as long as the device; `dma_set_mask` may
        // write it meanwhile, so it is read once, as `READ_ONCE` would.
        match unsafe { core::ptr::read_volatile(mask) } {
            0 => u64::from(u32::MAX),
            m => m,
        }
    }

    /// The device's coherent DMA mask.
    pub fn coherent_dma_mask(&self) -> u64 {
        // SAFETY: the type invariant makes the device live.
        unsafe { bindings::rsdma_helper_coherent_dma_mask(self.as_raw()) }
    }

    /// The largest DMA segment the device takes (`dma_get_max_seg_size`).
    pub fn max_seg_size(&self) -> u32 {
        // SAFETY: the type invariant makes the device live.
        unsafe { bindings::rsdma_helper_max_seg_size(self.as_raw()) }
    }

    /// Sets the largest DMA segment the device takes
    /// (`dma_set_max_seg_size`); `EINVAL` for a device without DMA
    /// parameters.
    pub fn set_max_seg_size(&self, size: u32) -> kernel::error::Result {
        // SAFETY: the type invariant makes the device live; the helper
        // checks that it has DMA parameters.
        kernel::error::to_result(unsafe {
            bindings::rsdma_helper_set_max_seg_size(self.as_raw(), size)
        })
    }

    /// The boundary no DMA segment may cross, as a mask
    /// (`dma_get_seg_boundary`).
    pub fn seg_boundary(&self) -> u64 {
        // SAFETY: the type invariant makes the device live.
        unsafe { bindings::rsdma_helper_seg_boundary(self.as_raw()) as u64 }
    }

    /// Sets the streaming and coherent DMA masks (`dma_set_mask_and_coherent`).
    pub fn set_dma_mask(&self, mask: u64) -> kernel::error::Result {
        // SAFETY: the type invariant makes the device live.
        kernel::error::to_result(unsafe { bindings::dma_set_mask(self.as_raw(), mask) })?;
        // SAFETY: as above.
        kernel::error::to_result(unsafe { bindings::dma_set_coherent_mask(self.as_raw(), mask) })
    }

    /// The bits of a buffer's address a bounce buffer must keep
    /// (`dma_get_min_align_mask`).
    pub fn min_align_mask(&self) -> u64 {
        // SAFETY: the device is live.
        u64::from(unsafe { bindings::rsdma_helper_min_align_mask(self.as_raw()) })
    }

    /// Whether the bus marks the device untrusted (a PCI device behind an
    /// external-facing port).
    pub fn is_untrusted(&self) -> bool {
        // SAFETY: the device is live.
        unsafe { bindings::rsdma_helper_dev_untrusted(self.as_raw()) }
    }

    /// The device's bus address of the physical address `phys`, through the
    /// bus's DMA ranges (`phys_to_dma`).
    pub fn phys_to_dma(&self, phys: u64) -> u64 {
        // SAFETY: the device is live; the translation only reads its ranges.
        unsafe { bindings::rsdma_helper_phys_to_dma(self.as_raw(), phys) }
    }

    /// The physical address of the device's bus address `addr`
    /// (`dma_to_phys`).
    pub fn dma_to_phys(&self, addr: u64) -> u64 {
        // SAFETY: as in `phys_to_dma`.
        unsafe { bindings::rsdma_helper_dma_to_phys(self.as_raw(), addr) }
    }

    /// Whether DMA by this device is coherent with the CPU caches.
    pub fn is_dma_coherent(&self) -> bool {
        // SAFETY: the type invariant makes the device live.
        unsafe { bindings::rsdma_helper_dev_is_dma_coherent(self.as_raw()) }
    }

    /// The name of the driver bound to the device, if any.  Without the
    /// device lock the answer may be stale by the time it is used.
    pub fn driver_name(&self) -> Option<&kernel::str::CStr> {
        // SAFETY: the device is live; a bound driver outlives its binding,
        // and driver names are static.
        let name = unsafe { bindings::rsdma_helper_dev_driver_name(self.as_raw()) };
        if name.is_null() {
            return None;
        }
        // SAFETY: non-null driver names are NUL-terminated and static.
        Some(unsafe { kernel::str::CStr::from_char_ptr(name) })
    }

    /// Unbinds the device's driver, if any, and binds the driver that
    /// matches it (`device_reprobe`).  Takes the device lock: the caller
    /// must not hold it, nor any lock a bus notifier takes.
    pub fn reprobe(&self) -> kernel::error::Result {
        // SAFETY: the device is live; the driver core takes the locks.
        kernel::error::to_result(unsafe { bindings::device_reprobe(self.as_raw()) })
    }

    /// Takes the device lock (`device_lock`), which the driver core holds
    /// while it binds or unbinds a driver: once it is taken, no binding
    /// of the device is under way.
    pub fn lock(&self) -> DeviceLock<'_> {
        // SAFETY: the device is live.
        unsafe { bindings::rsdma_helper_device_lock(self.as_raw()) };
        DeviceLock(self, core::marker::PhantomData)
    }

    /// Logs `args` at `level` with the device's driver and name as prefix.
    ///
    /// Formats on the stack: usable in atomic context.  Lines longer than
    /// 255 bytes are cut.
    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        let msg = StackStr::<256>::from_fmt(args);
        let dev = self.as_raw();
        let msg = msg.as_char_ptr();
        // SAFETY: the device is live (type invariant) and `msg` is a
        // NUL-terminated string that outlives the call.
        unsafe {
            match level {
                Level::Err => bindings::rsdma_helper_dev_err(dev, msg),
                Level::Warn => bindings::rsdma_helper_dev_warn(dev, msg),
                Level::Info => bindings::rsdma_helper_dev_info(dev, msg),
            }
        }
    }
}

// SAFETY: `get_device`/`put_device` manage the device's reference count, and
// the last `put_device` may run on any thread.
unsafe impl AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        // SAFETY: the device is live (type invariant).
        unsafe { bindings::rsdma_helper_get_device(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller holds a reference it gives up here.
        unsafe { bindings::rsdma_helper_put_device(obj.cast().as_ptr()) }
    }
}

// SAFETY: a `struct device` may be used and released from any thread.
unsafe impl Send for Device {}
// SAFETY: the operations on `&Device` are safe to call concurrently (the C
// side serialises what needs it).
unsafe impl Sync for Device {}

impl Device {
    /// Takes a counted reference to the device.
    pub fn get(&self) -> ARef<Self> {
        ARef::from(self)
    }
}

/// The device lock, released on drop (see [`Device::lock`]).  Not `Send`:
/// a mutex is released by the thread that took it.
pub struct DeviceLock<'a>(&'a Device, core::marker::PhantomData<*mut ()>);

impl Drop for DeviceLock<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `Device::lock` by this thread (the guard cannot
        // move to another one).
        unsafe { bindings::rsdma_helper_device_unlock(self.0.as_raw()) };
    }
}

/// Logs an error line naming the device: `dev_err!(dev, "fmt", args...)`.
#[macro_export]
macro_rules! dev_err {
    ($dev:expr, $($arg:tt)*) => {
        $dev.log($crate::kapi::device::Level::Err, core::format_args!($($arg)*))
    };
}

/// Logs a warning line naming the device.
#[macro_export]
macro_rules! dev_warn {
    ($dev:expr, $($arg:tt)*) => {
        $dev.log($crate::kapi::device::Level::Warn, core::format_args!($($arg)*))
    };
}

/// Logs an informational line naming the device.
#[macro_export]
macro_rules! dev_info {
    ($dev:expr, $($arg:tt)*) => {
        $dev.log($crate::kapi::device::Level::Info, core::format_args!($($arg)*))
    };
}
