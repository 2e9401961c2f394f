// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs: a `struct dma_buf_ops` table built from a Rust
//! trait.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! [`export`] makes a dma-buf whose `priv` is an [`Arc`] of the exporter's
//! state `T` (given back in `release`) and whose ops are [`Table<T>`]'s;
//! each attachment's `priv` is a box of `T::Attachment` (given back in
//! `detach`).  The callbacks turn C arguments into Rust ones, call the trait
//! and turn the result back (`ERR_PTR` or a negative errno).

use super::dma_shared::{Direction, Handout};
use super::{bindings, device::Device, dma_ops::Vma};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{Arc, ArcBorrow};

/// What an exported buffer does.  `&self` is the buffer's state.
#[vtable]
pub trait Exporter: Send + Sync + Sized {
    /// What the exporter keeps per attachment.
    type Attachment: Send + Sync;

    /// `attach`: `dev` will access the buffer.
    fn attach(&self, dev: &Device) -> Result<Self::Attachment>;

    /// `detach`: the attachment goes away (it is dropped afterwards).
    fn detach(&self, att: &Self::Attachment);

    /// `map_dma_buf`: maps the buffer for the attached device in `dir` and
    /// returns the table to give the importer.
    fn map(&self, att: &Self::Attachment, dir: Direction) -> Result<Handout>;

    /// `unmap_dma_buf`: undoes a [`Exporter::map`] that returned `table`.
    fn unmap(&self, att: &Self::Attachment, table: Handout, dir: Option<Direction>);

    /// `begin_cpu_access`.
    fn begin_cpu_access(&self, _dir: Direction) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `end_cpu_access`.
    fn end_cpu_access(&self, _dir: Direction) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `mmap` (the dma-buf core has checked that the range lies inside the
    /// buffer).
    fn mmap(&self, _vma: &Vma) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `vmap`: a kernel address of the whole buffer.
    fn vmap(&self) -> Result<NonNull<u8>> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `vunmap` of what [`Exporter::vmap`] returned.
    fn vunmap(&self, _addr: *mut u8) {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// Exports `data` as a dma-buf of `size` bytes named `name` (for
/// `/sys/kernel/debug/dma_buf/bufinfo`) and returns a new file descriptor
/// of it (read-write, close-on-exec) in the calling process.
pub fn export<T: Exporter>(data: Arc<T>, size: usize, name: &'static CStr) -> Result<i32> {
    let flags = (bindings::O_RDWR | bindings::O_CLOEXEC) as i32;
    let info = bindings::dma_buf_export_info {
        exp_name: name.as_char_ptr(),
        owner: super::module::this_module(),
        ops: &Table::<T>::VTABLE,
        size,
        flags,
        resv: core::ptr::null_mut(),
        priv_: Arc::into_raw(data).cast_mut().cast(),
    };
    // SAFETY: `info` is complete; on success the dma-buf owns the reference
    // in `priv_` (given back by `release`).
    let buf = unsafe { bindings::dma_buf_export(&info) };
    if super::is_err_ptr(buf) {
        // SAFETY: the export failed, so the reference is still ours.
        drop(unsafe { Arc::from_raw(info.priv_.cast::<T>().cast_const()) });
        return Err(if buf.is_null() {
            ENOMEM
        } else {
            Error::from_errno(buf as isize as i32)
        });
    }
    // SAFETY: `buf` is a live dma-buf we hold the only reference to.
    let fd = unsafe { bindings::dma_buf_fd(buf, bindings::O_CLOEXEC as i32) };
    if fd < 0 {
        // SAFETY: our reference, given back: the buffer is released.
        unsafe { bindings::dma_buf_put(buf) };
        return Err(Error::from_errno(fd));
    }
    Ok(fd)
}

/// A reference to a dma-buf [`export`] made with `T`'s ops, taken from a
/// file descriptor; dropped with the reference.
///
/// # Invariants
///
/// `buf` is a dma-buf we hold a reference to, exported by this module with
/// [`Table<T>`]'s ops: its `priv` is an `Arc<T>`.
pub struct Exported<T: Exporter> {
    buf: NonNull<bindings::dma_buf>,
    _p: PhantomData<T>,
}

impl<T: Exporter> Exported<T> {
    /// The dma-buf of `fd`, if this module exported it with `T`'s ops;
    /// `None` for a dma-buf someone else exported.  Fails with `EBADF` for
    /// a closed descriptor and `EINVAL` for a file that is not a dma-buf.
    pub fn from_fd(fd: i32) -> Result<Option<Self>> {
        // SAFETY: any value is a valid argument.
        let buf = unsafe { bindings::dma_buf_get(fd) };
        if super::is_err_ptr(buf) {
            return Err(if buf.is_null() {
                EINVAL
            } else {
                Error::from_errno(buf as isize as i32)
            });
        }
        // SAFETY: `buf` is a live dma-buf we hold a reference to.
        let is_ours = unsafe { is_ours::<T>(buf) };
        match NonNull::new(buf) {
            // INVARIANT: checked above.
            Some(buf) if is_ours => Ok(Some(Self {
                buf,
                _p: PhantomData,
            })),
            _ => {
                // SAFETY: the reference `dma_buf_get` took.
                unsafe { bindings::dma_buf_put(buf) };
                Ok(None)
            }
        }
    }

    /// The exporter's state.
    pub fn data(&self) -> ArcBorrow<'_, T> {
        // SAFETY: `priv` is an `Arc<T>` the buffer holds until `release`,
        // which our reference holds off (type invariant).
        unsafe { ArcBorrow::from_raw((*self.buf.as_ptr()).priv_.cast::<T>().cast_const()) }
    }
}

impl<T: Exporter> Drop for Exported<T> {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant), given back once.
        unsafe { bindings::dma_buf_put(self.buf.as_ptr()) };
    }
}

/// Whether this module exported `buf` with `T`'s ops.
///
/// # Safety
///
/// `buf` must be a live dma-buf.
unsafe fn is_ours<T: Exporter>(buf: *mut bindings::dma_buf) -> bool {
    // SAFETY: the caller's promise.
    let (owner, release) = unsafe { ((*buf).owner, (*(*buf).ops).release) };
    let ours: unsafe extern "C" fn(*mut bindings::dma_buf) = Table::<T>::release;
    core::ptr::eq(owner, super::module::this_module())
        && release.is_some_and(|f| f as usize == ours as usize)
}

/// The exporter's state of an attachment an importer holds, if the buffer
/// is one this module exported with `T`'s ops (for calls an importer makes
/// on its own attachment, outside the dma-buf core).
///
/// # Safety
///
/// `att` must be a live attachment (between `dma_buf_attach` and
/// `dma_buf_detach`) that stays attached for `'a`.
pub unsafe fn attachment_of<'a, T: Exporter>(
    att: *mut bindings::dma_buf_attachment,
) -> Option<&'a T::Attachment> {
    // SAFETY: a live attachment points at its live buffer.
    if !unsafe { is_ours::<T>((*att).dmabuf) } {
        return None;
    }
    // SAFETY: the buffer is ours, so `attach` stored a `T::Attachment` in
    // `priv`, kept until `detach`, which the caller's promise holds off.
    Some(unsafe { Table::<T>::attachment(att) })
}

/// The device of an attachment, whoever exported its buffer.
///
/// # Safety
///
/// `att` must be a live attachment that stays attached for `'a`.
pub unsafe fn attachment_device<'a>(att: *mut bindings::dma_buf_attachment) -> &'a Device {
    // SAFETY: an attached device is live while attached (the caller's
    // promise covers `'a`).
    unsafe { Device::from_raw((*att).dev) }
}

/// The callbacks of a `T` dma-buf.
pub struct Table<T: Exporter>(PhantomData<T>);

impl<T: Exporter> Table<T> {
    /// The exporter's state of `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be a live dma-buf [`export`] made with these ops.
    unsafe fn data<'a>(buf: *mut bindings::dma_buf) -> &'a T {
        // SAFETY: `priv` holds an `Arc<T>` until `release` (the caller's
        // promise that the buffer is live and ours).
        unsafe { &*(*buf).priv_.cast::<T>() }
    }

    /// The exporter's state of an attachment.
    ///
    /// # Safety
    ///
    /// `att` must be an attachment `attach` set up and `detach` has not yet
    /// undone.
    unsafe fn attachment<'a>(att: *mut bindings::dma_buf_attachment) -> &'a T::Attachment {
        // SAFETY: `attach` stored a box of `T::Attachment` in `priv`.
        unsafe { &*(*att).priv_.cast::<T::Attachment>() }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers.
    unsafe extern "C" fn attach(
        buf: *mut bindings::dma_buf,
        att: *mut bindings::dma_buf_attachment,
    ) -> core::ffi::c_int {
        // SAFETY: the buffer is live and ours; the attachment's device is
        // live while attached.
        let (data, dev) = unsafe { (Self::data(buf), Device::from_raw((*att).dev)) };
        let state = match data
            .attach(dev)
            .and_then(|a| KBox::new(a, GFP_KERNEL).map_err(Into::into))
        {
            Ok(s) => s,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: the attachment is being set up; `detach` takes the box back.
        unsafe { (*att).priv_ = KBox::into_raw(state).cast() };
        0
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on an attachment `attach` set up.
    unsafe extern "C" fn detach(
        buf: *mut bindings::dma_buf,
        att: *mut bindings::dma_buf_attachment,
    ) {
        // SAFETY: the buffer is live and ours; `priv` holds the box
        // `attach` stored, given back once here.
        let (data, state) = unsafe {
            (
                Self::data(buf),
                KBox::from_raw((*att).priv_.cast::<T::Attachment>()),
            )
        };
        data.detach(&state);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on an attachment of ours.
    unsafe extern "C" fn map_dma_buf(
        att: *mut bindings::dma_buf_attachment,
        dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        let Some(dir) = Direction::from_raw(dir) else {
            return EINVAL.to_ptr();
        };
        // SAFETY: the attachment and its buffer are live and ours.
        let (data, state) = unsafe { (Self::data((*att).dmabuf), Self::attachment(att)) };
        match data.map(state, dir) {
            Ok(h) => h.as_raw(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on an attachment of ours, with a table
    /// `map_dma_buf` returned.
    unsafe extern "C" fn unmap_dma_buf(
        att: *mut bindings::dma_buf_attachment,
        table: *mut bindings::sg_table,
        dir: bindings::dma_data_direction,
    ) {
        let Some(table) = NonNull::new(table) else {
            return;
        };
        // SAFETY: the attachment and its buffer are live and ours.
        let (data, state) = unsafe { (Self::data((*att).dmabuf), Self::attachment(att)) };
        data.unmap(state, Handout(table), Direction::from_raw(dir));
    }

    /// # Safety
    ///
    /// Called by the dma-buf core once, when the last reference goes.
    unsafe extern "C" fn release(buf: *mut bindings::dma_buf) {
        // SAFETY: `export` stored this reference, given back once here.
        drop(unsafe { Arc::from_raw((*buf).priv_.cast::<T>().cast_const()) });
    }

    /// A CPU access begins (`end == false`) or ends.
    ///
    /// # Safety
    ///
    /// `buf` must be a live dma-buf of ours.
    unsafe fn cpu_access(
        buf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
        end: bool,
    ) -> core::ffi::c_int {
        let Some(dir) = Direction::from_raw(dir) else {
            return EINVAL.to_errno();
        };
        // SAFETY: the caller's promise.
        let data = unsafe { Self::data(buf) };
        let r = if end {
            data.end_cpu_access(dir)
        } else {
            data.begin_cpu_access(dir)
        };
        match r {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers.
    unsafe extern "C" fn begin_cpu_access(
        buf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> core::ffi::c_int {
        // SAFETY: as promised by the dma-buf core.
        unsafe { Self::cpu_access(buf, dir, false) }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers.
    unsafe extern "C" fn end_cpu_access(
        buf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> core::ffi::c_int {
        // SAFETY: as promised by the dma-buf core.
        unsafe { Self::cpu_access(buf, dir, true) }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers, with a VMA being
    /// set up that holds the buffer's file.
    unsafe extern "C" fn mmap(
        buf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> core::ffi::c_int {
        // SAFETY: the buffer is live and ours; the VMA is live for the
        // call and `Vma` is transparent.
        let (data, vma) = unsafe { (Self::data(buf), &*vma.cast::<Vma>()) };
        match data.mmap(vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers, with a map to fill.
    unsafe extern "C" fn vmap(
        buf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> core::ffi::c_int {
        // SAFETY: the buffer is live and ours.
        match unsafe { Self::data(buf) }.vmap() {
            Ok(addr) => {
                // SAFETY: `map` is the caller's to fill.
                unsafe { bindings::rsdma_helper_iosys_map_set_vaddr(map, addr.as_ptr().cast()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on one of our buffers, with a map `vmap`
    /// filled.
    unsafe extern "C" fn vunmap(buf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) {
        // SAFETY: the buffer is live and ours; `map` is valid for reads.
        let (data, addr) =
            unsafe { (Self::data(buf), bindings::rsdma_helper_iosys_map_vaddr(map)) };
        data.vunmap(addr.cast());
    }

    /// The ops table.
    pub const VTABLE: bindings::dma_buf_ops = bindings::dma_buf_ops {
        cache_sgt_mapping: false,
        attach: Some(Self::attach),
        detach: Some(Self::detach),
        pin: None,
        unpin: None,
        map_dma_buf: Some(Self::map_dma_buf),
        unmap_dma_buf: Some(Self::unmap_dma_buf),
        release: Some(Self::release),
        begin_cpu_access: if T::HAS_BEGIN_CPU_ACCESS {
            Some(Self::begin_cpu_access)
        } else {
            None
        },
        end_cpu_access: if T::HAS_END_CPU_ACCESS {
            Some(Self::end_cpu_access)
        } else {
            None
        },
        mmap: if T::HAS_MMAP { Some(Self::mmap) } else { None },
        vmap: if T::HAS_VMAP { Some(Self::vmap) } else { None },
        vunmap: if T::HAS_VUNMAP {
            Some(Self::vunmap)
        } else {
            None
        },
    };
}
