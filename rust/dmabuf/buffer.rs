// SPDX-License-Identifier: GPL-2.0

//! An exported buffer: its pages, its importers, its CPU-access brackets
//! and its kernel mapping, and the dma-buf ops over them.

use crate::debug::{Stats, EXPORT};
use crate::dev_err;
use crate::dmabuf::importer::Importer;
use crate::dmabuf::registry::Registry;
use crate::inject::{self, Point};
use crate::kapi::device::Device;
use crate::kapi::dma_buf::Exporter;
use crate::kapi::dma_ops::Vma;
use crate::kapi::dma_shared::{Direction, Handout, SyncTo};
use crate::kapi::page::{PageRuns, Pages, PAGE_SIZE};
use crate::kapi::vmalloc::RunsVmap;
use crate::rsdma_core::cache::CacheOp;
use crate::rsdma_core::cpu_access::{Access, AccessError, CpuAccess};
use crate::rsdma_core::uapi::{check_mmap, BufferSpec};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::ARef;

/// Numbers buffers in log lines.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A buffer `/dev/rsdma` allocated and exported.
#[pin_data(PinnedDrop)]
pub(crate) struct Buffer {
    /// Its number in log lines.
    pub(crate) id: u64,
    /// `/dev/rsdma`, which log lines about the buffer name.
    dev: ARef<Device>,
    /// The pages.
    runs: Arc<PageRuns>,
    /// What was asked for.
    spec: BufferSpec,
    /// The CPU-access brackets open on it.
    #[pin]
    cpu: Mutex<CpuAccess>,
    /// Its importers (a slot is `None` once its importer detached).
    #[pin]
    importers: Mutex<KVec<Option<Arc<Importer>>>>,
    /// The kernel mapping and how many `vmap`s share it.
    #[pin]
    vmap: Mutex<Option<(RunsVmap, u32)>>,
    /// Where its attachments are listed for debugfs.
    registry: Arc<Registry>,
}

impl Buffer {
    /// Allocates a buffer as `spec` says; `dev` is `/dev/rsdma`; its
    /// attachments are listed in `registry`.
    pub(crate) fn alloc(
        dev: &Device,
        spec: BufferSpec,
        registry: Arc<Registry>,
    ) -> Result<Arc<Self>> {
        let size = usize::try_from(spec.size)?;
        let mut runs = KVec::new();
        if spec.scattered {
            let pages = size / PAGE_SIZE;
            runs.reserve(pages, GFP_KERNEL)?;
            for _ in 0..pages {
                runs.push(Pages::alloc(PAGE_SIZE)?, GFP_KERNEL)?;
            }
        } else {
            runs.push(Pages::alloc(size)?, GFP_KERNEL)?;
        }
        let runs = Arc::new(PageRuns::new(runs, size)?, GFP_KERNEL)?;
        if spec.write_combine {
            // The pages were zeroed through the cached kernel mapping: no
            // line of that may be written back over what arrives through
            // a write-combined mapping, nor read instead of it.
            for (phys, n) in runs.runs() {
                crate::cache::run(CacheOp::CleanInvalidate, phys, n);
            }
        }
        let buf = Arc::pin_init(
            pin_init!(Self {
                id: NEXT_ID.fetch_add(1, Relaxed),
                dev: dev.get(),
                runs,
                spec,
                cpu <- new_mutex!(CpuAccess::new(), "Buffer::cpu"),
                importers <- new_mutex!(KVec::new(), "Buffer::importers"),
                vmap <- new_mutex!(None, "Buffer::vmap"),
                registry,
            }),
            GFP_KERNEL,
        )?;
        Stats::count(&EXPORT.buffers);
        EXPORT.bytes.fetch_add(spec.size, Relaxed);
        Ok(buf)
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.spec.size
    }

    /// Begins or ends a CPU access to `[a.offset, a.offset+a.len)`: every
    /// mapped importer is synced for the CPU (begin) or for its device
    /// (end), in its mapping's direction, over that range only unless
    /// `whole`; the kernel mapping, if any, likewise.  An end that matches
    /// no begin is refused before anything is synced.
    pub(crate) fn bracket(&self, a: Access, end: bool, whole: bool) -> Result {
        let mut cpu = self.cpu.lock();
        let r = if end { cpu.end(a) } else { cpu.begin(a) };
        if let Err(e) = r {
            dev_err!(self.dev, "rsdma: dma-buf {}: {}", self.id, e);
            Stats::count(&EXPORT.refused);
            return Err(match e {
                AccessError::NotBegun(_) => EINVAL,
                AccessError::TooMany => EBUSY,
            });
        }
        let range = (!whole).then_some((a.offset, a.len));
        let (off, len) = (a.offset as usize, a.len as usize);
        if end {
            // The CPU's writes leave its view before the devices look.
            if let Some((v, _)) = self.vmap.lock().as_ref() {
                v.flush(off, len);
            }
        }
        let to = if end { SyncTo::Device } else { SyncTo::Cpu };
        for imp in self.importers.lock().iter().flatten() {
            imp.sync(range, to);
        }
        if !end {
            if let Some((v, _)) = self.vmap.lock().as_ref() {
                v.invalidate(off, len);
            }
        }
        if end {
            Stats::uncount(&EXPORT.cpu_accesses);
        } else {
            Stats::count(&EXPORT.cpu_accesses);
        }
        Stats::count(&EXPORT.syncs);
        if !whole {
            Stats::count(&EXPORT.range_syncs);
        }
        drop(cpu);
        Ok(())
    }

    /// The whole buffer, as a CPU-access bracket.
    fn whole(&self, dir: Direction) -> Access {
        Access {
            offset: 0,
            len: self.spec.size,
            dir,
        }
    }
}

/// An attachment's allocation, failed on purpose in the test build.
fn inject_attach() -> Result {
    match inject::fails(Point::DmabufAttach) {
        true => Err(ENOMEM),
        false => Ok(()),
    }
}

#[vtable]
impl Exporter for Buffer {
    type Attachment = Arc<Importer>;

    fn attach(&self, dev: &Device) -> Result<Arc<Importer>> {
        let imp = inject_attach()
            .and_then(|()| Importer::new(dev, self.id, self.runs.clone()))
            .and_then(|imp| self.registry.add(imp.clone()).map(|()| imp))
            .inspect_err(|e| {
                dev_err!(dev, "rsdma: cannot attach to dma-buf {}: {:?}", self.id, e)
            })?;
        let mut list = self.importers.lock();
        let r = match list.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(imp.clone());
                Ok(())
            }
            None => list.push(Some(imp.clone()), GFP_KERNEL),
        };
        if let Err(e) = r {
            self.registry.remove(&imp);
            return Err(e.into());
        }
        Ok(imp)
    }

    fn detach(&self, att: &Arc<Importer>) {
        att.detach();
        self.registry.remove(att);
        let mut list = self.importers.lock();
        if let Some(slot) = list
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|i| Arc::ptr_eq(i, att)))
        {
            *slot = None;
        }
    }

    fn map(&self, att: &Arc<Importer>, dir: Direction) -> Result<Handout> {
        att.map(dir)
    }

    fn unmap(&self, att: &Arc<Importer>, table: Handout, dir: Option<Direction>) {
        att.unmap(table, dir)
    }

    fn begin_cpu_access(&self, dir: Direction) -> Result {
        self.bracket(self.whole(dir), false, true)
    }

    fn end_cpu_access(&self, dir: Direction) -> Result {
        self.bracket(self.whole(dir), true, true)
    }

    fn mmap(&self, vma: &Vma) -> Result {
        // A private mapping would be copy-on-write: the process would
        // stop seeing the buffer where it wrote, and the kernel maps
        // such a mapping only in one piece (a scattered buffer would be
        // refused with no word of why).
        if !vma.is_shared() {
            dev_err!(
                self.dev,
                "rsdma: mmap of dma-buf {}: a private mapping is refused; map it shared (MAP_SHARED)",
                self.id
            );
            Stats::count(&EXPORT.refused);
            return Err(EINVAL);
        }
        let off = check_mmap(
            vma.pgoff() as u64,
            vma.len() as u64,
            self.spec.size,
            PAGE_SIZE as u64,
        )
        .map_err(|r| {
            dev_err!(self.dev, "rsdma: mmap of dma-buf {}: {}", self.id, r);
            Stats::count(&EXPORT.refused);
            EINVAL
        })?;
        if self.spec.write_combine {
            vma.set_write_combine();
        }
        vma.map_runs(self.runs.clone(), off as usize)
    }

    fn vmap(&self) -> Result<NonNull<u8>> {
        let mut v = self.vmap.lock();
        if let Some((m, n)) = v.as_mut() {
            *n = n.checked_add(1).ok_or(EBUSY)?;
            return NonNull::new(m.addr()).ok_or(EINVAL);
        }
        let m = RunsVmap::new(self.runs.clone(), self.spec.write_combine)
            .inspect_err(|e| dev_err!(self.dev, "rsdma: vmap of dma-buf {}: {:?}", self.id, e))?;
        let addr = NonNull::new(m.addr()).ok_or(EINVAL)?;
        *v = Some((m, 1));
        Stats::count(&EXPORT.vmaps);
        Ok(addr)
    }

    fn vunmap(&self, addr: *mut u8) {
        let mut v = self.vmap.lock();
        match v.as_mut() {
            Some((m, n)) if m.addr() == addr => {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    *v = None;
                    Stats::uncount(&EXPORT.vmaps);
                }
            }
            _ => dev_err!(
                self.dev,
                "rsdma: vunmap of dma-buf {} at an address it did not map",
                self.id
            ),
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Buffer {
    fn drop(self: Pin<&mut Self>) {
        let open = self.cpu.lock().open();
        EXPORT.cpu_accesses.fetch_sub(open, Relaxed);
        if self.vmap.lock().take().is_some() {
            Stats::uncount(&EXPORT.vmaps);
        }
        Stats::uncount(&EXPORT.buffers);
        EXPORT.bytes.fetch_sub(self.spec.size, Relaxed);
    }
}
