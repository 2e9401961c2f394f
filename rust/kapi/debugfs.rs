// SPDX-License-Identifier: GPL-2.0

//! debugfs directories and read-only files.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h)

use super::{bindings, fmt::StackStr};
use kernel::error::{code::*, Result};
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::uaccess::UserSlice;

/// A debugfs directory, removed with everything below it on drop.
///
/// # Invariants
///
/// `dentry` is null or a directory created by `debugfs_create_dir` that this
/// value owns.  (debugfs failures are not errors: a kernel without debugfs,
/// or a failed creation, leaves a null entry and the files are skipped.)
pub struct Dir {
    dentry: *mut bindings::dentry,
}

impl Dir {
    /// Creates `name` under `parent`, or at the debugfs root.
    pub fn new(name: &CStr, parent: Option<&Dir>) -> Self {
        let parent = parent.map_or(core::ptr::null_mut(), |p| p.dentry);
        // SAFETY: `name` is NUL-terminated; `parent` is null or a live
        // directory (type invariant of `Dir`).
        let d = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), parent) };
        // `debugfs_create_dir` returns an ERR_PTR on failure.
        let dentry = if super::is_err_ptr(d) {
            core::ptr::null_mut()
        } else {
            d
        };
        // INVARIANT: null or a directory we created.
        Self { dentry }
    }

    /// Creates `name` under the top-level directory `parent`, which someone
    /// else (typically the module) owns and keeps until this one is gone.
    pub fn new_under_root_dir(parent: &CStr, name: &CStr) -> Self {
        // SAFETY: `parent` is NUL-terminated; a null parent means the root.
        let p = unsafe { bindings::debugfs_lookup(parent.as_char_ptr(), core::ptr::null_mut()) };
        if super::is_err_ptr(p) {
            // INVARIANT: null: no directory.
            return Self {
                dentry: core::ptr::null_mut(),
            };
        }
        // SAFETY: `p` is a live dentry we hold a reference to.
        let d = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), p) };
        // SAFETY: drop the reference `debugfs_lookup` took.
        unsafe { bindings::dput(p) };
        let dentry = if super::is_err_ptr(d) {
            core::ptr::null_mut()
        } else {
            d
        };
        // INVARIANT: null or a directory we created.
        Self { dentry }
    }

    /// Whether the directory exists.
    pub fn is_present(&self) -> bool {
        !self.dentry.is_null()
    }

    /// The raw dentry, for files created by the owner of the directory.
    pub fn as_raw(&self) -> *mut bindings::dentry {
        self.dentry
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !self.dentry.is_null() {
            // SAFETY: the directory is ours (type invariant); removing it
            // also removes every file below it.
            unsafe { bindings::debugfs_remove(self.dentry) };
        }
    }
}

// SAFETY: a dentry pointer may be used and dropped from any thread.
unsafe impl Send for Dir {}
// SAFETY: `&Dir` only reads the pointer.
unsafe impl Sync for Dir {}

/// What a [`CommandFile`] does: writing a line to the file runs it as a
/// command, reading the file shows a status text.
pub trait Command: Send + Sync {
    /// Runs `cmd` (the written line, without its trailing newline).  An
    /// error is returned to the writer as the `write` errno.
    fn run(&self, cmd: &str) -> Result;

    /// Writes the text a read of the file shows.
    fn show(&self, out: &mut dyn core::fmt::Write);
}

/// A debugfs file that runs commands written to it ([`Command`]).
///
/// Drop it before the [`Dir`] it lives in: removing the directory removes
/// the file with it.
///
/// # Invariants
///
/// `dentry` is null or a file whose `i_private` is `data` turned into a raw
/// pointer with [`Arc::into_raw`]; the reference it stands for is given back
/// in drop, after the file is removed.
pub struct CommandFile<T: Command> {
    dentry: *mut bindings::dentry,
    data: *const T,
}

impl<T: Command> CommandFile<T> {
    /// Creates `name` in `dir`, serving `data`.
    pub fn new(dir: &Dir, name: &CStr, data: Arc<T>) -> Self {
        let data = Arc::into_raw(data);
        if !dir.is_present() {
            // INVARIANT: null entry; the reference is still ours.
            return Self {
                dentry: core::ptr::null_mut(),
                data,
            };
        }
        // SAFETY: `dir` is a live directory, `name` NUL-terminated, the
        // vtable static, and `data` stays valid until the file is removed
        // (drop removes it before giving the reference back).
        let d = unsafe {
            bindings::debugfs_create_file(
                name.as_char_ptr(),
                0o600,
                dir.as_raw(),
                data as *mut core::ffi::c_void,
                &Self::FOPS,
            )
        };
        let dentry = if super::is_err_ptr(d) {
            core::ptr::null_mut()
        } else {
            d
        };
        // INVARIANT: see above.
        Self { dentry, data }
    }

    const FOPS: bindings::file_operations = bindings::file_operations {
        open: Some(bindings::simple_open),
        read: Some(Self::read_callback),
        write: Some(Self::write_callback),
        llseek: Some(bindings::default_llseek),
        // SAFETY: all-zero is a valid `file_operations` (no other callbacks).
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// Called by the VFS on a file of ours: `private_data` is the `T`.
    unsafe extern "C" fn read_callback(
        file: *mut bindings::file,
        buf: *mut core::ffi::c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `simple_open` stored our `data`, alive while the file is.
        let data = unsafe { &*(*file).private_data.cast::<T>() };
        let mut text = StackStr::<1024>::new();
        data.show(&mut text);
        let s = text.as_str();
        // SAFETY: the VFS passes a user buffer of `count` bytes and a valid
        // position; `s` is valid for its length.
        unsafe {
            bindings::simple_read_from_buffer(buf.cast(), count, ppos, s.as_ptr().cast(), s.len())
        }
    }

    /// # Safety
    ///
    /// As for `read_callback`.
    unsafe extern "C" fn write_callback(
        file: *mut bindings::file,
        buf: *const core::ffi::c_char,
        count: usize,
        _ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: as in `read_callback`.
        let data = unsafe { &*(*file).private_data.cast::<T>() };
        let mut line = [0u8; 128];
        if count == 0 || count > line.len() {
            return EINVAL.to_errno() as isize;
        }
        let mut reader = UserSlice::new(buf as usize, count).reader();
        if let Err(e) = reader.read_slice(&mut line[..count]) {
            return e.to_errno() as isize;
        }
        let Ok(cmd) = core::str::from_utf8(&line[..count]) else {
            return EINVAL.to_errno() as isize;
        };
        match data.run(cmd.trim_end_matches('\n')) {
            Ok(()) => count as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
}

impl<T: Command> Drop for CommandFile<T> {
    fn drop(&mut self) {
        if !self.dentry.is_null() {
            // SAFETY: the file is ours; `debugfs_remove` waits for running
            // callbacks, so none uses `data` afterwards.
            unsafe { bindings::debugfs_remove(self.dentry) };
        }
        // SAFETY: `data` came from `Arc::into_raw` in `new`, and no file
        // refers to it any more.
        drop(unsafe { Arc::from_raw(self.data) });
    }
}

// SAFETY: `T: Send + Sync`; the dentry may be removed from any thread.
unsafe impl<T: Command> Send for CommandFile<T> {}
// SAFETY: `&CommandFile` offers no access.
unsafe impl<T: Command> Sync for CommandFile<T> {}
