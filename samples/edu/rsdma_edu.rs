// SPDX-License-Identifier: GPL-2.0

//! A PCI driver for QEMU's `edu` device that moves real bytes by DMA.
//!
//! edu copies between RAM and a 4 KiB buffer of its own.  This driver uses
//! the kernel's standard DMA API on the device, so whatever serves that API
//! (the kernel's iommu-dma, or rsdma once the device is attached) is what
//! the transfers go through.  Tests are run by writing their name to
//! `/sys/kernel/debug/rsdma_edu/<device>/run`; reading the file shows the
//! last result.

use core::sync::atomic::{AtomicBool, Ordering};
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
    pub mod dma_ops;
    pub mod ffi;
    pub mod fmt;
    pub mod io;
    pub mod miscdev;
    pub mod module;
    pub mod page;
    pub mod pci;
    pub mod scatterlist;
    pub mod sync;

    pub use self::ffi::errno;
    pub(crate) use self::ffi::is_err_ptr;
}

/// The types the DMA API speaks in, from rsdma-core.
#[path = "../../rust/core/src"]
pub mod rsdma_core {
    pub mod dma;
}

/// rsdma's C API (`include/rsdma.h`).
#[path = "../../rust/client.rs"]
pub mod rsdma;

use kapi::debugfs::{Command, CommandFile, Dir};
use kapi::device::Device;
use kapi::dma::{Coherent, Direction, Mapping, SgMapping};
use kapi::fmt::StackStr;
use kapi::page::{fill_random, Pages};
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

/// One edu device.
#[pin_data]
struct Edu {
    dev: ARef<Device>,
    bar: pci::Bar,
    /// Serialises transfers and holds the last result line.
    #[pin]
    state: Mutex<StackStr<256>>,
    /// The buffer `/dev/rsdma_edu` maps (`mmap_prepare`).  Kept until the
    /// device unbinds: a process may still have it mapped.
    #[pin]
    mmap_buf: Mutex<Option<Coherent>>,
    /// Whether this driver attached the device to rsdma with its tracker
    /// on, which `misuse` needs.
    tracked: AtomicBool,
}

impl Edu {
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
        self.bar.write64(reg::DMA_SRC, src)?;
        self.bar.write64(reg::DMA_DST, dst)?;
        self.bar.write64(reg::DMA_COUNT, len as u64)?;
        self.bar.write64(reg::DMA_CMD, cmd)?;
        for _ in 0..DMA_TIMEOUT_MS {
            if self.bar.read32(reg::DMA_CMD)? & CMD_START as u32 == 0 {
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
    fn roundtrip(&self, out: &mut StackStr<256>, len: usize) -> Result {
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

    /// Maps two scatterlists of `pages` discontiguous pages each and moves
    /// a random pattern from one to the other through edu.
    fn sg_roundtrip(&self, out: &mut StackStr<256>, pages: usize) -> Result {
        let build = |fill: bool| -> Result<SgTable> {
            let mut bufs = KVec::with_capacity(pages, GFP_KERNEL)?;
            // Every other page is kept aside, so the list is discontiguous.
            let mut spacers = KVec::with_capacity(pages, GFP_KERNEL)?;
            for _ in 0..pages {
                let mut p = Pages::alloc(4096)?;
                if fill {
                    fill_random(p.as_mut_slice());
                }
                bufs.push(p, GFP_KERNEL)?;
                spacers.push(Pages::alloc(4096)?, GFP_KERNEL)?;
            }
            let offs = KVec::from_elem(0u32, pages, GFP_KERNEL)?;
            let lens = KVec::from_elem(4096u32, pages, GFP_KERNEL)?;
            SgTable::new(bufs, &offs, &lens)
        };
        let src = SgMapping::new(&self.dev, build(true)?, Direction::ToDevice)?;
        let dst = SgMapping::new(&self.dev, build(false)?, Direction::FromDevice)?;
        let segs = |m: &SgMapping| -> Result<KVec<(u64, u64)>> {
            let mut v = KVec::with_capacity(m.nents(), GFP_KERNEL)?;
            for e in m.segments().iter() {
                v.push((e.dma_address(), u64::from(e.dma_len())), GFP_KERNEL)?;
            }
            Ok(v)
        };
        let (ss, ds) = (segs(&src)?, segs(&dst)?);
        let moved = self.stream(&ss, &ds)?;
        let (src, dst) = (src.unmap(), dst.unmap());
        let mut differ = None;
        for (i, (a, b)) in src.pages().iter().zip(dst.pages()).enumerate() {
            if a.as_slice()[..4096] != b.as_slice()[..4096] {
                differ = Some(i);
                break;
            }
        }
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
            if differ.is_none() && moved == (pages * 4096) as u64 { "bytes match" } else { "BYTES DIFFER" }
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        if differ.is_some() || moved != (pages * 4096) as u64 {
            return Err(EIO);
        }
        Ok(())
    }

    /// A coherent buffer as the DMA target: edu copies its first half into
    /// its second half.
    fn coherent(&self, out: &mut StackStr<256>) -> Result {
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
    fn sync_range(&self, out: &mut StackStr<256>) -> Result {
        let mut p = Pages::alloc(8192)?;
        fill_random(&mut p.as_mut_slice()[..2048]);
        let first: KVec<u8> = {
            let mut v = KVec::with_capacity(2048, GFP_KERNEL)?;
            v.extend_from_slice(&p.as_slice()[..2048], GFP_KERNEL)?;
            v
        };
        let mut m = Mapping::new(&self.dev, p, 8192, Direction::Bidirectional)?;
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

    /// After a strict unmap, edu writes through the stale IOVA: the IOMMU
    /// must block it and the memory behind the old mapping stay unchanged.
    fn stale(&self, out: &mut StackStr<256>) -> Result {
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
        // The device writes edu's buffer to the stale address.
        self.transfer(stale, 0, CHUNK, true)?;
        let intact = victim.as_slice().iter().all(|&b| b == 0x5a);
        *out = StackStr::from_fmt(format_args!(
            "stale IOVA {:#x}: memory behind the old mapping {}\n",
            stale,
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
    fn misuse(&self, out: &mut StackStr<256>) -> Result {
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
    fn mmap_prepare(&self, out: &mut StackStr<256>) -> Result {
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

    /// Maps a buffer and never unmaps it, for the leak report at detach.
    fn leak(&self, out: &mut StackStr<256>) -> Result {
        let p = Pages::alloc(4096)?;
        let m = Mapping::new(&self.dev, p, 4096, Direction::ToDevice)?;
        *out = StackStr::from_fmt(format_args!("leaked mapping at dma {:#x}\n", m.dma_addr()));
        m.leak();
        Ok(())
    }
}

impl Command for Edu {
    fn run(&self, cmd: &str) -> Result {
        let mut words = cmd.split_whitespace();
        let mut state = self.state.lock();
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
            (Some("coherent"), None) => self.coherent(&mut state),
            (Some("sync_range"), None) => self.sync_range(&mut state),
            (Some("stale"), None) => self.stale(&mut state),
            (Some("misuse"), None) => self.misuse(&mut state),
            (Some("leak"), None) => self.leak(&mut state),
            (Some("mmap_prepare"), None) => self.mmap_prepare(&mut state),
            (Some("attach"), first) => {
                // `attach [lazy] [notracker]`
                let mut cfg = rsdma::Config::default();
                for w in Iterator::chain(first.into_iter(), words) {
                    match w {
                        "lazy" => cfg.lazy = true,
                        "notracker" => cfg.no_tracker = true,
                        _ => return Err(EINVAL),
                    }
                }
                rsdma::attach(&self.dev, &cfg)?;
                self.tracked.store(!cfg.no_tracker, Ordering::Release);
                *state = StackStr::from_fmt(format_args!("attached to rsdma\n"));
                Ok(())
            }
            (Some("detach"), None) => {
                self.tracked.store(false, Ordering::Release);
                rsdma::detach(&self.dev)?;
                *state = StackStr::from_fmt(format_args!("detached from rsdma\n"));
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

impl kapi::miscdev::Operations for Edu {
    fn mmap(&self, vma: &kapi::dma_ops::Vma) -> Result {
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
/// debugfs file goes first and the device is disabled last.
struct EduData {
    _misc: Option<Pin<KBox<kapi::miscdev::Registration<Edu>>>>,
    _run: CommandFile<Edu>,
    _dir: Dir,
    _edu: Arc<Edu>,
    _enabled: pci::Enabled,
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
                bar,
                state <- new_mutex!(StackStr::new(), "Edu::state"),
                mmap_buf <- new_mutex!(None, "Edu::mmap_buf"),
                tracked: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        let dir = Dir::new_under_root_dir(c_str!("rsdma_edu"), dev.name());
        let run = CommandFile::new(&dir, c_str!("run"), edu.clone());
        let misc = kapi::miscdev::Registration::new(c_str!("rsdma_edu"), edu.clone())
            .inspect_err(|e| dev_warn!(dev, "no /dev/rsdma_edu: {:?}", e))
            .ok();
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
                _run: run,
                _dir: dir,
                _edu: edu,
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
