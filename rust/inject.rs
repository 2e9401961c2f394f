// SPDX-License-Identifier: GPL-2.0

//! Fault injection points, in the test build only.
//!
//! scripts/build-module compiles rsdma for the debug kernel with
//! `--cfg rsdma_inject` (`RSDMA_INJECT=1`; `RSDMA_INJECT=0` leaves it
//! out). That build has the debugfs file `rsdma/inject`, which arms the
//! trigger of each [`Point`] (rsdma-core's `inject`): writing
//! `POINT NTH [TIMES|all]` makes the `NTH` call of `POINT` from now fail,
//! and the `TIMES - 1` calls after it; `POINT off`, `off` and `reset`
//! disarm. Reading it shows each point's calls, failures injected and
//! arming. The triggers are global: a point fails whichever device
//! calls it.
//!
//! In every other build [`fails`] is `false` and the file does not exist.

/// A place where rsdma can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Point {
    /// `iommu_map` of a streaming mapping, an sg list, a coherent buffer
    /// or declared memory.
    IommuMap,
    /// A new chunk of an IOVA space's bitmap.
    IovaGrow,
    /// A new bounce pool.
    BounceGrow,
    /// Pages of a coherent buffer (each block the page allocator is asked
    /// for).
    CoherentPages,
    /// The tracker's table of records, allocated when a device is
    /// attached.
    Tracker,
    /// An importer's attachment to a buffer rsdma exported.
    DmabufAttach,
}

#[cfg(rsdma_inject)]
pub(crate) use imp::InjectView;

/// Whether this call of `point` must fail.
#[inline(always)]
pub(crate) fn fails(point: Point) -> bool {
    #[cfg(rsdma_inject)]
    {
        imp::trigger(point).hit()
    }
    #[cfg(not(rsdma_inject))]
    {
        let _ = point;
        false
    }
}

#[cfg(rsdma_inject)]
mod imp {
    use super::Point;
    use crate::rsdma_core::inject::{Command, Trigger, FOREVER};
    use core::fmt::Write;
    use kernel::prelude::*;

    const ALL: [(Point, &str); 6] = [
        (Point::IommuMap, "iommu_map"),
        (Point::IovaGrow, "iova_grow"),
        (Point::BounceGrow, "bounce_grow"),
        (Point::CoherentPages, "coherent_pages"),
        (Point::Tracker, "tracker"),
        (Point::DmabufAttach, "dmabuf_attach"),
    ];

    static IOMMU_MAP: Trigger = Trigger::new();
    static IOVA_GROW: Trigger = Trigger::new();
    static BOUNCE_GROW: Trigger = Trigger::new();
    static COHERENT_PAGES: Trigger = Trigger::new();
    static TRACKER: Trigger = Trigger::new();
    static DMABUF_ATTACH: Trigger = Trigger::new();

    pub(super) fn trigger(point: Point) -> &'static Trigger {
        match point {
            Point::IommuMap => &IOMMU_MAP,
            Point::IovaGrow => &IOVA_GROW,
            Point::BounceGrow => &BOUNCE_GROW,
            Point::CoherentPages => &COHERENT_PAGES,
            Point::Tracker => &TRACKER,
            Point::DmabufAttach => &DMABUF_ATTACH,
        }
    }

    fn by_name(name: &str) -> Result<&'static Trigger> {
        match ALL.iter().find(|(_, n)| *n == name) {
            Some((p, _)) => Ok(trigger(*p)),
            None => {
                pr_err!(
                    "rsdma: inject: no injection point '{}' (iommu_map, iova_grow, bounce_grow, coherent_pages, tracker, dmabuf_attach)\n",
                    name
                );
                Err(EINVAL)
            }
        }
    }

    /// The debugfs file `rsdma/inject`.
    pub(crate) struct InjectView;

    impl crate::kapi::debugfs::Command for InjectView {
        fn run(&self, cmd: &str) -> Result {
            match Command::parse(cmd) {
                Ok(Command::Arm(name, arm)) => by_name(name)?.arm(arm),
                Ok(Command::Off(name)) => by_name(name)?.disarm(),
                Ok(Command::AllOff) => ALL.iter().for_each(|(p, _)| trigger(*p).disarm()),
                Ok(Command::Reset) => ALL.iter().for_each(|(p, _)| trigger(*p).reset()),
                Err(e) => {
                    pr_err!("rsdma: inject: '{}' refused: {}\n", cmd.trim(), e);
                    return Err(EINVAL);
                }
            }
            Ok(())
        }

        fn show(&self, out: &mut dyn Write) {
            for (p, name) in ALL {
                let t = trigger(p);
                let _ = write!(
                    out,
                    "{}: calls {} injected {}",
                    name,
                    t.calls(),
                    t.injected()
                );
                let _ = match t.armed() {
                    None => writeln!(out, " off"),
                    Some(a) if a.times == FOREVER => writeln!(out, " armed nth {} all", a.nth),
                    Some(a) => writeln!(out, " armed nth {} times {}", a.nth, a.times),
                };
            }
        }
    }
}
