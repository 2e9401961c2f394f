// SPDX-License-Identifier: GPL-2.0

//! One-shot kernel timers that call back into their owner.
//!
//! C header: [`include/linux/timer.h`](srctree/include/linux/timer.h)

use super::bindings;
use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::types::Opaque;

/// What a [`Timer`] calls when it fires (in softirq context: must not
/// sleep).
pub trait Expired: Send + Sync {
    /// The timer fired.
    fn expired(&self);
}

/// A timer embedded in its owner `T`, which it calls back.
///
/// # Invariants
///
/// The C timer is initialised; whenever it is armed, its data pointer is
/// the `T` that armed it, which contains this timer, so it is live until the
/// timer is shut down in drop.
#[pin_data(PinnedDrop)]
pub struct Timer<T: Expired> {
    #[pin]
    t: Opaque<bindings::rsdma_timer>,
    _p: PhantomData<T>,
}

// SAFETY: the timer may be armed and shut down from any thread.
unsafe impl<T: Expired> Send for Timer<T> {}
// SAFETY: arming is serialised by the timer core.
unsafe impl<T: Expired> Sync for Timer<T> {}

impl<T: Expired> Timer<T> {
    /// A timer that is not armed.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            t <- Opaque::ffi_init(|p: *mut bindings::rsdma_timer| {
                // SAFETY: `p` is valid for writes and pinned.
                unsafe { bindings::rsdma_helper_timer_init(p) }
            }),
            _p: PhantomData,
        })
    }

    /// Calls `owner.expired()` in `delay` jiffies, unless already armed.
    /// `owner` must be the value this timer is a field of; for any other
    /// value nothing is armed.
    pub fn arm(&self, owner: &T, delay: u64) {
        // Only the value the timer lives in may be called back: anything
        // else might not outlive the timer.
        let (me, start) = (self as *const Self as usize, owner as *const T as usize);
        if me < start || me - start >= core::mem::size_of::<T>() {
            return;
        }
        let owner: *const T = owner;
        // SAFETY: the timer is initialised; `owner` contains this timer, so
        // it outlives every firing (drop shuts the timer down first).
        unsafe {
            bindings::rsdma_helper_timer_arm(
                self.t.get(),
                Some(Self::fire),
                owner.cast_mut().cast(),
                delay,
            )
        };
    }

    /// # Safety
    ///
    /// Called by the timer with the owner pointer `arm` stored.
    unsafe extern "C" fn fire(data: *mut core::ffi::c_void) {
        // SAFETY: the owner is live while its timer can fire.
        let owner = unsafe { &*data.cast::<T>().cast_const() };
        owner.expired();
    }
}

#[pinned_drop]
impl<T: Expired> PinnedDrop for Timer<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialised (type invariant); waits for a running
        // callback and keeps the timer from being armed again.
        unsafe { bindings::rsdma_helper_timer_shutdown(self.t.get()) };
    }
}
