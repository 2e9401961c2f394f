// SPDX-License-Identifier: GPL-2.0

//! debugfs directories and read-only files.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h)

use super::bindings;
use kernel::str::CStr;

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
