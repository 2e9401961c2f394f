// SPDX-License-Identifier: GPL-2.0

//! The kernel tick.
//!
//! C header: [`include/linux/jiffies.h`](srctree/include/linux/jiffies.h)

use super::bindings;

/// The current `jiffies`.
pub fn jiffies() -> u64 {
    // SAFETY: reading the tick counter has no preconditions.
    unsafe { bindings::rsdma_helper_jiffies() }
}

/// `ms` milliseconds in jiffies (at least 1).
pub fn msecs_to_jiffies(ms: u32) -> u64 {
    // SAFETY: a pure conversion.
    (unsafe { bindings::__msecs_to_jiffies(ms) } as u64).max(1)
}
