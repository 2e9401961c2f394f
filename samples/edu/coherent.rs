// SPDX-License-Identifier: GPL-2.0

//! The edu sample's tests of coherent memory: buffers with any allocation
//! attributes that edu writes and reads at random offsets, their
//! scatter-gather tables, pages a driver keeps coherent itself, the page
//! tables of a user mapping, and fragmenting memory first.

use super::kapi::bindings;
use super::kapi::dma::{Coherent, Direction, Mapping, NonCoherent};
use super::kapi::fmt::StackStr;
use super::kapi::mm;
use super::kapi::page::{fill_random, PageArray, Pages, PAGE_SHIFT};
use super::{pattern, Edu, Out, CHUNK};
use crate::{dev_err, dev_info};
use core::fmt::Write;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Bytes edu moves to or from a coherent buffer per offset.
const XFER: usize = 2000;
/// Where in edu's buffer the bytes read back from the coherent buffer go,
/// so that they never meet the ones written to it.
const READBACK_AT: u64 = CHUNK as u64;
/// Offsets whose bytes are also read through the linear map of the pages
/// the scatter-gather table names.
const LINEAR_CHECKS: usize = 4;

/// A coherent buffer to allocate: `SIZE[K|M] [wc] [nokmap] [contig]
/// [single] [nowarn] [n=OFFSETS]`.
pub(crate) struct CohRequest {
    size: usize,
    attrs: u64,
    /// Offsets edu writes and reads (at least 1).
    offsets: usize,
    /// The attribute words, as given.
    names: StackStr<64>,
}

impl CohRequest {
    /// Parses the words after the command.
    pub(crate) fn parse<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<Self> {
        let size = words.next().ok_or(EINVAL)?;
        let (digits, shift) = match size.as_bytes().last() {
            Some(b'K') => (&size[..size.len() - 1], 10),
            Some(b'M') => (&size[..size.len() - 1], 20),
            _ => (size, 0),
        };
        let size = digits
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(1 << shift))
            .filter(|&n| n != 0)
            .ok_or(EINVAL)?;
        let mut r = CohRequest {
            size,
            attrs: 0,
            offsets: 32,
            names: StackStr::new(),
        };
        for w in words {
            r.attrs |= match w {
                "wc" => bindings::RSDMA_DMA_ATTR_WRITE_COMBINE,
                "nokmap" => bindings::RSDMA_DMA_ATTR_NO_KERNEL_MAPPING,
                "contig" => bindings::RSDMA_DMA_ATTR_FORCE_CONTIGUOUS,
                "single" => bindings::RSDMA_DMA_ATTR_ALLOC_SINGLE_PAGES,
                "nowarn" => bindings::RSDMA_DMA_ATTR_NO_WARN,
                _ => match w.strip_prefix("n=").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if (1..=64).contains(&n) => {
                        r.offsets = n;
                        continue;
                    }
                    _ => return Err(EINVAL),
                },
            };
            let _ = write!(r.names, " {}", w);
        }
        Ok(r)
    }
}

/// Whether `a` and `b` hold the same bytes.
fn same(a: &[u8], b: &[u8]) -> bool {
    a == b
}

/// "ok" or the failure word.
fn verdict(ok: bool, bad: &'static str) -> &'static str {
    if ok {
        "ok"
    } else {
        bad
    }
}

impl Edu {
    /// Runs `cmd` if it is one of this file's commands.
    pub(crate) fn run_coherent(&self, cmd: &str, out: &mut Out) -> Option<Result> {
        let mut words = cmd.split_whitespace();
        let r = match words.next()? {
            "coh_check" => CohRequest::parse(words).and_then(|r| self.coh_check(out, &r)),
            "coh_alloc" => CohRequest::parse(words).and_then(|r| self.coh_alloc(out, &r)),
            "coh_release" => self.coh_release(out),
            "noncoherent" => self.noncoherent_pages(out),
            "user_pte" => {
                let addr = words
                    .next()
                    .and_then(|a| a.strip_prefix("0x"))
                    .and_then(|a| usize::from_str_radix(a, 16).ok());
                let len = words.next().and_then(|l| l.parse::<usize>().ok());
                match (addr, len) {
                    (Some(a), Some(l)) => self.user_pte(out, a, l),
                    _ => Err(EINVAL),
                }
            }
            "fragment" => match words.next().and_then(|m| m.parse::<usize>().ok()) {
                Some(mib) if mib > 0 => self.fragment(out, mib),
                _ => Err(EINVAL),
            },
            "unfragment" => self.unfragment(out),
            _ => return None,
        };
        Some(r)
    }

    /// Allocates the buffer `req` names and has edu write a pattern at
    /// random offsets, one per equal slice of the buffer, then read it
    /// back; the CPU reads each through the kernel mapping (unless there is
    /// none), and the buffer's scatter-gather table must add up to it.  The
    /// buffer stays allocated for `/dev/rsdma_edu` until `coh_release`.
    pub(crate) fn coh_check(&self, out: &mut Out, req: &CohRequest) -> Result {
        let mut slot = self.mmap_buf.lock();
        if slot.is_some() {
            dev_err!(
                self.dev,
                "coh_check: a buffer is held already (coh_release)"
            );
            return Err(EBUSY);
        }
        let n = req.offsets;
        let region = req.size / n;
        if region < 2 * XFER {
            dev_err!(
                self.dev,
                "coh_check: {} bytes are too few for {} offsets",
                req.size,
                n
            );
            return Err(EINVAL);
        }
        let buf = Coherent::new(&self.dev, req.size, req.attrs)?;
        let kmap = buf.has_kernel_mapping();
        let mut seed = [0u8; 8];
        fill_random(&mut seed);
        let seed = u64::from_le_bytes(seed);
        let mut offsets = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut pat = KVec::from_elem(0u8, XFER, GFP_KERNEL)?;
        let mut got = KVec::from_elem(0u8, XFER, GFP_KERNEL)?;
        let (mut kernel_ok, mut read_ok) = (true, true);
        for i in 0..n {
            let mut r = [0u8; 8];
            fill_random(&mut r);
            // A gap of at least XFER bytes before the next slice's bytes.
            let room = (region - 2 * XFER + 1) as u64;
            let off = (region * i) as u64 + u64::from_le_bytes(r) % room;
            offsets.push(off, GFP_KERNEL)?;
            for (j, b) in pat.iter_mut().enumerate() {
                *b = pattern::byte(seed, off + j as u64);
            }
            // RAM -> edu -> the buffer at `off`.
            let mut src = Pages::alloc(XFER)?;
            src.as_mut_slice()[..XFER].copy_from_slice(&pat);
            let sm = Mapping::new(&self.dev, src, XFER, Direction::ToDevice)?;
            self.transfer(sm.dma_addr(), 0, XFER, false)?;
            drop(sm);
            self.transfer(buf.dma_addr() + off, 0, XFER, true)?;
            if kmap {
                buf.read(off as usize, &mut got)?;
                kernel_ok &= same(&got, &pat);
            }
            // The buffer at `off` -> edu -> RAM.
            let dm = Mapping::new(&self.dev, Pages::alloc(XFER)?, XFER, Direction::FromDevice)?;
            self.transfer(buf.dma_addr() + off, READBACK_AT, XFER, false)?;
            self.transfer(dm.dma_addr(), READBACK_AT, XFER, true)?;
            let back = dm.unmap()?;
            read_ok &= same(&back.as_slice()[..XFER], &pat);
        }
        // The table: its entries add up to the buffer and name its pages.
        let table = buf.sg_table()?;
        let (mut nents, mut sum) = (0usize, 0u64);
        for e in table.entries().iter() {
            nents += 1;
            sum += u64::from(e.length());
        }
        let linear = if self.noncoherent.load(Ordering::Acquire) {
            "skipped (non-coherent)"
        } else {
            let mut ok = true;
            for &off in offsets.iter().take(LINEAR_CHECKS) {
                for (j, b) in pat.iter_mut().enumerate() {
                    *b = pattern::byte(seed, off + j as u64);
                }
                table.read_linear(off as usize, &mut got)?;
                ok &= same(&got, &pat);
            }
            verdict(ok, "WRONG")
        };
        drop(table);
        let hash = pattern::hash_offsets(offsets.iter().copied());
        let ok = kernel_ok && read_ok && sum == req.size as u64 && linear != "WRONG";
        *out = StackStr::from_fmt(format_args!(
            "coh_check {} bytes{}: dma {:#x} cpu {:#x}; sg_table {} entries, {} bytes, pages seen through the linear map {}; {} offsets of {} bytes (seed {:#x}, offsets hash {:#x}): kernel reads {}, device reads {}: {}\n",
            req.size,
            req.names.as_str(),
            buf.dma_addr(),
            buf.cpu_addr(),
            nents,
            sum,
            linear,
            n,
            XFER,
            seed,
            hash,
            if kmap { verdict(kernel_ok, "WRONG") } else { "skipped (no kernel mapping)" },
            verdict(read_ok, "WRONG"),
            verdict(ok, "FAILED")
        ));
        self.conclude(out, ok)?;
        *slot = Some(buf);
        Ok(())
    }

    /// Frees the buffer `coh_check` or `mmap_prepare` left for
    /// `/dev/rsdma_edu`.
    pub(crate) fn coh_release(&self, out: &mut Out) -> Result {
        match self.mmap_buf.lock().take() {
            Some(buf) => {
                *out = StackStr::from_fmt(format_args!(
                    "released {} bytes at dma {:#x}\n",
                    buf.len(),
                    buf.dma_addr()
                ));
                Ok(())
            }
            None => Err(EINVAL),
        }
    }

    /// Allocates the buffer `req` names and frees it at once; a failed
    /// allocation is a result (`failed`), not an error.
    pub(crate) fn coh_alloc(&self, out: &mut Out, req: &CohRequest) -> Result {
        match Coherent::new(&self.dev, req.size, req.attrs) {
            Ok(buf) => {
                *out = StackStr::from_fmt(format_args!(
                    "coh_alloc {} bytes{}: allocated at dma {:#x}, freed\n",
                    req.size,
                    req.names.as_str(),
                    buf.dma_addr()
                ));
                Ok(())
            }
            Err(e) if e == ENOMEM => {
                *out = StackStr::from_fmt(format_args!(
                    "coh_alloc {} bytes{}: failed\n",
                    req.size,
                    req.names.as_str()
                ));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `dma_alloc_noncoherent`: the CPU writes a pattern, hands the pages
    /// to the device, edu copies it within them, and the CPU takes the
    /// copy back; the syncs in between do the cache maintenance.
    pub(crate) fn noncoherent_pages(&self, out: &mut Out) -> Result {
        let nc = NonCoherent::new(&self.dev, 8192, Direction::Bidirectional)?;
        let mut pat = KVec::from_elem(0u8, CHUNK, GFP_KERNEL)?;
        fill_random(&mut pat);
        nc.write(0, &pat)?;
        nc.sync_for_device(0, 8192)?;
        self.transfer(nc.dma_addr(), 0, CHUNK, false)?;
        self.transfer(nc.dma_addr() + 4096, 0, CHUNK, true)?;
        nc.sync_for_cpu(4096, CHUNK)?;
        let mut got = KVec::from_elem(0u8, CHUNK, GFP_KERNEL)?;
        nc.read(4096, &mut got)?;
        let ok = same(&got, &pat);
        *out = StackStr::from_fmt(format_args!(
            "noncoherent pages: 8192 bytes at dma {:#x}, device copied [0, {}) to [4096, {}): {}\n",
            nc.dma_addr(),
            CHUNK,
            4096 + CHUNK,
            if ok { "bytes match" } else { "BYTES DIFFER" }
        ));
        self.conclude(out, ok)
    }

    /// Reports the memory types in the page tables of `len` bytes at user
    /// address `addr` of the calling process (a mapping of this device).
    pub(crate) fn user_pte(&self, out: &mut Out, addr: usize, len: usize) -> Result {
        let ptes = mm::user_ptes(addr, len).inspect_err(|e| {
            dev_err!(
                self.dev,
                "user_pte: {:#x}+{:#x} is not a mapping of this device: {:?}",
                addr,
                len,
                e
            )
        })?;
        *out = StackStr::from_fmt(format_args!("user mapping {:#x}+{:#x}:", addr, len));
        for (t, n) in ptes.iter().filter(|&(_, n)| n != 0) {
            let _ = write!(out, " {} {}", t.name(), n);
        }
        let _ = writeln!(out, ", other {}, absent {}", ptes.other, ptes.absent);
        Ok(())
    }

    /// Takes `mib` MiB of memory in blocks of 16 pages and gives part of
    /// each back: the upper half of every other block (a free block of 8
    /// pages, enough for a kernel stack), the second page of the others (a
    /// free page on its own).  What is given back cannot merge into
    /// anything larger until `unfragment`.
    pub(crate) fn fragment(&self, out: &mut Out, mib: usize) -> Result {
        /// Pages per block taken.
        const BLOCK: usize = 16;
        let mut slot = self.frag.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let pages = mib.checked_mul(1 << (20 - PAGE_SHIFT)).ok_or(EINVAL)?;
        let mut held = PageArray::with_capacity(pages, true)?;
        let gfp =
            bindings::RSDMA_GFP_KERNEL | bindings::RSDMA_GFP_NORETRY | bindings::RSDMA_GFP_NOWARN;
        while held.len() + BLOCK <= pages && held.push_run(gfp, BLOCK).is_ok() {}
        let taken = held.len();
        // The 8-page halves first, the single pages last: those are what
        // the CPU's list of free pages holds afterwards.
        held.retain(|i| (i / BLOCK) % 2 == 1 || i % BLOCK < BLOCK / 2);
        // Now each pair of blocks is 8 pages kept, then 16.
        let pair = BLOCK / 2 + BLOCK;
        held.retain(|i| i % pair != BLOCK / 2 + 1);
        let blocks = taken / BLOCK;
        *out = StackStr::from_fmt(format_args!(
            "fragment: {} MiB asked, {} pages taken, {} held; given back: {} blocks of 8 pages, {} single pages\n",
            mib,
            taken,
            held.len(),
            blocks.div_ceil(2),
            blocks / 2
        ));
        dev_info!(self.dev, "{}", out.as_str().trim_end());
        *slot = Some(held);
        Ok(())
    }

    /// Gives back what `fragment` held.
    pub(crate) fn unfragment(&self, out: &mut Out) -> Result {
        let held = self.frag.lock().take().ok_or(EINVAL)?;
        *out = StackStr::from_fmt(format_args!(
            "unfragment: {} pages given back\n",
            held.len()
        ));
        Ok(())
    }
}
