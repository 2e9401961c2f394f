// SPDX-License-Identifier: GPL-2.0

//! The kernel tick, the monotonic clock, and CPU ids.
//!
//! C headers: [`include/linux/jiffies.h`](srctree/include/linux/jiffies.h),
//! [`include/linux/timekeeping.h`](srctree/include/linux/timekeeping.h)

use super::bindings;

/// The current `jiffies`.
pub fn jiffies() -> u64 {
    // SAFETY: reading the tick counter has no preconditions.
    unsafe { bindings::rsdma_helper_jiffies() }
}

/// The monotonic clock in nanoseconds (`ktime_get`).
pub fn now_ns() -> u64 {
    // SAFETY: reading the clock has no preconditions.
    unsafe { bindings::ktime_get() as u64 }
}

/// `ms` milliseconds in jiffies (at least 1).
pub fn msecs_to_jiffies(ms: u32) -> u64 {
    // SAFETY: a pure conversion.
    (unsafe { bindings::__msecs_to_jiffies(ms) } as u64).max(1)
}

/// The CPU this code runs on, as a hint: it may change at any time unless
/// preemption is off.
pub fn cpu_hint() -> usize {
    // SAFETY: no preconditions.
    unsafe { bindings::rsdma_helper_cpu_id() as usize }
}

/// The number of possible CPU ids (`nr_cpu_ids`).
pub fn nr_cpu_ids() -> usize {
    // SAFETY: no preconditions.
    unsafe { bindings::rsdma_helper_nr_cpu_ids() as usize }
}
