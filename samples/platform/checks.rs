// SPDX-License-Identifier: GPL-2.0

//! The checks the QEMU scenarios run on the sample's device, one debugfs
//! command each (`/sys/kernel/debug/rsdma_platform/<dev>/run`; reading the
//! file shows the last result).
//!
//! The sample plays its own device: a [`BusMaster`] reads and writes each
//! buffer at the bus address the DMA API handed out, which must lie in a
//! declared region or under the device's mask, and the CPU side compares
//! the bytes.

use crate::kapi::device::Device;
use crate::kapi::dma::{BusMaster, Coherent, Direction, DmaBuffer, Mapping};
use crate::kapi::fmt::StackStr;
use crate::kapi::memremap::PhysRange;
use crate::kapi::page::{fill_random, Pages, PAGE_SIZE};
use crate::kapi::{debugfs::Command, platform};
use crate::rsdma::{self, MemFlags};
use crate::{dev_err, dev_info};
use core::fmt::Write;
use kernel::prelude::*;
use kernel::{c_str, new_mutex, sync::Mutex, types::ARef};

/// A check's result, as the `run` file shows it.
type Out = StackStr<768>;

/// The size of the buffers that fill a region.
const PIECE: usize = 64 << 10;
/// Bytes compared in each buffer.
const PROBE: usize = 256;
/// Allocations tried for memory above the DMA mask before giving up.
const ALLOC_TRIES: usize = 256;

/// The sample device and its two reserved regions: `map`, declared at
/// probe, and `io`, which the checks declare for I/O accessors.
#[pin_data]
pub(crate) struct Checks {
    dev: ARef<Device>,
    map: PhysRange,
    io: PhysRange,
    /// Serialises the checks and holds the last result.
    #[pin]
    out: Mutex<Out>,
}

/// Where a buffer the DMA API handed out lies, for the device.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the declared region at this bus address.
    Region(u64),
    /// Elsewhere, under the device's mask.
    Elsewhere,
}

impl Checks {
    /// The checks of `dev`, whose regions are `map` and `io`.
    pub(crate) fn new(dev: &Device, map: PhysRange, io: PhysRange) -> impl PinInit<Self> {
        let dev = dev.get();
        pin_init!(Self {
            dev,
            map,
            io,
            out <- new_mutex!(StackStr::new(), "Checks::out"),
        })
    }

    /// The bus address of `mem` for the device.
    fn bus(&self, mem: &PhysRange) -> u64 {
        self.dev.phys_to_dma(mem.phys())
    }

    /// Declares `mem` for the device at its bus address.
    fn declare(&self, mem: &PhysRange, flags: MemFlags) -> Result {
        rsdma::declare_coherent_memory(&self.dev, mem, self.bus(mem), flags)
    }

    /// Where `buf` lies: in `mem` (declared), or elsewhere under the
    /// device's coherent mask; `EIO` when the device could not reach it.
    fn place(&self, buf: &impl DmaBuffer, mem: &PhysRange) -> Result<Place> {
        let (start, len) = (buf.bus_addr(), buf.bus_len() as u64);
        let Some(last) = start.checked_add(len - 1) else {
            return Err(EIO);
        };
        let base = self.bus(mem);
        if start >= base && last < base + mem.len() {
            return Ok(Place::Region(base));
        }
        if last <= self.dev.coherent_dma_mask() {
            return Ok(Place::Elsewhere);
        }
        dev_err!(
            self.dev,
            "buffer at bus address {:#x}+{:#x} is beyond the mask",
            start,
            len
        );
        Err(EIO)
    }

    /// The device writes a random pattern into `buf` at its bus address,
    /// the CPU reads it back; and the other way round.
    fn both_ways(&self, bm: &BusMaster, buf: &mut Coherent) -> Result {
        let mut pattern = [0u8; PROBE];
        let mut back = [0u8; PROBE];
        fill_random(&mut pattern);
        let off = buf.len() - PROBE;
        bm.write(buf, off, &pattern)?;
        buf.read(off, &mut back)?;
        if back != pattern {
            dev_err!(self.dev, "CPU read other bytes than the device wrote");
            return Err(EIO);
        }
        fill_random(&mut pattern);
        buf.write(0, &pattern)?;
        bm.read(buf, 0, &mut back)?;
        if back != pattern {
            dev_err!(self.dev, "device read other bytes than the CPU wrote");
            return Err(EIO);
        }
        Ok(())
    }

    /// Allocates `PIECE`-byte buffers until one does not come from `mem`,
    /// checking the bytes of each; returns those from `mem` and the first
    /// that failed or came from elsewhere.
    fn fill(&self, bm: &BusMaster, mem: &PhysRange) -> Result<(KVec<Coherent>, Result<Coherent>)> {
        let most = usize::try_from(mem.len())? / PIECE;
        let mut bufs = KVec::with_capacity(most, GFP_KERNEL)?;
        while bufs.len() <= most {
            let mut buf = match Coherent::new(&self.dev, PIECE, 0) {
                Ok(b) => b,
                Err(e) => return Ok((bufs, Err(e))),
            };
            self.both_ways(bm, &mut buf)?;
            if self.place(&buf, mem)? == Place::Elsewhere {
                return Ok((bufs, Ok(buf)));
            }
            bufs.push(buf, GFP_KERNEL)?;
        }
        dev_err!(
            self.dev,
            "more {}-byte buffers came from the region than fit",
            PIECE
        );
        Err(EIO)
    }

    /// The region `map` serves allocations until it is full; then an
    /// exclusive declaration refuses the next one, and a plain one serves
    /// it from system memory.
    fn fill_check(&self, out: &mut Out) -> Result {
        let bm = BusMaster::new(&self.dev)?;
        let map = &self.map;
        rsdma::release_declared_memory(&self.dev, map)?;
        self.declare(map, MemFlags::MAP | MemFlags::EXCLUSIVE)?;
        let (bufs, next) = self.fill(&bm, map)?;
        let (n_excl, refused) = (bufs.len(), next.is_err_and(|e| e == ENOMEM));
        drop(bufs);
        rsdma::release_declared_memory(&self.dev, map)?;
        self.declare(map, MemFlags::MAP)?;
        let (bufs, next) = self.fill(&bm, map)?;
        let n_plain = bufs.len();
        let fallback = match &next {
            Ok(b) => {
                Some(b.dma_addr()).filter(|_| self.place(b, map).ok() == Some(Place::Elsewhere))
            }
            Err(_) => None,
        };
        drop(next);
        drop(bufs);
        let full = usize::try_from(map.len())? / PIECE;
        let ok = n_excl == full && refused && n_plain == full && fallback.is_some();
        *out = StackStr::from_fmt(format_args!(
            "fill: {} of {} x {} bytes from the region at {:#x}; exclusive: next {}; plain: {} from the region, next {} {:#x}: {}\n",
            n_excl,
            full,
            PIECE,
            self.bus(map),
            if refused { "refused" } else { "NOT REFUSED" },
            n_plain,
            if fallback.is_some() { "from system memory at" } else { "NOT FROM SYSTEM MEMORY" },
            fallback.unwrap_or(0),
            if ok { "bytes match" } else { "FAILED" }
        ));
        report(&self.dev, out, ok)
    }

    /// Two regions: once `map` is full, allocations come from `io`, which
    /// the CPU uses through I/O accessors only.
    fn two_regions(&self, out: &mut Out) -> Result {
        let bm = BusMaster::new(&self.dev)?;
        self.declare(&self.io, MemFlags::IO)?;
        let r = self.io_check(&bm, out);
        let released = rsdma::release_declared_memory(&self.dev, &self.io);
        r.and(released)
    }

    fn io_check(&self, bm: &BusMaster, out: &mut Out) -> Result {
        let (bufs, next) = self.fill(bm, &self.map)?;
        let mut buf = next?;
        let from_io = self.place(&buf, &self.io)? != Place::Elsewhere;
        // The CPU writes words through I/O accessors, the device reads
        // them; the device writes, the CPU reads words back.
        let mut words = [0u8; PROBE];
        fill_random(&mut words);
        buf.with_io(|io| -> Result {
            for (i, w) in words.chunks_exact(4).enumerate() {
                io.write32(i * 4, u32::from_le_bytes([w[0], w[1], w[2], w[3]]))?;
            }
            Ok(())
        })?;
        let mut seen = [0u8; PROBE];
        bm.read(&buf, 0, &mut seen)?;
        let to_device = seen == words;
        fill_random(&mut words);
        bm.write(&mut buf, PROBE, &words)?;
        let to_cpu = buf.with_io(|io| -> Result<bool> {
            for (i, w) in words.chunks_exact(4).enumerate() {
                let v = io.read32(PROBE + i * 4)?;
                if v != u32::from_le_bytes([w[0], w[1], w[2], w[3]]) {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        let ok = from_io && to_device && to_cpu;
        *out = StackStr::from_fmt(format_args!(
            "two regions: {} buffers from map, then dma {:#x} {} the io region at {:#x}; I/O accessors: CPU to device {}, device to CPU {}\n",
            bufs.len(),
            buf.dma_addr(),
            if from_io { "in" } else { "OUTSIDE" },
            self.bus(&self.io),
            if to_device { "bytes match" } else { "BYTES DIFFER" },
            if to_cpu { "bytes match" } else { "BYTES DIFFER" },
        ));
        report(&self.dev, out, ok)
    }

    /// A release with an allocation live is refused; after the free it
    /// succeeds, and the region declared again serves allocations.
    fn release_check(&self, out: &mut Out) -> Result {
        let bm = BusMaster::new(&self.dev)?;
        let map = &self.map;
        let mut buf = Coherent::new(&self.dev, PIECE, 0)?;
        let busy = rsdma::release_declared_memory(&self.dev, map);
        drop(buf);
        let freed = rsdma::release_declared_memory(&self.dev, map);
        self.declare(map, MemFlags::MAP)?;
        buf = Coherent::new(&self.dev, PIECE, 0)?;
        let again = self.place(&buf, map)? != Place::Elsewhere;
        self.both_ways(&bm, &mut buf)?;
        let ok = busy == Err(EBUSY) && freed.is_ok() && again;
        *out = StackStr::from_fmt(format_args!(
            "release: with a buffer live {}, after the free {}, declared again: dma {:#x} {} the region: {}\n",
            errno_name(busy),
            errno_name(freed),
            buf.dma_addr(),
            if again { "in" } else { "OUTSIDE" },
            if ok { "bytes match" } else { "FAILED" }
        ));
        report(&self.dev, out, ok)
    }

    /// Each bad declaration or release gets its errno (`map` is declared,
    /// `io` is not).
    fn bad_calls(&self, out: &mut Out) -> Result {
        let (map, io) = (&self.map, &self.io);
        let bus_io = self.bus(io);
        let dev = &*self.dev;
        let decl =
            |mem: &PhysRange, at: u64, f: MemFlags| rsdma::declare_coherent_memory(dev, mem, at, f);
        // Regions are whole pages.
        let pg = PAGE_SIZE as u64;
        let page = io.sub(0, pg)?;
        let cases: [(&str, Result, Error); 8] = [
            (
                "no MAP or IO",
                decl(&page, bus_io, MemFlags::empty()),
                EINVAL,
            ),
            (
                "MAP and IO",
                decl(&page, bus_io, MemFlags::MAP | MemFlags::IO),
                EINVAL,
            ),
            (
                "unknown flag",
                decl(&page, bus_io, MemFlags::MAP | MemFlags::from_bits(1 << 7)),
                EINVAL,
            ),
            (
                "size not page-aligned",
                decl(&io.sub(0, pg + pg / 2)?, bus_io, MemFlags::MAP),
                EINVAL,
            ),
            (
                "overlapping memory",
                decl(&map.sub(0x10000, 0x10000)?, bus_io, MemFlags::MAP),
                EBUSY,
            ),
            (
                "overlapping device range",
                decl(&page, self.bus(map), MemFlags::MAP),
                EBUSY,
            ),
            (
                "beyond the coherent mask",
                decl(&page, 1 << 40, MemFlags::MAP),
                ERANGE,
            ),
            (
                "release of no region",
                rsdma::release_declared_memory(dev, io),
                ENOENT,
            ),
        ];
        *out = Out::new();
        let mut ok = true;
        for (what, got, want) in cases {
            let good = got == Err(want);
            ok &= good;
            let _ = writeln!(
                out,
                "{}: {}{}",
                what,
                errno_name(got),
                if good { "" } else { " (WRONG)" }
            );
        }
        // One region more than a device may have.
        let mut declared = 0u64;
        let mut last = Ok(());
        while declared < 16 {
            let piece = io.sub(declared * pg, pg)?;
            last = decl(&piece, bus_io + declared * pg, MemFlags::MAP);
            if last.is_err() {
                break;
            }
            declared += 1;
        }
        for i in 0..declared {
            rsdma::release_declared_memory(dev, &io.sub(i * pg, pg)?)?;
        }
        let good = declared == 7 && last == Err(ENOSPC);
        ok &= good;
        let _ = writeln!(
            out,
            "too many regions: {} more declared, then {}{}",
            declared,
            errno_name(last),
            if good { "" } else { " (WRONG)" }
        );
        report(&self.dev, out, ok)
    }

    /// A child device attached to rsdma is served from its parent's region
    /// when the region includes children, and from system memory when it
    /// does not.
    fn children(&self, out: &mut Out) -> Result {
        let map = &self.map;
        let child = platform::Child::register(&self.dev, c_str!("rsdma-sample-child"))?;
        let cdev = child.as_dev();
        // Declaring on a device that is not attached is refused.
        let unattached =
            rsdma::declare_coherent_memory(cdev, &self.io, self.bus(&self.io), MemFlags::MAP);
        rsdma::attach(cdev, &rsdma::Config::default())?;
        let r = self.child_allocs(cdev, out, unattached);
        let detached = rsdma::detach(cdev);
        // The region as probe declared it.
        rsdma::release_declared_memory(&self.dev, map)?;
        self.declare(map, MemFlags::MAP)?;
        r.and(detached)
    }

    fn child_allocs(&self, cdev: &Device, out: &mut Out, unattached: Result) -> Result {
        let bm = BusMaster::new(cdev)?;
        let map = &self.map;
        // Not for children: system memory.
        let mut plain = Coherent::new(cdev, PIECE, 0)?;
        self.both_ways(&bm, &mut plain)?;
        let plain_outside = !in_range(plain.dma_addr(), self.bus(map), map.len());
        drop(plain);
        rsdma::release_declared_memory(&self.dev, map)?;
        self.declare(map, MemFlags::MAP | MemFlags::INCLUDES_CHILDREN)?;
        let mut buf = Coherent::new(cdev, PIECE, 0)?;
        self.both_ways(&bm, &mut buf)?;
        let inside = in_range(buf.dma_addr(), self.bus(map), map.len());
        let ok = unattached == Err(ENODEV) && plain_outside && inside;
        *out = StackStr::from_fmt(format_args!(
            "children: declare on an unattached child {}; without INCLUDES_CHILDREN the child's buffer is {} the region; with it, dma {:#x} is {} the region: {}\n",
            errno_name(unattached),
            if plain_outside { "outside" } else { "INSIDE" },
            buf.dma_addr(),
            if inside { "in" } else { "OUTSIDE" },
            if ok { "bytes match" } else { "FAILED" }
        ));
        report(&self.dev, out, ok)
    }

    /// Streaming mappings of memory above the device's DMA mask are
    /// bounced to memory under it; the device moves bytes both ways through
    /// the bounce buffers.
    fn bounce(&self, out: &mut Out) -> Result {
        let bm = BusMaster::new(&self.dev)?;
        let mask = self.dev.dma_mask();
        let mut misses = KVec::new();
        let mut above = || -> Result<Pages> {
            for _ in 0..ALLOC_TRIES {
                let p = Pages::alloc(4096)?;
                if p.phys() > mask {
                    return Ok(p);
                }
                misses.push(p, GFP_KERNEL)?;
            }
            dev_err!(
                self.dev,
                "no memory above the DMA mask {:#x}: the check needs some",
                mask
            );
            Err(ENOMEM)
        };
        let (mut src, dst) = (above()?, above()?);
        let (src_phys, dst_phys) = (src.phys(), dst.phys());
        let mut pattern = [0u8; PROBE];
        fill_random(&mut pattern);
        src.as_mut_slice()[..PROBE].copy_from_slice(&pattern);
        // To the device: it reads the bytes at the bus address it got.
        let to = Mapping::new(&self.dev, src, 4096, Direction::ToDevice)?;
        let mut seen = [0u8; PROBE];
        let to_bus = bm.read(&to, 0, &mut seen)?;
        let read_ok = seen == pattern;
        drop(to);
        // From the device: it writes there, the CPU finds the bytes after
        // the unmap.
        let mut from = Mapping::new(&self.dev, dst, 4096, Direction::FromDevice)?;
        fill_random(&mut pattern);
        let from_bus = bm.write(&mut from, 0, &pattern)?;
        let back = from.unmap()?;
        let write_ok = back.as_slice()[..PROBE] == pattern;
        drop(misses);
        let bounced = |bus: u64, phys: u64| bus != phys && bus + 4095 <= mask;
        let ok = read_ok && write_ok && bounced(to_bus, src_phys) && bounced(from_bus, dst_phys);
        *out = StackStr::from_fmt(format_args!(
            "bounce, mask {:#x}: to device phys {:#x} at bus {:#x}: {}; from device phys {:#x} at bus {:#x}: {}\n",
            mask,
            src_phys,
            to_bus,
            if read_ok { "bytes match" } else { "BYTES DIFFER" },
            dst_phys,
            from_bus,
            if write_ok { "bytes match" } else { "BYTES DIFFER" },
        ));
        report(&self.dev, out, ok)
    }
}

/// Whether `[addr, addr + 1)` lies in `[base, base + len)`.
fn in_range(addr: u64, base: u64, len: u64) -> bool {
    addr >= base && addr - base < len
}

/// `ok`, or the errno of a failed call, for result lines.
fn errno_name(r: Result) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) if e == EINVAL => "EINVAL",
        Err(e) if e == EBUSY => "EBUSY",
        Err(e) if e == ERANGE => "ERANGE",
        Err(e) if e == ENOENT => "ENOENT",
        Err(e) if e == ENOSPC => "ENOSPC",
        Err(e) if e == ENODEV => "ENODEV",
        Err(e) if e == ENOMEM => "ENOMEM",
        Err(_) => "another error",
    }
}

/// Logs the result and turns it into the command's.
fn report(dev: &Device, out: &Out, ok: bool) -> Result {
    for line in out.as_str().lines() {
        if ok {
            dev_info!(dev, "{}", line);
        } else {
            dev_err!(dev, "{}", line);
        }
    }
    if ok {
        Ok(())
    } else {
        Err(EIO)
    }
}

impl Command for Checks {
    fn run(&self, cmd: &str) -> Result {
        let mut out = self.out.lock();
        match cmd {
            "fill" => self.fill_check(&mut out),
            "two_regions" => self.two_regions(&mut out),
            "release" => self.release_check(&mut out),
            "bad_calls" => self.bad_calls(&mut out),
            "children" => self.children(&mut out),
            "bounce" => self.bounce(&mut out),
            _ => {
                dev_err!(self.dev, "unknown command '{}'", cmd);
                Err(EINVAL)
            }
        }
    }

    fn show(&self, out: &mut dyn core::fmt::Write) {
        let _ = out.write_str(self.out.lock().as_str());
    }
}
