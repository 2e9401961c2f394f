// SPDX-License-Identifier: GPL-2.0

//! `/dev/rsdma`: `RSDMA_IOCTL_ALLOC` allocates and exports a buffer,
//! `RSDMA_IOCTL_SYNC_RANGE` brackets CPU access to part of one
//! (`include/uapi/rsdma.h`).  The arguments are checked by rsdma-core's
//! table (`core/src/uapi.rs`) before anything is allocated or synced.

use crate::debug::{Stats, EXPORT};
use crate::dev_err;
use crate::dmabuf::buffer::Buffer;
use crate::dmabuf::registry::Registry;
use crate::kapi::bindings;
use crate::kapi::device::Device;
use crate::kapi::dma_buf::{self, Exported};
use crate::kapi::miscdev;
use crate::kapi::page::PAGE_SIZE;
use crate::rsdma_core::cpu_access::Access;
use crate::rsdma_core::uapi::{self, Errno, Refusal};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::ARef;
use kernel::uaccess::UserSlice;

// The C structures and rsdma-core's idea of them agree.
const _: () = {
    use core::mem::{offset_of, size_of};
    use uapi::{alloc_at, sync_at};
    type A = bindings::rsdma_alloc;
    type S = bindings::rsdma_sync_range;
    assert!(size_of::<A>() == uapi::ALLOC_LEN);
    assert!(offset_of!(A, size) == alloc_at::SIZE);
    assert!(offset_of!(A, flags) == alloc_at::FLAGS);
    assert!(offset_of!(A, fd) == alloc_at::FD);
    assert!(offset_of!(A, reserved) == alloc_at::RESERVED);
    assert!(size_of::<S>() == uapi::SYNC_RANGE_LEN);
    assert!(offset_of!(S, fd) == sync_at::FD);
    assert!(offset_of!(S, flags) == sync_at::FLAGS);
    assert!(offset_of!(S, offset) == sync_at::OFFSET);
    assert!(offset_of!(S, len) == sync_at::LEN);
    assert!(offset_of!(S, reserved) == sync_at::RESERVED);
    assert!(bindings::RSDMA_ALLOC_SCATTERED == uapi::ALLOC_SCATTERED);
    assert!(bindings::RSDMA_ALLOC_WRITE_COMBINE == uapi::ALLOC_WRITE_COMBINE);
    assert!(bindings::RSDMA_SYNC_READ == uapi::SYNC_READ);
    assert!(bindings::RSDMA_SYNC_WRITE == uapi::SYNC_WRITE);
    assert!(bindings::RSDMA_SYNC_END == uapi::SYNC_END);
};

/// The name dma-bufs of rsdma carry.
const EXPORT_NAME: &kernel::str::CStr = c_str!("rsdma");

/// `/dev/rsdma`; the attachments of the buffers it exports are listed in
/// `registry`.
pub(crate) struct RsdmaMisc {
    pub(crate) registry: Arc<Registry>,
}

/// The errno of a refusal.
fn errno(r: Refusal) -> Error {
    match r.errno() {
        Errno::Inval => EINVAL,
        Errno::TooBig => E2BIG,
    }
}

/// Logs and counts a refused request.
fn refuse(dev: &Device, what: &str, r: Refusal) -> Error {
    dev_err!(dev, "rsdma: {}: {}", what, r);
    Stats::count(&EXPORT.refused);
    errno(r)
}

impl RsdmaMisc {
    /// `RSDMA_IOCTL_ALLOC`.
    fn alloc(&self, dev: &Device, arg: usize) -> Result<i32> {
        let (mut reader, mut writer) = UserSlice::new(arg, uapi::ALLOC_LEN).reader_writer();
        let mut raw = [0u8; uapi::ALLOC_LEN];
        reader.read_slice(&mut raw)?;
        let mut a = uapi::AllocArgs::from_bytes(&raw);
        let lim = uapi::Limits {
            max_bytes: crate::params::dmabuf_max_bytes(),
            max_contiguous: (PAGE_SIZE as u64) << crate::kapi::page::MAX_ORDER,
            page_size: PAGE_SIZE as u64,
        };
        let spec = uapi::check_alloc(&a, &lim).map_err(|r| refuse(dev, "alloc", r))?;
        let buf = Buffer::alloc(dev, spec, self.registry.clone()).inspect_err(|e| {
            dev_err!(dev, "rsdma: alloc of {} bytes failed: {:?}", spec.size, e)
        })?;
        let size = usize::try_from(spec.size)?;
        a.fd = dma_buf::export(buf, size, EXPORT_NAME)
            .inspect_err(|e| dev_err!(dev, "rsdma: exporting a dma-buf failed: {:?}", e))?;
        // The descriptor is installed: a fault writing it back leaves it
        // to the process, as for any ioctl that returns one.
        writer.write_slice(&a.to_bytes())?;
        Ok(0)
    }

    /// `RSDMA_IOCTL_SYNC_RANGE`.
    fn sync_range(dev: &Device, arg: usize) -> Result<i32> {
        let mut raw = [0u8; uapi::SYNC_RANGE_LEN];
        UserSlice::new(arg, uapi::SYNC_RANGE_LEN)
            .reader()
            .read_slice(&mut raw)?;
        let a = uapi::SyncRangeArgs::from_bytes(&raw);
        let buf = match Exported::<Buffer>::from_fd(a.fd) {
            Ok(Some(b)) => b,
            Ok(None) => {
                dev_err!(
                    dev,
                    "rsdma: sync: fd {} is a dma-buf rsdma did not export",
                    a.fd
                );
                Stats::count(&EXPORT.refused);
                return Err(EINVAL);
            }
            Err(e) => {
                dev_err!(dev, "rsdma: sync: fd {} is not a dma-buf ({:?})", a.fd, e);
                Stats::count(&EXPORT.refused);
                return Err(e);
            }
        };
        let data = buf.data();
        let s = uapi::check_sync_range(&a, data.size()).map_err(|r| refuse(dev, "sync", r))?;
        let access = Access {
            offset: s.offset,
            len: s.len,
            dir: s.dir,
        };
        data.bracket(access, s.end, false)?;
        Ok(0)
    }
}

#[vtable]
impl miscdev::Operations for RsdmaMisc {
    type File = ARef<Device>;

    fn open(_this: &Arc<Self>, dev: &Device) -> Result<ARef<Device>> {
        Ok(dev.get())
    }

    fn ioctl(&self, dev: &ARef<Device>, cmd: u32, arg: usize) -> Result<i32> {
        match cmd {
            bindings::RSDMA_IOCTL_ALLOC_CMD => self.alloc(dev, arg),
            bindings::RSDMA_IOCTL_SYNC_RANGE_CMD => Self::sync_range(dev, arg),
            _ => Err(ENOTTY),
        }
    }
}
