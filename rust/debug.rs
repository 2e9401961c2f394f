// SPDX-License-Identifier: GPL-2.0

//! What rsdma tells about a device: the mapping tracker (rsdma-core's
//! DMA-API-debug state machine), the op counters, and the text of the
//! device's debugfs `stats` and `declared` files.

use crate::claim::{Claims, State};
use crate::dev::RsdmaDev;
use crate::dmabuf::registry::Registry;
use crate::inject::{self, Point};
use crate::kapi::debugfs;
use crate::kapi::device::{dma_caller, Device};
use crate::kapi::dma_ops::Installed;
use crate::kapi::sync::IrqSpinLock;
use crate::kapi::time;
use crate::kapi::vmalloc;
use crate::new_irq_spinlock;
use crate::rsdma_core::declared::CpuMapping;
use crate::rsdma_core::dma::{Attrs, Direction};
use crate::rsdma_core::tracker::{self, Finding, Findings, MapKind, Mapping, Tracker};
use crate::{dev_err, dev_warn};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Records the tracker keeps per device.
const TRACKER_RECORDS: usize = 4096;
/// Mappings the debugfs file `mappings` lists (its text must fit in 1 KiB).
const MAPPINGS_SHOWN: usize = 6;

/// The tracker's record table.
pub(crate) struct TrackerTable(KVVec<tracker::Slot>);

impl AsRef<[tracker::Slot]> for TrackerTable {
    fn as_ref(&self) -> &[tracker::Slot] {
        &self.0
    }
}

impl AsMut<[tracker::Slot]> for TrackerTable {
    fn as_mut(&mut self) -> &mut [tracker::Slot] {
        &mut self.0
    }
}

/// One CPU's share of a device's op counters, a cache line of its own:
/// CPUs mapping at once never write the same line.
#[derive(Default)]
#[repr(C, align(64))]
pub(crate) struct CpuStats {
    pub(crate) maps: AtomicU64,
    pub(crate) unmaps: AtomicU64,
    pub(crate) sg_maps: AtomicU64,
    pub(crate) sg_unmaps: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) allocs: AtomicU64,
    pub(crate) frees: AtomicU64,
    pub(crate) findings: AtomicU64,
    /// Mappings that went direct, and that were bounced.
    pub(crate) direct_maps: AtomicU64,
    pub(crate) bounce_maps: AtomicU64,
    /// Buffer allocations that failed.
    pub(crate) alloc_failures: AtomicU64,
    /// Cache maintenance operations carried out (non-coherent devices).
    pub(crate) cache_maintenance: AtomicU64,
}

/// A device's op counters, shown in debugfs: one [`CpuStats`] per possible
/// CPU, counted into by the CPU an op runs on and summed when read.
///
/// # Invariants
///
/// It holds at least one [`CpuStats`].
pub(crate) struct Stats(KVec<CpuStats>);

impl Stats {
    /// Zeroed counters for every possible CPU.
    pub(crate) fn new() -> Result<Self> {
        let cpus = time::nr_cpu_ids().max(1);
        let mut v = KVec::with_capacity(cpus, GFP_KERNEL)?;
        for _ in 0..cpus {
            v.push(CpuStats::default(), GFP_KERNEL)?;
        }
        // INVARIANT: `cpus` is at least 1.
        Ok(Self(v))
    }

    /// The counters of the CPU this runs on.
    pub(crate) fn here(&self) -> &CpuStats {
        self.on(time::cpu_hint())
    }

    /// The counters of CPU `cpu`, for a caller that knows which CPU it runs
    /// on.  A task that moved to another CPU meanwhile counts into the old
    /// one's, which is still exact: the counters are atomic, only their
    /// cache line is meant to be local.
    pub(crate) fn on(&self, cpu: usize) -> &CpuStats {
        // By the type invariant the length is not 0 and the index in range.
        &self.0[cpu % self.0.len()]
    }

    /// The sum over CPUs of the counter `field` picks.
    pub(crate) fn sum(&self, field: impl Fn(&CpuStats) -> &AtomicU64) -> u64 {
        self.0
            .iter()
            .fold(0u64, |a, c| a.wrapping_add(field(c).load(Relaxed)))
    }

    /// Counts one event.
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Counts one live object fewer.
    pub(crate) fn uncount(counter: &AtomicU64) {
        counter.fetch_sub(1, Relaxed);
    }
}

/// What the dma-buf exporter holds and did, shown in debugfs
/// (`rsdma/dmabuf`).
pub(crate) struct ExportStats {
    /// Live buffers, and their bytes.
    pub(crate) buffers: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// Live attachments, and those of them mapped.
    pub(crate) attachments: AtomicU64,
    pub(crate) mappings: AtomicU64,
    /// Buffers with a kernel mapping.
    pub(crate) vmaps: AtomicU64,
    /// CPU-access brackets open.
    pub(crate) cpu_accesses: AtomicU64,
    /// Brackets begun or ended, those of them over a range, and the bytes
    /// of importers' mappings they synced.
    pub(crate) syncs: AtomicU64,
    pub(crate) range_syncs: AtomicU64,
    pub(crate) synced_bytes: AtomicU64,
    /// Range syncs importers made on their own mappings, and their bytes.
    pub(crate) importer_syncs: AtomicU64,
    pub(crate) importer_bytes: AtomicU64,
    /// Requests refused.
    pub(crate) refused: AtomicU64,
}

/// The exporter's counters.
pub(crate) static EXPORT: ExportStats = ExportStats {
    buffers: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
    attachments: AtomicU64::new(0),
    mappings: AtomicU64::new(0),
    vmaps: AtomicU64::new(0),
    cpu_accesses: AtomicU64::new(0),
    syncs: AtomicU64::new(0),
    range_syncs: AtomicU64::new(0),
    synced_bytes: AtomicU64::new(0),
    importer_syncs: AtomicU64::new(0),
    importer_bytes: AtomicU64::new(0),
    refused: AtomicU64::new(0),
};

/// The debugfs file `rsdma/dmabuf`: the exporter's counters, then one line
/// per live attachment.
pub(crate) struct ExportView(pub(crate) Arc<Registry>);

impl debugfs::Command for ExportView {
    fn run(&self, _cmd: &str) -> Result {
        Err(EINVAL)
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let e = &EXPORT;
        let n = |c: &AtomicU64| c.load(Relaxed);
        let _ = write!(
            out,
            "buffers: {}\nbytes: {}\nattachments: {}\nmappings: {}\nvmaps: {}\n\
             cpu_accesses: {}\nsyncs: {}\nrange_syncs: {}\nsynced_bytes: {}\n\
             importer_syncs: {}\nimporter_bytes: {}\nrefused: {}\n",
            n(&e.buffers),
            n(&e.bytes),
            n(&e.attachments),
            n(&e.mappings),
            n(&e.vmaps),
            n(&e.cpu_accesses),
            n(&e.syncs),
            n(&e.range_syncs),
            n(&e.synced_bytes),
            n(&e.importer_syncs),
            n(&e.importer_bytes),
            n(&e.refused),
        );
        self.0.show(out);
    }
}

/// The tracker of one device (when enabled) and its counters.
#[pin_data]
pub(crate) struct Debug {
    /// The device's identity in tracker records.
    id: u64,
    /// Whether the tracker runs (fixed at attach).
    tracking: bool,
    #[pin]
    tracker: IrqSpinLock<Option<Tracker<TrackerTable>>>,
    pub(crate) stats: Stats,
}

impl Debug {
    /// The tracker and counters of `dev`, with the tracker on or off.
    pub(crate) fn new(dev: &Device, tracking: bool) -> Result<impl PinInit<Self, Error>> {
        let tracker = if tracking {
            if inject::fails(Point::Tracker) {
                return Err(ENOMEM);
            }
            let mut t = KVVec::with_capacity(TRACKER_RECORDS, GFP_KERNEL)?;
            for _ in 0..TRACKER_RECORDS {
                t.push(None, GFP_KERNEL)?;
            }
            Some(Tracker::new(TrackerTable(t), tracker::UNMAP_COMPARED_ATTRS))
        } else {
            None
        };
        let id = dev.as_raw() as usize as u64;
        let stats = Stats::new()?;
        Ok(try_pin_init!(Self {
            id,
            tracking,
            tracker <- new_irq_spinlock!(tracker, "Debug::tracker"),
            stats,
        }? Error))
    }

    /// Whether the tracker runs.
    pub(crate) fn tracking(&self) -> bool {
        self.tracking
    }

    /// A tracker record of a mapping of this device.
    pub(crate) fn record(
        &self,
        addr: u64,
        size: u64,
        kind: MapKind,
        dir: Direction,
        attrs: Attrs,
        nents: u32,
    ) -> Mapping {
        Mapping {
            dev: self.id,
            dev_addr: addr,
            size,
            kind,
            dir,
            attrs,
            sg_nents: nents,
            cpu_addr: 0,
        }
    }

    /// Records a new mapping.
    ///
    /// `dma_mapping_error()` is inline in the driver and never reaches the
    /// ops, so rsdma cannot see whether it was called (the kernel's own
    /// DMA-API debugging checks that): the mapping is recorded as checked.
    pub(crate) fn mapped(&self, dev: &Device, m: Mapping) {
        let (id, addr) = (m.dev, m.dev_addr);
        self.track(dev, |t| {
            let f = t.map(m);
            t.mapping_error_checked(id, addr);
            f
        });
    }

    /// Records the end of a mapping; `false` when it must not be carried
    /// out (it is not mapped, or was unmapped already).
    pub(crate) fn unmapped(&self, dev: &Device, m: Mapping) -> bool {
        self.track(dev, |t| t.unmap(m))
    }

    /// Records a sync of `size` bytes at `addr` for the CPU (`for_cpu`) or
    /// for the device.
    pub(crate) fn synced(
        &self,
        dev: &Device,
        addr: u64,
        size: u64,
        dir: Direction,
        nents: Option<u32>,
        for_cpu: bool,
    ) {
        let id = self.id;
        self.track(dev, |t| {
            if for_cpu {
                t.sync_for_cpu(id, addr, size, dir, nents)
            } else {
                t.sync_for_device(id, addr, size, dir, nents)
            }
        });
    }

    /// Runs `f` on the tracker, if enabled, and logs what it found.
    /// Returns whether the operation is sound enough to carry out.
    fn track(&self, dev: &Device, f: impl FnOnce(&mut Tracker<TrackerTable>) -> Findings) -> bool {
        if !self.tracking {
            return true;
        }
        let findings = {
            let mut t = self.tracker.lock();
            match t.as_mut() {
                Some(t) => f(t),
                None => return true,
            }
        };
        if findings.is_empty() {
            return true;
        }
        let caller = dma_caller();
        let mut ok = true;
        for finding in findings.iter() {
            Stats::count(&self.stats.here().findings);
            if caller.as_str().is_empty() {
                dev_err!(dev, "rsdma tracker: {}", finding);
            } else {
                dev_err!(
                    dev,
                    "rsdma tracker: {} (caller {})",
                    finding,
                    caller.as_str()
                );
            }
            if matches!(
                finding,
                Finding::UnmapNotMapped { .. } | Finding::DoubleUnmap { .. }
            ) {
                ok = false;
            }
        }
        ok
    }

    /// Logs what the driver left mapped (at most 16 lines), forgets it, and
    /// returns how many mappings there were.
    pub(crate) fn report_leaks(&self, dev: &Device) -> usize {
        let mut leaks = 0usize;
        if let Some(t) = self.tracker.lock().as_mut() {
            for f in t.leaks(self.id) {
                leaks += 1;
                if leaks <= 16 {
                    dev_err!(dev, "rsdma tracker: {}", f);
                }
            }
            t.forget(self.id);
        }
        leaks
    }

    /// Writes the device's live mappings, at most [`MAPPINGS_SHOWN`], one
    /// line each: address, size, kind, direction, and who owns each of its
    /// parts (`D` the device, `c` the CPU, `s` both).
    fn show_mappings(&self, out: &mut dyn core::fmt::Write) {
        let t = self.tracker.lock();
        let Some(t) = t.as_ref() else {
            let _ = writeln!(out, "tracker off");
            return;
        };
        for (shown, e) in t.entries(self.id).enumerate() {
            if shown == MAPPINGS_SHOWN {
                let _ = writeln!(out, "...");
                break;
            }
            let m = e.mapping();
            let _ = writeln!(
                out,
                "{:#x}+{:#x} {} {} {}",
                m.dev_addr,
                m.size,
                m.kind.name(),
                m.dir,
                e.parts()
            );
        }
    }

    /// Live mappings and whether the record table ever overflowed.
    pub(crate) fn live(&self) -> (usize, bool) {
        self.tracker
            .lock()
            .as_ref()
            .map_or((0, false), |t| (t.live(), t.overflowed()))
    }
}

/// The debugfs file `rsdma/<device>/mappings`: the device's live mappings
/// as the tracker sees them.
pub(crate) struct MappingsView(Arc<Installed<RsdmaDev>>);

impl debugfs::Command for MappingsView {
    fn run(&self, _cmd: &str) -> Result {
        Err(EINVAL)
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        self.0.data.debug.show_mappings(out);
    }
}

/// A device's debugfs files, then their directory (dropped in that order).
pub(crate) struct Files {
    _stats: debugfs::CommandFile<Installed<RsdmaDev>>,
    _mappings: Option<debugfs::CommandFile<MappingsView>>,
    _declared: Option<debugfs::CommandFile<DeclaredFile>>,
    _dir: debugfs::Dir,
}

impl Files {
    /// Creates `rsdma/<device>/stats`, `mappings` and `declared` for
    /// `state`.
    pub(crate) fn new(state: &Arc<Installed<RsdmaDev>>) -> Self {
        let dev = &state.data.dev;
        let dir = debugfs::Dir::new_under_root_dir(c_str!("rsdma"), dev.name());
        let stats = debugfs::CommandFile::new(&dir, c_str!("stats"), state.clone());
        let mappings = Arc::new(MappingsView(state.clone()), GFP_KERNEL)
            .inspect_err(|_| dev_warn!(dev, "rsdma: no debugfs file 'mappings' (out of memory)"))
            .ok()
            .map(|v| debugfs::CommandFile::new(&dir, c_str!("mappings"), v));
        let declared = DeclaredFile::new(state.clone())
            .inspect_err(|_| dev_warn!(dev, "rsdma: no debugfs file 'declared' (out of memory)"))
            .ok()
            .map(|v| debugfs::CommandFile::new(&dir, c_str!("declared"), v));
        Self {
            _stats: stats,
            _mappings: mappings,
            _declared: declared,
            _dir: dir,
        }
    }
}

impl debugfs::Command for Installed<RsdmaDev> {
    fn run(&self, cmd: &str) -> Result {
        match (cmd, self.data.iommu.as_deref()) {
            ("flush", iommu) => {
                if let Some(iommu) = iommu {
                    iommu.flush_all();
                }
                vmalloc::purge_lazy_unmaps();
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let d = &self.data;
        let s = &d.debug.stats;
        let (live, overflowed) = d.debug.live();
        let n = |c: &AtomicU64| c.load(Relaxed);
        let iommu = d.iommu.as_deref();
        let _ = write!(
            out,
            "mode: {}\niommu: {}\nuntrusted: {}\ncoherent: {}\ngranule: {}\n",
            if iommu.is_some_and(|i| i.is_lazy()) {
                "lazy"
            } else {
                "strict"
            },
            if iommu.is_some() { "yes" } else { "no" },
            d.untrusted,
            d.coherent,
            iommu.map_or(crate::kapi::page::PAGE_SIZE as u64, |i| i.granule()),
        );
        let _ = write!(
            out,
            "maps: {}\nunmaps: {}\nsg_maps: {}\nsg_unmaps: {}\nsyncs: {}\nallocs: {}\n\
             frees: {}\nmap_failures: {}\nlive_mappings: {}\n",
            s.sum(|c| &c.maps),
            s.sum(|c| &c.unmaps),
            s.sum(|c| &c.sg_maps),
            s.sum(|c| &c.sg_unmaps),
            s.sum(|c| &c.syncs),
            s.sum(|c| &c.allocs),
            s.sum(|c| &c.frees),
            iommu.map_or(0, |i| n(&i.map_failures)),
            live,
        );
        let st = iommu.map(|i| i.space_stats()).unwrap_or_default();
        let _ = write!(
            out,
            "iova_pages_used: {}\niova_pages_high_water: {}\niova_alloc_failures: {}\n\
             tracker: {}\ntracker_findings: {}\ntracker_overflow: {}\nflushes: {}\n",
            st.used,
            st.high_water,
            st.alloc_failures,
            if d.debug.tracking() { "on" } else { "off" },
            s.sum(|c| &c.findings),
            overflowed,
            iommu.map_or(0, |i| i.flushes()),
        );
        let b = d.bounce.as_ref().map(|b| b.stats());
        let _ = write!(
            out,
            "direct_maps: {}\nbounce_maps: {}\nbounce_pools: {}\nbounce_slots_used: {}\n\
             bounce_slots_high_water: {}\nbounce_failures: {}\n",
            s.sum(|c| &c.direct_maps),
            s.sum(|c| &c.bounce_maps),
            b.as_ref().map_or(0, |b| b.pools),
            b.as_ref().map_or(0, |b| b.used),
            b.as_ref().map_or(0, |b| b.high_water),
            b.as_ref().map_or(0, |b| b.failures),
        );
        let _ = write!(
            out,
            "coherent_buffers: {}\ncoherent_pages: {}\ncoherent_blocks: {}\nalloc_failures: {}\n\
             cache_maintenance: {}\n",
            n(&d.buffers.live),
            n(&d.buffers.pages),
            n(&d.buffers.blocks),
            s.sum(|c| &c.alloc_failures),
            s.sum(|c| &c.cache_maintenance),
        );
        let _ = writeln!(out, "dma_limit: {:#x}", d.limit);
    }
}

/// The debugfs `declared` file of a device: each declared region's place,
/// size, bytes used, high water and failed allocations, and the device's
/// live allocations from declared memory.
pub(crate) struct DeclaredFile(Arc<Installed<RsdmaDev>>);

impl DeclaredFile {
    /// The file's data for the device `state` serves.
    pub(crate) fn new(state: Arc<Installed<RsdmaDev>>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(state), GFP_KERNEL)?)
    }
}

impl debugfs::Command for DeclaredFile {
    fn run(&self, _cmd: &str) -> Result {
        Err(EINVAL)
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let d = &self.0.data.declared;
        let mut n = 0usize;
        d.for_each_region(|r| {
            n += 1;
            let _ = writeln!(
                out,
                "region: phys {:#x} dev {:#x} size {} used {} high_water {} failures {} {}{}{}",
                r.span.phys,
                r.span.dev_addr,
                r.span.size,
                r.used,
                r.high_water,
                r.failures,
                if r.cpu == CpuMapping::Io { "io" } else { "map" },
                if r.exclusive { " exclusive" } else { "" },
                if r.children { " children" } else { "" },
            );
        });
        let (allocs, bytes) = d.live();
        let _ = write!(
            out,
            "regions: {}\nallocations: {}\nallocated_bytes: {}\n",
            n, allocs, bytes
        );
    }
}

/// The claim file: writing runs a claim command (a spec list to add, `-`
/// and specs to forget, `clear`); reading shows the specs and the devices
/// they named, with the counters of those served.
impl debugfs::Command for Claims {
    fn run(&self, cmd: &str) -> Result {
        self.command(cmd)
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let t = self.table.lock();
        let _ = writeln!(out, "specs:");
        for s in t.specs() {
            let _ = writeln!(out, "  {}", s);
        }
        let _ = writeln!(out, "devices:");
        for e in t.devices.iter().flatten() {
            let drv = e.dev.driver_name().map_or(c_str!("-"), |d| d);
            let _ = write!(out, "  {} {} {}: ", e.dev.name(), drv, e.spec);
            let _ = match &e.state {
                State::Served { state, .. } => {
                    let d = &state.data;
                    let s = &d.debug.stats;
                    writeln!(
                        out,
                        "served (maps {}, sg_maps {}, allocs {}, bounce_maps {}, live {})",
                        s.sum(|c| &c.maps),
                        s.sum(|c| &c.sg_maps),
                        s.sum(|c| &c.allocs),
                        s.sum(|c| &c.bounce_maps),
                        d.debug.live().0
                    )
                }
                State::Refused(why) => writeln!(out, "refused: {}", why),
                State::Failed(err) => writeln!(out, "attach failed: {:?}", err),
                State::Settling => writeln!(out, "released (the probe failed)"),
            };
        }
    }
}
