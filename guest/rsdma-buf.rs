//! rsdma-buf: allocates rsdma dma-bufs, maps them, brackets CPU access,
//! fills and compares them, and drives the edu sample as their importer.
//!
//! Usage: rsdma-buf STEP...
//!
//! Each argument is one step (words separated by spaces); the steps run in
//! order in one process, so the buffers, mappings and imports they make
//! live until the process ends.  A failing step ends the run with status 1.
//!
//!   alloc NAME SIZE [scattered] [wc]   /dev/rsdma: a buffer, as NAME
//!   raw-alloc SIZE FLAGS RES0 RES1     /dev/rsdma with raw fields; the fd is closed
//!   udmabuf NAME SIZE                  a memfd exported by /dev/udmabuf; NAME's
//!                                      CPU view is the memfd
//!   open NAME PATH                     any file as NAME (to pass a non-dma-buf)
//!   map NAME [OFF LEN]                 mmap (all of it by default), shared, rw
//!   pmap NAME [OFF LEN]                as map, private (MAP_PRIVATE)
//!   unmap NAME
//!   fill NAME OFF LEN SEED             writes the pattern of SEED through the mapping
//!   check NAME OFF LEN SEED            compares the mapping with the pattern
//!   sync NAME start|end read|write|rw  DMA_BUF_IOCTL_SYNC
//!   psync NAME start|end read|write|rw OFF LEN
//!                                      RSDMA_IOCTL_SYNC_RANGE: the range only
//!   psync-raw NAME FLAGS OFF LEN RES   RSDMA_IOCTL_SYNC_RANGE with raw fields
//!   close NAME                         closes NAME's descriptor
//!   edu E PATH                         opens an edu device node as E
//!   import E H NAME to|from|bidi|none  E imports NAME, mapped in that direction (none:
//!                                      attached, not mapped), as H
//!   release E H                        (H may be #N: handle N, named or not)
//!   remap E H to|from|bidi             asks for a second mapping of H's attachment
//!   copy E H1 OFF1 H2 OFF2 LEN         edu copies H1's range into H2's
//!   read E H OFF LEN SEED              edu reads H's range; compared with the pattern
//!   write E H OFF LEN SEED             edu writes the pattern into H's range
//!   vmap-read E H OFF LEN SEED         the kernel reads H's range through vmap
//!   sread E H OFF LEN SEED             read, syncing just that range around the DMA
//!   swrite E H OFF LEN SEED            write, syncing just that range around the DMA
//!   isync E H device|cpu to|from|bidi|none OFF LEN
//!                                      one range sync of H's mapping (rsdma_dmabuf_sync_*)
//!   bench E H map|range|whole CHUNK COUNT
//!                                      times COUNT transfers' worth of importer work
//!   streams NAME COUNT CHUNK SEED E H OFF LEN [E H OFF LEN]...
//!                                      one thread per (E, H, OFF, LEN), all at once:
//!                                      COUNT transfers of 1 to CHUNK bytes at random
//!                                      offsets of OFF..OFF+LEN, alternately the CPU
//!                                      writing NAME's mapping and edu reading (sread),
//!                                      and edu writing (swrite) and the CPU reading;
//!                                      every byte checked, then all of OFF..OFF+LEN
//!   expect ERRNO STEP...               STEP must fail with ERRNO (EINVAL, E2BIG, ...)
//!   either ERRNO STEP...               STEP succeeds, or fails with ERRNO
//!   put PATH TEXT...                   writes TEXT to PATH in one write (a debugfs
//!                                      command, a sysfs knob)
//!   has PATH TEXT...                   PATH's contents hold TEXT
//!   lacks PATH TEXT...                 PATH's contents do not hold TEXT
//!   sh COMMAND...                      runs COMMAND with /bin/sh; fails if it does
//!
//! Sizes and offsets take a k or m suffix (KiB, MiB) and 0x numbers.  The
//! pattern of SEED gives byte i of a buffer a value that depends on SEED
//! and i only, so any range of it can be checked on its own; SEED `zero`
//! is all zero bytes.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::io::{Error, Write};
use std::mem::{offset_of, size_of};

extern "C" {
    fn open(path: *const std::ffi::c_char, flags: i32, ...) -> i32;
    fn close(fd: i32) -> i32;
    fn ioctl(fd: i32, req: u64, ...) -> i32;
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
    fn memfd_create(name: *const std::ffi::c_char, flags: u32) -> i32;
    fn ftruncate(fd: i32, len: i64) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

const O_RDWR: i32 = 2;
const O_CLOEXEC: i32 = 0o2000000;
const PROT_RW: i32 = 3;
const MAP_SHARED: i32 = 1;
const MAP_PRIVATE: i32 = 2;
const MFD_ALLOW_SEALING: u32 = 2;
const F_ADD_SEALS: i32 = 1033;
const F_SEAL_SHRINK: i32 = 2;

/// `_IOC` of asm-generic/ioctl.h (arm64).
const fn ioc(dir: u64, ty: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (ty << 8) | nr
}
const fn iow(ty: u64, nr: u64, size: usize) -> u64 {
    ioc(1, ty, nr, size)
}
const fn iowr(ty: u64, nr: u64, size: usize) -> u64 {
    ioc(3, ty, nr, size)
}

/// `struct rsdma_alloc` (include/uapi/rsdma.h).
#[repr(C)]
#[derive(Default)]
struct Alloc {
    size: u64,
    flags: u32,
    fd: i32,
    reserved: [u64; 2],
}

/// `struct rsdma_sync_range`.
#[repr(C)]
#[derive(Default)]
struct SyncRange {
    fd: i32,
    flags: u32,
    offset: u64,
    len: u64,
    reserved: u64,
}

/// `struct rsdma_edu_import` (include/uapi/rsdma_edu.h).
#[repr(C)]
#[derive(Default)]
struct EduImport {
    fd: i32,
    dir: u32,
    handle: u32,
    segments: u32,
    size: u64,
    dma_addr: u64,
    reserved: u64,
}

/// `struct rsdma_edu_handle`.
#[repr(C)]
#[derive(Default)]
struct EduHandle {
    handle: u32,
    dir: u32,
    reserved: u64,
}

/// `struct rsdma_edu_xfer`.
#[repr(C)]
#[derive(Default)]
struct EduXfer {
    op: u32,
    src: u32,
    dst: u32,
    flags: u32,
    src_off: u64,
    dst_off: u64,
    len: u64,
    user: u64,
    reserved: u64,
}

/// `struct rsdma_edu_sync`.
#[repr(C)]
#[derive(Default)]
struct EduSync {
    handle: u32,
    to: u32,
    dir: u32,
    reserved0: u32,
    offset: u64,
    len: u64,
    reserved: u64,
}

/// `struct rsdma_edu_bench`.
#[repr(C)]
#[derive(Default)]
struct EduBench {
    handle: u32,
    way: u32,
    chunk: u64,
    count: u64,
    ns: u64,
    reserved: u64,
}

/// `struct udmabuf_create` (linux/udmabuf.h).
#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}

// The layouts the headers give: fixed-size fields, no padding.
const _: () = {
    assert!(size_of::<Alloc>() == 32 && offset_of!(Alloc, fd) == 12);
    assert!(offset_of!(Alloc, reserved) == 16);
    assert!(size_of::<SyncRange>() == 32 && offset_of!(SyncRange, offset) == 8);
    assert!(offset_of!(SyncRange, reserved) == 24);
    assert!(size_of::<EduImport>() == 40 && offset_of!(EduImport, reserved) == 32);
    assert!(size_of::<EduHandle>() == 16 && offset_of!(EduHandle, reserved) == 8);
    assert!(size_of::<EduXfer>() == 56 && offset_of!(EduXfer, user) == 40);
    assert!(size_of::<UdmabufCreate>() == 24);
    assert!(size_of::<EduSync>() == 40 && offset_of!(EduSync, offset) == 16);
    assert!(size_of::<EduBench>() == 40 && offset_of!(EduBench, ns) == 24);
};

const RSDMA_IOCTL_ALLOC: u64 = iowr(0xd5, 0, size_of::<Alloc>());
const RSDMA_IOCTL_SYNC_RANGE: u64 = iow(0xd5, 1, size_of::<SyncRange>());
const RSDMA_ALLOC_SCATTERED: u32 = 1;
const RSDMA_ALLOC_WRITE_COMBINE: u32 = 2;
const EDU_IMPORT: u64 = iowr(0xd6, 0, size_of::<EduImport>());
const EDU_RELEASE: u64 = iow(0xd6, 1, size_of::<EduHandle>());
const EDU_REMAP: u64 = iow(0xd6, 2, size_of::<EduHandle>());
const EDU_XFER: u64 = iow(0xd6, 3, size_of::<EduXfer>());
const EDU_COPY: u32 = 1;
const EDU_READ: u32 = 2;
const EDU_WRITE: u32 = 3;
const EDU_VMAP_READ: u32 = 4;
const EDU_SYNC: u64 = iow(0xd6, 4, size_of::<EduSync>());
const EDU_BENCH: u64 = iowr(0xd6, 5, size_of::<EduBench>());
const EDU_XFER_SYNC: u32 = 1;
const EDU_UNMAPPED: u32 = 4;
const DMA_BUF_IOCTL_SYNC: u64 = iow(b'b' as u64, 0, 8);
const UDMABUF_CREATE: u64 = iow(b'u' as u64, 0x42, size_of::<UdmabufCreate>());
const UDMABUF_FLAGS_CLOEXEC: u32 = 1;
/// DMA_BUF_SYNC_* and RSDMA_SYNC_* share their values.
const SYNC_READ: u32 = 1;
const SYNC_WRITE: u32 = 2;
const SYNC_END: u32 = 4;

const ERRNOS: [(&str, i32); 17] = [
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("EBADF", 9),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("ENODEV", 19),
    ("EINVAL", 22),
    ("ENOTTY", 25),
    ("ENOSPC", 28),
    ("ERANGE", 34),
    ("EOPNOTSUPP", 95),
    ("ETIMEDOUT", 110),
];

type R<T> = Result<T, String>;

/// What went wrong in a step: a system call's errno, or anything else.
enum Fail {
    Errno(i32, String),
    Other(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Other(s)
    }
}

/// The number of the errno called `name` (ENOMEM, ...), if rsdma-buf knows it.
fn errno_named(name: &str) -> Option<i32> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

fn errno_fail(what: &str) -> Fail {
    let e = Error::last_os_error();
    Fail::Errno(e.raw_os_error().unwrap_or(0), format!("{what}: {e}"))
}

/// Byte `i` of the pattern of `seed` (`None`: zeroes).
fn pattern(seed: Option<u64>, i: u64) -> u8 {
    seed.map_or(0, |s| mix(s, i))
}

/// Byte `i` of the pattern of `seed`.
fn mix(seed: u64, i: u64) -> u8 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i / 8);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> ((i % 8) * 8)) as u8
}

fn num(s: &str) -> R<u64> {
    let (digits, mul) = match s.as_bytes().last() {
        Some(b'k') | Some(b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm') | Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => digits.parse(),
    }
    .map_err(|_| format!("'{s}' is not a number"))?;
    v.checked_mul(mul)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// A shared mapping of part of a file.
struct Map {
    ptr: *mut u8,
    off: u64,
    len: usize,
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap.
        unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// A named file: a dma-buf (or anything opened), its CPU view, its mapping.
struct Buf {
    fd: i32,
    /// The file the CPU maps (the memfd of a udmabuf, else `fd`).
    cpu_fd: i32,
    size: u64,
    map: Option<Map>,
}

/// An edu device node and the imports made through it.
struct Edu {
    fd: i32,
    handles: HashMap<String, (u32, u64)>,
}

#[derive(Default)]
struct State {
    bufs: HashMap<String, Buf>,
    edus: HashMap<String, Edu>,
}

fn sys_ioctl<T>(fd: i32, req: u64, arg: &mut T, what: &str) -> Result<(), Fail> {
    // SAFETY: `arg` is a live value of the layout the command expects.
    if unsafe { ioctl(fd, req, arg as *mut T) } < 0 {
        return Err(errno_fail(what));
    }
    Ok(())
}

fn open_path(path: &str) -> Result<i32, Fail> {
    let c = CString::new(path).map_err(|_| format!("bad path '{path}'"))?;
    // SAFETY: `c` is a NUL-terminated path.
    let fd = unsafe { open(c.as_ptr(), O_RDWR | O_CLOEXEC) };
    if fd < 0 {
        return Err(errno_fail(&format!("open {path}")));
    }
    Ok(fd)
}

fn dir_word(w: &str) -> R<u32> {
    match w {
        "to" => Ok(1),
        "from" => Ok(2),
        "bidi" => Ok(3),
        "none" => Ok(EDU_UNMAPPED),
        _ => Err(format!("'{w}': direction must be to, from, bidi or none")),
    }
}

fn sync_flags(when: &str, how: &str) -> R<u32> {
    let end = match when {
        "start" => 0,
        "end" => SYNC_END,
        _ => return Err(format!("'{when}': start or end")),
    };
    let rw = match how {
        "read" => SYNC_READ,
        "write" => SYNC_WRITE,
        "rw" => SYNC_READ | SYNC_WRITE,
        _ => return Err(format!("'{how}': read, write or rw")),
    };
    Ok(end | rw)
}

impl State {
    fn buf(&mut self, name: &str) -> R<&mut Buf> {
        self.bufs
            .get_mut(name)
            .ok_or_else(|| format!("no buffer '{name}'"))
    }

    fn edu(&mut self, name: &str) -> R<&mut Edu> {
        self.edus
            .get_mut(name)
            .ok_or_else(|| format!("no edu '{name}'"))
    }

    fn handle(&mut self, e: &str, h: &str) -> R<(i32, u32, u64)> {
        let edu = self.edu(e)?;
        if let Some(raw) = h.strip_prefix('#') {
            return Ok((edu.fd, num(raw)? as u32, 0));
        }
        let &(handle, size) = edu
            .handles
            .get(h)
            .ok_or_else(|| format!("no import '{h}'"))?;
        Ok((edu.fd, handle, size))
    }

    /// The mapped bytes `[off, off+len)` of `name`.
    fn bytes(&mut self, name: &str, off: u64, len: u64) -> R<&mut [u8]> {
        let b = self.buf(name)?;
        let m = b
            .map
            .as_ref()
            .ok_or_else(|| format!("'{name}' is not mapped"))?;
        let end = off.checked_add(len).ok_or("range overflows")?;
        if off < m.off || end > m.off + m.len as u64 {
            return Err(format!("{off}+{len} is outside the mapping of '{name}'"));
        }
        // SAFETY: the range lies inside the live mapping; nothing else in
        // this process refers to it while the slice lives.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(m.ptr.add((off - m.off) as usize), len as usize)
        })
    }

    fn xfer(&mut self, e: &str, x: &mut EduXfer, what: &str) -> Result<(), Fail> {
        let fd = self.edu(e)?.fd;
        sys_ioctl(fd, EDU_XFER, x, what)
    }

    fn step(&mut self, w: &[&str]) -> Result<String, Fail> {
        let n = |i: usize| -> R<u64> { num(w.get(i).ok_or("missing argument")?) };
        let s =
            |i: usize| -> R<&str> { w.get(i).copied().ok_or_else(|| "missing argument".into()) };
        let seed = |i: usize| -> R<Option<u64>> {
            match w.get(i).copied() {
                Some("zero") => Ok(None),
                Some(v) => num(v).map(Some),
                None => Err("missing argument".into()),
            }
        };
        match w.first().copied().unwrap_or("") {
            "alloc" | "raw-alloc" => {
                let raw = w[0] == "raw-alloc";
                let mut a = Alloc::default();
                if raw {
                    a.size = n(1)?;
                    a.flags = n(2)? as u32;
                    a.reserved = [n(3)?, n(4)?];
                } else {
                    a.size = n(2)?;
                    for f in &w[3..] {
                        a.flags |= match *f {
                            "scattered" => RSDMA_ALLOC_SCATTERED,
                            "wc" => RSDMA_ALLOC_WRITE_COMBINE,
                            _ => return Err(format!("'{f}': scattered or wc").into()),
                        };
                    }
                }
                let dev = open_path("/dev/rsdma")?;
                let r = sys_ioctl(dev, RSDMA_IOCTL_ALLOC, &mut a, "RSDMA_IOCTL_ALLOC");
                // SAFETY: our descriptor.
                unsafe { close(dev) };
                r?;
                if raw {
                    // SAFETY: the descriptor the ioctl returned.
                    unsafe { close(a.fd) };
                    return Ok(format!("fd {}", a.fd));
                }
                let size = (a.size + 4095) & !4095;
                self.bufs.insert(
                    s(1)?.into(),
                    Buf {
                        fd: a.fd,
                        cpu_fd: a.fd,
                        size,
                        map: None,
                    },
                );
                Ok(format!("fd {}, {} bytes", a.fd, size))
            }
            "udmabuf" => {
                let size = n(2)?;
                let name = CString::new("rsdma-buf").map_err(|e| e.to_string())?;
                // SAFETY: a NUL-terminated name.
                let memfd = unsafe { memfd_create(name.as_ptr(), MFD_ALLOW_SEALING) };
                if memfd < 0 {
                    return Err(errno_fail("memfd_create"));
                }
                // SAFETY: plain calls on our descriptor.
                if unsafe { ftruncate(memfd, size as i64) } < 0
                    || unsafe { fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) } < 0
                {
                    return Err(errno_fail("sizing and sealing the memfd"));
                }
                let dev = open_path("/dev/udmabuf")?;
                let mut c = UdmabufCreate {
                    memfd: memfd as u32,
                    flags: UDMABUF_FLAGS_CLOEXEC,
                    offset: 0,
                    size,
                };
                // SAFETY: `c` has the layout UDMABUF_CREATE expects.
                let fd = unsafe { ioctl(dev, UDMABUF_CREATE, &mut c as *mut UdmabufCreate) };
                // SAFETY: our descriptor.
                unsafe { close(dev) };
                if fd < 0 {
                    return Err(errno_fail("UDMABUF_CREATE"));
                }
                self.bufs.insert(
                    s(1)?.into(),
                    Buf {
                        fd,
                        cpu_fd: memfd,
                        size,
                        map: None,
                    },
                );
                Ok(format!("fd {fd} over memfd {memfd}, {size} bytes"))
            }
            "open" => {
                let fd = open_path(s(2)?)?;
                self.bufs.insert(
                    s(1)?.into(),
                    Buf {
                        fd,
                        cpu_fd: fd,
                        size: 0,
                        map: None,
                    },
                );
                Ok(format!("fd {fd}"))
            }
            "map" | "pmap" => {
                let private = w[0] == "pmap";
                let b = self.buf(s(1)?)?;
                let (off, len) = if w.len() > 2 {
                    (n(2)?, n(3)?)
                } else {
                    (0, b.size)
                };
                // SAFETY: a fresh mapping the kernel places.
                let p = unsafe {
                    mmap(
                        std::ptr::null_mut(),
                        len as usize,
                        PROT_RW,
                        if private { MAP_PRIVATE } else { MAP_SHARED },
                        b.cpu_fd,
                        off as i64,
                    )
                };
                if p as isize == -1 {
                    return Err(errno_fail("mmap"));
                }
                b.map = Some(Map {
                    ptr: p.cast(),
                    off,
                    len: len as usize,
                });
                Ok(format!("{len} bytes at offset {off}"))
            }
            "unmap" => {
                self.buf(s(1)?)?.map = None;
                Ok(String::new())
            }
            "fill" => {
                let (off, len, seed) = (n(2)?, n(3)?, seed(4)?);
                for (i, b) in self.bytes(s(1)?, off, len)?.iter_mut().enumerate() {
                    *b = pattern(seed, off + i as u64);
                }
                Ok(format!("{len} bytes of pattern {}", w[w.len() - 1]))
            }
            "check" => {
                let (off, len, seed) = (n(2)?, n(3)?, seed(4)?);
                let bytes = self.bytes(s(1)?, off, len)?;
                match (0..len).find(|&i| bytes[i as usize] != pattern(seed, off + i)) {
                    None => Ok(format!("{len} bytes match pattern {}", w[w.len() - 1])),
                    Some(i) => Err(format!(
                        "byte {} is {:#04x}, pattern {} has {:#04x}",
                        off + i,
                        bytes[i as usize],
                        w[4],
                        pattern(seed, off + i)
                    )
                    .into()),
                }
            }
            "sync" => {
                let mut flags = u64::from(sync_flags(s(2)?, s(3)?)?);
                let fd = self.buf(s(1)?)?.fd;
                sys_ioctl(fd, DMA_BUF_IOCTL_SYNC, &mut flags, "DMA_BUF_IOCTL_SYNC")?;
                Ok(String::new())
            }
            "psync" | "psync-raw" => {
                let fd = self.buf(s(1)?)?.fd;
                let mut a = SyncRange {
                    fd,
                    ..SyncRange::default()
                };
                if w[0] == "psync" {
                    a.flags = sync_flags(s(2)?, s(3)?)?;
                    (a.offset, a.len) = (n(4)?, n(5)?);
                } else {
                    a.flags = n(2)? as u32;
                    (a.offset, a.len, a.reserved) = (n(3)?, n(4)?, n(5)?);
                }
                let dev = open_path("/dev/rsdma")?;
                let r = sys_ioctl(
                    dev,
                    RSDMA_IOCTL_SYNC_RANGE,
                    &mut a,
                    "RSDMA_IOCTL_SYNC_RANGE",
                );
                // SAFETY: our descriptor.
                unsafe { close(dev) };
                r?;
                Ok(String::new())
            }
            "close" => {
                let b = self.buf(s(1)?)?;
                // SAFETY: the descriptor is ours; it is forgotten below.
                unsafe { close(b.fd) };
                b.fd = -1;
                Ok(String::new())
            }
            "edu" => {
                let fd = open_path(s(2)?)?;
                self.edus.insert(
                    s(1)?.into(),
                    Edu {
                        fd,
                        handles: HashMap::new(),
                    },
                );
                Ok(String::new())
            }
            "import" => {
                let fd = self.buf(s(3)?)?.fd;
                let mut a = EduImport {
                    fd,
                    dir: dir_word(s(4)?)?,
                    ..EduImport::default()
                };
                let edu = self.edu(s(1)?)?;
                sys_ioctl(edu.fd, EDU_IMPORT, &mut a, "RSDMA_EDU_IOCTL_IMPORT")?;
                edu.handles.insert(s(2)?.into(), (a.handle, a.size));
                Ok(format!(
                    "handle {}, {} bytes in {} DMA segments from {:#x}",
                    a.handle, a.size, a.segments, a.dma_addr
                ))
            }
            "release" | "remap" => {
                let (fd, handle, _) = self.handle(s(1)?, s(2)?)?;
                let release = w[0] == "release";
                let dir = if release { 0 } else { dir_word(s(3)?)? };
                let mut h = EduHandle {
                    handle,
                    dir,
                    reserved: 0,
                };
                let req = if release { EDU_RELEASE } else { EDU_REMAP };
                sys_ioctl(fd, req, &mut h, w[0])?;
                if release {
                    self.edu(s(1)?)?.handles.remove(s(2)?);
                }
                Ok(String::new())
            }
            "copy" => {
                let (_, src, _) = self.handle(s(1)?, s(2)?)?;
                let (_, dst, _) = self.handle(s(1)?, s(4)?)?;
                let mut x = EduXfer {
                    op: EDU_COPY,
                    src,
                    dst,
                    src_off: n(3)?,
                    dst_off: n(5)?,
                    len: n(6)?,
                    ..EduXfer::default()
                };
                self.xfer(s(1)?, &mut x, "edu copy")?;
                Ok(format!("{} bytes", x.len))
            }
            "read" | "vmap-read" | "sread" => {
                let (_, src, _) = self.handle(s(1)?, s(2)?)?;
                let (off, len, seed) = (n(3)?, n(4)?, seed(5)?);
                let mut out = vec![0u8; len as usize];
                let op = if w[0] == "vmap-read" {
                    EDU_VMAP_READ
                } else {
                    EDU_READ
                };
                let mut x = EduXfer {
                    op,
                    src,
                    flags: if w[0] == "sread" { EDU_XFER_SYNC } else { 0 },
                    src_off: off,
                    len,
                    user: out.as_mut_ptr() as u64,
                    ..EduXfer::default()
                };
                self.xfer(s(1)?, &mut x, w[0])?;
                match (0..len).find(|&i| out[i as usize] != pattern(seed, off + i)) {
                    None => Ok(format!("{len} bytes match pattern {}", w[w.len() - 1])),
                    Some(i) => Err(format!(
                        "{} byte {} is {:#04x}, pattern {} has {:#04x}",
                        w[0],
                        off + i,
                        out[i as usize],
                        w[5],
                        pattern(seed, off + i)
                    )
                    .into()),
                }
            }
            "write" | "swrite" => {
                let (_, dst, _) = self.handle(s(1)?, s(2)?)?;
                let (off, len, seed) = (n(3)?, n(4)?, seed(5)?);
                let data: Vec<u8> = (0..len).map(|i| pattern(seed, off + i)).collect();
                let mut x = EduXfer {
                    op: EDU_WRITE,
                    dst,
                    flags: if w[0] == "swrite" { EDU_XFER_SYNC } else { 0 },
                    dst_off: off,
                    len,
                    user: data.as_ptr() as u64,
                    ..EduXfer::default()
                };
                self.xfer(s(1)?, &mut x, "edu write")?;
                Ok(format!("{len} bytes of pattern {}", w[w.len() - 1]))
            }
            "isync" => {
                let (fd, handle, _) = self.handle(s(1)?, s(2)?)?;
                let to = match s(3)? {
                    "device" => 1,
                    "cpu" => 2,
                    t => return Err(format!("'{t}': device or cpu").into()),
                };
                let dir = match s(4)? {
                    "none" => 0,
                    d => dir_word(d)?,
                };
                let mut a = EduSync {
                    handle,
                    to,
                    dir,
                    offset: n(5)?,
                    len: n(6)?,
                    ..EduSync::default()
                };
                sys_ioctl(fd, EDU_SYNC, &mut a, "RSDMA_EDU_IOCTL_SYNC")?;
                Ok(String::new())
            }
            "bench" => {
                let (fd, handle, _) = self.handle(s(1)?, s(2)?)?;
                let way = match s(3)? {
                    "map" => 1,
                    "range" => 2,
                    "whole" => 3,
                    x => return Err(format!("'{x}': map, range or whole").into()),
                };
                let mut a = EduBench {
                    handle,
                    way,
                    chunk: n(4)?,
                    count: n(5)?,
                    ..EduBench::default()
                };
                sys_ioctl(fd, EDU_BENCH, &mut a, "RSDMA_EDU_IOCTL_BENCH")?;
                Ok(format!(
                    "bench way={} chunk={} count={} ns={} ns_per_transfer={}",
                    s(3)?,
                    a.chunk,
                    a.count,
                    a.ns,
                    a.ns / a.count.max(1)
                ))
            }
            "streams" => {
                let (count, chunk, seed) = (n(2)?, n(3)?, n(4)?);
                if chunk == 0 {
                    return Err("CHUNK must be at least 1".to_string().into());
                }
                let mut jobs = Vec::new();
                for (k, q) in w[5..].chunks(4).enumerate() {
                    let [e, h, off, len] = q else {
                        return Err("streams wants E H OFF LEN groups".to_string().into());
                    };
                    let (fd, handle, _) = self.handle(e, h)?;
                    let (off, len) = (num(off)?, num(len)?);
                    if len < chunk {
                        return Err(format!("range {off}+{len} is shorter than a chunk").into());
                    }
                    let view = self.bytes(s(1)?, off, len)?;
                    let view = View(view.as_mut_ptr(), view.len());
                    let job = Stream {
                        fd,
                        handle,
                        off,
                        count,
                        chunk,
                        seed: seed.wrapping_add(k as u64 * 0x1000_0000),
                    };
                    jobs.push((format!("{e} {h}"), view, job));
                }
                let results: Vec<(String, Result<String, String>)> = std::thread::scope(|sc| {
                    let handles: Vec<_> = jobs
                        .into_iter()
                        .map(|(name, view, job)| (name, sc.spawn(move || job.run(view))))
                        .collect();
                    handles
                        .into_iter()
                        .map(|(name, h)| {
                            (
                                name,
                                h.join().unwrap_or_else(|_| Err("thread panicked".into())),
                            )
                        })
                        .collect()
                });
                let mut out = Vec::new();
                for (name, r) in results {
                    out.push(format!(
                        "{name}: {}",
                        r.map_err(|e| format!("{name}: {e}"))?
                    ));
                }
                Ok(out.join("; "))
            }
            "expect" => {
                let want = s(1)?;
                let code = errno_named(want).ok_or_else(|| format!("unknown errno '{want}'"))?;
                match self.step(&w[2..]) {
                    Ok(_) => Err(format!("succeeded, expected {want}").into()),
                    Err(Fail::Errno(c, msg)) if c == code => Ok(format!("{msg} (as expected)")),
                    Err(Fail::Errno(_, msg)) => Err(format!("{msg}, expected {want}").into()),
                    Err(Fail::Other(msg)) => Err(format!("{msg}, expected {want}").into()),
                }
            }
            "either" => match self.step(&w[2..]) {
                Ok(msg) => Ok(msg),
                Err(e) => {
                    let want = s(1)?;
                    match e {
                        Fail::Errno(c, msg) if errno_named(want) == Some(c) => {
                            Ok(format!("{msg} (allowed)"))
                        }
                        Fail::Errno(_, msg) | Fail::Other(msg) => {
                            Err(format!("{msg}, expected success or {want}").into())
                        }
                    }
                }
            },
            "put" => {
                let path = s(1)?;
                let text = w[2..].join(" ");
                let io = |e: Error| Fail::Errno(e.raw_os_error().unwrap_or(0), format!("{path}: {e}"));
                let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
                match f.write(text.as_bytes()) {
                    Ok(n) if n == text.len() => Ok(String::new()),
                    Ok(n) => Err(format!("{path}: {n} of {} bytes written", text.len()).into()),
                    Err(e) => Err(io(e)),
                }
            }
            "has" | "lacks" => {
                let path = s(1)?;
                let want = w[2..].join(" ");
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                match (text.contains(&want), w[0] == "has") {
                    (true, true) | (false, false) => Ok(String::new()),
                    (false, true) => Err(format!("{path} lacks '{want}'").into()),
                    (true, false) => Err(format!("{path} has '{want}'").into()),
                }
            }
            "sh" => {
                let cmd = w[1..].join(" ");
                let st = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .status()
                    .map_err(|e| format!("sh: {e}"))?;
                if st.success() {
                    Ok(String::new())
                } else {
                    Err(format!("'{cmd}' failed ({st})").into())
                }
            }
            other => Err(format!("unknown step '{other}'").into()),
        }
    }
}

/// A range of a buffer's mapping that one stream owns alone.
struct View(*mut u8, usize);

// SAFETY: each view is a disjoint range of a live mapping, used by one
// thread only while the mapping outlives the threads (scoped).
unsafe impl Send for View {}

/// One importer streaming chunks through its own range of a buffer.
struct Stream {
    fd: i32,
    handle: u32,
    /// Offset of the view in the buffer.
    off: u64,
    count: u64,
    chunk: u64,
    seed: u64,
}

impl Stream {
    /// Runs the transfers on `view` and checks every byte; returns what
    /// it moved.
    fn run(&self, view: View) -> Result<String, String> {
        // SAFETY: the view is this thread's alone, inside a live mapping.
        let bytes = unsafe { std::slice::from_raw_parts_mut(view.0, view.1) };
        // What the buffer must hold: what it held, then every chunk moved.
        let mut shadow = bytes.to_vec();
        let mut rng = self.seed | 1;
        let mut next = |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % bound
        };
        let len = bytes.len() as u64;
        let (mut moved, mut syncs) = (0u64, 0u64);
        for i in 0..self.count {
            let n = 1 + next(self.chunk);
            let at = next(len - n + 1);
            let (a, b) = (at as usize, (at + n) as usize);
            let seed = Some(self.seed ^ (i + 1));
            let data: Vec<u8> = (0..n).map(|j| pattern(seed, j)).collect();
            if i % 2 == 0 {
                // The CPU writes, the device reads.
                bytes[a..b].copy_from_slice(&data);
                shadow[a..b].copy_from_slice(&data);
                let mut out = vec![0u8; n as usize];
                self.xfer(EDU_READ, at, n, out.as_mut_ptr() as u64)?;
                if out != data {
                    let j = out.iter().zip(&data).position(|(x, y)| x != y).unwrap_or(0);
                    return Err(format!(
                        "transfer {i}: edu read byte {} as {:#04x}, the CPU wrote {:#04x}",
                        self.off + at + j as u64,
                        out[j],
                        data[j]
                    ));
                }
            } else {
                // The device writes, the CPU reads.
                self.xfer(EDU_WRITE, at, n, data.as_ptr() as u64)?;
                shadow[a..b].copy_from_slice(&data);
                if bytes[a..b] != data[..] {
                    let j = bytes[a..b]
                        .iter()
                        .zip(&data)
                        .position(|(x, y)| x != y)
                        .unwrap_or(0);
                    return Err(format!(
                        "transfer {i}: the CPU read byte {} as {:#04x}, edu wrote {:#04x}",
                        self.off + at + j as u64,
                        bytes[a + j],
                        data[j]
                    ));
                }
            }
            moved += n;
            syncs += 2;
        }
        if let Some(j) = bytes.iter().zip(&shadow).position(|(x, y)| x != y) {
            return Err(format!(
                "byte {} is {:#04x} after the transfers, {:#04x} expected",
                self.off + j as u64,
                bytes[j],
                shadow[j]
            ));
        }
        Ok(format!(
            "{} transfers, {moved} bytes, {syncs} range syncs of {} bytes, every byte checked",
            self.count,
            2 * moved
        ))
    }

    /// One synced edu transfer of `n` bytes at offset `at` of the view.
    fn xfer(&self, op: u32, at: u64, n: u64, user: u64) -> Result<(), String> {
        let off = self.off + at;
        let mut x = EduXfer {
            op,
            flags: EDU_XFER_SYNC,
            len: n,
            user,
            ..EduXfer::default()
        };
        if op == EDU_READ {
            (x.src, x.src_off) = (self.handle, off);
        } else {
            (x.dst, x.dst_off) = (self.handle, off);
        }
        // SAFETY: `x` has the layout the command expects.
        if unsafe { ioctl(self.fd, EDU_XFER, &mut x as *mut EduXfer) } < 0 {
            return Err(format!(
                "edu transfer {n} bytes at {off}: {}",
                Error::last_os_error()
            ));
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: rsdma-buf STEP... (see the source's header)");
        std::process::exit(2);
    }
    let mut st = State::default();
    for a in &args {
        let words: Vec<&str> = a.split_whitespace().collect();
        match st.step(&words) {
            Ok(msg) if msg.is_empty() => println!("rsdma-buf: {a}: ok"),
            Ok(msg) => println!("rsdma-buf: {a}: {msg}"),
            Err(Fail::Errno(_, msg)) | Err(Fail::Other(msg)) => {
                println!("rsdma-buf: {a}: FAILED: {msg}");
                std::process::exit(1);
            }
        }
    }
}
