// SPDX-License-Identifier: GPL-2.0

//! Kernel threads that run a method of a shared value until stopped.
//!
//! C header: [`include/linux/kthread.h`](srctree/include/linux/kthread.h)

use super::bindings;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;

/// What a [`Thread`] runs.
pub trait Body: Send + Sync + 'static {
    /// The thread's work; it must return soon after [`should_stop`] turns
    /// true, and may sleep.
    fn run(&self);
}

/// Whether the calling kernel thread has been asked to stop
/// (`kthread_should_stop`); false in any other context.
pub fn should_stop() -> bool {
    // SAFETY: callable from any task: it reads the current task's
    // kthread flags, and answers false for a task that is no kthread.
    unsafe { bindings::kthread_should_stop() }
}

/// Lets other tasks run if the scheduler wants this CPU (`cond_resched`),
/// for loops that run long without sleeping.
pub fn cond_resched() {
    // SAFETY: called from process context that may sleep, as this layer's
    // users (kernel threads) do.
    unsafe { bindings::__cond_resched() };
}

/// A running kernel thread calling `T::run` on a value it shares.
///
/// # Invariants
///
/// `task` is a kthread created by `kthread_create_on_node` and woken,
/// which has not been stopped; its data pointer is the `T` inside `body`,
/// which this value holds a reference to until the thread is stopped.
pub struct Thread<T: Body> {
    task: *mut bindings::task_struct,
    body: Arc<T>,
}

// SAFETY: the task may be stopped from any thread; `T` is `Send + Sync`.
unsafe impl<T: Body> Send for Thread<T> {}
// SAFETY: `&Thread` only reads `body`, which is `Sync`.
unsafe impl<T: Body> Sync for Thread<T> {}

impl<T: Body> Thread<T> {
    /// Starts a thread named `name` (at most 15 bytes show) running
    /// `body.run()`.
    pub fn spawn(body: Arc<T>, name: &CStr) -> Result<Self> {
        let data: *const T = &*body;
        // SAFETY: `trampoline::<T>` takes the data pointer as a `T`, which
        // `body` keeps alive until `drop` has stopped the thread; `name`
        // is a NUL-terminated string passed as the argument of a "%s"
        // format.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(Self::trampoline),
                data.cast_mut().cast(),
                bindings::NUMA_NO_NODE,
                c"%s".as_ptr(),
                name.as_char_ptr(),
            )
        };
        if super::is_err_ptr(task) {
            return Err(if task.is_null() {
                ENOMEM
            } else {
                Error::from_errno(task as isize as i32)
            });
        }
        // SAFETY: `task` is a new kthread that has not been woken.
        unsafe { bindings::wake_up_process(task) };
        // INVARIANT: created and woken above; `body` holds its data.
        Ok(Self { task, body })
    }

    /// The value the thread runs on.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// # Safety
    ///
    /// Called by the kthread core with the data pointer `spawn` passed.
    unsafe extern "C" fn trampoline(data: *mut core::ffi::c_void) -> core::ffi::c_int {
        // SAFETY: `data` is the `T` inside the `Arc` the `Thread` holds
        // until the thread has been stopped and has returned from here.
        let body = unsafe { &*data.cast::<T>().cast_const() };
        body.run();
        // The core's return value goes to `kthread_stop`, which ignores
        // it here; wait until asked to stop, as `kthread_stop` requires of
        // a thread that may return early.
        while !should_stop() {
            super::io::msleep(10);
        }
        0
    }
}

impl<T: Body> Drop for Thread<T> {
    fn drop(&mut self) {
        // SAFETY: `task` is a live kthread that has not been stopped (type
        // invariant) and does not exit before `kthread_should_stop` is
        // true (`trampoline`), so its task_struct is still there.
        unsafe { bindings::kthread_stop(self.task) };
    }
}
