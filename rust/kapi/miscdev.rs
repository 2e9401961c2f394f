// SPDX-License-Identifier: GPL-2.0

//! Misc character devices (`/dev/NAME`).
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use super::{bindings, device::Device, dma_ops::Vma};
use kernel::error::{code::*, to_result, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::{ARef, Opaque};

/// What a misc device does.  `&self` is the device's state.
#[vtable]
pub trait Operations: Send + Sync + Sized {
    /// What each open file keeps.
    type File: Send + Sync;

    /// Opens a file of the device (`dev` is the misc device itself).
    fn open(this: &Arc<Self>, dev: &Device) -> Result<Self::File>;

    /// Maps (part of) the device's memory into the calling process.
    fn mmap(&self, _file: &Self::File, _vma: &Vma) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Runs ioctl `cmd` whose argument is `arg` (a user address, or a
    /// value, as the command defines).
    fn ioctl(&self, _file: &Self::File, _cmd: u32, _arg: usize) -> Result<i32> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The most bytes of a device name, with its NUL.
const NAME_LEN: usize = 32;

/// What an open file points at: the device's state and the file's own.
struct OpenFile<T: Operations> {
    data: Arc<T>,
    file: T::File,
}

/// A registered misc device serving `T`; deregistered on drop.
///
/// # Invariants
///
/// `misc` is registered with [`Registration::FOPS`] as its file
/// operations and `name` as its name, and `misc` is the first field, so
/// the `miscdevice` pointer a file carries at open leads back to this
/// value.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct Registration<T: Operations> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    name: [u8; NAME_LEN],
    data: Arc<T>,
}

// SAFETY: the misc core serialises (de)registration; `T` is Send + Sync.
unsafe impl<T: Operations> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access but through `T: Sync`.
unsafe impl<T: Operations> Sync for Registration<T> {}

impl<T: Operations + 'static> Registration<T> {
    /// The file operations, in the module's static memory: a file opened
    /// before the device went (a driver unbound) keeps pointing at them
    /// until its last reference is put, after its `release`; `owner`
    /// keeps the module loaded until then.
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: super::module::THIS_MODULE,
        open: Some(Self::open_callback),
        release: Some(Self::release_callback),
        mmap: if T::HAS_MMAP {
            Some(Self::mmap_callback)
        } else {
            None
        },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl_callback)
        } else {
            None
        },
        compat_ioctl: if T::HAS_IOCTL {
            Some(Self::compat_ioctl_callback)
        } else {
            None
        },
        // SAFETY: all-zero is a valid `file_operations` (no pointer, no
        // operation) for the fields left.
        ..unsafe { core::mem::zeroed() }
    };

    /// Registers `/dev/NAME` (at most 31 bytes), readable and writable by
    /// root only, serving `data`; `parent` is the device it belongs to.
    pub fn new(name: &CStr, parent: Option<&Device>, data: Arc<T>) -> Result<Pin<KBox<Self>>> {
        let bytes = name.as_bytes_with_nul();
        if bytes.len() > NAME_LEN {
            return Err(EINVAL);
        }
        let mut stored = [0u8; NAME_LEN];
        stored[..bytes.len()].copy_from_slice(bytes);
        let reg = KBox::pin_init(
            pin_init!(Self {
                misc <- Opaque::ffi_init(|p: *mut bindings::miscdevice| {
                    // SAFETY: `p` is valid for writes; zero is a valid
                    // start for a `miscdevice`.
                    unsafe { core::ptr::write_bytes(p, 0, 1) }
                }),
                name: stored,
                data,
            }),
            GFP_KERNEL,
        )?;
        let misc = reg.misc.get();
        // SAFETY: ours, pinned and not yet registered; the name lives as
        // long as the registration, which does not move, and `FOPS` as
        // long as the module.
        unsafe {
            (*misc).minor = bindings::MISC_DYNAMIC_MINOR as i32;
            (*misc).name = reg.name.as_ptr().cast();
            (*misc).mode = 0o600;
            (*misc).parent = parent.map_or(core::ptr::null_mut(), |p| p.as_raw());
            (*misc).fops = &Self::FOPS;
            to_result(bindings::misc_register(misc))?;
        }
        // INVARIANT: registered above, pinned in its box.
        Ok(reg)
    }

    /// The misc device (`/dev/NAME`'s `struct device`).
    pub fn device(&self) -> ARef<Device> {
        // SAFETY: registered (type invariant): `this_device` is live while
        // it is, and `get` takes a reference that outlives it.
        unsafe { Device::from_raw((*self.misc.get()).this_device) }.get()
    }

    /// # Safety
    ///
    /// Called by `misc_open` with `private_data` set to our `miscdevice`,
    /// under the lock `misc_deregister` takes, so the registration is live.
    unsafe extern "C" fn open_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> core::ffi::c_int {
        // SAFETY: see above; `misc` is the first field of `Self`.
        let reg = unsafe { &*(*file).private_data.cast::<Self>() };
        // SAFETY: registered, so `this_device` is live.
        let dev = unsafe { Device::from_raw((*reg.misc.get()).this_device) };
        // The open file keeps its own reference to the data, so it stays
        // valid after the device is deregistered.
        let open = T::open(&reg.data, dev).and_then(|file| {
            KBox::new(
                OpenFile {
                    data: reg.data.clone(),
                    file,
                },
                GFP_KERNEL,
            )
            .map_err(Into::into)
        });
        match open {
            Ok(o) => {
                // SAFETY: `file` is being opened by us.
                unsafe { (*file).private_data = KBox::into_raw(o).cast() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// The open file's state.
    ///
    /// # Safety
    ///
    /// `file` must be a file `open_callback` set up and `release_callback`
    /// has not yet torn down.
    unsafe fn open_file<'a>(file: *mut bindings::file) -> &'a OpenFile<T> {
        // SAFETY: `open_callback` stored the box.
        unsafe { &*(*file).private_data.cast::<OpenFile<T>>() }
    }

    /// # Safety
    ///
    /// Called by the VFS when the last reference to a file `open_callback`
    /// set up goes away.
    unsafe extern "C" fn release_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> core::ffi::c_int {
        // SAFETY: `open_callback` stored the box, given back once here.
        drop(unsafe { KBox::from_raw((*file).private_data.cast::<OpenFile<T>>()) });
        0
    }

    /// # Safety
    ///
    /// Called by the VFS on a file `open_callback` set up.
    unsafe extern "C" fn mmap_callback(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> core::ffi::c_int {
        // SAFETY: the file is open; the VMA is live for the call and `Vma`
        // is transparent.
        let (o, vma) = unsafe { (Self::open_file(file), &*vma.cast::<Vma>()) };
        match o.data.mmap(&o.file, vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on a file `open_callback` set up.
    unsafe extern "C" fn ioctl_callback(
        file: *mut bindings::file,
        cmd: core::ffi::c_uint,
        arg: core::ffi::c_ulong,
    ) -> core::ffi::c_long {
        // SAFETY: the file is open.
        let o = unsafe { Self::open_file(file) };
        match o.data.ioctl(&o.file, cmd, arg as usize) {
            Ok(v) => v.into(),
            Err(e) => e.to_errno().into(),
        }
    }

    /// A 32-bit process's ioctl: `compat_ptr_ioctl` (its argument, a
    /// pointer, widened), which only a kernel with 32-bit compat calls.
    ///
    /// # Safety
    ///
    /// Called by the VFS on a file `open_callback` set up.
    unsafe extern "C" fn compat_ioctl_callback(
        file: *mut bindings::file,
        cmd: core::ffi::c_uint,
        arg: core::ffi::c_ulong,
    ) -> core::ffi::c_long {
        // SAFETY: returns a function of the kernel, or `None`.
        match unsafe { bindings::rsdma_helper_compat_ptr_ioctl() } {
            // SAFETY: the file is open; `compat_ptr_ioctl` calls our
            // `unlocked_ioctl` with the argument converted.
            Some(f) => unsafe { f(file, cmd, arg) },
            None => ENOTTY.to_errno().into(),
        }
    }
}

#[pinned_drop]
impl<T: Operations> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant).
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}
