// SPDX-License-Identifier: GPL-2.0

//! A PCI driver for QEMU's `edu` device that moves real bytes by DMA.
//!
//! edu copies between RAM and a 4 KiB buffer of its own.  This driver uses
//! the kernel's standard DMA API on the device, so whatever serves that API
//! (the kernel's iommu-dma, or rsdma once the device is attached) is what
//! the transfers go through.  Tests are run by writing their name to
//! `/sys/kernel/debug/rsdma_edu/<device>/run`; reading the file shows the
//! last result.

// `Edu`'s pin-initialiser, a field per lock, nests deeper than the default.
#![recursion_limit = "256"]

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::{c_str, new_mutex, sync::Arc, sync::Mutex, types::ARef};

/// The wrappers of kernel APIs this driver uses.
#[path = "../../rust/kapi"]
pub mod kapi {
    pub mod bindings;
    pub mod debugfs;
    pub mod device;
    pub mod devres;
    pub mod dma;
    pub mod dma_buf_import;
    pub mod dma_ops;
    pub mod ffi;
    pub mod fmt;
    pub mod io;
    pub mod kthread;
    pub mod memremap;
    pub mod miscdev;
    pub mod mm;
    pub mod module;
    pub mod of;
    pub mod of_reserved_mem;
    pub mod page;
    pub mod pci;
    pub mod scatterlist;
    pub mod sync;
    pub mod time;

    pub use self::ffi::errno;
    pub(crate) use self::ffi::is_err_ptr;
}

/// The types the DMA API speaks in, from rsdma-core.
#[path = "../../rust/core/src"]
pub mod rsdma_core {
    pub mod dma;
    pub mod span;
}

/// rsdma's C API (`include/rsdma.h`).
#[path = "../../rust/client.rs"]
pub mod rsdma;

mod coherent;
mod import;
mod overlap;
mod pattern;

use kapi::debugfs::{Command, CommandFile, Dir};
use kapi::device::Device;
use kapi::dma::{Coherent, Direction, Mapping, SgMapping};
use kapi::fmt::StackStr;
use kapi::memremap::PhysRange;
use kapi::page::{fill_random, Pages, PAGE_SIZE};
use kapi::pci;
use kapi::scatterlist::SgTable;

module! {
    type: EduModule,
    name: "rsdma_edu",
    author: "the rsdma developers",
    description: "Sample PCI driver for QEMU's edu device, for testing DMA",
    license: "GPL",
}

/// edu's registers (QEMU hw/misc/edu.c).
mod reg {
    pub(crate) const IDENT: usize = 0x00;
    pub(crate) const LIVENESS: usize = 0x04;
    pub(crate) const DMA_SRC: usize = 0x80;
    pub(crate) const DMA_DST: usize = 0x88;
    pub(crate) const DMA_COUNT: usize = 0x90;
    pub(crate) const DMA_CMD: usize = 0x98;
}

const CMD_START: u64 = 1;
const CMD_TO_RAM: u64 = 2;

/// The device-side buffer: 4 KiB at device address 0x40000.
const EDU_BUF: u64 = 0x40000;
const EDU_BUF_LEN: u64 = 4096;
/// Bytes moved per transfer: edu (QEMU 7.2) rejects a transfer that ends at
/// the very end of its buffer, so no transfer covers the whole buffer.
const CHUNK: usize = 2048;
/// The longest transfer edu takes (QEMU 7.2), for bulk moves.
const MAX_XFER: usize = 4095;
/// How long one transfer may take (edu completes on a ~100 ms timer).
const DMA_TIMEOUT_MS: u32 = 5000;
/// edu's default DMA mask: 28 address bits.
const DEFAULT_DMA_BITS: u32 = 28;
/// Allocations tried for memory above a DMA mask before giving up.
const ALLOC_TRIES: usize = 256;
/// Most map/unmap pairs `bounce_partial` makes to dirty the bounce pool.
const DIRTY_ROUNDS: usize = 1024;

/// A test's result, as the `run` file shows it (a few lines).
type Out = StackStr<512>;

/// One edu device.
#[pin_data]
struct Edu {
    dev: ARef<Device>,
    /// The registers; given back when the device unbinds, even while a
    /// file of its node is still open (the device may be bound again).
    #[pin]
    bar: Mutex<Option<pci::Bar>>,
    /// Serialises transfers and holds the last result line.
    #[pin]
    state: Mutex<Out>,
    /// The buffer `/dev/rsdma_edu` maps (`mmap_prepare`, `coh_check`).
    /// Kept until `coh_release` or the device unbinds.
    #[pin]
    mmap_buf: Mutex<Option<Coherent>>,
    /// The region declared for the device (`declare`), and the device
    /// address it was declared at.
    #[pin]
    region: Mutex<Option<(PhysRange, u64)>>,
    /// The device address of the last region released.
    #[pin]
    released: Mutex<Option<u64>>,
    /// Whether this driver attached the device to rsdma with its tracker
    /// on, which `misuse` needs.
    tracked: AtomicBool,
    /// Whether this driver attached the device to rsdma as untrusted,
    /// which `untrusted_100` needs.
    untrusted: AtomicBool,
    /// The dma-bufs imported through `/dev/rsdma_edu*` (`import.rs`).
    #[pin]
    imports: Mutex<[Option<import::Import>; import::MAX_IMPORTS]>,
    /// Set when the device unbinds: no import is made after that.
    unbound: AtomicBool,
    /// Numbers the open files and the imports.
    next_file: AtomicU64,
    next_handle: AtomicU32,
    /// Whether this driver attached the device to rsdma as non-coherent.
    noncoherent: AtomicBool,
    /// Pages `fragment` holds.
    #[pin]
    frag: Mutex<Option<kapi::page::PageArray>>,
    /// The map/unmap threads `overlap_start` started.
    #[pin]
    overlap: Mutex<Option<overlap::Load>>,
}

impl Edu {
    /// Logs the result line `out` as information, or as an error with
    /// `EIO` when the test failed (`ok` false).
    fn conclude(&self, out: &Out, ok: bool) -> Result {
        if ok {
            dev_info!(self.dev, "{}", out.as_str().trim_end());
            Ok(())
        } else {
            dev_err!(self.dev, "{}", out.as_str().trim_end());
            Err(EIO)
        }
    }

    /// Moves `len` bytes from RAM at bus address `ram` into edu's buffer at
    /// `buf_off` (`to_ram == false`), or back out (`to_ram == true`).
    fn transfer(&self, ram: u64, buf_off: u64, len: usize, to_ram: bool) -> Result {
        // A device-side range outside edu's buffer is fatal to QEMU: check
        // it here, whatever the caller asked for.
        let end = buf_off.checked_add(len as u64).ok_or(EINVAL)?;
        if len == 0 || len >= EDU_BUF_LEN as usize || end >= EDU_BUF_LEN {
            dev_err!(
                self.dev,
                "edu transfer of {} bytes at buffer offset {:#x} is out of range",
                len,
                buf_off
            );
            return Err(EINVAL);
        }
        let (src, dst, cmd) = if to_ram {
            (EDU_BUF + buf_off, ram, CMD_START | CMD_TO_RAM)
        } else {
            (ram, EDU_BUF + buf_off, CMD_START)
        };
        let bar = self.bar.lock();
        let Some(bar) = bar.as_ref() else {
            dev_err!(self.dev, "edu transfer: the device is unbound");
            return Err(ENODEV);
        };
        bar.write64(reg::DMA_SRC, src)?;
        bar.write64(reg::DMA_DST, dst)?;
        bar.write64(reg::DMA_COUNT, len as u64)?;
        bar.write64(reg::DMA_CMD, cmd)?;
        for _ in 0..DMA_TIMEOUT_MS {
            if bar.read32(reg::DMA_CMD)? & CMD_START as u32 == 0 {
                return Ok(());
            }
            kapi::io::msleep(1);
        }
        dev_err!(
            self.dev,
            "edu DMA did not complete in {} ms",
            DMA_TIMEOUT_MS
        );
        Err(kapi::errno::timed_out())
    }

    /// The DMA round trip: a random pattern goes RAM -> edu -> another RAM
    /// buffer through two streaming mappings, and the bytes are compared.
    fn roundtrip(&self, out: &mut Out, len: usize) -> Result {
        let mut src = Pages::alloc(len)?;
        fill_random(&mut src.as_mut_slice()[..len]);
        let dst = Pages::alloc(len)?;
        let src = Mapping::new(&self.dev, src, len, Direction::ToDevice)?;
        let dst = Mapping::new(&self.dev, dst, len, Direction::FromDevice)?;
        let (src_dma, dst_dma) = (src.dma_addr(), dst.dma_addr());

        let mut off = 0;
        while off < len {
            let n = CHUNK.min(len - off);
            self.transfer(src_dma + off as u64, 0, n, false)?;
            self.transfer(dst_dma + off as u64, 0, n, true)?;
            off += n;
        }

        let src = src.unmap()?;
        let dst = dst.unmap()?;
        let (a, b) = (&src.as_slice()[..len], &dst.as_slice()[..len]);
        let mismatch = a.iter().zip(b).position(|(x, y)| x != y);
        *out = StackStr::from_fmt(format_args!(
            "roundtrip {} bytes: src dma {:#x}, dst dma {:#x}, mask {:#x}: {}\n",
            len,
            src_dma,
            dst_dma,
            self.dev.dma_mask(),
            if mismatch.is_none() {
                "bytes match"
            } else {
                "BYTES DIFFER"
            }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        match mismatch {
            None => Ok(()),
            Some(i) => {
                dev_err!(self.dev, "roundtrip: first difference at byte {}", i);
                Err(EIO)
            }
        }
    }

    /// Moves a byte stream from the DMA segments `src` to `dst` through
    /// edu's buffer; the two lists may split the stream differently.
    fn stream(&self, src: &[(u64, u64)], dst: &[(u64, u64)]) -> Result<u64> {
        let (mut si, mut so, mut di, mut doff) = (0, 0u64, 0, 0u64);
        let mut moved = 0u64;
        while let (Some(&(sa, sl)), Some(&(da, dl))) = (src.get(si), dst.get(di)) {
            let n = (MAX_XFER as u64).min(sl - so).min(dl - doff);
            self.transfer(sa + so, 0, n as usize, false)?;
            self.transfer(da + doff, 0, n as usize, true)?;
            moved += n;
            so += n;
            doff += n;
            if so == sl {
                si += 1;
                so = 0;
            }
            if doff == dl {
                di += 1;
                doff = 0;
            }
        }
        Ok(moved)
    }

    /// Maps two scatterlists of `pages` discontiguous whole pages each and
    /// moves a random pattern from one to the other through edu.
    fn sg_roundtrip(&self, out: &mut Out, pages: usize) -> Result {
        let page = u32::try_from(PAGE_SIZE)?;
        let build = |fill: bool| -> Result<SgTable> {
            let mut bufs = KVec::with_capacity(pages, GFP_KERNEL)?;
            // Every other page is kept aside, so the list is discontiguous.
            let mut spacers = KVec::with_capacity(pages, GFP_KERNEL)?;
            for _ in 0..pages {
                let mut p = Pages::alloc(PAGE_SIZE)?;
                if fill {
                    fill_random(p.as_mut_slice());
                }
                bufs.push(p, GFP_KERNEL)?;
                spacers.push(Pages::alloc(PAGE_SIZE)?, GFP_KERNEL)?;
            }
            let offs = KVec::from_elem(0u32, pages, GFP_KERNEL)?;
            let lens = KVec::from_elem(page, pages, GFP_KERNEL)?;
            SgTable::new(bufs, &offs, &lens)
        };
        let src = SgMapping::new(&self.dev, build(true)?, Direction::ToDevice)?;
        let dst = SgMapping::new(&self.dev, build(false)?, Direction::FromDevice)?;
        let (ss, ds) = (dma_segments(&src)?, dma_segments(&dst)?);
        let moved = self.stream(&ss, &ds)?;
        let (src, dst) = (src.unmap(), dst.unmap());
        let mut differ = None;
        for (i, (a, b)) in src.pages().iter().zip(dst.pages()).enumerate() {
            if a.as_slice()[..PAGE_SIZE] != b.as_slice()[..PAGE_SIZE] {
                differ = Some(i);
                break;
            }
        }
        let want = (pages * PAGE_SIZE) as u64;
        *out = StackStr::from_fmt(format_args!(
            "sg {} pages: {} -> {} DMA segments (first {:#x}+{:#x}), {} -> {} segments, {} bytes moved: {}\n",
            pages,
            pages,
            ss.len(),
            ss.first().map_or(0, |s| s.0),
            ss.first().map_or(0, |s| s.1),
            pages,
            ds.len(),
            moved,
            if differ.is_none() && moved == want { "bytes match" } else { "BYTES DIFFER" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if differ.is_some() || moved != want {
            return Err(EIO);
        }
        Ok(())
    }

    /// A coherent buffer as the DMA target: edu copies its first half into
    /// its second half.
    fn coherent(&self, out: &mut Out) -> Result {
        let buf = Coherent::new(&self.dev, 8192, 0)?;
        let mut pattern = [0u8; 2048];
        fill_random(&mut pattern);
        buf.write(0, &pattern)?;
        self.transfer(buf.dma_addr(), 0, CHUNK, false)?;
        self.transfer(buf.dma_addr() + 4096, 0, CHUNK, true)?;
        let mut back = [0u8; 2048];
        buf.read(4096, &mut back)?;
        let ok = back == pattern;
        *out = StackStr::from_fmt(format_args!(
            "coherent 8192 bytes at dma {:#x}: {}\n",
            buf.dma_addr(),
            if ok { "bytes match" } else { "BYTES DIFFER" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if ok {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// `dma_sync_single_range_*` on part of a bidirectional mapping: the
    /// CPU changes one range between two device passes.
    fn sync_range(&self, out: &mut Out) -> Result {
        // Whole pages, at least 8 KiB.
        let len = PAGE_SIZE.max(8192);
        let mut p = Pages::alloc(len)?;
        fill_random(&mut p.as_mut_slice()[..2048]);
        let first: KVec<u8> = {
            let mut v = KVec::with_capacity(2048, GFP_KERNEL)?;
            v.extend_from_slice(&p.as_slice()[..2048], GFP_KERNEL)?;
            v
        };
        let mut m = Mapping::new(&self.dev, p, len, Direction::Bidirectional)?;
        let addr = m.dma_addr();
        // Device: [0, 2048) -> edu -> [4096, 6144).
        self.transfer(addr, 0, CHUNK, false)?;
        self.transfer(addr + 4096, 0, CHUNK, true)?;
        // CPU looks at [4096, 6144) only.
        let mut got = [0u8; 2048];
        m.read_range(4096, &mut got)?;
        let ok1 = got[..] == first[..];
        m.sync_range_for_device(4096, 2048)?;
        // CPU rewrites [0, 2048) inside a sync pair, device copies it again.
        let mut second = [0u8; 2048];
        fill_random(&mut second);
        m.with_cpu(|b| b[..2048].copy_from_slice(&second))?;
        self.transfer(addr, 0, CHUNK, false)?;
        self.transfer(addr + 4096, 0, CHUNK, true)?;
        m.read_range(4096, &mut got)?;
        let ok2 = got == second;
        m.sync_range_for_device(4096, 2048)?;
        drop(m);
        *out = StackStr::from_fmt(format_args!(
            "sync_range at dma {:#x}: first pass {}, second pass {}\n",
            addr,
            if ok1 { "bytes match" } else { "BYTES DIFFER" },
            if ok2 { "bytes match" } else { "BYTES DIFFER" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if ok1 && ok2 {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// After an unmap and `wait_ms` more, edu writes through the stale
    /// IOVA: the IOMMU must block it and the memory behind the old mapping
    /// stay unchanged.  Strict mode blocks it at once (`wait_ms` 0); lazy
    /// mode within its flush bound.
    fn stale(&self, out: &mut Out, wait_ms: u32) -> Result {
        // Put a known pattern into edu's buffer.
        let mut pat = Pages::alloc(4096)?;
        fill_random(&mut pat.as_mut_slice()[..CHUNK]);
        let pm = Mapping::new(&self.dev, pat, CHUNK, Direction::ToDevice)?;
        self.transfer(pm.dma_addr(), 0, CHUNK, false)?;
        drop(pm);
        // A victim buffer, mapped and unmapped.
        let mut victim = Pages::alloc(4096)?;
        victim.as_mut_slice().fill(0x5a);
        let vm = Mapping::new(&self.dev, victim, 4096, Direction::FromDevice)?;
        let stale = vm.dma_addr();
        let victim = vm.unmap()?;
        if wait_ms > 0 {
            kapi::io::msleep(wait_ms);
        }
        // The device writes edu's buffer to the stale address.
        self.transfer(stale, 0, CHUNK, true)?;
        let intact = victim.as_slice().iter().all(|&b| b == 0x5a);
        *out = StackStr::from_fmt(format_args!(
            "stale IOVA {:#x} after {} ms: memory behind the old mapping {}\n",
            stale,
            wait_ms,
            if intact { "unchanged" } else { "OVERWRITTEN" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if intact {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// Deliberate misuse for the tracker: an unmap with the wrong
    /// direction, then a second unmap of the same address.
    fn misuse(&self, out: &mut Out) -> Result {
        if !self.tracked.load(Ordering::Acquire) {
            dev_err!(
                self.dev,
                "misuse needs the device attached to rsdma with its tracker on"
            );
            return Err(EPERM);
        }
        let p = Pages::alloc(4096)?;
        let m = Mapping::new(&self.dev, p, 4096, Direction::ToDevice)?;
        let addr = m.dma_addr();
        // The mapping is torn down by hand below; keep the pages.
        m.leak();
        // SAFETY: `misuse` runs only on a device attached to rsdma with its
        // tracker on (the scenario attaches it so), which checks each unmap
        // against its records and refuses those that match none.
        unsafe {
            kapi::dma::unmap_page_unchecked(&self.dev, addr, 4096, Direction::FromDevice);
            kapi::dma::unmap_page_unchecked(&self.dev, addr, 4096, Direction::ToDevice);
        }
        *out = StackStr::from_fmt(format_args!("misuse at dma {:#x}: done\n", addr));
        Ok(())
    }

    /// Prepares the buffer `/dev/rsdma_edu` maps: a coherent buffer whose
    /// first 2048 bytes the CPU fills with a pattern and edu copies to
    /// offset 4096.  A process that maps the device sees both.
    fn mmap_prepare(&self, out: &mut Out) -> Result {
        let mut slot = self.mmap_buf.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let buf = Coherent::new(&self.dev, 8192, 0)?;
        let mut pattern = [0u8; 2048];
        fill_random(&mut pattern);
        // Never all zero: the reader tells a copy from an empty buffer.
        pattern[0] |= 1;
        buf.write(0, &pattern)?;
        self.transfer(buf.dma_addr(), 0, CHUNK, false)?;
        self.transfer(buf.dma_addr() + 4096, 0, CHUNK, true)?;
        *out = StackStr::from_fmt(format_args!(
            "mmap buffer: 8192 bytes at dma {:#x}, device copied [0, 2048) to [4096, 6144)\n",
            buf.dma_addr()
        ));
        *slot = Some(buf);
        Ok(())
    }

    /// Declares the reserved-memory region at the device-tree `path` for
    /// the device (attached to rsdma), seen by it at `dev_addr` (`phys`:
    /// at its physical address, for a device without an IOMMU), with the
    /// flags named in `flags` (`map`, `io`, `exclusive`, `children`).
    fn declare<'a>(
        &self,
        out: &mut Out,
        path: &str,
        dev_addr: &str,
        flags: impl Iterator<Item = &'a str>,
    ) -> Result {
        let mut slot = self.region.lock();
        if slot.is_some() {
            dev_err!(self.dev, "a region is declared already");
            return Err(EBUSY);
        }
        let mut cpath = [0u8; 96];
        let bytes = path.as_bytes();
        if bytes.len() >= cpath.len() || bytes.contains(&0) {
            return Err(EINVAL);
        }
        cpath[..bytes.len()].copy_from_slice(bytes);
        let cpath = CStr::from_bytes_with_nul(&cpath[..=bytes.len()]).map_err(|_| EINVAL)?;
        let mem = kapi::of_reserved_mem::region_at(cpath)
            .inspect_err(|_| dev_err!(self.dev, "no reserved-memory region at {}", path))?;
        let dev_addr = match dev_addr {
            "phys" => mem.phys(),
            a => parse_u64(a)?,
        };
        let mut f = rsdma::MemFlags::empty();
        for w in flags {
            f = f | match w {
                "map" => rsdma::MemFlags::MAP,
                "io" => rsdma::MemFlags::IO,
                "exclusive" => rsdma::MemFlags::EXCLUSIVE,
                "children" => rsdma::MemFlags::INCLUDES_CHILDREN,
                _ => return Err(EINVAL),
            };
        }
        rsdma::declare_coherent_memory(&self.dev, &mem, dev_addr, f)?;
        *out = StackStr::from_fmt(format_args!(
            "declared {:#x}+{:#x} at device address {:#x}\n",
            mem.phys(),
            mem.len(),
            dev_addr
        ));
        *slot = Some((mem, dev_addr));
        Ok(())
    }

    /// Releases the region [`Edu::declare`] declared.
    fn release_declared(&self, out: &mut Out) -> Result {
        let mut slot = self.region.lock();
        let Some((mem, _)) = slot.as_ref() else {
            return Err(ENOENT);
        };
        rsdma::release_declared_memory(&self.dev, mem)?;
        *out = StackStr::from_fmt(format_args!("released {:#x}\n", mem.phys()));
        *self.released.lock() = slot.take().map(|(_, dev_addr)| dev_addr);
        Ok(())
    }

    /// After a release, edu writes its buffer to the device address where
    /// the region's second page was: behind an IOMMU the write must fault,
    /// the region being no longer mapped there.  (Without one it would land
    /// in the region's memory, so the test refuses to run.)
    fn declared_stale(&self, out: &mut Out) -> Result {
        let Some(base) = *self.released.lock() else {
            return Err(ENOENT);
        };
        if !self.dev.has_iommu_group() {
            dev_err!(self.dev, "declared_stale needs an IOMMU");
            return Err(EINVAL);
        }
        let stale = base + PAGE_SIZE as u64;
        self.transfer(stale, 0, CHUNK, true)?;
        *out = StackStr::from_fmt(format_args!(
            "edu wrote to the released device address {:#x}\n",
            stale
        ));
        Ok(())
    }

    /// A coherent buffer from the declared region as the DMA target: it
    /// must lie at the region's device address, and edu copies its first
    /// half into its second half.
    fn declared_roundtrip(&self, out: &mut Out) -> Result {
        let (base, size) = match self.region.lock().as_ref() {
            Some((mem, dev_addr)) => (*dev_addr, mem.len()),
            None => return Err(ENOENT),
        };
        let buf = Coherent::new(&self.dev, 8192, 0)?;
        let dma = buf.dma_addr();
        let inside = dma >= base && dma + 8192 <= base + size;
        let mut pattern = [0u8; 2048];
        fill_random(&mut pattern);
        buf.write(0, &pattern)?;
        self.transfer(dma, 0, CHUNK, false)?;
        self.transfer(dma + 4096, 0, CHUNK, true)?;
        let mut back = [0u8; 2048];
        buf.read(4096, &mut back)?;
        let ok = back == pattern;
        *out = StackStr::from_fmt(format_args!(
            "declared coherent 8192 bytes at dma {:#x} ({} the region at {:#x}+{:#x}): {}\n",
            dma,
            if inside { "in" } else { "OUTSIDE" },
            base,
            size,
            if ok { "bytes match" } else { "BYTES DIFFER" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if ok && inside {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// Maps a buffer and never unmaps it, for the leak report at detach.
    fn leak(&self, out: &mut Out) -> Result {
        let p = Pages::alloc(4096)?;
        let m = Mapping::new(&self.dev, p, 4096, Direction::ToDevice)?;
        *out = StackStr::from_fmt(format_args!("leaked mapping at dma {:#x}\n", m.dma_addr()));
        m.leak();
        Ok(())
    }

    /// `size` bytes whose whole physical range lies above `limit`.
    ///
    /// `GFP_KERNEL` memory comes from the highest zone first, which lies
    /// above 4 GiB when the machine has RAM there.  Allocations that land
    /// lower go to `misses`, so that the allocator does not hand them out
    /// again; the caller frees them when it is done.
    fn alloc_above(&self, limit: u64, size: usize, misses: &mut KVec<Pages>) -> Result<Pages> {
        for _ in 0..ALLOC_TRIES {
            let p = Pages::alloc(size)?;
            if p.phys() > limit {
                return Ok(p);
            }
            misses.push(p, GFP_KERNEL)?;
        }
        dev_err!(
            self.dev,
            "no {} bytes above {:#x} in {} allocations: the test needs RAM above the DMA mask",
            size,
            limit,
            ALLOC_TRIES
        );
        Err(ENOMEM)
    }

    /// `size` bytes whose whole physical range lies at or below `limit`
    /// (`GFP_DMA32` memory, below 4 GiB).
    fn alloc_below(&self, limit: u64, size: usize) -> Result<Pages> {
        let p = Pages::alloc_dma32(size)?;
        if p.phys() + (p.len() as u64 - 1) > limit {
            dev_err!(
                self.dev,
                "memory below 4 GiB at {:#x} is not under the DMA mask {:#x}",
                p.phys(),
                limit
            );
            return Err(EINVAL);
        }
        Ok(p)
    }

    /// Moves `len` random bytes from `src` to `dst` through edu, each
    /// buffer in a streaming mapping of its own, and compares them.
    fn trip(&self, mut src: Pages, dst: Pages, len: usize) -> Result<Trip> {
        fill_random(&mut src.as_mut_slice()[..len]);
        let (src_phys, dst_phys) = (src.phys(), dst.phys());
        let map = |p: Pages, phys: u64, dir: Direction| {
            Mapping::new(&self.dev, p, len, dir).inspect_err(|e| {
                dev_err!(
                    self.dev,
                    "cannot map {} bytes at phys {:#x} {}: {:?}",
                    len,
                    phys,
                    dir,
                    e
                )
            })
        };
        let src = map(src, src_phys, Direction::ToDevice)?;
        let dst = map(dst, dst_phys, Direction::FromDevice)?;
        let (src_dma, dst_dma) = (src.dma_addr(), dst.dma_addr());
        let moved = self.stream(&[(src_dma, len as u64)], &[(dst_dma, len as u64)])?;
        let (src, dst) = (src.unmap()?, dst.unmap()?);
        let mask = self.dev.dma_mask();
        Ok(Trip {
            src_phys,
            src_dma,
            src: Route::of(src_phys, src_dma, len as u64, mask),
            dst_phys,
            dst_dma,
            dst: Route::of(dst_phys, dst_dma, len as u64, mask),
            ok: moved == len as u64 && src.as_slice()[..len] == dst.as_slice()[..len],
        })
    }

    /// Without an IOMMU: a pair of buffers above the DMA mask and a pair
    /// below it each make a round trip through edu.  The pair above must
    /// have been bounced under the mask, the pair below handed to the
    /// device at its physical address.
    fn bounce_route(&self, out: &mut Out) -> Result {
        let mask = self.dev.dma_mask();
        let mut misses = KVec::new();
        let (src, dst) = (
            self.alloc_above(mask, 4096, &mut misses)?,
            self.alloc_above(mask, 4096, &mut misses)?,
        );
        let above = self.trip(src, dst, 4096)?;
        let (src, dst) = (self.alloc_below(mask, 4096)?, self.alloc_below(mask, 4096)?);
        let below = self.trip(src, dst, 4096)?;
        *out = Out::new();
        let what = StackStr::<64>::from_fmt(format_args!("bounce_route above mask {:#x}", mask));
        let ok_above = above.report(&self.dev, out, what.as_str(), Route::Bounced);
        let what = StackStr::<64>::from_fmt(format_args!("bounce_route below mask {:#x}", mask));
        let ok_below = below.report(&self.dev, out, what.as_str(), Route::Direct);
        drop(misses);
        if ok_above && ok_below {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// Without an IOMMU: two scatterlists of `pages` pages whose entries
    /// alternate between memory above and below the DMA mask, the source
    /// starting above, the destination below; edu moves a random pattern
    /// from one to the other, so bytes go from bounced entries to direct
    /// ones and back.
    fn sg_mixed(&self, out: &mut Out, pages: usize) -> Result {
        let mask = self.dev.dma_mask();
        let mut misses = KVec::new();
        // Entry `i` lies above the mask when `i % 2 == above_at`.
        let mut build = |fill: bool, above_at: usize| -> Result<(SgTable, KVec<u64>)> {
            let mut bufs = KVec::with_capacity(pages, GFP_KERNEL)?;
            let mut phys = KVec::with_capacity(pages, GFP_KERNEL)?;
            for i in 0..pages {
                let mut p = if i % 2 == above_at {
                    self.alloc_above(mask, 4096, &mut misses)?
                } else {
                    self.alloc_below(mask, 4096)?
                };
                if fill {
                    fill_random(p.as_mut_slice());
                }
                phys.push(p.phys(), GFP_KERNEL)?;
                bufs.push(p, GFP_KERNEL)?;
            }
            let offs = KVec::from_elem(0u32, pages, GFP_KERNEL)?;
            let lens = KVec::from_elem(4096u32, pages, GFP_KERNEL)?;
            Ok((SgTable::new(bufs, &offs, &lens)?, phys))
        };
        let (src, src_phys) = build(true, 0)?;
        let (dst, dst_phys) = build(false, 1)?;
        let src = SgMapping::new(&self.dev, src, Direction::ToDevice)?;
        let dst = SgMapping::new(&self.dev, dst, Direction::FromDevice)?;
        let (ss, ds) = (dma_segments(&src)?, dma_segments(&dst)?);
        let sr = SgRoutes::of(&ss, &src_phys, 0, mask);
        let dr = SgRoutes::of(&ds, &dst_phys, 1, mask);
        let moved = self.stream(&ss, &ds)?;
        let (src, dst) = (src.unmap(), dst.unmap());
        let same = src
            .pages()
            .iter()
            .zip(dst.pages())
            .all(|(a, b)| a.as_slice()[..4096] == b.as_slice()[..4096]);
        let bytes_ok = same && moved == (pages * 4096) as u64;
        let ok = bytes_ok && sr.wrong == 0 && dr.wrong == 0;
        *out = StackStr::from_fmt(format_args!(
            "sg_mixed {} pages, alternately above and below mask {:#x}: to device {} DMA segments ({} direct, {} bounced, {} wrong), from device {} ({} direct, {} bounced, {} wrong), {} bytes moved: {}\n",
            pages,
            mask,
            ss.len(),
            sr.direct,
            sr.bounced,
            sr.wrong,
            ds.len(),
            dr.direct,
            dr.bounced,
            dr.wrong,
            moved,
            if !bytes_ok {
                "BYTES DIFFER"
            } else if ok {
                "bytes match"
            } else {
                "bytes match, WRONG ROUTE"
            }
        ));
        self.conclude(out, ok)
    }

    /// Without an IOMMU: a bounced `DMA_FROM_DEVICE` mapping that edu
    /// writes only in part.  The bounce pool is dirtied first with another
    /// pattern; after the unmap, the part the device did not write must
    /// still hold what the CPU put there (a map copies the buffer into its
    /// slots whatever the direction), not old pool data or zeros.
    fn bounce_partial(&self, out: &mut Out) -> Result {
        /// What the CPU puts in the buffer before mapping it.
        const P: u8 = 0xa5;
        /// What the pool holds from an earlier mapping.
        const Q: u8 = 0x3c;
        let mask = self.dev.dma_mask();
        let mut misses = KVec::new();
        // edu's buffer gets the bytes it will write, from memory under the
        // mask: a direct mapping, which leaves the pool alone.
        let mut data = self.alloc_below(mask, 4096)?;
        fill_random(&mut data.as_mut_slice()[..CHUNK]);
        let dm = Mapping::new(&self.dev, data, CHUNK, Direction::ToDevice)?;
        self.transfer(dm.dma_addr(), 0, CHUNK, false)?;
        let data = dm.unmap()?;
        // Dirty the pool: map and unmap a buffer full of Q until its bounce
        // address comes round again, so that the slots the next mapping
        // takes have held Q (whether the pool hands out its slots in turn
        // or the first free ones).
        let mut q = self.alloc_above(mask, 4096, &mut misses)?;
        q.as_mut_slice().fill(Q);
        let mut dirtied = KVec::with_capacity(DIRTY_ROUNDS, GFP_KERNEL)?;
        for _ in 0..DIRTY_ROUNDS {
            let m = Mapping::new(&self.dev, q, 4096, Direction::ToDevice)?;
            let addr = m.dma_addr();
            q = m.unmap()?;
            if dirtied.contains(&addr) {
                break;
            }
            dirtied.push(addr, GFP_KERNEL)?;
        }
        drop(q);
        // The buffer edu writes in part.
        let mut p = self.alloc_above(mask, 4096, &mut misses)?;
        p.as_mut_slice().fill(P);
        let phys = p.phys();
        let pm = Mapping::new(&self.dev, p, 4096, Direction::FromDevice)?;
        let dma = pm.dma_addr();
        let reused = dirtied.contains(&dma);
        self.transfer(dma, 0, CHUNK, true)?;
        let p = pm.unmap()?;
        let (head, tail) = p.as_slice()[..4096].split_at(CHUNK);
        let head_ok = *head == data.as_slice()[..CHUNK];
        let count = |v: u8| tail.iter().filter(|&&b| b == v).count();
        let (kept, old, zero) = (count(P), count(Q), count(0));
        let route = Route::of(phys, dma, 4096, mask);
        let ok = head_ok && kept == tail.len() && route == Route::Bounced;
        *out = StackStr::from_fmt(format_args!(
            "bounce_partial: phys {:#x} dma {:#x} ({}), pool dirtied with {:#04x} by {} mappings, {}: [0, 2048) {}, [2048, 4096) {} bytes still {:#04x}, {} {:#04x}, {} zero: {}\n",
            phys,
            dma,
            route.name(),
            Q,
            dirtied.len(),
            if reused {
                "the mapping reuses dirtied slots"
            } else {
                "the mapping got other slots"
            },
            if head_ok { "as the device wrote" } else { "NOT AS THE DEVICE WROTE" },
            kept,
            P,
            old,
            Q,
            zero,
            if ok { "ok" } else { "FAILED" }
        ));
        drop(misses);
        self.conclude(out, ok)
    }

    /// Behind an IOMMU, attached untrusted: 100 bytes inside a page of
    /// random data are mapped for the device, which reads the whole IOMMU
    /// granule around them and writes it out to a second mapping.  The
    /// device must find the 100 bytes at their offset and zeros everywhere
    /// else, never the bytes around the buffer.
    fn untrusted_100(&self, out: &mut Out) -> Result {
        /// Where the 100 bytes lie in their page: across the 2048-byte line
        /// between edu's two reads.
        const OFF: usize = 2000;
        const LEN: usize = 100;
        if !self.untrusted.load(Ordering::Acquire) {
            dev_err!(
                self.dev,
                "untrusted_100 needs the device attached to rsdma as untrusted"
            );
            return Err(EPERM);
        }
        let mut src = Pages::alloc(4096)?;
        fill_random(src.as_mut_slice());
        // No zero byte around the data: a zero the device sees there can
        // only come from the padding.
        for b in src.as_mut_slice().iter_mut() {
            *b |= 1;
        }
        let mut data = [0u8; LEN];
        data.copy_from_slice(&src.as_slice()[OFF..OFF + LEN]);
        // The destination is a whole page: it fills its granules and goes
        // to the device unbounced.
        let mut dst = Pages::alloc(PAGE_SIZE)?;
        dst.as_mut_slice().fill(0xa5);
        let sm = Mapping::new_at(&self.dev, src, OFF, LEN, Direction::ToDevice)?;
        let dm = Mapping::new(&self.dev, dst, PAGE_SIZE, Direction::FromDevice)?;
        let dma = sm.dma_addr();
        let granule = dma & !0xfff;
        let at = (dma & 0xfff) as usize;
        if at + LEN > MAX_XFER {
            dev_err!(
                self.dev,
                "untrusted_100: the mapping at {:#x} ends past the bytes edu can read",
                dma
            );
            return Err(EIO);
        }
        // edu moves at most 4095 bytes a transfer: all of the granule but
        // its last byte, in two reads.
        self.transfer(granule, 0, CHUNK, false)?;
        self.transfer(
            granule + CHUNK as u64,
            CHUNK as u64,
            MAX_XFER - CHUNK,
            false,
        )?;
        self.transfer(dm.dma_addr(), 0, MAX_XFER, true)?;
        drop(sm.unmap()?);
        let dst = dm.unmap()?;
        let seen = &dst.as_slice()[..MAX_XFER];
        let data_ok = seen[at..at + LEN] == data;
        let exposed = seen
            .iter()
            .enumerate()
            .filter(|&(i, &b)| !(at..at + LEN).contains(&i) && b != 0)
            .count();
        let ok = data_ok && exposed == 0;
        *out = StackStr::from_fmt(format_args!(
            "untrusted_100: {} bytes at dma {:#x} (granule {:#x} + {:#x}): the device read the data {}, {} other byte(s) of the granule not zero: {}\n",
            LEN,
            dma,
            granule,
            at,
            if data_ok { "intact" } else { "WRONG" },
            exposed,
            if ok { "ok" } else { "FAILED" }
        ));
        self.conclude(out, ok)
    }

    /// Without an IOMMU: bounced mappings of 64 KiB are made until the
    /// bounce pool is exhausted and a map fails.  The first mapping must
    /// still hold its bytes (edu copies them out to memory under the mask),
    /// and once everything is unmapped a bounced round trip works again.
    fn exhaust(&self, out: &mut Out) -> Result {
        const SIZE: usize = 64 * 1024;
        /// Maps tried before the pool must have run out.
        const ATTEMPTS: usize = 256;
        let mask = self.dev.dma_mask();
        let mut misses = KVec::new();
        let mut maps = KVec::with_capacity(ATTEMPTS, GFP_KERNEL)?;
        let mut first = KVec::with_capacity(SIZE, GFP_KERNEL)?;
        let mut failed = false;
        for _ in 0..ATTEMPTS {
            let mut p = self.alloc_above(mask, SIZE, &mut misses)?;
            fill_random(p.as_mut_slice());
            if first.is_empty() {
                first.extend_from_slice(&p.as_slice()[..SIZE], GFP_KERNEL)?;
            }
            let phys = p.phys();
            match Mapping::new(&self.dev, p, SIZE, Direction::ToDevice) {
                Ok(m) => {
                    let route = Route::of(phys, m.dma_addr(), SIZE as u64, mask);
                    if route != Route::Bounced {
                        dev_err!(
                            self.dev,
                            "exhaust: mapping of phys {:#x} at dma {:#x} is {}, not bounced",
                            phys,
                            m.dma_addr(),
                            route.name()
                        );
                        return Err(EIO);
                    }
                    maps.push(m, GFP_KERNEL)?;
                }
                Err(e) if e == ENOMEM => {
                    failed = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let n = maps.len();
        if n == 0 || !failed {
            dev_err!(
                self.dev,
                "exhaust: {} maps of {} bytes succeeded, {}: expected some to, then one not to",
                n,
                SIZE,
                if failed {
                    "then one failed"
                } else {
                    "none failed"
                }
            );
            return Err(EIO);
        }
        // The pool is full: the first mapping must still hold its bytes.
        // edu copies them out to memory under the mask, mapped directly.
        let dst = self.alloc_below(mask, SIZE)?;
        let dst_phys = dst.phys();
        let dm = Mapping::new(&self.dev, dst, SIZE, Direction::FromDevice)?;
        let (first_dma, dst_dma) = (maps[0].dma_addr(), dm.dma_addr());
        let dst_route = Route::of(dst_phys, dst_dma, SIZE as u64, mask);
        let moved = self.stream(&[(first_dma, SIZE as u64)], &[(dst_dma, SIZE as u64)])?;
        let dst = dm.unmap()?;
        let intact = moved == SIZE as u64 && dst.as_slice()[..SIZE] == first[..];
        drop(maps);
        // With the pool free again, a bounced round trip works.
        let (src, dst2) = (
            self.alloc_above(mask, 4096, &mut misses)?,
            self.alloc_above(mask, 4096, &mut misses)?,
        );
        let trip = self.trip(src, dst2, 4096)?;
        drop(misses);
        let ok = intact && dst_route == Route::Direct;
        *out = StackStr::from_fmt(format_args!(
            "exhaust: {} bounced mappings of {} bytes, map {} failed; the first (dma {:#x}) copied out to dma {:#x} ({}): {}\n",
            n,
            SIZE,
            n + 1,
            first_dma,
            dst_dma,
            dst_route.name(),
            if intact { "bytes match" } else { "BYTES DIFFER" }
        ));
        if ok {
            dev_info!(self.dev, "{}", out.as_str().trim_end());
        } else {
            dev_err!(self.dev, "{}", out.as_str().trim_end());
        }
        let trip_ok = trip.report(
            &self.dev,
            out,
            "exhaust, after unmapping all: round trip",
            Route::Bounced,
        );
        if ok && trip_ok {
            Ok(())
        } else {
            Err(EIO)
        }
    }
}

/// A number written in decimal or as `0x` hex.
fn parse_u64(s: &str) -> Result<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| EINVAL)
}

/// The `(address, length)` DMA segments of a mapped scatterlist.
fn dma_segments(m: &SgMapping) -> Result<KVec<(u64, u64)>> {
    let mut v = KVec::with_capacity(m.nents(), GFP_KERNEL)?;
    for e in m.segments().iter() {
        v.push((e.dma_address(), u64::from(e.dma_len())), GFP_KERNEL)?;
    }
    Ok(v)
}

/// How a mapping made without an IOMMU came out, told from its physical
/// and DMA addresses (QEMU virt puts no offset between the two).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The device got the physical address itself.
    Direct,
    /// The device got another address under its mask: a bounce buffer.
    Bounced,
    /// The device got an address its mask cannot express.
    OutOfMask,
}

impl Route {
    /// The route of `len` bytes at `phys` the device reaches at `dma`.
    fn of(phys: u64, dma: u64, len: u64, mask: u64) -> Self {
        if dma == phys {
            Route::Direct
        } else if dma
            .checked_add(len.saturating_sub(1))
            .is_some_and(|last| last <= mask)
        {
            Route::Bounced
        } else {
            Route::OutOfMask
        }
    }

    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Bounced => "bounced",
            Route::OutOfMask => "OUT OF THE MASK",
        }
    }
}

/// One round trip through edu ([`Edu::trip`]).
struct Trip {
    src_phys: u64,
    src_dma: u64,
    src: Route,
    dst_phys: u64,
    dst_dma: u64,
    dst: Route,
    /// The bytes arrived.
    ok: bool,
}

impl Trip {
    /// Adds a line about the trip to `out` and logs it; tells whether the
    /// bytes arrived and both buffers took route `want`.
    fn report(&self, dev: &Device, out: &mut Out, what: &str, want: Route) -> bool {
        let ok = self.ok && self.src == want && self.dst == want;
        let line = StackStr::<256>::from_fmt(format_args!(
            "{}: src phys {:#x} dma {:#x} ({}), dst phys {:#x} dma {:#x} ({}): {}\n",
            what,
            self.src_phys,
            self.src_dma,
            self.src.name(),
            self.dst_phys,
            self.dst_dma,
            self.dst.name(),
            if !self.ok {
                "BYTES DIFFER"
            } else if ok {
                "bytes match"
            } else {
                "bytes match, WRONG ROUTE"
            }
        ));
        let _ = out.write_str(line.as_str());
        if ok {
            dev_info!(dev, "{}", line.as_str().trim_end());
        } else {
            dev_err!(dev, "{}", line.as_str().trim_end());
        }
        ok
    }
}

/// How the entries of a scatterlist mapped without an IOMMU came out.
struct SgRoutes {
    direct: usize,
    bounced: usize,
    /// Entries below the mask not handed over directly, entries above it
    /// not bounced, or segments the mask cannot express.
    wrong: usize,
}

impl SgRoutes {
    /// Entry `i` (physical address `phys[i]`, one page) lies above `mask`
    /// when `i % 2 == above_at`, and must have been bounced; the others
    /// must have gone direct.  When segments were merged across entries,
    /// entries cannot be told apart and every segment only has to fit the
    /// mask.
    fn of(segs: &[(u64, u64)], phys: &[u64], above_at: usize, mask: u64) -> Self {
        let mut r = SgRoutes {
            direct: 0,
            bounced: 0,
            wrong: 0,
        };
        for (i, &(dma, len)) in segs.iter().enumerate() {
            let want = if segs.len() != phys.len() {
                None
            } else if i % 2 == above_at {
                Some(Route::Bounced)
            } else {
                Some(Route::Direct)
            };
            let got = Route::of(phys.get(i).copied().unwrap_or(u64::MAX), dma, len, mask);
            match got {
                Route::Direct => r.direct += 1,
                Route::Bounced => r.bounced += 1,
                Route::OutOfMask => {}
            }
            if got == Route::OutOfMask || want.is_some_and(|w| w != got) {
                r.wrong += 1;
            }
        }
        r
    }
}

impl Command for Edu {
    fn run(&self, cmd: &str) -> Result {
        let mut words = cmd.split_whitespace();
        let mut state = self.state.lock();
        if let Some(r) = self.run_coherent(cmd, &mut state) {
            return r;
        }
        match (words.next(), words.next()) {
            (Some("roundtrip"), None) => self.roundtrip(&mut state, 4096),
            (Some("roundtrip"), Some(n)) => {
                let n: usize = n.parse().map_err(|_| EINVAL)?;
                if n == 0 || n > 1 << 20 {
                    return Err(EINVAL);
                }
                self.roundtrip(&mut state, n)
            }
            (Some("sg"), n) => {
                let n: usize = n.unwrap_or("64").parse().map_err(|_| EINVAL)?;
                if n == 0 || n > 512 {
                    return Err(EINVAL);
                }
                self.sg_roundtrip(&mut state, n)
            }
            (Some("sg_mixed"), n) => {
                let n: usize = n.unwrap_or("16").parse().map_err(|_| EINVAL)?;
                if !(2..=512).contains(&n) {
                    return Err(EINVAL);
                }
                self.sg_mixed(&mut state, n)
            }
            (Some("bounce_route"), None) => self.bounce_route(&mut state),
            (Some("bounce_partial"), None) => self.bounce_partial(&mut state),
            (Some("untrusted_100"), None) => self.untrusted_100(&mut state),
            (Some("exhaust"), None) => self.exhaust(&mut state),
            (Some("coherent"), None) => self.coherent(&mut state),
            (Some("sync_range"), None) => self.sync_range(&mut state),
            (Some("stale"), None) => self.stale(&mut state, 0),
            (Some("stale"), Some(ms)) => {
                // `stale MS`: the DMA comes MS ms after the unmap.
                let ms: u32 = ms.parse().map_err(|_| EINVAL)?;
                if ms > 10_000 {
                    return Err(EINVAL);
                }
                self.stale(&mut state, ms)
            }
            (Some("overlap_start"), n) => {
                // `overlap_start [N]`: N map/unmap threads (overlap.rs).
                let n: usize = n.unwrap_or("1").parse().map_err(|_| EINVAL)?;
                let mut load = self.overlap.lock();
                if load.is_some() {
                    return Err(EBUSY);
                }
                *load = Some(overlap::Load::start(&self.dev, n)?);
                *state = StackStr::from_fmt(format_args!("overlap: {} threads started\n", n));
                Ok(())
            }
            (Some("overlap_stop"), None) => {
                let load = self.overlap.lock().take().ok_or(ENOENT)?;
                *state = StackStr::new();
                let ok = load.stop(&mut *state);
                self.conclude(&state, ok)
            }
            (Some("misuse"), None) => self.misuse(&mut state),
            (Some("leak"), None) => self.leak(&mut state),
            (Some("mmap_prepare"), None) => self.mmap_prepare(&mut state),
            (Some("declare"), Some(path)) => {
                // `declare PATH DEV_ADDR|phys FLAG...`
                let dev_addr = words.next().ok_or(EINVAL)?;
                self.declare(&mut state, path, dev_addr, words)
            }
            (Some("release"), None) => self.release_declared(&mut state),
            (Some("declared_stale"), None) => self.declared_stale(&mut state),
            (Some("declared_roundtrip"), None) => self.declared_roundtrip(&mut state),
            (Some("attach"), first) => {
                // `attach [lazy] [flush_ms=N] [notracker] [untrusted] [noncoherent]`
                let mut cfg = rsdma::Config::default();
                for w in Iterator::chain(first.into_iter(), words) {
                    match w {
                        "lazy" => cfg.lazy = true,
                        w if w.starts_with("flush_ms=") => {
                            cfg.flush_ms = w["flush_ms=".len()..].parse().map_err(|_| EINVAL)?;
                        }
                        "notracker" => cfg.no_tracker = true,
                        "untrusted" => cfg.untrusted = true,
                        "noncoherent" => cfg.noncoherent = true,
                        _ => return Err(EINVAL),
                    }
                }
                rsdma::attach(&self.dev, &cfg)?;
                self.tracked.store(!cfg.no_tracker, Ordering::Release);
                self.untrusted.store(cfg.untrusted, Ordering::Release);
                self.noncoherent.store(cfg.noncoherent, Ordering::Release);
                *state = StackStr::from_fmt(format_args!("attached to rsdma\n"));
                Ok(())
            }
            (Some("detach"), None) => {
                // The map/unmap threads end before the DMA ops change.
                drop(self.overlap.lock().take());
                self.tracked.store(false, Ordering::Release);
                self.untrusted.store(false, Ordering::Release);
                // Detaching drops whatever is still declared.
                *self.region.lock() = None;
                self.noncoherent.store(false, Ordering::Release);
                rsdma::detach(&self.dev)?;
                *state = StackStr::from_fmt(format_args!("detached from rsdma\n"));
                Ok(())
            }
            (Some("max_seg"), Some(n)) => {
                // `max_seg BYTES`: the device's DMA segment limit.
                let size: u32 = n.parse().map_err(|_| EINVAL)?;
                if size < 4096 {
                    return Err(EINVAL);
                }
                self.dev.set_max_seg_size(size)?;
                *state = StackStr::from_fmt(format_args!("max segment {:#x}\n", size));
                Ok(())
            }
            (Some("dma_bits"), Some(n)) => {
                let bits: u32 = n.parse().map_err(|_| EINVAL)?;
                if !(12..=64).contains(&bits) {
                    return Err(EINVAL);
                }
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                self.dev.set_dma_mask(mask)?;
                *state = StackStr::from_fmt(format_args!("dma mask {:#x}\n", mask));
                Ok(())
            }
            _ => {
                dev_err!(self.dev, "unknown command '{}'", cmd);
                Err(EINVAL)
            }
        }
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let _ = out.write_str(self.state.lock().as_str());
    }
}

#[vtable]
impl kapi::miscdev::Operations for Edu {
    type File = import::EduFile;

    fn open(this: &Arc<Self>, _dev: &Device) -> Result<import::EduFile> {
        Ok(import::EduFile::new(this))
    }

    fn ioctl(&self, file: &import::EduFile, cmd: u32, arg: usize) -> Result<i32> {
        self.importer_ioctl(file, cmd, arg)
    }

    fn mmap(&self, _file: &import::EduFile, vma: &kapi::dma_ops::Vma) -> Result {
        match self.mmap_buf.lock().as_ref() {
            Some(buf) => buf.mmap(vma),
            None => {
                dev_err!(self.dev, "mmap before mmap_prepare");
                Err(EINVAL)
            }
        }
    }
}

/// What the driver keeps per bound device; fields drop in order, so the
/// device node and the debugfs file go first and the device is disabled
/// last.
struct EduData {
    _misc: Option<Pin<KBox<kapi::miscdev::Registration<Edu>>>>,
    _index: NodeIndex,
    _run: CommandFile<Edu>,
    _dir: Dir,
    edu: Arc<Edu>,
    _enabled: pci::Enabled,
}

impl Drop for EduData {
    fn drop(&mut self) {
        // Imports an open file still holds end with the device: their
        // mappings were made through its DMA ops.
        // The map/unmap threads end with the device.
        drop(self.edu.overlap.lock().take());
        let mut imports = self.edu.imports.lock();
        self.edu.unbound.store(true, Ordering::Release);
        for slot in imports.iter_mut() {
            *slot = None;
        }
        drop(imports);
        // The BAR goes with the binding (after a transfer under way).
        *self.edu.bar.lock() = None;
    }
}

/// Which `/dev/rsdma_edu*` numbers are taken (bit `n`: number `n`).
static NODE_INDICES: AtomicU32 = AtomicU32::new(0);

/// A device node number: 0 names `/dev/rsdma_edu`, `n` `/dev/rsdma_edu<n>`.
struct NodeIndex(Option<u32>);

impl NodeIndex {
    /// Takes the lowest free number (none when all 32 are taken).
    fn take() -> Self {
        let mut cur = NODE_INDICES.load(Ordering::Relaxed);
        loop {
            let n = (!cur).trailing_zeros();
            if n >= 32 {
                return Self(None);
            }
            match NODE_INDICES.compare_exchange(
                cur,
                cur | (1 << n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Self(Some(n)),
                Err(now) => cur = now,
            }
        }
    }

    /// The node's name.
    fn name(&self) -> Option<StackStr<32>> {
        match self.0? {
            0 => Some(StackStr::from_fmt(format_args!("rsdma_edu"))),
            n => Some(StackStr::from_fmt(format_args!("rsdma_edu{}", n))),
        }
    }
}

impl Drop for NodeIndex {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            NODE_INDICES.fetch_and(!(1 << n), Ordering::AcqRel);
        }
    }
}

struct EduDriver;

impl pci::Driver for EduDriver {
    type Data = EduData;
    const NAME: &'static CStr = c_str!("rsdma_edu");
    const IDS: &'static [(u16, u16)] = &[(0x1234, 0x11e8)];
    /// rsdma takes the device's translation over when asked to.
    const MANAGED_DMA: bool = true;

    fn probe(pdev: &pci::Device) -> Result<Pin<KBox<EduData>>> {
        let dev = pdev.as_dev();
        let enabled = pdev.enable()?;
        pdev.set_master();
        let bar = pdev.iomap_region(0, c_str!("rsdma_edu"))?;

        let ident = bar.read32(reg::IDENT)?;
        if ident & 0xff != 0xed {
            dev_err!(dev, "not an edu device (identification {:#010x})", ident);
            return Err(ENODEV);
        }
        bar.write32(reg::LIVENESS, 0x5a5a_1234)?;
        let live = bar.read32(reg::LIVENESS)?;
        if live != !0x5a5a_1234 {
            dev_err!(
                dev,
                "liveness check failed: wrote 0x5a5a1234, read {:#010x}",
                live
            );
            return Err(EIO);
        }
        // Without an IOMMU the kernel refuses a mask below its lowest
        // memory zone (which may span the first 4 GiB): the device keeps
        // its bus's default mask then, and `dma_bits` sets another.
        if let Err(e) = dev.set_dma_mask((1u64 << DEFAULT_DMA_BITS) - 1) {
            dev_warn!(
                dev,
                "cannot set a {}-bit DMA mask ({:?}): keeping {:#x}",
                DEFAULT_DMA_BITS,
                e,
                dev.dma_mask()
            );
        }

        let edu = Arc::pin_init(
            pin_init!(Edu {
                dev: dev.get(),
                bar <- new_mutex!(Some(bar), "Edu::bar"),
                state <- new_mutex!(StackStr::new(), "Edu::state"),
                mmap_buf <- new_mutex!(None, "Edu::mmap_buf"),
                region <- new_mutex!(None, "Edu::region"),
                released <- new_mutex!(None, "Edu::released"),
                tracked: AtomicBool::new(false),
                untrusted: AtomicBool::new(false),
                imports <- new_mutex!(core::array::from_fn(|_| None), "Edu::imports"),
                unbound: AtomicBool::new(false),
                next_file: AtomicU64::new(1),
                next_handle: AtomicU32::new(1),
                noncoherent: AtomicBool::new(false),
                frag <- new_mutex!(None, "Edu::frag"),
                overlap <- new_mutex!(None, "Edu::overlap"),
            }),
            GFP_KERNEL,
        )?;
        let dir = Dir::new_under_root_dir(c_str!("rsdma_edu"), dev.name());
        let run = CommandFile::new(&dir, c_str!("run"), edu.clone());
        let index = NodeIndex::take();
        let misc = match index.name() {
            Some(name) => kapi::miscdev::Registration::new(name.as_cstr(), Some(dev), edu.clone())
                .inspect_err(|e| dev_warn!(dev, "no /dev/{}: {:?}", name.as_str(), e))
                .ok(),
            None => {
                dev_warn!(dev, "no device node: 32 edu devices have one already");
                None
            }
        };
        dev_info!(
            dev,
            "edu {}.{} ready (dma mask {:#x}, coherent: {})",
            ident >> 24,
            (ident >> 16) & 0xff,
            dev.dma_mask(),
            dev.is_dma_coherent()
        );
        Ok(KBox::pin(
            EduData {
                _misc: misc,
                _index: index,
                _run: run,
                _dir: dir,
                edu,
                _enabled: enabled,
            },
            GFP_KERNEL,
        )?)
    }
}

/// Field order matters: the driver is unregistered (and every device
/// unbound) before the debugfs directory the devices live under goes.
struct EduModule {
    _reg: Pin<KBox<pci::Registration<EduDriver>>>,
    _dir: Dir,
}

impl kernel::Module for EduModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let dir = Dir::new(c_str!("rsdma_edu"), None);
        let reg = pci::Registration::<EduDriver>::new()?;
        Ok(EduModule {
            _reg: reg,
            _dir: dir,
        })
    }
}
