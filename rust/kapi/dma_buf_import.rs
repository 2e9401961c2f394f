// SPDX-License-Identifier: GPL-2.0

//! Importing dma-bufs: a driver attaches its device to a buffer another
//! driver exported, maps it, and reads it with the CPU.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! The importer side of the header (the exporter side is `dma_buf.rs`,
//! compiled into rsdma.ko alone).

use super::dma::Direction;
use super::{bindings, device::Device, scatterlist::SgList};
use core::ptr::NonNull;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// Turns a returned pointer into a result (`IS_ERR_OR_NULL`).
fn check<T>(p: *mut T) -> Result<NonNull<T>> {
    if super::is_err_ptr(p) {
        return Err(if p.is_null() {
            ENOMEM
        } else {
            Error::from_errno(p as isize as i32)
        });
    }
    NonNull::new(p).ok_or(ENOMEM)
}

/// A reference to a dma-buf (`dma_buf_get`); dropped with `dma_buf_put`.
///
/// # Invariants
///
/// `buf` is a dma-buf we hold a reference to.
pub struct DmaBuf {
    buf: NonNull<bindings::dma_buf>,
}

impl DmaBuf {
    /// The dma-buf of `fd`: `EBADF` for a closed descriptor, `EINVAL` for a
    /// file that is not a dma-buf.
    pub fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: any value is a valid argument.
        let buf = check(unsafe { bindings::dma_buf_get(fd) })?;
        // INVARIANT: `dma_buf_get` took a reference.
        Ok(Self { buf })
    }

    /// The size in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: live (type invariant); the size never changes.
        unsafe { (*self.buf.as_ptr()).size }
    }

    /// Brackets a CPU access (`dma_buf_begin_cpu_access`).
    pub fn begin_cpu_access(&self, dir: Direction) -> Result {
        // SAFETY: live (type invariant).
        kernel::error::to_result(unsafe {
            bindings::dma_buf_begin_cpu_access(self.buf.as_ptr(), dir.as_raw())
        })
    }

    /// Ends a CPU access (`dma_buf_end_cpu_access`).
    pub fn end_cpu_access(&self, dir: Direction) -> Result {
        // SAFETY: live (type invariant).
        kernel::error::to_result(unsafe {
            bindings::dma_buf_end_cpu_access(self.buf.as_ptr(), dir.as_raw())
        })
    }

    /// A kernel mapping of the whole buffer (`dma_buf_vmap_unlocked`).
    pub fn vmap(&self) -> Result<Vmap<'_>> {
        let mut map = bindings::iosys_map::default();
        // SAFETY: live (type invariant); `map` is ours to fill.
        kernel::error::to_result(unsafe {
            bindings::dma_buf_vmap_unlocked(self.buf.as_ptr(), &mut map)
        })?;
        // INVARIANT: mapped above.
        Ok(Vmap { buf: self, map })
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant), given back once.
        unsafe { bindings::dma_buf_put(self.buf.as_ptr()) };
    }
}

// SAFETY: a dma-buf reference may be used and dropped from any thread.
unsafe impl Send for DmaBuf {}
// SAFETY: the operations on `&DmaBuf` are thread-safe in C.
unsafe impl Sync for DmaBuf {}

/// A kernel mapping of a dma-buf; undone on drop.
///
/// # Invariants
///
/// `map` is a live `dma_buf_vmap` of `buf`.
pub struct Vmap<'a> {
    buf: &'a DmaBuf,
    map: bindings::iosys_map,
}

impl Vmap<'_> {
    /// The kernel address of the first byte (`None` for I/O memory).
    pub fn addr(&self) -> Option<NonNull<u8>> {
        // SAFETY: `map` is valid for reads.
        NonNull::new(unsafe { bindings::rsdma_helper_iosys_map_vaddr(&self.map) }.cast())
    }

    /// Copies `out.len()` bytes at `offset` out of the buffer; `EOPNOTSUPP`
    /// for a buffer in I/O memory.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        let addr = self.addr().ok_or_else(super::errno::not_supported)?;
        match offset.checked_add(out.len()) {
            Some(end) if end <= self.buf.size() => {}
            _ => return Err(EINVAL),
        }
        // SAFETY: `offset + out.len() <= size`: inside the mapping of the
        // buffer, which lives as long as `self`.
        unsafe { super::dma::read_volatile_bytes(addr.as_ptr().add(offset), out) };
        Ok(())
    }
}

impl Drop for Vmap<'_> {
    fn drop(&mut self) {
        // SAFETY: mapped (type invariant), undone once.
        unsafe { bindings::dma_buf_vunmap_unlocked(self.buf.buf.as_ptr(), &mut self.map) };
    }
}

/// A device attached to a dma-buf, mapped in one direction or not at all;
/// unmapped and detached on drop.
///
/// # Invariants
///
/// `att` is an attachment of `buf` for a live device; when `map` is
/// `Some((table, dir))`, `table` is the attachment's mapping in `dir`.
pub struct Attachment {
    att: NonNull<bindings::dma_buf_attachment>,
    map: Option<(NonNull<bindings::sg_table>, Direction)>,
    buf: DmaBuf,
}

impl Attachment {
    /// Attaches `dev` to `buf` (`dma_buf_attach`).
    pub fn new(buf: DmaBuf, dev: &Device) -> Result<Self> {
        // SAFETY: both are live; the device stays so while attached (its
        // driver detaches before it unbinds).
        let att = check(unsafe { bindings::dma_buf_attach(buf.buf.as_ptr(), dev.as_raw()) })?;
        // INVARIANT: attached above, not mapped.
        Ok(Self {
            att,
            map: None,
            buf,
        })
    }

    /// The buffer.
    pub fn buf(&self) -> &DmaBuf {
        &self.buf
    }

    /// The C attachment, live while `self` is.
    pub fn as_raw(&self) -> *mut bindings::dma_buf_attachment {
        self.att.as_ptr()
    }

    /// Maps the buffer for the device (`dma_buf_map_attachment_unlocked`).
    pub fn map(&mut self, dir: Direction) -> Result {
        if self.map.is_some() {
            return Err(EBUSY);
        }
        // SAFETY: attached (type invariant).
        let t = check(unsafe {
            bindings::dma_buf_map_attachment_unlocked(self.att.as_ptr(), dir.as_raw())
        })?;
        // INVARIANT: mapped above.
        self.map = Some((t, dir));
        Ok(())
    }

    /// Asks the exporter for a second mapping in `dir` and undoes it at
    /// once if granted: how an exporter treats a repeated map.
    pub fn try_second_map(&self, dir: Direction) -> Result {
        // SAFETY: attached (type invariant).
        let t = check(unsafe {
            bindings::dma_buf_map_attachment_unlocked(self.att.as_ptr(), dir.as_raw())
        })?;
        // SAFETY: the mapping just made, undone once.
        unsafe {
            bindings::dma_buf_unmap_attachment_unlocked(self.att.as_ptr(), t.as_ptr(), dir.as_raw())
        };
        Ok(())
    }

    /// The direction of the mapping, if mapped.
    pub fn direction(&self) -> Option<Direction> {
        self.map.map(|(_, d)| d)
    }

    /// The DMA segments of the mapping (only their DMA address and length
    /// are meaningful to an importer); empty when not mapped.
    pub fn segments(&self) -> SgList<'_> {
        match self.map {
            // SAFETY: the table is the live mapping (type invariant),
            // borrowed with `self`; its first `nents` entries hold the DMA
            // segments.
            Some((t, _)) => unsafe {
                SgList::from_raw((*t.as_ptr()).sgl, (*t.as_ptr()).nents as usize)
            },
            // SAFETY: an empty list.
            None => unsafe { SgList::from_raw(core::ptr::null_mut(), 0) },
        }
    }

    /// Undoes [`Attachment::map`].
    pub fn unmap(&mut self) {
        if let Some((t, dir)) = self.map.take() {
            // SAFETY: the live mapping (type invariant), undone once.
            unsafe {
                bindings::dma_buf_unmap_attachment_unlocked(
                    self.att.as_ptr(),
                    t.as_ptr(),
                    dir.as_raw(),
                )
            };
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.unmap();
        // SAFETY: attached (type invariant), detached once; `buf` is
        // dropped (put) after this.
        unsafe { bindings::dma_buf_detach(self.buf.buf.as_ptr(), self.att.as_ptr()) };
    }
}

// SAFETY: an attachment may be used and dropped from any thread.
unsafe impl Send for Attachment {}
// SAFETY: the operations on `&Attachment` are thread-safe in C.
unsafe impl Sync for Attachment {}
