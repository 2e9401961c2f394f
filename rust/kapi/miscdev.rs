// SPDX-License-Identifier: GPL-2.0

//! Misc character devices (`/dev/NAME`).
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use super::{bindings, dma_ops::Vma};
use kernel::error::{to_result, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// What a misc device does.
pub trait Operations: Send + Sync {
    /// Maps (part of) the device's memory into the calling process.
    fn mmap(&self, vma: &Vma) -> Result;
}

/// A registered misc device serving `T`; deregistered on drop.
///
/// # Invariants
///
/// `misc` is registered with `fops` as its file operations, and `misc` is
/// the first field, so the `miscdevice` pointer a file carries leads back
/// to this value.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct Registration<T: Operations> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    #[pin]
    fops: Opaque<bindings::file_operations>,
    data: Arc<T>,
}

// SAFETY: the misc core serialises (de)registration; `T` is Send + Sync.
unsafe impl<T: Operations> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access but through `T: Sync`.
unsafe impl<T: Operations> Sync for Registration<T> {}

impl<T: Operations + 'static> Registration<T> {
    /// Registers `/dev/NAME` serving `data`.
    pub fn new(name: &'static CStr, data: Arc<T>) -> Result<Pin<KBox<Self>>> {
        let reg = KBox::pin_init(
            pin_init!(Self {
                misc <- Opaque::ffi_init(|p: *mut bindings::miscdevice| {
                    // SAFETY: `p` is valid for writes; zero is a valid
                    // start for a `miscdevice`.
                    unsafe { core::ptr::write_bytes(p, 0, 1) }
                }),
                fops <- Opaque::ffi_init(|p: *mut bindings::file_operations| {
                    // SAFETY: as above.
                    unsafe { core::ptr::write_bytes(p, 0, 1) }
                }),
                data,
            }),
            GFP_KERNEL,
        )?;
        let (misc, fops) = (reg.misc.get(), reg.fops.get());
        // SAFETY: both are ours, pinned and not yet registered; every
        // pointer stored lives as long as the registration.
        unsafe {
            (*fops).owner = super::module::this_module();
            (*fops).open = Some(Self::open_callback);
            (*fops).release = Some(Self::release_callback);
            (*fops).mmap = Some(Self::mmap_callback);
            (*misc).minor = bindings::MISC_DYNAMIC_MINOR as i32;
            (*misc).name = name.as_char_ptr();
            (*misc).fops = fops;
            to_result(bindings::misc_register(misc))?;
        }
        // INVARIANT: registered above, pinned in its box.
        Ok(reg)
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
        // The open file keeps its own reference to the data, so it stays
        // valid after the device is deregistered.
        let data = Arc::into_raw(reg.data.clone());
        // SAFETY: `file` is being opened by us.
        unsafe { (*file).private_data = data.cast_mut().cast() };
        0
    }

    /// # Safety
    ///
    /// Called by the VFS when the last reference to a file `open_callback`
    /// set up goes away.
    unsafe extern "C" fn release_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> core::ffi::c_int {
        // SAFETY: `open_callback` stored an `Arc` reference, given back once
        // here.
        drop(unsafe { Arc::from_raw((*file).private_data.cast::<T>().cast_const()) });
        0
    }

    /// # Safety
    ///
    /// Called by the VFS on a file `open_callback` set up.
    unsafe extern "C" fn mmap_callback(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> core::ffi::c_int {
        // SAFETY: the file holds a reference to the data (`open_callback`).
        let data = unsafe { &*(*file).private_data.cast::<T>() };
        // SAFETY: the VMA is live for the call; `Vma` is transparent.
        let vma = unsafe { &*vma.cast::<Vma>() };
        match data.mmap(vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
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
