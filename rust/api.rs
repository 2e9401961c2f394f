// SPDX-License-Identifier: GPL-2.0

//! rsdma's C API (`include/rsdma.h`): the functions other modules call.
//!
//! Compiled into rsdma.ko only; `rust/api_exports.c` exports the symbols.

use crate::attach;
use crate::dev::RsdmaDev;
use crate::dmabuf::buffer::Buffer;
use crate::kapi::dma_buf;
use crate::kapi::dma_ops::{self, Direction, Installed};
use crate::kapi::dma_shared::SyncTo;
use crate::kapi::memremap::PhysRange;
use crate::kapi::{bindings, device::Device};
use crate::rsdma_core::declared::Request;
use kernel::error::{code::*, Result};
use kernel::sync::Arc;

/// `rsdma_attach`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller; `config`
/// must be null or point to a valid `struct rsdma_config`.
#[no_mangle]
pub unsafe extern "C" fn rsdma_attach(
    dev: *mut bindings::device,
    config: *const bindings::rsdma_config,
) -> core::ffi::c_int {
    if dev.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: null or valid, by the caller's promise.
    let (flags, flush_ms) = match unsafe { config.as_ref() } {
        Some(c) => (c.flags, c.flush_ms),
        None => (0, 0),
    };
    let known = bindings::RSDMA_ATTACH_LAZY
        | bindings::RSDMA_ATTACH_NO_TRACKER
        | bindings::RSDMA_ATTACH_UNTRUSTED
        | bindings::RSDMA_ATTACH_NONCOHERENT;
    if flags & !known != 0 {
        crate::dev_err!(dev, "rsdma: unknown attach flags {:#x}", flags & !known);
        return EINVAL.to_errno();
    }
    let cfg = attach::Config {
        lazy: flags & bindings::RSDMA_ATTACH_LAZY != 0,
        flush_ms,
        tracker: flags & bindings::RSDMA_ATTACH_NO_TRACKER == 0 && crate::tracker_default(),
        untrusted: flags & bindings::RSDMA_ATTACH_UNTRUSTED != 0,
        noncoherent: flags & bindings::RSDMA_ATTACH_NONCOHERENT != 0,
        limit: u64::MAX,
    };
    match attach::attach(dev, cfg) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `rsdma_detach`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller.
#[no_mangle]
pub unsafe extern "C" fn rsdma_detach(dev: *mut bindings::device) -> core::ffi::c_int {
    if dev.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    match attach::detach(dev) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The state of `dev` when it is attached to rsdma; `ENODEV` with a message
/// otherwise.
fn attached(dev: &Device, what: &str) -> Result<Arc<Installed<RsdmaDev>>> {
    dma_ops::installed_on::<RsdmaDev>(dev).ok_or_else(|| {
        crate::dev_err!(
            dev,
            "rsdma: {} on a device that is not attached to rsdma",
            what
        );
        ENODEV
    })
}

/// `rsdma_declare_coherent_memory`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller; the
/// `size` bytes at `phys_addr` must be the caller's for as long as they are
/// declared: memory reserved for the device, or on its bus.
#[no_mangle]
pub unsafe extern "C" fn rsdma_declare_coherent_memory(
    dev: *mut bindings::device,
    phys_addr: bindings::phys_addr_t,
    device_addr: bindings::dma_addr_t,
    size: usize,
    flags: core::ffi::c_uint,
) -> core::ffi::c_int {
    if dev.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    let r = attached(dev, "declare_coherent_memory").and_then(|state| {
        // SAFETY: the caller's promise.
        let mem = unsafe { PhysRange::new(phys_addr, size as u64) }.inspect_err(|_| {
            crate::dev_err!(
                dev,
                "rsdma: cannot declare {:#x}+{:#x}: an empty or wrapping range",
                phys_addr,
                size
            )
        })?;
        let known = bindings::RSDMA_MEM_MAP
            | bindings::RSDMA_MEM_IO
            | bindings::RSDMA_MEM_EXCLUSIVE
            | bindings::RSDMA_MEM_INCLUDES_CHILDREN;
        let req = Request {
            map: flags & bindings::RSDMA_MEM_MAP != 0,
            io: flags & bindings::RSDMA_MEM_IO != 0,
            exclusive: flags & bindings::RSDMA_MEM_EXCLUSIVE != 0,
            children: flags & bindings::RSDMA_MEM_INCLUDES_CHILDREN != 0,
            unknown: flags & !known,
            ..Request::default()
        };
        state.data.declare(&mem, device_addr, req)
    });
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `rsdma_release_declared_memory`: see `include/rsdma.h`.
///
/// # Safety
///
/// `dev` must point to a live device whose driver is the caller.
#[no_mangle]
pub unsafe extern "C" fn rsdma_release_declared_memory(
    dev: *mut bindings::device,
    phys_addr: bindings::phys_addr_t,
) -> core::ffi::c_int {
    if dev.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller's promise.
    let dev = unsafe { Device::from_raw(dev) };
    match attached(dev, "release_declared_memory").and_then(|s| s.data.release_declared(phys_addr))
    {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A range sync an importer asks for on its attachment (`to` says which of
/// `rsdma_dmabuf_sync_for_device` / `_for_cpu`).
///
/// # Safety
///
/// `attach` must be null or an attachment the caller holds (between
/// `dma_buf_attach` and `dma_buf_detach`), not detached during the call.
unsafe fn dmabuf_sync(
    attach: *mut bindings::dma_buf_attachment,
    offset: usize,
    len: usize,
    dir: bindings::dma_data_direction,
    to: SyncTo,
) -> core::ffi::c_int {
    if attach.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: a live attachment, by the caller's promise.
    let Some(imp) = (unsafe { dma_buf::attachment_of::<Buffer>(attach) }) else {
        // SAFETY: as above.
        let dev = unsafe { dma_buf::attachment_device(attach) };
        crate::dev_err!(
            dev,
            "rsdma: dmabuf sync on a dma-buf rsdma did not export; nothing synced"
        );
        return crate::kapi::errno::not_supported().to_errno();
    };
    match imp.sync_part(offset as u64, len as u64, Direction::from_raw(dir), to) {
        Ok(_) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `rsdma_dmabuf_sync_for_device`: see `include/rsdma.h`.
///
/// # Safety
///
/// `attach` must be null or an attachment the caller holds, not detached
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_dmabuf_sync_for_device(
    attach: *mut bindings::dma_buf_attachment,
    offset: usize,
    len: usize,
    dir: bindings::dma_data_direction,
) -> core::ffi::c_int {
    // SAFETY: the caller's promise.
    unsafe { dmabuf_sync(attach, offset, len, dir, SyncTo::Device) }
}

/// `rsdma_dmabuf_sync_for_cpu`: see `include/rsdma.h`.
///
/// # Safety
///
/// `attach` must be null or an attachment the caller holds, not detached
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn rsdma_dmabuf_sync_for_cpu(
    attach: *mut bindings::dma_buf_attachment,
    offset: usize,
    len: usize,
    dir: bindings::dma_data_direction,
) -> core::ffi::c_int {
    // SAFETY: the caller's promise.
    unsafe { dmabuf_sync(attach, offset, len, dir, SyncTo::Cpu) }
}
