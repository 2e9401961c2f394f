// SPDX-License-Identifier: GPL-2.0

//! Where a map or an unmap spends its time, step by step, in a profiling
//! build only (`make bench` with `RSDMA_PROFILE=1`, which compiles rsdma
//! with `--cfg rsdma_profile`).  Each step of the streaming map and unmap
//! path runs as a [`Span`]; a profiling build adds the `ktime_get`
//! delta of each call to that step's totals, which the debugfs file
//! `rsdma/profile` shows (and `reset` clears).  In any other build a
//! [`Span`] is empty and costs nothing.
//!
//! Steps nest (an op's total holds its steps).  The file reports what
//! timing costs: `clock_ns`, the two clock reads every figure holds, and
//! `span_ns`, what one step adds to the figure of the step around it (its
//! clock reads and the bookkeeping of its totals).

/// A timed step of the streaming path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A whole `map_page`.
    Map,
    /// The route decision of a map.
    MapRoute,
    /// IOVA allocation (rsdma-core's space, with its CPU caches).
    IovaAlloc,
    /// `iommu_map`.
    PageTableMap,
    /// Cache maintenance before the device owns the buffer.
    MapCache,
    /// Statistics, tracker record and ownership of a map.
    MapBookkeeping,
    /// A whole `unmap_page`.
    Unmap,
    /// Tracker check and record of an unmap.
    UnmapBookkeeping,
    /// The route an unmapped address took.
    UnmapRoute,
    /// Page-table walks of an unmap (`iova_to_phys`: the physical address
    /// for cache maintenance, or the mapped check without the tracker).
    UnmapLookup,
    /// Cache maintenance when the CPU gets the buffer back.
    UnmapCache,
    /// `iommu_unmap` with its IOTLB invalidation (strict), or the
    /// page-table unmap alone (lazy).
    PageTableUnmap,
    /// Lazy: queueing the unmapped range, and the batch flush when due.
    FlushQueue,
    /// IOVA free (strict; lazy frees inside [`Step::FlushQueue`]).
    IovaFree,
    /// Empty spans timed to measure what a span costs its enclosing one.
    #[cfg(rsdma_profile)]
    Calibration,
}

#[cfg(rsdma_profile)]
impl Step {
    const ALL: [Step; 15] = [
        Step::Map,
        Step::MapRoute,
        Step::IovaAlloc,
        Step::PageTableMap,
        Step::MapCache,
        Step::MapBookkeeping,
        Step::Unmap,
        Step::UnmapBookkeeping,
        Step::UnmapRoute,
        Step::UnmapLookup,
        Step::UnmapCache,
        Step::PageTableUnmap,
        Step::FlushQueue,
        Step::IovaFree,
        Step::Calibration,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Map => "map",
            Step::MapRoute => "map.route",
            Step::IovaAlloc => "map.iova_alloc",
            Step::PageTableMap => "map.iommu_map",
            Step::MapCache => "map.cache",
            Step::MapBookkeeping => "map.bookkeeping",
            Step::Unmap => "unmap",
            Step::UnmapBookkeeping => "unmap.bookkeeping",
            Step::UnmapRoute => "unmap.route",
            Step::UnmapLookup => "unmap.iova_to_phys",
            Step::UnmapCache => "unmap.cache",
            Step::PageTableUnmap => "unmap.iommu_unmap",
            Step::FlushQueue => "unmap.flush_queue",
            Step::IovaFree => "unmap.iova_free",
            Step::Calibration => "calibration",
        }
    }
}

/// A step under way: [`start`] opens it, and it ends when dropped (or at
/// [`Span::end`]).  Empty outside a profiling build.
#[must_use = "a span ends when dropped"]
pub(crate) struct Span {
    #[cfg(rsdma_profile)]
    step: Step,
    #[cfg(rsdma_profile)]
    t0: u64,
}

/// Starts timing `step` (in a profiling build).
#[inline(always)]
pub(crate) fn start(step: Step) -> Span {
    #[cfg(rsdma_profile)]
    {
        Span {
            step,
            t0: crate::kapi::time::now_ns(),
        }
    }
    #[cfg(not(rsdma_profile))]
    {
        let _ = step;
        Span {}
    }
}

impl Span {
    /// Ends the step here.
    #[inline(always)]
    pub(crate) fn end(self) {}
}

#[cfg(rsdma_profile)]
impl Drop for Span {
    fn drop(&mut self) {
        totals::add(self.step, crate::kapi::time::now_ns().wrapping_sub(self.t0));
    }
}

#[cfg(rsdma_profile)]
mod totals {
    use super::Step;
    use crate::kapi::time;
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

    /// Totals are kept per CPU slot, so that threads on different CPUs do
    /// not share their cache lines.
    const SLOTS: usize = 8;
    const STEPS: usize = Step::ALL.len();

    #[repr(align(64))]
    struct Slot {
        calls: [AtomicU64; STEPS],
        ns: [AtomicU64; STEPS],
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU64 = AtomicU64::new(0);
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        calls: [ZERO; STEPS],
        ns: [ZERO; STEPS],
    };
    static TOTALS: [Slot; SLOTS] = [EMPTY; SLOTS];

    fn index(step: Step) -> usize {
        Step::ALL.iter().position(|s| *s == step).unwrap_or(0)
    }

    pub(super) fn add(step: Step, ns: u64) {
        let i = index(step);
        if let Some(slot) = TOTALS.get(time::cpu_hint() % SLOTS) {
            if let (Some(c), Some(n)) = (slot.calls.get(i), slot.ns.get(i)) {
                c.fetch_add(1, Relaxed);
                n.fetch_add(ns, Relaxed);
            }
        }
    }

    /// (calls, ns) of `step` over every slot.
    pub(super) fn sum(step: Step) -> (u64, u64) {
        let i = index(step);
        TOTALS.iter().fold((0, 0), |(c, n), slot| {
            (
                c.wrapping_add(slot.calls.get(i).map_or(0, |a| a.load(Relaxed))),
                n.wrapping_add(slot.ns.get(i).map_or(0, |a| a.load(Relaxed))),
            )
        })
    }

    pub(super) fn reset() {
        for slot in TOTALS.iter() {
            for a in slot.calls.iter().chain(slot.ns.iter()) {
                a.store(0, Relaxed);
            }
        }
    }
}

/// The debugfs file `rsdma/profile` of a profiling build: per step its
/// calls, total and mean ns; writing `reset` clears them.
#[cfg(rsdma_profile)]
pub(crate) struct ProfileView;

#[cfg(rsdma_profile)]
impl crate::kapi::debugfs::Command for ProfileView {
    fn run(&self, cmd: &str) -> kernel::error::Result {
        match cmd.trim() {
            "reset" => {
                totals::reset();
                Ok(())
            }
            _ => Err(kernel::error::code::EINVAL),
        }
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        // What timing costs, on this CPU now: two clock reads, and an
        // empty span seen from around it.
        const ROUNDS: u64 = 1000;
        let (mut clock, mut span) = (0u64, 0u64);
        for _ in 0..ROUNDS {
            let t0 = crate::kapi::time::now_ns();
            clock = clock.wrapping_add(crate::kapi::time::now_ns().wrapping_sub(t0));
            let t0 = crate::kapi::time::now_ns();
            start(Step::Calibration).end();
            span = span.wrapping_add(crate::kapi::time::now_ns().wrapping_sub(t0));
        }
        let _ = writeln!(out, "clock_ns: {}", clock / ROUNDS);
        let _ = writeln!(out, "span_ns: {}", span / ROUNDS);
        for step in Step::ALL {
            if step == Step::Calibration {
                continue;
            }
            let (calls, ns) = totals::sum(step);
            let mean = ns.checked_div(calls).unwrap_or(0);
            let _ = writeln!(
                out,
                "{} calls={} ns={} mean_ns={}",
                step.name(),
                calls,
                ns,
                mean
            );
        }
    }
}
