// SPDX-License-Identifier: GPL-2.0

//! The edu device as a dma-buf importer (`include/uapi/rsdma_edu.h`).
//!
//! An import is a dma-buf attached to the edu device and mapped in one
//! direction, through whatever DMA ops the device has (rsdma's when it is
//! attached to rsdma, the kernel's iommu-dma otherwise).  Transfers move a
//! byte range of an import with edu's DMA engine, cut at the mapping's DMA
//! segments.  Imports belong to the file that made them and go with it, or
//! with the device when it unbinds.
//!
//! Streaming (buffers rsdma exported): an import mapped once and kept, with
//! just the bytes of each transfer synced for the device before it and for
//! the CPU after it, through rsdma's `rsdma_dmabuf_sync_for_*`.

use crate::kapi::bindings;
use crate::kapi::dma::{Direction, Mapping};
use crate::kapi::dma_buf_import::{Attachment, DmaBuf};
use crate::kapi::page::Pages;
use crate::kapi::time::now_ns;
use crate::rsdma::{dmabuf_sync_for_cpu, dmabuf_sync_for_device};
use crate::rsdma_core::span;
use crate::{dev_err, dev_info, Edu};
use core::sync::atomic::Ordering;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::UserSlice;

/// Most imports a device holds (`RSDMA_EDU_MAX_IMPORTS`).
pub(crate) const MAX_IMPORTS: usize = bindings::RSDMA_EDU_MAX_IMPORTS as usize;
/// Most bytes of one transfer (`RSDMA_EDU_MAX_XFER`).
const MAX_XFER: u64 = bindings::RSDMA_EDU_MAX_XFER as u64;

// The structures' layout, as this file reads them.
const IMPORT_LEN: usize = 40;
const HANDLE_LEN: usize = 16;
const XFER_LEN: usize = 56;
const SYNC_LEN: usize = 40;
const BENCH_LEN: usize = 40;
/// Most transfers one benchmark call times.
const BENCH_MAX_COUNT: u64 = 1_000_000;
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<bindings::rsdma_edu_import>() == IMPORT_LEN);
    assert!(offset_of!(bindings::rsdma_edu_import, handle) == 8);
    assert!(offset_of!(bindings::rsdma_edu_import, size) == 16);
    assert!(offset_of!(bindings::rsdma_edu_import, dma_addr) == 24);
    assert!(offset_of!(bindings::rsdma_edu_import, reserved) == 32);
    assert!(size_of::<bindings::rsdma_edu_handle>() == HANDLE_LEN);
    assert!(offset_of!(bindings::rsdma_edu_handle, reserved) == 8);
    assert!(size_of::<bindings::rsdma_edu_xfer>() == XFER_LEN);
    assert!(offset_of!(bindings::rsdma_edu_xfer, src_off) == 16);
    assert!(offset_of!(bindings::rsdma_edu_xfer, len) == 32);
    assert!(offset_of!(bindings::rsdma_edu_xfer, user) == 40);
    assert!(offset_of!(bindings::rsdma_edu_xfer, flags) == 12);
    assert!(offset_of!(bindings::rsdma_edu_xfer, reserved) == 48);
    assert!(size_of::<bindings::rsdma_edu_sync>() == SYNC_LEN);
    assert!(offset_of!(bindings::rsdma_edu_sync, to) == 4);
    assert!(offset_of!(bindings::rsdma_edu_sync, dir) == 8);
    assert!(offset_of!(bindings::rsdma_edu_sync, offset) == 16);
    assert!(offset_of!(bindings::rsdma_edu_sync, len) == 24);
    assert!(offset_of!(bindings::rsdma_edu_sync, reserved) == 32);
    assert!(size_of::<bindings::rsdma_edu_bench>() == BENCH_LEN);
    assert!(offset_of!(bindings::rsdma_edu_bench, way) == 4);
    assert!(offset_of!(bindings::rsdma_edu_bench, chunk) == 8);
    assert!(offset_of!(bindings::rsdma_edu_bench, count) == 16);
    assert!(offset_of!(bindings::rsdma_edu_bench, ns) == 24);
    assert!(offset_of!(bindings::rsdma_edu_bench, reserved) == 32);
};

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// The direction of an `RSDMA_EDU_*` value.
fn direction(v: u32) -> Option<Direction> {
    match v {
        bindings::RSDMA_EDU_TO_DEVICE => Some(Direction::ToDevice),
        bindings::RSDMA_EDU_FROM_DEVICE => Some(Direction::FromDevice),
        bindings::RSDMA_EDU_BIDIRECTIONAL => Some(Direction::Bidirectional),
        _ => None,
    }
}

/// A dma-buf attached to the device and mapped.
pub(crate) struct Import {
    /// The file that made it.
    file: u64,
    handle: u32,
    att: Attachment,
    /// The mapping's DMA segments: addresses, and lengths.
    addrs: KVec<u64>,
    lens: KVec<u64>,
    /// The mapping's direction; `None` while attached only.
    dir: Option<Direction>,
    size: u64,
}

impl Import {
    /// The DMA pieces `(address, length)` of bytes `[off, off+len)`.
    fn pieces(&self, off: u64, len: u64) -> Result<KVec<(u64, u64)>> {
        let mut v = KVec::new();
        for p in span::pieces(&self.lens, &self.lens, off, len).map_err(|_| EINVAL)? {
            let addr = self
                .addrs
                .get(p.a.0)
                .and_then(|a| a.checked_add(p.a.1))
                .ok_or(EINVAL)?;
            v.push((addr, p.len), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Whether the device may read (`write == false`) or write the buffer
    /// through the mapping.
    fn allows(&self, write: bool) -> bool {
        match self.dir {
            Some(Direction::Bidirectional) => true,
            Some(Direction::ToDevice) => !write,
            Some(Direction::FromDevice) => write,
            Some(Direction::None) | None => false,
        }
    }

    /// Hands bytes `[off, off+len)` to the device for a transfer in `dir`
    /// (`to_cpu == false`), or back to the CPU after it.
    fn sync(&self, off: u64, len: u64, dir: Direction, to_cpu: bool) -> Result {
        let (off, len) = (usize::try_from(off)?, usize::try_from(len)?);
        if to_cpu {
            dmabuf_sync_for_cpu(&self.att, off, len, dir)
        } else {
            dmabuf_sync_for_device(&self.att, off, len, dir)
        }
    }
}

/// An open file of the device: what it imported goes when it closes.
pub(crate) struct EduFile {
    edu: Arc<Edu>,
    id: u64,
}

impl EduFile {
    pub(crate) fn new(edu: &Arc<Edu>) -> Self {
        let id = edu.next_file.fetch_add(1, Ordering::Relaxed);
        Self {
            edu: edu.clone(),
            id,
        }
    }
}

impl Drop for EduFile {
    fn drop(&mut self) {
        let mut imports = self.edu.imports.lock();
        for slot in imports.iter_mut() {
            if slot.as_ref().is_some_and(|i| i.file == self.id) {
                *slot = None;
            }
        }
    }
}

impl Edu {
    /// Runs an ioctl of `/dev/rsdma_edu*`.
    pub(crate) fn importer_ioctl(&self, file: &EduFile, cmd: u32, arg: usize) -> Result<i32> {
        match cmd {
            bindings::RSDMA_EDU_IOCTL_IMPORT_CMD => self.import(file, arg),
            bindings::RSDMA_EDU_IOCTL_RELEASE_CMD => self.release(file, arg),
            bindings::RSDMA_EDU_IOCTL_REMAP_CMD => self.remap(file, arg),
            bindings::RSDMA_EDU_IOCTL_XFER_CMD => self.xfer(file, arg),
            bindings::RSDMA_EDU_IOCTL_SYNC_CMD => self.sync_ioctl(file, arg),
            bindings::RSDMA_EDU_IOCTL_BENCH_CMD => self.bench(file, arg),
            _ => Err(ENOTTY),
        }
    }

    /// Refuses a bad argument with a log line naming it.
    fn bad(&self, what: core::fmt::Arguments<'_>) -> Error {
        dev_err!(self.dev, "import: {}", what);
        EINVAL
    }

    /// `RSDMA_EDU_IOCTL_IMPORT`.
    fn import(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let (mut r, mut w) = UserSlice::new(arg, IMPORT_LEN).reader_writer();
        let mut b = [0u8; IMPORT_LEN];
        r.read_slice(&mut b)?;
        let (fd, dir) = (u32_at(&b, 0) as i32, u32_at(&b, 4));
        if u64_at(&b, 32) != 0 || u32_at(&b, 8) != 0 || u32_at(&b, 12) != 0 {
            return Err(self.bad(format_args!("reserved or output fields are not zero")));
        }
        let dir = match dir {
            bindings::RSDMA_EDU_UNMAPPED => None,
            d => Some(direction(d).ok_or_else(|| self.bad(format_args!("direction {}", d)))?),
        };
        let mut imports = self.imports.lock();
        if self.unbound.load(Ordering::Acquire) {
            dev_err!(self.dev, "import: the device is unbound");
            return Err(ENODEV);
        }
        let Some(slot) = imports.iter().position(|s| s.is_none()) else {
            dev_err!(self.dev, "import: {} imports held already", MAX_IMPORTS);
            return Err(ENOSPC);
        };
        let buf = DmaBuf::from_fd(fd)
            .inspect_err(|e| dev_err!(self.dev, "import: fd {} is not a dma-buf ({:?})", fd, e))?;
        let size = buf.size() as u64;
        let mut att = Attachment::new(buf, &self.dev)
            .inspect_err(|e| dev_err!(self.dev, "import: attach failed: {:?}", e))?;
        if let Some(dir) = dir {
            att.map(dir)
                .inspect_err(|e| dev_err!(self.dev, "import: map {} failed: {:?}", dir, e))?;
        }
        let (mut addrs, mut lens) = (KVec::new(), KVec::new());
        for e in att.segments() {
            addrs.push(e.dma_address(), GFP_KERNEL)?;
            lens.push(u64::from(e.dma_len()), GFP_KERNEL)?;
        }
        let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let first = addrs.first().copied().unwrap_or(0);
        let nsegs = addrs.len() as u32;
        b[8..12].copy_from_slice(&handle.to_ne_bytes());
        b[12..16].copy_from_slice(&nsegs.to_ne_bytes());
        b[16..24].copy_from_slice(&size.to_ne_bytes());
        b[24..32].copy_from_slice(&first.to_ne_bytes());
        w.write_slice(&b)?;
        dev_info!(
            self.dev,
            "import {}: {} bytes mapped {} in {} DMA segments from {:#x}",
            handle,
            size,
            dir.map_or("nowhere (attached only)", |d| d.name()),
            nsegs,
            first
        );
        imports[slot] = Some(Import {
            file: file.id,
            handle,
            att,
            addrs,
            lens,
            dir,
            size,
        });
        Ok(0)
    }

    /// Reads and checks a `struct rsdma_edu_handle`; returns the handle
    /// and the direction field.
    fn handle_arg(&self, arg: usize) -> Result<(u32, u32)> {
        let mut b = [0u8; HANDLE_LEN];
        UserSlice::new(arg, HANDLE_LEN)
            .reader()
            .read_slice(&mut b)?;
        if u64_at(&b, 8) != 0 {
            return Err(self.bad(format_args!("reserved field is not zero")));
        }
        Ok((u32_at(&b, 0), u32_at(&b, 4)))
    }

    /// The slot of `file`'s import `handle`.
    fn find(&self, imports: &[Option<Import>], file: &EduFile, handle: u32) -> Result<usize> {
        imports
            .iter()
            .position(|s| {
                s.as_ref()
                    .is_some_and(|i| i.handle == handle && i.file == file.id)
            })
            .ok_or_else(|| {
                dev_err!(self.dev, "import: no import {} in this file", handle);
                ENOENT
            })
    }

    /// `RSDMA_EDU_IOCTL_RELEASE`.
    fn release(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let (handle, dir) = self.handle_arg(arg)?;
        if dir != 0 {
            return Err(self.bad(format_args!("release with a direction")));
        }
        let mut imports = self.imports.lock();
        let i = self.find(&imports[..], file, handle)?;
        // Unmapped and detached here; the dma-buf reference goes last.
        imports[i] = None;
        Ok(0)
    }

    /// `RSDMA_EDU_IOCTL_REMAP`.
    fn remap(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let (handle, dir) = self.handle_arg(arg)?;
        let dir = direction(dir).ok_or_else(|| self.bad(format_args!("direction {}", dir)))?;
        let imports = self.imports.lock();
        let i = self.find(&imports[..], file, handle)?;
        let imp = imports[i].as_ref().ok_or(ENOENT)?;
        imp.att.try_second_map(dir).inspect_err(|e| {
            dev_info!(
                self.dev,
                "import {}: mapped {}, a second mapping {} was refused ({:?})",
                handle,
                imp.dir.map_or("nowhere", |d| d.name()),
                dir,
                e
            )
        })?;
        Ok(0)
    }

    /// `RSDMA_EDU_IOCTL_XFER`.
    fn xfer(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let mut b = [0u8; XFER_LEN];
        UserSlice::new(arg, XFER_LEN).reader().read_slice(&mut b)?;
        let (op, src, dst, flags) = (u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12));
        let (src_off, dst_off, len, user) = (
            u64_at(&b, 16),
            u64_at(&b, 24),
            u64_at(&b, 32),
            u64_at(&b, 40),
        );
        if u64_at(&b, 48) != 0 {
            return Err(self.bad(format_args!("reserved fields are not zero")));
        }
        if flags & !bindings::RSDMA_EDU_XFER_SYNC != 0 {
            return Err(self.bad(format_args!("unknown transfer flags {:#x}", flags)));
        }
        let synced = flags & bindings::RSDMA_EDU_XFER_SYNC != 0;
        if synced && op == bindings::RSDMA_EDU_VMAP_READ {
            return Err(self.bad(format_args!("a CPU read through vmap has no DMA to sync")));
        }
        if len == 0 {
            return Err(self.bad(format_args!("transfer of 0 bytes")));
        }
        if len > MAX_XFER {
            dev_err!(
                self.dev,
                "import: transfer of {} bytes, above {}",
                len,
                MAX_XFER
            );
            return Err(E2BIG);
        }
        // Fields the operation does not use must be zero.
        let (uses_src, uses_dst, uses_user) = match op {
            bindings::RSDMA_EDU_COPY => (true, true, false),
            bindings::RSDMA_EDU_READ | bindings::RSDMA_EDU_VMAP_READ => (true, false, true),
            bindings::RSDMA_EDU_WRITE => (false, true, true),
            _ => return Err(self.bad(format_args!("unknown transfer {}", op))),
        };
        if (!uses_src && (src != 0 || src_off != 0))
            || (!uses_dst && (dst != 0 || dst_off != 0))
            || (!uses_user && user != 0)
        {
            return Err(self.bad(format_args!("transfer {} sets fields it does not use", op)));
        }
        let n = len as usize;
        let mut state = self.state.lock();
        let imports = self.imports.lock();
        let get = |h: u32, off: u64, write: bool| -> Result<&Import> {
            let imp = imports[self.find(&imports[..], file, h)?]
                .as_ref()
                .ok_or(ENOENT)?;
            if off.checked_add(len).map_or(true, |end| end > imp.size) {
                return Err(self.bad(format_args!(
                    "range {}+{} is outside import {} ({} bytes)",
                    off, len, h, imp.size
                )));
            }
            if op != bindings::RSDMA_EDU_VMAP_READ && imp.dir.is_none() {
                dev_err!(self.dev, "import {} is not mapped: no transfer", h);
                return Err(ENXIO);
            }
            if op != bindings::RSDMA_EDU_VMAP_READ && !imp.allows(write) {
                dev_err!(
                    self.dev,
                    "import {} is mapped {}: the device may not {} it",
                    h,
                    imp.dir.map_or("nowhere", |d| d.name()),
                    if write { "write" } else { "read" }
                );
                return Err(EACCES);
            }
            Ok(imp)
        };
        // With RSDMA_EDU_XFER_SYNC: the bytes read are handed to the
        // device for reading, the bytes written for writing, and both back
        // to the CPU afterwards, whatever the transfer did.
        let synced_move = |ends: &[(&Import, u64, Direction)],
                           f: &mut dyn FnMut() -> Result<u64>|
         -> Result<u64> {
            if !synced {
                return f();
            }
            for (i, &(imp, off, dir)) in ends.iter().enumerate() {
                if let Err(e) = imp.sync(off, len, dir, false) {
                    for &(imp, off, dir) in &ends[..i] {
                        let _ = imp.sync(off, len, dir, true);
                    }
                    return Err(e);
                }
            }
            let moved = f();
            let mut back = Ok(());
            for &(imp, off, dir) in ends {
                back = back.and(imp.sync(off, len, dir, true));
            }
            let moved = moved?;
            back.map(|()| moved)
        };
        let moved = match op {
            bindings::RSDMA_EDU_COPY => {
                let (s, d) = (get(src, src_off, false)?, get(dst, dst_off, true)?);
                let (sp, dp) = (s.pieces(src_off, len)?, d.pieces(dst_off, len)?);
                synced_move(
                    &[
                        (s, src_off, Direction::ToDevice),
                        (d, dst_off, Direction::FromDevice),
                    ],
                    &mut || self.stream(&sp, &dp),
                )?
            }
            bindings::RSDMA_EDU_READ => {
                let s = get(src, src_off, false)?;
                let sp = s.pieces(src_off, len)?;
                let m = Mapping::new(&self.dev, Pages::alloc(n)?, n, Direction::FromDevice)?;
                let moved = synced_move(&[(s, src_off, Direction::ToDevice)], &mut || {
                    self.stream(&sp, &[(m.dma_addr(), len)])
                })?;
                let p = m.unmap()?;
                UserSlice::new(user as usize, n)
                    .writer()
                    .write_slice(&p.as_slice()[..n])?;
                moved
            }
            bindings::RSDMA_EDU_WRITE => {
                let d = get(dst, dst_off, true)?;
                let dp = d.pieces(dst_off, len)?;
                let mut p = Pages::alloc(n)?;
                UserSlice::new(user as usize, n)
                    .reader()
                    .read_slice(&mut p.as_mut_slice()[..n])?;
                let m = Mapping::new(&self.dev, p, n, Direction::ToDevice)?;
                synced_move(&[(d, dst_off, Direction::FromDevice)], &mut || {
                    self.stream(&[(m.dma_addr(), len)], &dp)
                })?
            }
            _ => {
                let s = get(src, src_off, false)?;
                self.vmap_read(s.att.buf(), src_off as usize, n, user)?;
                len
            }
        };
        *state = crate::kapi::fmt::StackStr::from_fmt(format_args!(
            "import transfer {}: {} bytes moved\n",
            op, moved
        ));
        if moved != len {
            dev_err!(self.dev, "import: moved {} of {} bytes", moved, len);
            return Err(EIO);
        }
        Ok(0)
    }

    /// `RSDMA_EDU_IOCTL_SYNC`: one range sync on an import, through rsdma;
    /// rsdma checks the range, the mapping and the direction.
    fn sync_ioctl(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let mut b = [0u8; SYNC_LEN];
        UserSlice::new(arg, SYNC_LEN).reader().read_slice(&mut b)?;
        let (handle, to, dir) = (u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8));
        let (off, len) = (u64_at(&b, 16), u64_at(&b, 24));
        if u32_at(&b, 12) != 0 || u64_at(&b, 32) != 0 {
            return Err(self.bad(format_args!("reserved fields are not zero")));
        }
        let dir = match dir {
            0 => Direction::None,
            d => direction(d).ok_or_else(|| self.bad(format_args!("direction {}", d)))?,
        };
        let to_cpu = match to {
            bindings::RSDMA_EDU_SYNC_FOR_DEVICE => false,
            bindings::RSDMA_EDU_SYNC_FOR_CPU => true,
            _ => return Err(self.bad(format_args!("sync to {}", to))),
        };
        let imports = self.imports.lock();
        let imp = imports[self.find(&imports[..], file, handle)?]
            .as_ref()
            .ok_or(ENOENT)?;
        imp.sync(off, len, dir, to_cpu)?;
        Ok(0)
    }

    /// `RSDMA_EDU_IOCTL_BENCH`: times what an importer does per transfer,
    /// one of three ways, `count` times, at offsets stepping through the
    /// buffer by `chunk`.
    fn bench(&self, file: &EduFile, arg: usize) -> Result<i32> {
        let (mut r, mut w) = UserSlice::new(arg, BENCH_LEN).reader_writer();
        let mut b = [0u8; BENCH_LEN];
        r.read_slice(&mut b)?;
        let (handle, way, chunk, count) =
            (u32_at(&b, 0), u32_at(&b, 4), u64_at(&b, 8), u64_at(&b, 16));
        if u64_at(&b, 24) != 0 || u64_at(&b, 32) != 0 {
            return Err(self.bad(format_args!("output or reserved fields are not zero")));
        }
        if count == 0 || count > BENCH_MAX_COUNT {
            return Err(self.bad(format_args!(
                "{} transfers (1 to {})",
                count, BENCH_MAX_COUNT
            )));
        }
        let mut imports = self.imports.lock();
        let i = self.find(&imports[..], file, handle)?;
        let imp = imports[i].as_mut().ok_or(ENOENT)?;
        if chunk == 0 || chunk > imp.size {
            return Err(self.bad(format_args!(
                "chunk of {} bytes in a {}-byte buffer",
                chunk, imp.size
            )));
        }
        let want = match way {
            bindings::RSDMA_EDU_BENCH_MAP => None,
            bindings::RSDMA_EDU_BENCH_RANGE | bindings::RSDMA_EDU_BENCH_WHOLE => {
                Some(Direction::Bidirectional)
            }
            _ => return Err(self.bad(format_args!("benchmark way {}", way))),
        };
        if imp.dir != want {
            return Err(self.bad(format_args!(
                "way {} needs an import mapped {}",
                way,
                want.map_or("nowhere (RSDMA_EDU_UNMAPPED)", |d| d.name())
            )));
        }
        // Offsets step by `chunk` and wrap inside the buffer.
        let slots = imp.size / chunk;
        let bidi = Direction::Bidirectional;
        let t0 = now_ns();
        for k in 0..count {
            let off = (k % slots) * chunk;
            match way {
                bindings::RSDMA_EDU_BENCH_MAP => {
                    imp.att.map(bidi)?;
                    imp.att.unmap();
                }
                bindings::RSDMA_EDU_BENCH_RANGE => {
                    imp.sync(off, chunk, bidi, false)?;
                    imp.sync(off, chunk, bidi, true)?;
                }
                _ => {
                    let buf = imp.att.buf();
                    buf.begin_cpu_access(bidi)?;
                    buf.end_cpu_access(bidi)?;
                }
            }
        }
        let ns = now_ns().saturating_sub(t0);
        b[24..32].copy_from_slice(&ns.to_ne_bytes());
        w.write_slice(&b)?;
        Ok(0)
    }

    /// Reads `n` bytes at `off` of `buf` with the CPU, through two nested
    /// kernel mappings (which must be the same), inside a CPU access.
    fn vmap_read(&self, buf: &DmaBuf, off: usize, n: usize, user: u64) -> Result {
        let mut out = KVVec::from_elem(0u8, n, GFP_KERNEL)?;
        buf.begin_cpu_access(Direction::FromDevice)?;
        let r = (|| -> Result {
            let outer = buf.vmap()?;
            let inner = buf.vmap()?;
            if outer.addr() != inner.addr() {
                dev_err!(self.dev, "vmap: a nested mapping has another address");
                return Err(EIO);
            }
            drop(inner);
            outer.read(off, &mut out)
        })();
        buf.end_cpu_access(Direction::FromDevice)?;
        r?;
        UserSlice::new(user as usize, n)
            .writer()
            .write_slice(&out)?;
        Ok(())
    }
}
