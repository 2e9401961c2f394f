// SPDX-License-Identifier: GPL-2.0

//! Memory rsdma allocates for a driver: coherent buffers (`dma_alloc_attrs`)
//! and non-coherent pages (`dma_alloc_pages`), each kept under its device
//! address until the driver frees it.

use crate::dev::RsdmaDev;
use crate::kapi::bindings;
use crate::kapi::iommu::Prot;
use crate::kapi::page::{Pages, SharedPages};
use crate::kapi::sync::IrqSpinLock;
use crate::new_irq_spinlock;
use crate::{dev_err, dev_warn};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};

/// The zone to allocate from for memory at or below `mask` (physical
/// addresses equal bus addresses on the platforms rsdma runs on; the caller
/// checks the result).
pub(crate) fn zone_below(mask: u64) -> bindings::gfp_t {
    if mask == u64::MAX {
        0
    } else if mask >= u64::from(u32::MAX) {
        bindings::RSDMA_GFP_DMA32
    } else {
        bindings::RSDMA_GFP_DMA
    }
}

/// A buffer handed to the driver.
struct Buffer {
    pages: SharedPages,
    /// Bytes the driver asked for.
    size: usize,
    /// IOVA bytes mapped for it (whole granules; 0 on the direct route).
    mapped: usize,
}

impl Buffer {
    /// The kernel address `alloc` returned for it.
    fn cpu(&self) -> usize {
        self.pages.as_ptr() as usize
    }
}

/// Where a new buffer is.
pub(crate) struct NewBuffer {
    pub(crate) dma: u64,
    pub(crate) phys: u64,
    /// The kernel address, as `alloc` returns it.
    pub(crate) cpu: usize,
    /// Bytes the device may reach (whole granules behind an IOMMU).
    pub(crate) mapped: usize,
}

/// The buffers of one device, by device address.
#[pin_data]
pub(crate) struct Buffers {
    #[pin]
    tree: IrqSpinLock<RBTree<u64, Buffer>>,
}

impl Buffers {
    /// No buffers.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            tree <- new_irq_spinlock!(RBTree::new(), "Buffers::tree"),
        })
    }

    /// Gives up every buffer still held (at teardown): the driver may still
    /// use them through its CPU pointers, so their memory is kept rather
    /// than freed under its feet.  Returns how many buffers and bytes.
    pub(crate) fn abandon(&self) -> (usize, usize) {
        let bufs = core::mem::replace(&mut *self.tree.lock(), RBTree::new());
        let (mut n, mut bytes) = (0usize, 0usize);
        for (_, b) in bufs.iter() {
            n += 1;
            bytes = bytes.saturating_add(b.size);
        }
        if n > 0 {
            core::mem::forget(bufs);
        }
        (n, bytes)
    }
}

impl RsdmaDev {
    /// Allocates pages for the driver and maps them for the device; the
    /// buffer is kept under its device address until freed.
    pub(crate) fn alloc_buffer(&self, size: usize, gfp: u32, prot: Prot) -> Result<NewBuffer> {
        if size == 0 {
            return Err(EINVAL);
        }
        let mask = self.coherent_mask();
        let (pages, dma, mapped) = match self.iommu.as_deref() {
            Some(iommu) => {
                let pages = Pages::alloc_gfp(size, gfp)?.into_shared();
                let mapped = iommu.granule_span(0, size as u64).ok_or(EINVAL)?;
                let dma = iommu.map_range(pages.phys(), mapped, prot, mask)?;
                (pages, dma, mapped)
            }
            None => {
                let pages = Pages::alloc_gfp(size, gfp | zone_below(mask))?.into_shared();
                let dma = self.dev.phys_to_dma(pages.phys());
                if dma
                    .checked_add(size as u64 - 1)
                    .map_or(true, |last| last > mask)
                {
                    dev_err!(
                        self.dev,
                        "rsdma: no memory for {} bytes under the coherent mask {:#x}",
                        size,
                        mask
                    );
                    return Err(ENOMEM);
                }
                (pages, dma, 0)
            }
        };
        let (phys, cpu) = (pages.phys(), pages.as_ptr() as usize);
        let buffer = Buffer {
            pages,
            size,
            mapped,
        };
        let node = match RBTreeNode::new(dma, buffer, GFP_ATOMIC) {
            Ok(n) => n,
            Err(e) => {
                if let Some(iommu) = self.iommu.as_deref() {
                    iommu.unmap_range(dma, mapped);
                }
                return Err(e);
            }
        };
        self.buffers.tree.lock().insert(node);
        Ok(NewBuffer {
            dma,
            phys,
            cpu,
            mapped: mapped.max(size),
        })
    }

    /// The physical address and size of the buffer at `dma`, which must
    /// have been handed out at CPU address `cpu`.
    pub(crate) fn buffer(&self, dma: u64, cpu: usize) -> Result<(u64, usize)> {
        let bufs = self.buffers.tree.lock();
        let Some(b) = bufs.get(&dma) else {
            dev_err!(self.dev, "rsdma: no DMA buffer at {:#x}", dma);
            return Err(EINVAL);
        };
        if cpu != b.cpu() {
            dev_err!(
                self.dev,
                "rsdma: DMA buffer at {:#x} is not at CPU address {:#x}",
                dma,
                cpu
            );
            return Err(EINVAL);
        }
        Ok((b.pages.phys(), b.size))
    }

    /// Frees the buffer at `dma` (`what` names the op in messages) after
    /// checking the driver's size and, when given, CPU address.  Returns
    /// whether it was freed.
    pub(crate) fn free_buffer(
        &self,
        size: usize,
        cpu: Option<usize>,
        dma: u64,
        what: &str,
    ) -> bool {
        let buf = {
            let mut bufs = self.buffers.tree.lock();
            match bufs.get(&dma) {
                None => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} of unknown buffer at DMA address {:#x}",
                        what,
                        dma
                    );
                    return false;
                }
                Some(b) if b.size != size => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} of {} bytes at {:#x}, but {} were allocated",
                        what,
                        size,
                        dma,
                        b.size
                    );
                    return false;
                }
                Some(b) if cpu.is_some_and(|c| c != b.cpu()) => {
                    dev_err!(
                        self.dev,
                        "rsdma: {} at {:#x} with the wrong CPU address",
                        what,
                        dma
                    );
                    return false;
                }
                Some(_) => bufs.remove(&dma),
            }
        };
        let Some(b) = buf else {
            return false;
        };
        // The device loses access before the pages go back.
        if let Some(iommu) = self.iommu.as_deref() {
            iommu.unmap_range(dma, b.mapped);
            iommu.drain();
        }
        drop(b);
        true
    }

    /// Warns about buffers the driver never freed (at teardown).
    pub(crate) fn abandon_buffers(&self) {
        let (n, bytes) = self.buffers.abandon();
        if n > 0 {
            dev_warn!(
                self.dev,
                "rsdma: {} DMA buffer(s) ({} bytes) were never freed; their memory is kept",
                n,
                bytes
            );
        }
    }
}
