// SPDX-License-Identifier: GPL-2.0

//! A spinlock that disables interrupts while held (`spin_lock_irqsave`).
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h)
//!
//! DMA ops may be called from any context, interrupt handlers included; a
//! lock they take must keep interrupts off on the CPU that holds it, or an
//! interrupt that maps on the same CPU would spin on it forever.

use super::bindings;
use kernel::sync::lock::{Backend, Lock};

/// A spinlock taken with interrupts disabled; see [`new_irq_spinlock!`].
pub type IrqSpinLock<T> = Lock<T, IrqSaveBackend>;

/// Creates an [`IrqSpinLock`] initialiser with a lockdep class of its own.
#[macro_export]
macro_rules! new_irq_spinlock {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        kernel::sync::lock::Lock::<_, $crate::kapi::sync::IrqSaveBackend>::new(
            $inner,
            kernel::optional_name!($($name)?),
            kernel::static_lock_class!(),
        )
    };
}

/// The [`Backend`] of [`IrqSpinLock`]: the guard keeps the saved interrupt
/// flags.
pub struct IrqSaveBackend;

// SAFETY: `spin_lock_irqsave` gives mutual exclusion, and the guard state
// (the saved flags) is handed back to `spin_unlock_irqrestore` on the CPU
// that took the lock (guards are not `Send`).
unsafe impl Backend for IrqSaveBackend {
    type State = kernel::bindings::spinlock_t;
    type GuardState = u64;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const core::ffi::c_char,
        key: *mut kernel::bindings::lock_class_key,
    ) {
        // SAFETY: the caller passes a lock valid for writes and a name and
        // key that live forever.
        unsafe { kernel::bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> u64 {
        // SAFETY: the caller passes an initialised lock; both binding sets
        // describe the same `spinlock_t`.
        unsafe { bindings::rsdma_helper_spin_lock_irqsave(ptr.cast()) }
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &u64) {
        // SAFETY: the caller holds the lock, taken with these flags.
        unsafe { bindings::rsdma_helper_spin_unlock_irqrestore(ptr.cast(), *flags) }
    }
}
