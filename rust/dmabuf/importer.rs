// SPDX-License-Identifier: GPL-2.0

//! One importer of a buffer: an attached device and its mapping.
//!
//! The mapping state (the table, its direction, mapped or not) is the
//! importer's own, behind its own lock, so anything holding the attachment
//! can reach it: the exporter's ops here, and the range syncs a driver asks
//! for on its own attachment ([`Importer::sync_part`], behind
//! `rsdma_dmabuf_sync_for_device` / `_for_cpu`).

use crate::debug::{Stats, EXPORT};
use crate::dev_err;
use crate::kapi::device::Device;
use crate::kapi::dma_shared::{Direction, Handout, SharedMapping, SyncTo};
use crate::kapi::page::PageRuns;
use crate::rsdma_core::importer_sync::{self, Errno};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::ARef;

/// An attached device.
#[pin_data(PinnedDrop)]
pub(crate) struct Importer {
    /// The importing device.
    pub(crate) dev: ARef<Device>,
    /// Its mapping of the buffer.
    #[pin]
    pub(crate) mapping: Mutex<SharedMapping>,
    /// The buffer's number in log lines.
    pub(crate) buf: u64,
    /// Bytes synced on this importer's mapping for CPU accesses.
    pub(crate) synced_bytes: AtomicU64,
    /// The importer's own range syncs carried out, and their bytes.
    pub(crate) own_syncs: AtomicU64,
    pub(crate) own_bytes: AtomicU64,
}

impl Importer {
    /// Attaches `dev` to the buffer `runs`: its table is cut to the
    /// device's limits now, mapped later.
    pub(crate) fn new(dev: &Device, buf: u64, runs: Arc<PageRuns>) -> Result<Arc<Self>> {
        let mapping = SharedMapping::new(dev, runs)?;
        let imp = Arc::pin_init(
            pin_init!(Self {
                dev: dev.get(),
                mapping <- new_mutex!(mapping, "Importer::mapping"),
                buf,
                synced_bytes: AtomicU64::new(0),
                own_syncs: AtomicU64::new(0),
                own_bytes: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )?;
        Stats::count(&EXPORT.attachments);
        Ok(imp)
    }

    /// Maps the buffer in `dir` for the importer; a second mapping, in any
    /// direction, is refused: a mapping's direction never changes.
    pub(crate) fn map(&self, dir: Direction) -> Result<Handout> {
        let buf = self.buf;
        let mut m = self.mapping.lock();
        if let Some(have) = m.direction() {
            dev_err!(
                self.dev,
                "rsdma: dma-buf {} is mapped for this device already ({}); a second mapping ({}) is refused",
                buf,
                have,
                dir
            );
            Stats::count(&EXPORT.refused);
            return Err(EBUSY);
        }
        m.map(dir).inspect_err(|e| {
            dev_err!(
                self.dev,
                "rsdma: mapping dma-buf {} {} failed: {:?}",
                buf,
                dir,
                e
            )
        })?;
        let h = m.handout().ok_or(EINVAL)?;
        Stats::count(&EXPORT.mappings);
        Ok(h)
    }

    /// Undoes [`Importer::map`]; `table` must be what it returned.
    pub(crate) fn unmap(&self, table: Handout, dir: Option<Direction>) {
        let buf = self.buf;
        let mut m = self.mapping.lock();
        let Some(have) = m.direction() else {
            dev_err!(
                self.dev,
                "rsdma: unmap of dma-buf {}, which is not mapped",
                buf
            );
            return;
        };
        if !m.is(&table) {
            dev_err!(
                self.dev,
                "rsdma: unmap of dma-buf {} with a table it did not hand out; not unmapped",
                buf
            );
            return;
        }
        if dir != Some(have) {
            dev_err!(
                self.dev,
                "rsdma: dma-buf {} mapped {} is unmapped as {}; unmapping as mapped",
                buf,
                have,
                dir.map_or("an invalid direction", |d| d.name())
            );
        }
        m.unmap();
        Stats::uncount(&EXPORT.mappings);
    }

    /// At detach: a mapping the importer left is undone.
    pub(crate) fn detach(&self) {
        let buf = self.buf;
        let mut m = self.mapping.lock();
        if m.direction().is_some() {
            dev_err!(
                self.dev,
                "rsdma: dma-buf {} is detached while still mapped; unmapping it",
                buf
            );
            m.unmap();
            Stats::uncount(&EXPORT.mappings);
        }
    }

    /// Syncs the mapping, if any, for `to`: all of it, or `[offset,
    /// offset+len)`; returns the bytes synced.
    pub(crate) fn sync(&self, range: Option<(u64, u64)>, to: SyncTo) -> u64 {
        let m = self.mapping.lock();
        let done = match range {
            None => {
                m.sync(to);
                if m.direction().is_some() {
                    m.len() as u64
                } else {
                    0
                }
            }
            Some((offset, len)) => match m
                .direction()
                .map_or(Ok(0), |dir| m.sync_range(offset, len, to, dir))
            {
                Ok(n) => n,
                Err(e) => {
                    // Never leave the range unsynced.
                    dev_err!(
                        self.dev,
                        "rsdma: range sync {}+{} failed ({:?}); syncing the whole buffer",
                        offset,
                        len,
                        e
                    );
                    m.sync(to);
                    m.len() as u64
                }
            },
        };
        self.synced_bytes.fetch_add(done, Relaxed);
        EXPORT.synced_bytes.fetch_add(done, Relaxed);
        done
    }

    /// The importer's own sync of bytes `[offset, offset+len)` of its
    /// mapping for `to`, for a transfer in `dir` (`None`: not a
    /// direction).  Refused, with nothing synced, unless the range lies
    /// in the buffer, the attachment is mapped and its direction allows
    /// `dir`.  Returns the bytes synced.
    pub(crate) fn sync_part(
        &self,
        offset: u64,
        len: u64,
        dir: Option<Direction>,
        to: SyncTo,
    ) -> Result<u64> {
        let m = self.mapping.lock();
        let size = m.len() as u64;
        let refused = |why: &dyn core::fmt::Display, e: Error| {
            dev_err!(
                self.dev,
                "rsdma: dma-buf {}: sync for the {} of {}+{} refused: {}",
                self.buf,
                if to == SyncTo::Cpu { "CPU" } else { "device" },
                offset,
                len,
                why
            );
            Stats::count(&EXPORT.refused);
            e
        };
        if let Err(r) = importer_sync::check(offset, len, size, m.direction(), dir) {
            let e = match r.errno() {
                Errno::Inval => EINVAL,
                Errno::Range => ERANGE,
                Errno::NoMapping => ENXIO,
                Errno::Access => EACCES,
            };
            return Err(refused(&r, e));
        }
        let dir = dir.ok_or(EINVAL)?;
        let done = m
            .sync_range(offset, len, to, dir)
            .map_err(|e| refused(&"the range does not fit the mapping's segments", e))?;
        self.own_syncs.fetch_add(1, Relaxed);
        self.own_bytes.fetch_add(done, Relaxed);
        Stats::count(&EXPORT.importer_syncs);
        EXPORT.importer_bytes.fetch_add(done, Relaxed);
        Ok(done)
    }
}

#[pinned_drop]
impl PinnedDrop for Importer {
    fn drop(self: Pin<&mut Self>) {
        Stats::uncount(&EXPORT.attachments);
    }
}
