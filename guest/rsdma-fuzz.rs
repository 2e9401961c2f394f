//! rsdma-fuzz: throws random and mutated calls at rsdma's user interfaces
//! and checks that each gets 0 or an errno.
//!
//! Usage: rsdma-fuzz [-s SEED] [-n CALLS] [-t THREADS] [-v] [--edu PATH]...
//!
//! The targets: `/dev/rsdma`'s ioctls (mutated argument structures, other
//! ioctl numbers, bad pointers); the dma-bufs it hands out
//! (`DMA_BUF_IOCTL_SYNC`, `RSDMA_IOCTL_SYNC_RANGE`, mmap at any offset and
//! length, touching what got mapped, closing in any order); the edu
//! sample's importer nodes named with `--edu` (imports of rsdma's, foreign,
//! closed and made-up descriptors, random handles, transfers, range syncs
//! and benchmarks with random fields); and the debugfs command files:
//! rsdma's claim file (specs whose targets name no device of the guest,
//! mutated, and garbage), the `stats`, `mappings`, `declared` and `dmabuf`
//! files, the edu sample's `run` files (only strings that are no command,
//! or commands with arguments they refuse), and any other file directly
//! under `/sys/kernel/debug/rsdma/` or in a subdirectory of it that is not
//! a device's (fault-injection knobs), each put back as it was at the end.
//!
//! SEED (default: from the clock) and CALLS (default 100000) are decimal or
//! 0x hex; the seed is printed first, and a run with the same seed, calls
//! and guest state makes the same calls (`-v` prints each one).  With
//! `-t`, THREADS fuzzers (thread k with seed SEED+k, descriptors of its
//! own) race in one process: each makes the same calls again, not in the
//! same order.  A line of
//! progress goes to stdout and the kernel log every 10 s; at the end, a
//! table of results (ok or errno) per target.  The run fails (status 1) on
//! a return that is neither 0 (or the byte count of a write) nor -1 with an
//! errno from 1 to 133, and on a call a plainly bad argument should make
//! fail that succeeded or failed with another errno than the one the
//! interface documents.  Everything it made is closed before it ends.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::io::{Error, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

extern "C" {
    fn open(path: *const c_char, flags: i32, ...) -> i32;
    fn close(fd: i32) -> i32;
    fn ioctl(fd: i32, req: u64, ...) -> i32;
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
    fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
    fn write(fd: i32, buf: *const c_void, n: usize) -> isize;
    fn pipe(fds: *mut i32) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn memfd_create(name: *const c_char, flags: u32) -> i32;
    fn ftruncate(fd: i32, len: i64) -> i32;
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(status: i32) -> !;
    fn getauxval(kind: u64) -> u64;
}

const O_RDONLY: i32 = 0;
const O_WRONLY: i32 = 1;
const O_RDWR: i32 = 2;
const O_CLOEXEC: i32 = 0o2000000;
const PROT_NONE: i32 = 0;
const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const MAP_SHARED: i32 = 1;
const MAP_PRIVATE: i32 = 2;
const MAP_ANONYMOUS: i32 = 0x20;
const MAP_POPULATE: i32 = 0x8000;
const F_GETFD: i32 = 1;
const F_DUPFD_CLOEXEC: i32 = 1030;
const F_ADD_SEALS: i32 = 1033;
const F_SEAL_SHRINK: i32 = 2;
const MFD_ALLOW_SEALING: u32 = 2;
/// The kernel's page size (`AT_PAGESZ`): 4, 16 or 64 KiB.
fn page() -> u64 {
    static SIZE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        // SAFETY: getauxval reads the process's auxiliary vector.
        match unsafe { getauxval(AT_PAGESZ) } {
            0 => 4096,
            n => n,
        }
    })
}

/// `_IOC` of asm-generic/ioctl.h (arm64).
const fn ioc(dir: u64, ty: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (ty << 8) | nr
}

// include/uapi/rsdma.h
const ALLOC_LEN: usize = 32;
const SYNC_RANGE_LEN: usize = 32;
const RSDMA_IOCTL_ALLOC: u64 = ioc(3, 0xd5, 0, ALLOC_LEN as u64);
const RSDMA_IOCTL_SYNC_RANGE: u64 = ioc(1, 0xd5, 1, SYNC_RANGE_LEN as u64);
// include/uapi/rsdma_edu.h
const IMPORT_LEN: usize = 40;
const HANDLE_LEN: usize = 16;
const XFER_LEN: usize = 56;
const ESYNC_LEN: usize = 40;
const BENCH_LEN: usize = 40;
const EDU_IMPORT: u64 = ioc(3, 0xd6, 0, IMPORT_LEN as u64);
const EDU_RELEASE: u64 = ioc(1, 0xd6, 1, HANDLE_LEN as u64);
const EDU_REMAP: u64 = ioc(1, 0xd6, 2, HANDLE_LEN as u64);
const EDU_XFER: u64 = ioc(1, 0xd6, 3, XFER_LEN as u64);
const EDU_SYNC: u64 = ioc(1, 0xd6, 4, ESYNC_LEN as u64);
const EDU_BENCH: u64 = ioc(3, 0xd6, 5, BENCH_LEN as u64);
const EDU_MAX_XFER: u64 = 1 << 20;
// linux/dma-buf.h, linux/udmabuf.h
const DMA_BUF_IOCTL_SYNC: u64 = ioc(1, b'b' as u64, 0, 8);
const UDMABUF_CREATE: u64 = ioc(1, b'u' as u64, 0x42, 24);

/// The debugfs directories.
const RSDMA_DEBUGFS: &str = "/sys/kernel/debug/rsdma";
const EDU_DEBUGFS: &str = "/sys/kernel/debug/rsdma_edu";

/// Scratch memory the edu sample reads and writes for READ and WRITE.
const SCRATCH: usize = 2 << 20;
/// Most bytes of rsdma buffers alive at once, and most buffers.
const LIVE_BYTES: u64 = 96 << 20;
const LIVE_BUFS: usize = 12;
/// Most mappings alive at once.
const LIVE_MAPS: usize = 24;

const ERRNO_NAMES: [(i32, &str); 24] = [
    (1, "EPERM"),
    (2, "ENOENT"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (9, "EBADF"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (22, "EINVAL"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (34, "ERANGE"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
    (4, "EINTR"),
    (38, "ENOSYS"),
];

fn errno_name(e: i32) -> String {
    match ERRNO_NAMES.iter().find(|(n, _)| *n == e) {
        Some((_, s)) => s.to_string(),
        None => format!("E{e}"),
    }
}

const EINVAL: i32 = 22;
const ENOTTY: i32 = 25;
const ENOENT: i32 = 2;
const EFAULT: i32 = 14;
const EIO: i32 = 5;

/// xoshiro256** seeded through splitmix64.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut s = [0u64; 4];
        for w in s.iter_mut() {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = x ^ (x >> 31);
        }
        Rng(s)
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }

    /// 0 to n-1 (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// true with `pct` percent chance.
    fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

/// Values that sit on edges.
const EDGES: [u64; 26] = [
    0,
    1,
    2,
    3,
    7,
    8,
    255,
    4095,
    4096,
    4097,
    8191,
    8192,
    65535,
    65536,
    1 << 20,
    (1 << 20) + 1,
    (4 << 20) + 1,
    (64 << 20) + 1,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    1 << 63,
    i64::MAX as u64,
    u64::MAX,
    u64::MAX - 1,
    u64::MAX - 4095,
];

/// What a call's result must be, besides 0 or an errno.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Any,
    /// It must fail, with any errno.
    Fail,
    /// It must fail with this errno.
    Errno(i32),
}

/// An rsdma dma-buf (or udmabuf) descriptor and its size.
struct Buf {
    fd: i32,
    size: u64,
}

/// A mapping of a dma-buf.
struct Map {
    ptr: usize,
    len: usize,
    prot: i32,
}

/// An import: its handle and the buffer's size; `udmabuf` when the
/// buffer is a udmabuf, whose CPU accesses are not fuzzed: the kernel's
/// udmabuf maps its table for the CPU in the direction of the first
/// access and syncs it in the direction of each later one, which
/// DMA-API debugging reports when they differ.
#[derive(Clone, Copy)]
struct Imp {
    handle: u32,
    size: u64,
    udmabuf: bool,
}

/// An open file of an edu importer node.
struct EduFile {
    fd: i32,
    dev: usize,
    imps: Vec<Imp>,
    /// Handles it released: it never holds them again (a device numbers
    /// its imports upwards, and a file stays with the binding it was
    /// opened on; a binding after an unbind counts from 1 again).
    released: Vec<u32>,
}

/// A debugfs file written to, and its writes' rules.
struct DebugFile {
    target: &'static str,
    path: String,
    fd: i32,
}

/// A knob: its path and its value at the start.
struct Knob {
    path: String,
    fd: i32,
    orig: Vec<u8>,
    /// A `verbose*` file (of a fault-injection attribute): held at 0
    /// while fuzzing, since a verbose injected fault logs a call trace,
    /// which qemu/run takes for a kernel report.
    fixed: bool,
    /// rsdma's `inject` file: fuzzed with commands that arm no point
    /// that could fire, and disarmed (`off`) at the end.
    inject: bool,
}

/// The injection points of rsdma's `inject` file (test builds).
const INJECT_POINTS: [&str; 6] = [
    "iommu_map",
    "iova_grow",
    "bounce_grow",
    "coherent_pages",
    "tracker",
    "dmabuf_attach",
];

/// Memory the fuzzer owns for bad and odd pointers.
struct Mem {
    /// A read-write page followed by a guard page (no access).
    arg: usize,
    /// A read-only page.
    ro: usize,
    /// A page no access is allowed to (an unmapped one would be
    /// reused by the next mmap).
    hole: usize,
    /// SCRATCH read-write bytes followed by a guard page.
    scratch: usize,
}

struct Fuzz {
    rng: Rng,
    verbose: bool,
    /// Other fuzzers run beside it in the process: no fork, and no
    /// descriptor it did not see returned is taken for its own.
    threaded: bool,
    rsdma: i32,
    bufs: Vec<Buf>,
    live_bytes: u64,
    udmabufs: Vec<Buf>,
    /// Descriptors that are neither dma-bufs nor rsdma's.
    foreign: Vec<i32>,
    /// Numbers of descriptors closed.
    closed: Vec<i32>,
    maps: Vec<Map>,
    edu_paths: Vec<String>,
    edus: Vec<EduFile>,
    /// Handles released, and those of files closed.
    stale: Vec<(usize, u32)>,
    claim: Option<i32>,
    claim_added: u64,
    guest_vendors: Vec<u16>,
    debug_files: Vec<DebugFile>,
    edu_runs: Vec<DebugFile>,
    knobs: Vec<Knob>,
    mem: Mem,
    /// Arguments of ioctls (aligned).
    argbuf: Vec<u64>,
    /// target -> errno (0 for ok) -> count.
    table: BTreeMap<&'static str, BTreeMap<i32, u64>>,
    calls: u64,
    failures: u64,
    /// The call being made, for messages.
    what: String,
    /// The target of the last call recorded.
    last_target: &'static str,
    /// Time spent per target.
    time: BTreeMap<&'static str, Duration>,
    /// The slowest step and its last call.
    slowest: (Duration, String),
}

fn last_errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cpath(p: &str) -> CString {
    CString::new(p).unwrap_or_default()
}

fn open_path(p: &str, flags: i32) -> i32 {
    let c = cpath(p);
    // SAFETY: `c` is a NUL-terminated path.
    unsafe { open(c.as_ptr(), flags | O_CLOEXEC) }
}

fn close_fd(fd: i32) -> i32 {
    // SAFETY: closing a descriptor has no effect on memory.
    unsafe { close(fd) }
}

fn fd_open(fd: i32) -> bool {
    // SAFETY: F_GETFD reads descriptor flags only.
    unsafe { fcntl(fd, F_GETFD) >= 0 }
}

/// The lowest free descriptor number.
fn next_fd() -> i32 {
    // SAFETY: duplicates descriptor 2 (or fails); closed right away.
    let fd = unsafe { fcntl(2, F_DUPFD_CLOEXEC, 0) };
    if fd >= 0 {
        close_fd(fd);
    }
    fd
}

fn kmsg(line: &str) {
    let fd = open_path("/dev/kmsg", O_WRONLY);
    if fd >= 0 {
        // SAFETY: writes `line`'s bytes.
        unsafe { write(fd, line.as_ptr().cast(), line.len()) };
        close_fd(fd);
    }
}

fn read_file(path: &str) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// Where an ioctl's argument is put.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// In the fuzzer's memory, as a driver expects.
    Good,
    /// At a pointer that faults entirely.
    Bad(usize),
    /// Its last bytes over the guard page.
    Straddle,
    /// In a read-only page (a write back faults).
    ReadOnly,
}

impl Fuzz {
    // --- Results ---

    fn fail(&mut self, why: &str) {
        self.failures += 1;
        let line = format!("FAIL call {}: {}: {}", self.calls, self.what, why);
        println!("{line}");
        if self.failures <= 50 {
            kmsg(&format!("rsdma-fuzz: {line}\n"));
        }
    }

    /// Records a result: `ret` is 0 or -1 (errno set) by contract; `ok`
    /// is what a success returns (0, or the byte count of a write).
    /// Returns `Ok(())` on success, else the errno.
    fn record(&mut self, target: &'static str, ret: i64, ok: i64, exp: Expect) -> Result<(), i32> {
        self.calls += 1;
        self.last_target = target;
        let key = if ret == ok {
            0
        } else if ret == -1 {
            last_errno()
        } else {
            -1
        };
        *self
            .table
            .entry(target)
            .or_default()
            .entry(key)
            .or_default() += 1;
        if self.verbose {
            println!(
                "{} {}: {}",
                self.calls,
                self.what,
                if key == 0 {
                    "ok".into()
                } else {
                    errno_name(key)
                }
            );
        }
        if key == -1 {
            let why = format!("returned {ret}, neither {ok} nor -1 with an errno");
            self.fail(&why);
            return Err(0);
        }
        if key != 0 && !(1..=133).contains(&key) {
            let why = format!("errno {key} is outside 1..=133");
            self.fail(&why);
        }
        match (exp, key) {
            (Expect::Fail, 0) => self.fail("succeeded where it must fail"),
            (Expect::Errno(e), k) if k != e => {
                let why = format!(
                    "got {}, expected {}",
                    if k == 0 {
                        "success".into()
                    } else {
                        errno_name(k)
                    },
                    errno_name(e)
                );
                self.fail(&why);
            }
            _ => {}
        }
        if key == 0 {
            Ok(())
        } else {
            Err(key)
        }
    }

    // --- Numbers ---

    /// A number that is often on an edge of `size`.
    fn num_near(&mut self, size: u64) -> u64 {
        match self.rng.below(12) {
            0..=2 => self.rng.pick(&EDGES),
            3 => size,
            4 => size.wrapping_sub(1 + self.rng.below(8)),
            5 => size.wrapping_add(1 + self.rng.below(8)),
            6..=8 => self.rng.below(size.max(1)),
            9 => self.rng.below(size.max(1) / page() + 1) * page(),
            10 => self.rng.below(1 << 16),
            _ => self.rng.next(),
        }
    }

    /// A small-ish length: mostly up to 8 KiB.
    fn len_near(&mut self, size: u64) -> u64 {
        match self.rng.below(10) {
            0..=4 => 1 + self.rng.below(8192),
            5 => 1 + self.rng.below(EDU_MAX_XFER),
            _ => self.num_near(size),
        }
    }

    /// A reserved field: mostly 0.
    fn reserved(&mut self) -> u64 {
        if self.rng.pct(92) {
            0
        } else if self.rng.pct(50) {
            1 << self.rng.below(64)
        } else {
            self.rng.next()
        }
    }

    /// Flips a few bytes of `b` now and then; tells whether it did.
    fn mutate(&mut self, b: &mut [u8]) -> bool {
        if b.is_empty() || !self.rng.pct(10) {
            return false;
        }
        for _ in 0..1 + self.rng.below(3) {
            let i = self.rng.below(b.len() as u64) as usize;
            b[i] = match self.rng.below(4) {
                0 => 0,
                1 => 0xff,
                2 => b[i] ^ (1 << self.rng.below(8)),
                _ => self.rng.next() as u8,
            };
        }
        true
    }

    // --- Descriptors ---

    /// A descriptor: mostly an rsdma dma-buf.
    fn some_fd(&mut self, buf_pct: u64) -> (i32, Option<u64>) {
        if !self.bufs.is_empty() && self.rng.pct(buf_pct) {
            let b = &self.bufs[self.rng.below(self.bufs.len() as u64) as usize];
            return (b.fd, Some(b.size));
        }
        match self.rng.below(9) {
            0 if !self.udmabufs.is_empty() => {
                let b = &self.udmabufs[self.rng.below(self.udmabufs.len() as u64) as usize];
                (b.fd, Some(b.size))
            }
            1 if !self.closed.is_empty() => (self.rng.pick(&self.closed), None),
            2 if !self.foreign.is_empty() => (self.rng.pick(&self.foreign), None),
            3 => (self.rsdma, None),
            4 if !self.edus.is_empty() => (
                self.edus[self.rng.below(self.edus.len() as u64) as usize].fd,
                None,
            ),
            5 => (-1, None),
            6 => (self.rng.next() as i32, None),
            7 => (1000 + self.rng.below(100) as i32, None),
            _ => match self.bufs.first() {
                Some(b) => (b.fd, Some(b.size)),
                None => (self.rsdma, None),
            },
        }
    }

    fn adopt_buf(&mut self, fd: i32, size: u64) {
        self.closed.retain(|&c| c != fd);
        self.bufs.push(Buf { fd, size });
        self.live_bytes += size;
        while self.bufs.len() > LIVE_BUFS || self.live_bytes > LIVE_BYTES {
            let i = self.rng.below(self.bufs.len() as u64) as usize;
            self.drop_buf(i);
        }
    }

    fn drop_buf(&mut self, i: usize) {
        let b = self.bufs.swap_remove(i);
        self.live_bytes -= b.size;
        self.what = format!("close dma-buf fd {}", b.fd);
        let r = close_fd(b.fd) as i64;
        let _ = self.record("close", r, 0, Expect::Any);
        self.closed.push(b.fd);
        if self.closed.len() > 16 {
            self.closed.remove(0);
        }
    }

    // --- Arguments ---

    /// A pointer for an argument of `len` bytes `b`, placed as `place`
    /// says; copies `b` there.
    fn place(&mut self, b: &[u8], place: Place) -> usize {
        match place {
            Place::Good => {
                // SAFETY: `argbuf` holds 64 u64s, more than any argument.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(self.argbuf.as_mut_ptr().cast::<u8>(), b.len())
                };
                dst.copy_from_slice(b);
                self.argbuf.as_ptr() as usize
            }
            Place::Bad(p) => p,
            Place::Straddle => {
                let cut = 1 + self.rng.below(b.len() as u64) as usize;
                let at = self.mem.arg + page() as usize - (b.len() - cut);
                // SAFETY: `[at, arg + page())` lies in the read-write page.
                let dst = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, b.len() - cut) };
                dst.copy_from_slice(&b[..b.len() - cut]);
                at
            }
            Place::ReadOnly => {
                let p = self.mem.ro as *mut c_void;
                // SAFETY: the page is the fuzzer's own; it is made
                // writable for the copy and read-only again.
                unsafe {
                    mprotect(p, page() as usize, PROT_READ | PROT_WRITE);
                    std::slice::from_raw_parts_mut(p.cast::<u8>(), b.len()).copy_from_slice(b);
                    mprotect(p, page() as usize, PROT_READ);
                }
                self.mem.ro
            }
        }
    }

    /// Where the argument goes: where it belongs `good` percent of the
    /// time, else anywhere [`Self::pick_place`] chooses.
    fn place_or_good(&mut self, good: u64) -> Place {
        if self.rng.pct(good) {
            Place::Good
        } else {
            self.pick_place()
        }
    }

    /// The argument `b` placed somewhere: mostly where it belongs.
    fn pick_place(&mut self) -> Place {
        match self.rng.below(40) {
            0 => Place::Bad(0),
            1 => Place::Bad(self.mem.hole),
            2 => Place::Bad(0xffff_8000_0000_0000 + ((self.rng.below(1 << 20) as usize) << 12)),
            3 => Place::Bad(self.mem.arg + page() as usize),
            4 => Place::Straddle,
            5 => Place::ReadOnly,
            6 => Place::Bad(usize::MAX - self.rng.below(64) as usize),
            _ => Place::Good,
        }
    }

    /// The argument's bytes after the call (what the kernel wrote back).
    fn argbytes(&self, n: usize) -> Vec<u8> {
        // SAFETY: `argbuf` holds more than `n` bytes.
        unsafe { std::slice::from_raw_parts(self.argbuf.as_ptr().cast::<u8>(), n) }.to_vec()
    }

    fn do_ioctl(&mut self, fd: i32, cmd: u64, arg: usize) -> i64 {
        // SAFETY: the kernel checks `arg`: it points to the fuzzer's own
        // argument memory, a scratch page or an address nothing the
        // fuzzer uses is at; what the kernel may write there is no Rust
        // object's.
        unsafe { ioctl(fd, cmd, arg) as i64 }
    }

    // --- /dev/rsdma ---

    fn alloc_size(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=44 => 1 + self.rng.below(16384),
            45..=69 => (1 + self.rng.below(64)) * page(),
            70..=79 => 65536 + self.rng.below(1 << 20),
            80..=91 => self.rng.pick(&[
                0,
                4 << 20,
                (4 << 20) + 1,
                (4 << 20) - 1,
                8 << 20,
                (64 << 20) + 1,
                (64 << 20) + page(),
                1 << 32,
                u64::MAX,
                u64::MAX - 4095,
                1 << 63,
            ]),
            92 => 64 << 20,
            _ => self.rng.next(),
        }
    }

    fn rsdma_alloc(&mut self) {
        let size = self.alloc_size();
        let flags = if self.rng.pct(75) {
            self.rng.below(4) as u32
        } else if self.rng.pct(50) {
            1 << self.rng.below(32)
        } else {
            self.rng.next() as u32
        };
        let fdfield = if self.rng.pct(90) {
            0
        } else {
            self.rng.next() as u32
        };
        let (r0, r1) = (self.reserved(), self.reserved());
        let mut b = [0u8; ALLOC_LEN];
        put_u64(&mut b, 0, size);
        put_u32(&mut b, 8, flags);
        put_u32(&mut b, 12, fdfield);
        put_u64(&mut b, 16, r0);
        put_u64(&mut b, 24, r1);
        let mutated = self.mutate(&mut b);
        let place = match self.pick_place() {
            // Beside other threads, the descriptor installed before the
            // write back faulted cannot be told from theirs: it would
            // stay until the process ends.
            Place::ReadOnly if self.threaded => Place::Good,
            p => p,
        };
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if mutated => Expect::Any,
            _ if size == 0 || flags & !3 != 0 || r0 != 0 || r1 != 0 => Expect::Fail,
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        let want = next_fd();
        self.what = format!(
            "RSDMA_IOCTL_ALLOC size {:#x} flags {:#x} fd {} res {:#x} {:#x} at {}{}",
            get_u64(&b, 0),
            get_u32(&b, 8),
            get_u32(&b, 12) as i32,
            get_u64(&b, 16),
            get_u64(&b, 24),
            place_name(place),
            if mutated { " (mutated)" } else { "" }
        );
        let r = self.do_ioctl(self.rsdma, RSDMA_IOCTL_ALLOC, arg);
        let size = get_u64(&b, 0);
        let rounded = size.div_ceil(page()) * page();
        match self.record("rsdma alloc", r, 0, exp) {
            Ok(()) => {
                let out = if place == Place::ReadOnly {
                    b.to_vec()
                } else {
                    self.argbytes(ALLOC_LEN)
                };
                let fd = get_u32(&out, 12) as i32;
                if place == Place::ReadOnly || !fd_open(fd) {
                    self.fail("succeeded without handing out a descriptor");
                    return;
                }
                self.adopt_buf(fd, rounded);
            }
            Err(EFAULT) if place == Place::ReadOnly && want >= 0 && fd_open(want) => {
                // The descriptor was installed before the write back
                // faulted: it is the process's.
                self.adopt_buf(want, rounded);
            }
            Err(_) => {}
        }
    }

    /// Begins up to 24 range syncs of one buffer (rsdma keeps at most 16
    /// distinct ones open: the rest must fail with EBUSY), then ends
    /// some of them, some twice, and leaves the rest to the buffer's
    /// close.
    fn sync_burst(&mut self) {
        if self.bufs.is_empty() {
            return;
        }
        let b = &self.bufs[self.rng.below(self.bufs.len() as u64) as usize];
        let (fd, size) = (b.fd, b.size);
        let mut open = Vec::new();
        for _ in 0..8 + self.rng.below(17) {
            let off = self.rng.below(size);
            let len = 1 + self.rng.below((size - off).min(8192));
            let flags = 1 + self.rng.below(3) as u32;
            if self.range_sync(fd, flags, off, len).is_ok() {
                open.push((flags, off, len));
            }
        }
        for _ in 0..self.rng.below(open.len() as u64 + 3) {
            if open.is_empty() {
                break;
            }
            let (flags, off, len) = open[self.rng.below(open.len() as u64) as usize];
            let _ = self.range_sync(fd, flags | 4, off, len);
        }
    }

    /// One well-formed `RSDMA_IOCTL_SYNC_RANGE`; beside other threads the
    /// descriptor may be anything by now.
    fn range_sync(&mut self, fd: i32, flags: u32, off: u64, len: u64) -> Result<(), i32> {
        let mut b = [0u8; SYNC_RANGE_LEN];
        put_u32(&mut b, 0, fd as u32);
        put_u32(&mut b, 4, flags);
        put_u64(&mut b, 8, off);
        put_u64(&mut b, 16, len);
        let arg = self.place(&b, Place::Good);
        self.what =
            format!("RSDMA_IOCTL_SYNC_RANGE fd {fd} flags {flags:#x} {off:#x}+{len:#x} (burst)");
        let r = self.do_ioctl(self.rsdma, RSDMA_IOCTL_SYNC_RANGE, arg);
        self.record("rsdma sync burst", r, 0, Expect::Any)
    }

    fn sync_range(&mut self) {
        let (fd, size) = self.some_fd(80);
        let size = size.unwrap_or(page());
        let flags = if self.rng.pct(80) {
            self.rng.below(8) as u32
        } else {
            self.rng.next() as u32
        };
        let off = self.num_near(size);
        let len = self.len_near(size.saturating_sub(off));
        let res = self.reserved();
        let mut b = [0u8; SYNC_RANGE_LEN];
        put_u32(&mut b, 0, fd as u32);
        put_u32(&mut b, 4, flags);
        put_u64(&mut b, 8, off);
        put_u64(&mut b, 16, len);
        put_u64(&mut b, 24, res);
        let mutated = self.mutate(&mut b);
        let place = self.pick_place();
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if mutated => Expect::Any,
            _ if len == 0 || flags & 3 == 0 || flags & !7 != 0 || res != 0 => Expect::Fail,
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        self.what = format!(
            "RSDMA_IOCTL_SYNC_RANGE fd {} flags {:#x} {:#x}+{:#x} res {:#x} at {}{}",
            get_u32(&b, 0) as i32,
            get_u32(&b, 4),
            get_u64(&b, 8),
            get_u64(&b, 16),
            get_u64(&b, 24),
            place_name(place),
            if mutated { " (mutated)" } else { "" }
        );
        let r = self.do_ioctl(self.rsdma, RSDMA_IOCTL_SYNC_RANGE, arg);
        let _ = self.record("rsdma sync_range", r, 0, exp);
    }

    /// Another ioctl number on /dev/rsdma, an edu node or a dma-buf.
    fn other_ioctl(&mut self) {
        let (fd, target, own_ty) = match self.rng.below(3) {
            0 => (self.rsdma, "rsdma other ioctl", 0xd5),
            1 if !self.edus.is_empty() => (
                self.edus[self.rng.below(self.edus.len() as u64) as usize].fd,
                "edu other ioctl",
                0xd6,
            ),
            _ => match self.bufs.first() {
                Some(b) => (b.fd, "dma-buf other ioctl", b'b' as u64),
                None => (self.rsdma, "rsdma other ioctl", 0xd5),
            },
        };
        let any_ty = self.rng.below(256);
        let ty = if self.rng.pct(70) {
            own_ty
        } else {
            self.rng
                .pick(&[0xd5, 0xd6, b'b' as u64, b'u' as u64, any_ty])
        };
        let dir = self.rng.below(4);
        let size = match self.rng.below(4) {
            0 => self.rng.pick(&[0, 8, 16, 24, 32, 40, 56]),
            1 => self.rng.below(1 << 14),
            _ => self.rng.pick(&[16, 32, 40, 56]),
        };
        let nr = if self.rng.pct(70) {
            self.rng.below(10)
        } else {
            self.rng.below(256)
        };
        let cmd = if self.rng.pct(5) {
            self.rng.next() & 0xffff_ffff
        } else {
            ioc(dir, ty, nr, size)
        };
        let known = [
            RSDMA_IOCTL_ALLOC,
            RSDMA_IOCTL_SYNC_RANGE,
            EDU_IMPORT,
            EDU_RELEASE,
            EDU_REMAP,
            EDU_XFER,
            EDU_SYNC,
            EDU_BENCH,
        ];
        // Unknown numbers of rsdma's own type on its own nodes: ENOTTY.
        let ty_of = (cmd >> 8) & 0xff;
        let exp = if own_ty != b'b' as u64 && ty_of == own_ty && !known.contains(&cmd) {
            Expect::Errno(ENOTTY)
        } else {
            Expect::Any
        };
        if own_ty == b'b' as u64 && ty_of == b'b' as u64 && cmd & 0xff >= 1 && cmd & 0xff <= 3 {
            // dma-buf's own set-name and sync-file ioctls: not here.
            return;
        }
        let mut b = [0u8; 64];
        for w in b.chunks_mut(8) {
            w.copy_from_slice(&self.num_near(page()).to_ne_bytes());
        }
        let place = self.pick_place();
        let arg = self.place(&b, place);
        self.what = format!("ioctl {cmd:#x} on fd {fd} at {}", place_name(place));
        let r = self.do_ioctl(fd, cmd, arg);
        let _ = self.record(target, r, 0, exp);
    }

    fn reopen_rsdma(&mut self) {
        self.what = "close /dev/rsdma".into();
        let r = close_fd(self.rsdma) as i64;
        let _ = self.record("close", r, 0, Expect::Any);
        self.rsdma = open_path("/dev/rsdma", O_RDWR);
    }

    // --- dma-bufs ---

    fn dmabuf_sync(&mut self) {
        let (fd, _) = self.some_fd(85);
        if self.udmabufs.iter().any(|b| b.fd == fd) {
            // See `Imp`: not rsdma's to answer for.
            return;
        }
        let flags = match self.rng.below(10) {
            0..=7 => self.rng.below(8),
            8 => 1 << self.rng.below(64),
            _ => self.rng.next(),
        };
        let place = self.place_or_good(95);
        let arg = self.place(&flags.to_ne_bytes(), place);
        self.what = format!(
            "DMA_BUF_IOCTL_SYNC fd {fd} flags {flags:#x} at {}",
            place_name(place)
        );
        let exp = if flags & 3 == 0 || flags & !7 != 0 {
            Expect::Fail
        } else {
            Expect::Any
        };
        let r = self.do_ioctl(fd, DMA_BUF_IOCTL_SYNC, arg);
        let _ = self.record("dma-buf sync", r, 0, exp);
    }

    fn do_mmap(&mut self) {
        let (fd, size) = self.some_fd(85);
        let known = size.is_some();
        let size = size.unwrap_or(page());
        let off = match self.rng.below(10) {
            0..=4 => 0,
            5..=6 => self.rng.below(size / page() + 1) * page(),
            7 => size.div_ceil(page()) * page(),
            8 => self.rng.pick(&[
                1,
                4095,
                1 << 40,
                (i64::MAX as u64) & !(page() - 1),
                u64::MAX - 4095,
                1 << 63,
            ]),
            _ => self.rng.below(1 << 30),
        };
        let len = match self.rng.below(10) {
            0..=3 => size.saturating_sub(off).max(1),
            4..=5 => 1 + self.rng.below(size),
            6 => size + 1 + self.rng.below(3 * page()),
            7 => self
                .rng
                .pick(&[0, 1, page(), 1 << 40, u64::MAX, u64::MAX - 4095, 1 << 47]),
            _ => self.rng.below(size.max(page()) * 2),
        };
        let prot = self.rng.pick(&[
            PROT_READ | PROT_WRITE,
            PROT_READ | PROT_WRITE,
            PROT_READ | PROT_WRITE,
            PROT_READ,
            PROT_WRITE,
            PROT_NONE,
            7,
        ]);
        let mut flags = if self.rng.pct(88) {
            MAP_SHARED
        } else {
            MAP_PRIVATE
        };
        if self.rng.pct(15) {
            flags |= MAP_POPULATE;
        }
        self.what = format!("mmap fd {fd} off {off:#x} len {len:#x} prot {prot} flags {flags:#x}");
        // SAFETY: the kernel picks the address; nothing the fuzzer holds
        // is there.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len as usize,
                prot,
                flags,
                fd,
                off as i64,
            )
        };
        let r = if p as isize == -1 { -1 } else { 0 };
        // rsdma maps its buffers shared only.
        let exp = if flags & MAP_PRIVATE != 0 && self.bufs.iter().any(|b| b.fd == fd) {
            Expect::Fail
        } else {
            Expect::Any
        };
        if self.record("dma-buf mmap", r, 0, exp).is_ok() {
            let plen = (len.div_ceil(page()) * page()) as usize;
            let dmabuf =
                self.bufs.iter().any(|b| b.fd == fd) || self.udmabufs.iter().any(|b| b.fd == fd);
            if dmabuf
                && known
                && off
                    .checked_add(plen as u64)
                    .map_or(true, |e| e > size.div_ceil(page()) * page())
            {
                let why = format!("mapped {plen:#x} bytes at {off:#x} of a {size:#x}-byte buffer");
                self.fail(&why);
            }
            if dmabuf && known {
                self.maps.push(Map {
                    ptr: p as usize,
                    len: plen,
                    prot,
                });
                while self.maps.len() > LIVE_MAPS {
                    self.unmap(0, false);
                }
            } else {
                // SAFETY: the mapping just made.
                unsafe { munmap(p, plen) };
            }
        }
    }

    /// Unmaps map `i`, or one page of it when `partial`.
    fn unmap(&mut self, i: usize, partial: bool) {
        let m = &self.maps[i];
        let pages = m.len / page() as usize;
        let (at, n) = if partial && pages > 1 {
            match self.rng.below(3) {
                0 => (0, 1),
                1 => (pages - 1, 1),
                _ => (1 + self.rng.below(pages as u64 - 1) as usize, 1),
            }
        } else {
            (0, pages)
        };
        let (ptr, len, prot) = (m.ptr, m.len, m.prot);
        let a = ptr + at * page() as usize;
        self.what = format!(
            "munmap {:#x}+{:#x} of {:#x}+{:#x}",
            a,
            n * page() as usize,
            ptr,
            len
        );
        // SAFETY: pages of a mapping of a dma-buf, which no Rust object
        // refers to.
        let r = unsafe { munmap(a as *mut c_void, n * page() as usize) } as i64;
        let _ = self.record("dma-buf munmap", r, 0, Expect::Any);
        self.maps.swap_remove(i);
        if at > 0 {
            self.maps.push(Map {
                ptr,
                len: at * page() as usize,
                prot,
            });
        }
        let end = at + n;
        if end < pages {
            self.maps.push(Map {
                ptr: ptr + end * page() as usize,
                len: (pages - end) * page() as usize,
                prot,
            });
        }
    }

    /// Forks a child that touches the mappings it inherited, unmaps one,
    /// begins a CPU access to a buffer and closes a descriptor, then
    /// exits: the mappings' copies come and go with it, the parent's stay.
    fn fork_child(&mut self) {
        self.what = format!(
            "fork with {} maps, {} buffers",
            self.maps.len(),
            self.bufs.len()
        );
        // SAFETY: the process has one thread; the child makes system
        // calls and touches mappings only, and leaves through `_exit`.
        let pid = unsafe { fork() };
        if pid == 0 {
            for _ in 0..8 {
                self.touch();
            }
            if !self.maps.is_empty() {
                let i = self.rng.below(self.maps.len() as u64) as usize;
                let m = &self.maps[i];
                // SAFETY: the child's copy of a mapping of a dma-buf.
                unsafe { munmap(m.ptr as *mut c_void, m.len) };
            }
            if let Some(b) = self.bufs.first() {
                let flags = self.rng.below(4);
                // SAFETY: reads 8 bytes of `flags`.
                unsafe { ioctl(b.fd, DMA_BUF_IOCTL_SYNC, &flags as *const u64) };
                close_fd(b.fd);
            }
            // SAFETY: ends the child without running the parent's
            // destructors.
            unsafe { _exit(0) };
        }
        let mut status = 0;
        let r = if pid < 0 {
            -1
        } else {
            // SAFETY: waits for the child; writes `status`.
            if unsafe { waitpid(pid, &mut status, 0) } < 0 {
                -1
            } else {
                0
            }
        };
        if self.record("fork", r, 0, Expect::Any).is_ok() && status != 0 {
            let why = format!("the child ended with status {status:#x}");
            self.fail(&why);
        }
    }

    /// Reads or writes a byte of a mapping (no system call).
    fn touch(&mut self) {
        if self.maps.is_empty() {
            return;
        }
        let m = &self.maps[self.rng.below(self.maps.len() as u64) as usize];
        let a = m.ptr + self.rng.below(m.len as u64) as usize;
        let (r, w) = (m.prot & PROT_READ != 0, m.prot & PROT_WRITE != 0);
        let v = self.rng.next() as u8;
        if w {
            // SAFETY: `a` lies in a live writable mapping of a dma-buf,
            // which no Rust object refers to.
            unsafe { std::ptr::write_volatile(a as *mut u8, v) };
        } else if r {
            // SAFETY: as above, readable.
            unsafe { std::ptr::read_volatile(a as *const u8) };
        } else {
            return;
        }
        *self
            .table
            .entry("touch (no call)")
            .or_default()
            .entry(0)
            .or_default() += 1;
    }

    // --- edu importers ---

    fn edu_pick(&mut self) -> Option<usize> {
        if self.edus.is_empty() {
            None
        } else {
            Some(self.rng.below(self.edus.len() as u64) as usize)
        }
    }

    /// A handle for file `e`: one of its own (and its index), one it
    /// released (`true`: it cannot hold it), another file's, a stale one
    /// of the device, or made up.
    fn handle_for(&mut self, e: usize) -> (u32, Option<usize>, bool) {
        let own = &self.edus[e].imps;
        if !own.is_empty() && self.rng.pct(75) {
            let i = self.rng.below(own.len() as u64) as usize;
            return (own[i].handle, Some(i), false);
        }
        let dev = self.edus[e].dev;
        let stale: Vec<u32> = self
            .stale
            .iter()
            .filter(|s| s.0 == dev)
            .map(|s| s.1)
            .collect();
        let released = self.edus[e].released.clone();
        match self.rng.below(5) {
            0 if !released.is_empty() => (self.rng.pick(&released), None, true),
            1 if !stale.is_empty() => (self.rng.pick(&stale), None, false),
            2 => {
                let o = self.rng.below(self.edus.len() as u64) as usize;
                match self.edus[o].imps.first() {
                    Some(i) if o != e => (i.handle, None, false),
                    _ => (self.rng.next() as u32, None, false),
                }
            }
            3 => (self.rng.pick(&[0, 1, u32::MAX, 0x8000_0000]), None, false),
            _ => (self.rng.next() as u32, None, false),
        }
    }

    fn edu_import(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let (fd, size) = self.some_fd(75);
        let any = self.rng.next() as u32;
        let dir = if self.rng.pct(85) {
            1 + self.rng.below(4) as u32
        } else {
            self.rng.pick(&[0, 5, 255, u32::MAX, any])
        };
        let mut b = [0u8; IMPORT_LEN];
        put_u32(&mut b, 0, fd as u32);
        put_u32(&mut b, 4, dir);
        if self.rng.pct(5) {
            put_u32(&mut b, 8, self.rng.next() as u32);
        }
        if self.rng.pct(5) {
            put_u64(&mut b, 16, self.rng.next());
        }
        let res = self.reserved();
        put_u64(&mut b, 32, res);
        let mutated = self.mutate(&mut b);
        let place = self.pick_place();
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if mutated => Expect::Any,
            _ if res != 0 || !(1..=4).contains(&dir) || get_u32(&b, 8) != 0 => Expect::Fail,
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        let efd = self.edus[e].fd;
        self.what = format!(
            "EDU_IMPORT on {} fd {} dir {} handle {} size {:#x} res {:#x} at {}{}",
            self.edu_paths[self.edus[e].dev],
            get_u32(&b, 0) as i32,
            get_u32(&b, 4),
            get_u32(&b, 8),
            get_u64(&b, 16),
            get_u64(&b, 32),
            place_name(place),
            if mutated { " (mutated)" } else { "" }
        );
        let r = self.do_ioctl(efd, EDU_IMPORT, arg);
        if self.record("edu import", r, 0, exp).is_ok() {
            if place == Place::ReadOnly {
                self.fail("succeeded though its result could not be written");
                return;
            }
            let out = self.argbytes(IMPORT_LEN);
            let (handle, got) = (get_u32(&out, 8), get_u64(&out, 16));
            if let Some(s) = size {
                if get_u32(&b, 0) as i32 == fd && got != s {
                    let why = format!("import reports {got:#x} bytes, the buffer has {s:#x}");
                    self.fail(&why);
                }
            }
            let udmabuf = self.udmabufs.iter().any(|b| b.fd == fd);
            self.edus[e].imps.push(Imp {
                handle,
                size: got,
                udmabuf,
            });
        }
    }

    fn edu_release(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let (h, own, stale) = self.handle_for(e);
        let dir = if self.rng.pct(90) {
            0
        } else {
            self.rng.next() as u32
        };
        let res = self.reserved();
        let mut b = [0u8; HANDLE_LEN];
        put_u32(&mut b, 0, h);
        put_u32(&mut b, 4, dir);
        put_u64(&mut b, 8, res);
        let place = self.place_or_good(90);
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if dir != 0 || res != 0 => Expect::Errno(EINVAL),
            _ if stale => Expect::Errno(ENOENT),
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        self.what = format!(
            "EDU_RELEASE handle {h} dir {dir} res {res:#x} at {}",
            place_name(place)
        );
        let r = self.do_ioctl(self.edus[e].fd, EDU_RELEASE, arg);
        if self.record("edu release", r, 0, exp).is_ok() {
            match own {
                Some(i) => {
                    let imp = self.edus[e].imps.swap_remove(i);
                    self.stale.push((self.edus[e].dev, imp.handle));
                    self.edus[e].released.push(imp.handle);
                    if self.edus[e].released.len() > 16 {
                        self.edus[e].released.remove(0);
                    }
                    if self.stale.len() > 32 {
                        self.stale.remove(0);
                    }
                }
                // A made-up handle that is one of the file's.
                None => match self.edus[e].imps.iter().position(|i| i.handle == h) {
                    Some(i) if !stale => {
                        self.edus[e].imps.swap_remove(i);
                    }
                    _ => self.fail("released a handle the file does not hold"),
                },
            }
        }
    }

    fn edu_remap(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let (h, _, stale) = self.handle_for(e);
        let dir = if self.rng.pct(85) {
            self.rng.below(5) as u32
        } else {
            self.rng.next() as u32
        };
        let res = self.reserved();
        let mut b = [0u8; HANDLE_LEN];
        put_u32(&mut b, 0, h);
        put_u32(&mut b, 4, dir);
        put_u64(&mut b, 8, res);
        let place = self.place_or_good(90);
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if res != 0 || !(1..=3).contains(&dir) => Expect::Errno(EINVAL),
            _ if stale => Expect::Errno(ENOENT),
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        self.what = format!(
            "EDU_REMAP handle {h} dir {dir} res {res:#x} at {}",
            place_name(place)
        );
        let r = self.do_ioctl(self.edus[e].fd, EDU_REMAP, arg);
        let _ = self.record("edu remap", r, 0, exp);
    }

    /// A user pointer for `len` bytes.
    fn user_ptr(&mut self, len: u64) -> u64 {
        let scratch = self.mem.scratch as u64;
        match self.rng.below(20) {
            0..=13 if len <= SCRATCH as u64 => scratch + self.rng.below(SCRATCH as u64 - len + 1),
            14 => scratch + SCRATCH as u64 - len.min(page()) / 2,
            15 => {
                let fits: Vec<(usize, usize)> = self
                    .maps
                    .iter()
                    .filter(|m| m.len as u64 >= len && m.prot == PROT_READ | PROT_WRITE)
                    .map(|m| (m.ptr, m.len))
                    .collect();
                match fits.first() {
                    Some(&(p, l)) => p as u64 + self.rng.below(l as u64 - len + 1),
                    None => 0,
                }
            }
            16 => self.mem.ro as u64,
            17 => self.mem.hole as u64,
            18 => 0xffff_8000_0000_0000,
            _ => self.rng.pick(&[0, 1, u64::MAX - 15, 1 << 63]),
        }
    }

    fn edu_xfer(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let any = self.rng.next() as u32;
        let op = if self.rng.pct(90) {
            1 + self.rng.below(4) as u32
        } else {
            self.rng.pick(&[0, 5, u32::MAX, any])
        };
        let (src, si, _) = self.handle_for(e);
        let (dst, di, _) = self.handle_for(e);
        if op == 4 && si.is_some_and(|i| self.edus[e].imps[i].udmabuf) {
            // See `Imp`.
            return;
        }
        let ssize = si.map_or(page(), |i| self.edus[e].imps[i].size);
        let dsize = di.map_or(page(), |i| self.edus[e].imps[i].size);
        let flags = match self.rng.below(10) {
            0..=7 => self.rng.below(2) as u32,
            8 => 1 << self.rng.below(32),
            _ => self.rng.next() as u32,
        };
        // edu moves at most 4 KiB per DMA and takes its time (a
        // timer of 100 ms of virtual time each): transfers the device
        // makes are short, a long one is made to be refused before any
        // DMA (below).
        let big = self.rng.pct(5);
        let len = match self.rng.below(10) {
            _ if big => 16385 + self.rng.below(EDU_MAX_XFER - 16384),
            0..=7 => 1 + self.rng.below(4096.min(ssize.min(dsize)).max(1)),
            8 => 1 + self.rng.below(16384),
            _ => self.rng.pick(&[0, EDU_MAX_XFER + 1, u64::MAX, 1 << 32]),
        };
        let uses_src = op != 3;
        let uses_dst = op == 1 || op == 3;
        let uses_user = op >= 2 && op <= 4;
        let src_off = if uses_src || self.rng.pct(3) {
            if self.rng.pct(70) {
                self.rng.below(ssize.saturating_sub(len) + 1)
            } else {
                self.num_near(ssize)
            }
        } else {
            0
        };
        let dst_off = if uses_dst || self.rng.pct(3) {
            if self.rng.pct(70) {
                self.rng.below(dsize.saturating_sub(len) + 1)
            } else {
                self.num_near(dsize)
            }
        } else {
            0
        };
        let src = if uses_src || self.rng.pct(3) { src } else { 0 };
        let dst = if uses_dst || self.rng.pct(3) { dst } else { 0 };
        let user = if uses_user && len <= EDU_MAX_XFER {
            self.user_ptr(len)
        } else if self.rng.pct(3) {
            self.rng.next()
        } else {
            0
        };
        let (src_off, user) = match op {
            _ if !big => (src_off, user),
            // Read from user memory that faults.
            3 => (src_off, self.mem.hole as u64),
            // Past the end of the source.
            _ => (ssize, user),
        };
        let res = self.reserved();
        let mut b = [0u8; XFER_LEN];
        put_u32(&mut b, 0, op);
        put_u32(&mut b, 4, src);
        put_u32(&mut b, 8, dst);
        put_u32(&mut b, 12, flags);
        put_u64(&mut b, 16, src_off);
        put_u64(&mut b, 24, dst_off);
        put_u64(&mut b, 32, len);
        put_u64(&mut b, 40, user);
        put_u64(&mut b, 48, res);
        let place = self.place_or_good(95);
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if res != 0 || flags & !1 != 0 || len == 0 || !(1..=4).contains(&op) => Expect::Fail,
            _ if len > EDU_MAX_XFER => Expect::Fail,
            _ => Expect::Any,
        };
        // The fields are not mutated byte-wise: `user` must stay one of
        // the pointers above, or the kernel would write over the
        // fuzzer's own memory.
        let arg = self.place(&b, place);
        self.what = format!("EDU_XFER op {op} src {src}+{src_off:#x} dst {dst}+{dst_off:#x} len {len:#x} flags {flags:#x} user {user:#x} res {res:#x} at {}", place_name(place));
        let r = self.do_ioctl(self.edus[e].fd, EDU_XFER, arg);
        let _ = self.record("edu xfer", r, 0, exp);
    }

    fn edu_sync(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let (h, i, _) = self.handle_for(e);
        let size = i.map_or(page(), |i| self.edus[e].imps[i].size);
        let to = if self.rng.pct(85) {
            self.rng.below(4) as u32
        } else {
            self.rng.next() as u32
        };
        let dir = if self.rng.pct(85) {
            self.rng.below(5) as u32
        } else {
            self.rng.next() as u32
        };
        let off = self.num_near(size);
        let len = self.len_near(size.saturating_sub(off));
        let (r0, r1) = (self.reserved() as u32, self.reserved());
        let mut b = [0u8; ESYNC_LEN];
        put_u32(&mut b, 0, h);
        put_u32(&mut b, 4, to);
        put_u32(&mut b, 8, dir);
        put_u32(&mut b, 12, r0);
        put_u64(&mut b, 16, off);
        put_u64(&mut b, 24, len);
        put_u64(&mut b, 32, r1);
        let mutated = self.mutate(&mut b);
        let place = self.place_or_good(95);
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if mutated => Expect::Any,
            _ if r0 != 0 || r1 != 0 || !(1..=2).contains(&to) || dir > 3 || len == 0 => {
                Expect::Fail
            }
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        self.what = format!(
            "EDU_SYNC handle {} to {} dir {} {:#x}+{:#x} res {:#x} {:#x} at {}{}",
            get_u32(&b, 0),
            get_u32(&b, 4),
            get_u32(&b, 8),
            get_u64(&b, 16),
            get_u64(&b, 24),
            get_u32(&b, 12),
            get_u64(&b, 32),
            place_name(place),
            if mutated { " (mutated)" } else { "" }
        );
        let r = self.do_ioctl(self.edus[e].fd, EDU_SYNC, arg);
        let _ = self.record("edu sync", r, 0, exp);
    }

    fn edu_bench(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let (h, i, _) = self.handle_for(e);
        let size = i.map_or(page(), |i| self.edus[e].imps[i].size);
        let way = if self.rng.pct(85) {
            self.rng.below(5) as u32
        } else {
            self.rng.next() as u32
        };
        if way == 3 && i.is_some_and(|i| self.edus[e].imps[i].udmabuf) {
            // See `Imp`.
            return;
        }
        let chunk = match self.rng.below(4) {
            0 => self.num_near(size),
            _ => 1 + self.rng.below(size),
        };
        // Small counts: the timed work is real work (up to a million
        // whole-buffer maps would take hours under emulation).
        let count = match self.rng.below(10) {
            0 => self.rng.pick(&[0, 1_000_001, u64::MAX, 1 << 32]),
            _ if size > (256 << 10) => 1 + self.rng.below(2),
            _ => 1 + self.rng.below(16),
        };
        let (ns, res) = (
            if self.rng.pct(95) { 0 } else { self.rng.next() },
            self.reserved(),
        );
        let mut b = [0u8; BENCH_LEN];
        put_u32(&mut b, 0, h);
        put_u32(&mut b, 4, way);
        put_u64(&mut b, 8, chunk);
        put_u64(&mut b, 16, count);
        put_u64(&mut b, 24, ns);
        put_u64(&mut b, 32, res);
        let place = self.place_or_good(95);
        let exp = match place {
            Place::Bad(_) | Place::Straddle => Expect::Errno(EFAULT),
            _ if ns != 0
                || res != 0
                || count == 0
                || count > 1_000_000
                || chunk == 0
                || !(1..=3).contains(&way) =>
            {
                Expect::Fail
            }
            _ => Expect::Any,
        };
        let arg = self.place(&b, place);
        self.what = format!("EDU_BENCH handle {h} way {way} chunk {chunk:#x} count {count} ns {ns:#x} res {res:#x} at {}", place_name(place));
        let r = self.do_ioctl(self.edus[e].fd, EDU_BENCH, arg);
        let _ = self.record("edu bench", r, 0, exp);
    }

    /// Closes an edu file (its imports go with it) and opens its node
    /// again.
    fn edu_reopen(&mut self) {
        let Some(e) = self.edu_pick() else { return };
        let f = self.edus.swap_remove(e);
        self.stale.extend(f.imps.iter().map(|i| (f.dev, i.handle)));
        while self.stale.len() > 32 {
            self.stale.remove(0);
        }
        self.what = format!(
            "close {} with {} imports",
            self.edu_paths[f.dev],
            f.imps.len()
        );
        let r = close_fd(f.fd) as i64;
        let _ = self.record("close", r, 0, Expect::Any);
        // Two files per device, as far as its node is there (it is not
        // while the device is unbound).
        for dev in 0..self.edu_paths.len() {
            while self.edus.iter().filter(|e| e.dev == dev).count() < 2 {
                let fd = open_path(&self.edu_paths[dev], O_RDWR);
                if fd < 0 {
                    break;
                }
                self.edus.push(EduFile {
                    fd,
                    dev,
                    imps: Vec::new(),
                    released: Vec::new(),
                });
            }
        }
    }

    // --- debugfs ---

    /// Writes `b` (at a pointer that is now and then bad) to `fd`.
    fn write_cmd(
        &mut self,
        target: &'static str,
        fd: i32,
        b: &[u8],
        exp: Expect,
    ) -> Result<(), i32> {
        let mut buf = b.to_vec();
        buf.push(0);
        let (p, exp) = match self.rng.below(40) {
            // Commands are 1 to 128 bytes: other counts are refused
            // before anything is read.
            0 if (1..=128).contains(&b.len()) => (self.mem.hole, Expect::Errno(EFAULT)),
            1 if (1..=128).contains(&b.len()) => (0usize, Expect::Errno(EFAULT)),
            _ => (buf.as_ptr() as usize, exp),
        };
        // SAFETY: the kernel reads `b.len()` bytes from `p`: `buf`, or an
        // address it faults on.
        let r = unsafe { write(fd, p as *const c_void, b.len()) } as i64;
        if r == -1 && last_errno() == EIO {
            // The file was removed (its device unbound): it answers EIO
            // from now on and is written no more.
            let _ = self.record(target, r, b.len() as i64, Expect::Any);
            self.debug_files.retain(|f| f.fd != fd);
            self.edu_runs.retain(|f| f.fd != fd);
            return Err(EIO);
        }
        self.record(target, r, b.len() as i64, exp)
    }

    /// A claim-file line whose targets name no device of the guest.
    fn claim_line(&mut self) -> String {
        let most = if self.rng.pct(90) { 2 } else { 20 };
        let n = 1 + self.rng.below(most);
        let mut s = String::new();
        if self.rng.pct(15) {
            s.push('-');
        }
        for i in 0..n {
            if i > 0 {
                s.push_str(self.rng.pick(&[",", ";", " ", "\t", ",,", " , ", "\n"]));
            }
            s.push_str(&self.claim_target());
            for _ in 0..self.rng.below(4) {
                s.push('/');
                let opt = match self.rng.below(14) {
                    0 => "lazy".into(),
                    1 => "strict".into(),
                    2 => "untrusted".into(),
                    3 => "tracker".into(),
                    4 => "notracker".into(),
                    5 => "rebind".into(),
                    6 => "iommu".into(),
                    7 => format!("dma_bits={}", self.num_near(64) as i64),
                    8 => format!("flush_ms={}", self.num_near(10_000)),
                    9 => format!("dma_bits={}", self.rng.below(70)),
                    10 => "".into(),
                    11 => "dma_bits=".into(),
                    12 => format!("flush_ms=0x{:x}", self.rng.next()),
                    _ => self.garbage_word(),
                };
                s.push_str(&opt);
            }
        }
        s
    }

    /// A target nothing in the guest matches.
    fn claim_target(&mut self) -> String {
        let mut vendor = self.rng.next() as u16;
        while self.guest_vendors.contains(&vendor) {
            vendor = vendor.wrapping_add(1);
        }
        match self.rng.below(9) {
            0 | 1 => format!("pci:{:x}:{:x}", vendor, self.rng.next() as u16),
            2 => format!("pci:{vendor:04x}:*"),
            3 => format!(
                "pci:{:x}:{:x}:{:x}.{:x}",
                0x100 + self.rng.below(0xff00),
                self.rng.below(0x300),
                self.rng.below(0x40),
                self.rng.below(16)
            ),
            4 => format!(
                "pci:{:x}:{:x}.{:x}",
                0x40 + self.rng.below(0x1c0),
                self.rng.below(0x40),
                self.rng.below(16)
            ),
            5 => format!("platform:zz-fuzz-{:x}", self.rng.next()),
            6 => format!("of:zz,fuzz-{}", "x".repeat(self.rng.below(60) as usize)),
            7 => format!(
                "platform:zz-fuzz-{}",
                "y".repeat(self.rng.below(80) as usize)
            ),
            _ => format!(
                "{}{}",
                self.rng.pick(&[
                    "pci",
                    "pci:",
                    "PCI:",
                    "pcie:",
                    "platform",
                    "platform:",
                    "of:",
                    ":",
                    "",
                    "/"
                ]),
                self.garbage_word()
            ),
        }
    }

    /// Printable bytes that spell no target prefix.
    fn garbage_word(&mut self) -> String {
        let n = self.rng.below(12) as usize;
        (0..n)
            .map(|_| self.rng.pick(b"zqx019*=.:/,_-~!#@ZQ") as char)
            .collect()
    }

    /// Whether a claim line may be written: every target in it names
    /// something no device of the guest is.
    fn claim_safe(&self, s: &str) -> bool {
        let l = s.to_ascii_lowercase();
        for (at, _) in l.match_indices("pci:") {
            let t: String = l[at + 4..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == ':' || *c == '.' || *c == '*')
                .collect();
            let parts: Vec<&str> = t.split([':', '.']).collect();
            let hex = |p: &str| u64::from_str_radix(p, 16).ok();
            match parts.len() {
                2 => {
                    if hex(parts[0]).map_or(false, |v| {
                        v <= 0xffff && self.guest_vendors.contains(&(v as u16))
                    }) {
                        return false;
                    }
                }
                3 => {
                    if hex(parts[0]).map_or(false, |b| b < 0x40) {
                        return false;
                    }
                }
                4 => {
                    if hex(parts[0]).map_or(false, |d| d == 0) {
                        return false;
                    }
                }
                _ => {}
            }
        }
        for p in ["platform:", "of:"] {
            for (at, _) in l.match_indices(p) {
                if !l[at + p.len()..].starts_with("zz") {
                    return false;
                }
            }
        }
        true
    }

    fn claim_write(&mut self) {
        let Some(fd) = self.claim else { return };
        let mut line = match self.rng.below(20) {
            0 => "clear".to_string(),
            1 => {
                let n = self.rng.below(200) as usize;
                (0..n)
                    .map(|_| (0x20 + self.rng.below(95)) as u8 as char)
                    .collect()
            }
            _ => self.claim_line(),
        };
        let mut b = line.clone().into_bytes();
        if self.mutate(&mut b) || self.rng.pct(5) {
            // Mutated bytes may be anything, so checked again below.
            if self.rng.pct(50) {
                let i = self.rng.below(b.len() as u64 + 1) as usize;
                b.insert(
                    i,
                    self.rng
                        .pick(&[0u8, 0x80, 0xff, b'\n', b' ', b'/', b'=', b',']),
                );
            }
        }
        if self.rng.pct(5) {
            b.resize(self.rng.below(300) as usize, b'z');
        }
        if self.rng.pct(50) {
            b.push(b'\n');
        }
        match String::from_utf8(b.clone()) {
            Ok(s) if !self.claim_safe(&s) => return,
            Ok(s) => line = s,
            Err(_) => {
                if !self.claim_safe(&String::from_utf8_lossy(&b)) {
                    return;
                }
            }
        }
        self.what = format!("claim {:?}", String::from_utf8_lossy(&b));
        if self.write_cmd("claim write", fd, &b, Expect::Any).is_ok()
            && line.trim() != "clear"
            && !line.trim().starts_with('-')
        {
            self.claim_added += 1;
        }
    }

    /// A line for the edu sample's run file that it must refuse.
    fn edu_run_line(&mut self) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "roundtrip",
            "sg",
            "sg_mixed",
            "attach",
            "detach",
            "dma_bits",
            "coherent",
            "declare",
            "release",
            "fragment",
            "coh_check",
            "exhaust",
        ];
        const REFUSED: [&str; 15] = [
            "roundtrip 0",
            "roundtrip 1048577",
            "roundtrip x",
            "sg 0",
            "sg 513",
            "sg -1",
            "sg_mixed 1",
            "sg_mixed 513",
            "dma_bits 11",
            "dma_bits 65",
            "dma_bits 0x20",
            "dma_bits",
            "attach bogus",
            "attach lazy bogus",
            "detach now",
        ];
        match self.rng.below(5) {
            0 => self.rng.pick(&REFUSED).as_bytes().to_vec(),
            1 => {
                // A command word with a byte no command has.
                let mut w = self.rng.pick(&WORDS).as_bytes().to_vec();
                let i = self.rng.below(w.len() as u64 + 1) as usize;
                w.insert(i, self.rng.pick(b"AZ-.!:/=?#%\x7f\x80\xff\x00\t"));
                w
            }
            2 => (0..self.rng.below(140))
                .map(|_| self.rng.next() as u8)
                .collect(),
            3 => (0..self.rng.below(40))
                .map(|_| self.rng.pick(b"ABC!?-=.:0x12 \n"))
                .collect(),
            _ => {
                let mut w = self.rng.pick(&WORDS).to_uppercase().into_bytes();
                w.extend_from_slice(b" 1");
                w
            }
        }
    }

    /// Whether the edu sample must refuse `b`: no lower-case command word
    /// starts it, or it is one of the refused forms.
    fn edu_run_refused(b: &[u8]) -> bool {
        let Ok(s) = std::str::from_utf8(b) else {
            return true;
        };
        let s = s.trim_end_matches('\n');
        match s.split_whitespace().next() {
            None => true,
            Some(w) => {
                !w.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
                    || s.split_whitespace()
                        .nth(1)
                        .is_some_and(|a| !a.bytes().all(|c| c.is_ascii_lowercase()))
                    || s.contains("bogus")
                    || s.contains("now")
            }
        }
    }

    fn edu_run_write(&mut self) {
        if self.edu_runs.is_empty() {
            return;
        }
        let i = self.rng.below(self.edu_runs.len() as u64) as usize;
        let b = self.edu_run_line();
        if !Self::edu_run_refused(&b) {
            return;
        }
        let fd = self.edu_runs[i].fd;
        self.what = format!(
            "{} {:?}",
            self.edu_runs[i].path,
            String::from_utf8_lossy(&b)
        );
        let _ = self.write_cmd("edu run write", fd, &b, Expect::Fail);
    }

    fn debugfs_write(&mut self) {
        if self.debug_files.is_empty() {
            return;
        }
        let i = self.rng.below(self.debug_files.len() as u64) as usize;
        let (fd, target) = (self.debug_files[i].fd, self.debug_files[i].target);
        let b: Vec<u8> = match self.rng.below(4) {
            0 => b"flush\n".to_vec(),
            1 => (0..self.rng.below(200))
                .map(|_| self.rng.next() as u8)
                .collect(),
            _ => {
                let mut w = self
                    .rng
                    .pick(&["flush", "clear", "reset", "", "0", "1", "flush flush"])
                    .as_bytes()
                    .to_vec();
                self.mutate(&mut w);
                w
            }
        };
        let flush = b == b"flush\n" || b == b"flush";
        let exp = if flush && self.debug_files[i].path.ends_with("/stats") {
            Expect::Any
        } else {
            Expect::Fail
        };
        self.what = format!(
            "{} {:?}",
            self.debug_files[i].path,
            String::from_utf8_lossy(&b)
        );
        let _ = self.write_cmd(target, fd, &b, exp);
    }

    fn knob_write(&mut self) {
        if self.knobs.is_empty() {
            return;
        }
        let i = self.rng.below(self.knobs.len() as u64) as usize;
        if self.knobs[i].fixed {
            return;
        }
        let fd = self.knobs[i].fd;
        if self.knobs[i].inject {
            return self.inject_write(fd, i);
        }
        let b: Vec<u8> = match self.rng.below(6) {
            0 => b"0\n".to_vec(),
            1 => format!("{}\n", self.rng.below(101)).into_bytes(),
            2 => format!("{}\n", self.rng.pick(&EDGES) as i64).into_bytes(),
            3 => format!("{}\n", self.rng.pick(&EDGES)).into_bytes(),
            4 => (0..self.rng.below(40))
                .map(|_| self.rng.next() as u8)
                .collect(),
            _ => {
                let mut w = self
                    .rng
                    .pick(&[
                        "1",
                        "-1",
                        "on",
                        "off",
                        "y",
                        "n",
                        "99999999999999999999",
                        "1 2",
                        "0x10",
                    ])
                    .as_bytes()
                    .to_vec();
                self.mutate(&mut w);
                w
            }
        };
        self.what = format!("{} {:?}", self.knobs[i].path, String::from_utf8_lossy(&b));
        // SAFETY: `b` is the fuzzer's.
        let r = unsafe { write(fd, b.as_ptr().cast(), b.len()) } as i64;
        let _ = self.record("knob write", r, b.len() as i64, Expect::Any);
    }

    /// A command to rsdma's `inject` file.  Every command is refused,
    /// harmless (`off`, `reset`, `POINT off`), or arms a point only for
    /// its 4,000,000,000th call from now, which never comes: an armed
    /// point must not fail the calls the other targets make.
    fn inject_write(&mut self, fd: i32, i: usize) {
        let point = self.rng.pick(&INJECT_POINTS);
        let (b, exp): (Vec<u8>, Expect) = match self.rng.below(5) {
            0 => {
                let args = self.rng.pick(&[
                    "",
                    "0",
                    "-1",
                    "4294967296",
                    "x",
                    "1 0",
                    "1 4294967295",
                    "1 many",
                    "1 1 1",
                    "off now",
                ]);
                (format!("{point} {args}\n").into_bytes(), Expect::Errno(EINVAL))
            }
            1 => {
                let mut name = point.as_bytes().to_vec();
                self.mutate(&mut name);
                name.extend_from_slice(b" 4000000000");
                (name, Expect::Any)
            }
            2 => {
                let cmd = match self.rng.below(3) {
                    0 => "off".to_string(),
                    1 => "reset".to_string(),
                    _ => format!("{point} off"),
                };
                (cmd.into_bytes(), Expect::Errno(0))
            }
            3 => (
                format!("{point} 4000000000 {}", self.rng.below(3) + 1).into_bytes(),
                Expect::Errno(0),
            ),
            _ => (
                (0..self.rng.below(40)).map(|_| self.rng.next() as u8).collect(),
                Expect::Any,
            ),
        };
        self.what = format!("{} {:?}", self.knobs[i].path, String::from_utf8_lossy(&b));
        // SAFETY: `b` is the fuzzer's.
        let r = unsafe { write(fd, b.as_ptr().cast(), b.len()) } as i64;
        let _ = self.record("inject write", r, b.len() as i64, exp);
    }

    // --- The run ---

    fn step(&mut self) {
        match self.rng.below(200) {
            0..=15 => self.rsdma_alloc(),
            16..=35 => self.sync_range(),
            36..=41 => self.other_ioctl(),
            42..=61 => self.dmabuf_sync(),
            62..=75 => self.do_mmap(),
            76..=81 => {
                if !self.maps.is_empty() {
                    let i = self.rng.below(self.maps.len() as u64) as usize;
                    let partial = self.rng.pct(40);
                    self.unmap(i, partial);
                }
            }
            82..=87 => {
                if !self.bufs.is_empty() {
                    let i = self.rng.below(self.bufs.len() as u64) as usize;
                    self.drop_buf(i);
                }
            }
            88 => self.reopen_rsdma(),
            89..=104 => self.edu_import(),
            105..=112 => self.edu_release(),
            113..=117 => self.edu_remap(),
            // A transfer edu makes takes 100 ms or more.
            118..=123 => self.edu_xfer(),
            124..=136 => self.sync_range(),
            137 => self.sync_burst(),
            138..=155 => self.edu_sync(),
            156..=159 => self.edu_bench(),
            160 => self.edu_reopen(),
            161..=168 => self.claim_write(),
            169..=174 => self.edu_run_write(),
            175..=179 => self.debugfs_write(),
            180..=185 => self.knob_write(),
            186 if !self.threaded && self.rng.pct(50) => self.fork_child(),
            _ => {
                for _ in 0..4 {
                    self.touch();
                }
            }
        }
    }

    /// Puts the knobs back, forgets the claim specs, closes everything.
    fn finish(&mut self) {
        for k in &self.knobs {
            // Its first value, else 0 (a knob may show more than it
            // takes).
            let put = |v: &[u8]| {
                // SAFETY: writes `v`'s bytes.
                unsafe { write(k.fd, v.as_ptr().cast(), v.len()) == v.len() as isize }
            };
            if k.inject {
                if !put(b"off\n") {
                    println!("FAIL: could not disarm {} (off)", k.path);
                    self.failures += 1;
                }
            } else if !(!k.orig.is_empty() && put(&k.orig) || put(b"0\n")) {
                println!(
                    "FAIL: could not put {} back to {:?} or 0",
                    k.path,
                    String::from_utf8_lossy(&k.orig)
                );
                self.failures += 1;
            }
            close_fd(k.fd);
        }
        if let Some(fd) = self.claim {
            let b = b"clear\n";
            // SAFETY: writes `b`'s bytes.
            let r = unsafe { write(fd, b.as_ptr().cast(), b.len()) };
            if r != b.len() as isize {
                println!("FAIL: clearing the claim specs failed");
                self.failures += 1;
            }
            close_fd(fd);
        }
        while !self.maps.is_empty() {
            self.unmap(0, false);
        }
        while !self.bufs.is_empty() {
            self.drop_buf(0);
        }
        for f in self.edus.drain(..) {
            close_fd(f.fd);
        }
        for b in self.udmabufs.drain(..) {
            close_fd(b.fd);
        }
        for &fd in &self.foreign {
            close_fd(fd);
        }
        for f in self.debug_files.iter().chain(self.edu_runs.iter()) {
            close_fd(f.fd);
        }
        close_fd(self.rsdma);
    }

    fn print_table(&self, secs: f64) {
        let mut cols: Vec<i32> = self
            .table
            .values()
            .flat_map(|m| m.keys().copied())
            .collect();
        cols.sort();
        cols.dedup();
        let name = |c: i32| {
            if c == 0 {
                "ok".to_string()
            } else if c < 0 {
                "bad-return".into()
            } else {
                errno_name(c)
            }
        };
        let mut head = format!("{:<22}", "target");
        for &c in &cols {
            head += &format!(" {:>8}", name(c));
        }
        println!("{head} {:>8} {:>8}", "total", "seconds");
        let mut totals = vec![0u64; cols.len()];
        for (t, m) in &self.table {
            let mut line = format!("{t:<22}");
            let mut sum = 0;
            for (i, c) in cols.iter().enumerate() {
                let n = m.get(c).copied().unwrap_or(0);
                totals[i] += n;
                sum += n;
                line += &format!(" {:>8}", if n == 0 { "-".into() } else { n.to_string() });
            }
            let secs = self.time.get(t).map_or(0.0, |d| d.as_secs_f64());
            println!("{line} {sum:>8} {secs:>8.1}");
        }
        let mut line = format!("{:<22}", "all");
        for n in &totals {
            line += &format!(" {n:>8}");
        }
        println!("{line} {:>8}", totals.iter().sum::<u64>());
        println!(
            "rsdma-fuzz: slowest step {:.2} s: {}",
            self.slowest.0.as_secs_f64(),
            self.slowest.1
        );
        println!(
            "rsdma-fuzz: {} calls in {:.1} s, {} failures",
            self.calls, secs, self.failures
        );
    }
}

fn place_name(p: Place) -> String {
    match p {
        Place::Good => "arg".into(),
        Place::Bad(a) => format!("{a:#x}"),
        Place::Straddle => "guard".into(),
        Place::ReadOnly => "ro".into(),
    }
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Maps the fuzzer's memory for pointers: see [`Mem`].
fn map_mem() -> Option<Mem> {
    let anon = |len: usize, prot: i32| -> Option<usize> {
        // SAFETY: a fresh anonymous mapping the kernel places.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (p as isize != -1).then_some(p as usize)
    };
    let pg = page() as usize;
    let arg = anon(4 * pg, PROT_READ | PROT_WRITE)?;
    // SAFETY: pages of the mapping just made.
    unsafe {
        mprotect((arg + pg) as *mut c_void, pg, PROT_NONE);
        mprotect((arg + 2 * pg) as *mut c_void, pg, PROT_READ);
        mprotect((arg + 3 * pg) as *mut c_void, pg, PROT_NONE);
    }
    let scratch = anon(SCRATCH + pg, PROT_READ | PROT_WRITE)?;
    // SAFETY: the last page of the mapping just made.
    unsafe { mprotect((scratch + SCRATCH) as *mut c_void, pg, PROT_NONE) };
    Some(Mem {
        arg,
        ro: arg + 2 * pg,
        hole: arg + 3 * pg,

        scratch,
    })
}

/// A udmabuf of `size` bytes (a foreign dma-buf), if the kernel has them.
fn udmabuf(size: u64) -> Option<i32> {
    let dev = open_path("/dev/udmabuf", O_RDWR);
    if dev < 0 {
        return None;
    }
    let name = cpath("rsdma-fuzz");
    // SAFETY: `name` is NUL-terminated.
    let mfd = unsafe { memfd_create(name.as_ptr(), MFD_ALLOW_SEALING) };
    let mut fd = -1;
    // SAFETY: calls on the descriptors just made; the ioctl reads the
    // 24-byte `struct udmabuf_create` in `c`.
    unsafe {
        if mfd >= 0
            && ftruncate(mfd, size as i64) == 0
            && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0
        {
            let mut c = [0u64; 3];
            c[0] = mfd as u32 as u64 | (1u64 << 32);
            c[1] = 0;
            c[2] = size;
            fd = ioctl(dev, UDMABUF_CREATE, c.as_mut_ptr());
        }
    }
    if mfd >= 0 {
        close_fd(mfd);
    }
    close_fd(dev);
    (fd >= 0).then_some(fd)
}

fn guest_vendors() -> Vec<u16> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/bus/pci/devices") {
        for d in rd.flatten() {
            if let Some(b) = read_file(&format!("{}/vendor", d.path().display())) {
                if let Some(x) = parse_num(String::from_utf8_lossy(&b).trim()) {
                    v.push(x as u16);
                }
            }
        }
    }
    v
}

/// The debugfs files to write: rsdma's fixed ones, each device's, the
/// edu sample's run files, and the knobs (anything else).
fn debugfs_files(with_knobs: bool) -> (Vec<DebugFile>, Vec<DebugFile>, Vec<Knob>) {
    let (mut files, mut runs, mut knobs) = (Vec::new(), Vec::new(), Vec::new());
    let fixed = ["claim", "dmabuf"];
    let device = ["stats", "mappings", "declared"];
    let mut add_knob = |p: String| {
        if !with_knobs {
            return;
        }
        let orig = read_file(&p).unwrap_or_default();
        let fd = open_path(&p, O_WRONLY);
        if fd >= 0 {
            let fixed = p
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("verbose"));
            if fixed {
                // SAFETY: writes two bytes.
                unsafe { write(fd, b"0\n".as_ptr().cast(), 2) };
            }
            println!(
                "rsdma-fuzz: knob {p} (was {:?}){}",
                String::from_utf8_lossy(&orig).trim(),
                if fixed { ", held at 0" } else { "" }
            );
            let inject = p == format!("{RSDMA_DEBUGFS}/inject");
            knobs.push(Knob {
                path: p,
                fd,
                orig,
                fixed,
                inject,
            });
        }
    };
    if let Ok(rd) = std::fs::read_dir(RSDMA_DEBUGFS) {
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ps = p.display().to_string();
            if p.is_dir() {
                if p.join("stats").exists() {
                    for f in device {
                        let fp = format!("{ps}/{f}");
                        let fd = open_path(&fp, O_WRONLY);
                        if fd >= 0 {
                            files.push(DebugFile {
                                target: "debugfs write",
                                path: fp,
                                fd,
                            });
                        }
                    }
                } else if let Ok(sub) = std::fs::read_dir(&p) {
                    let mut s: Vec<_> = sub
                        .flatten()
                        .map(|e| e.path())
                        .filter(|q| q.is_file())
                        .collect();
                    s.sort();
                    for q in s {
                        add_knob(q.display().to_string());
                    }
                }
            } else if name == "dmabuf" {
                let fd = open_path(&ps, O_WRONLY);
                if fd >= 0 {
                    files.push(DebugFile {
                        target: "debugfs write",
                        path: ps,
                        fd,
                    });
                }
            } else if !fixed.contains(&name.as_str()) {
                add_knob(ps);
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(EDU_DEBUGFS) {
        for d in rd.flatten() {
            let p = format!("{}/run", d.path().display());
            let fd = open_path(&p, O_WRONLY);
            if fd >= 0 {
                runs.push(DebugFile {
                    target: "edu run write",
                    path: p,
                    fd,
                });
            }
        }
    }
    (files, runs, knobs)
}

/// What every fuzzer of a run shares.
struct Shared {
    verbose: bool,
    edu_paths: Vec<String>,
    guest_vendors: Vec<u16>,
    /// Calls made by all of them, and how many to make.
    calls: AtomicU64,
    n: u64,
    t0: Instant,
}

impl Fuzz {
    /// A fuzzer with descriptors of its own; `first` takes the knobs
    /// (one fuzzer of a run does); `threaded` when it runs beside others.
    fn new(seed: u64, sh: &Shared, first: bool, threaded: bool) -> Result<Self, String> {
        let rsdma = open_path("/dev/rsdma", O_RDWR);
        if rsdma < 0 {
            return Err(format!("/dev/rsdma: {}", Error::last_os_error()));
        }
        let mem = map_mem().ok_or("cannot map its own memory")?;
        let mut foreign = vec![open_path("/dev/null", O_RDWR)];
        let mut p = [-1i32; 2];
        // SAFETY: `p` holds two descriptors.
        if unsafe { pipe(p.as_mut_ptr()) } == 0 {
            foreign.extend_from_slice(&p);
        }
        let name = cpath("rsdma-fuzz-memfd");
        // SAFETY: `name` is NUL-terminated.
        let mfd = unsafe { memfd_create(name.as_ptr(), 0) };
        if mfd >= 0 {
            // SAFETY: sizes the memfd just made.
            unsafe { ftruncate(mfd, 65536) };
            foreign.push(mfd);
        }
        foreign.push(open_path(RSDMA_DEBUGFS, O_RDONLY));
        foreign.retain(|&fd| fd >= 0);
        let udmabufs: Vec<Buf> = [page(), 16 * page()]
            .iter()
            .filter_map(|&s| udmabuf(s).map(|fd| Buf { fd, size: s }))
            .collect();
        let mut edus = Vec::new();
        for (dev, path) in sh.edu_paths.iter().enumerate() {
            for _ in 0..2 {
                let fd = open_path(path, O_RDWR);
                if fd < 0 {
                    return Err(format!("{path}: {}", Error::last_os_error()));
                }
                edus.push(EduFile {
                    fd,
                    dev,
                    imps: Vec::new(),
                    released: Vec::new(),
                });
            }
        }
        let (debug_files, edu_runs, knobs) = debugfs_files(first);
        let claim =
            Some(open_path(&format!("{RSDMA_DEBUGFS}/claim"), O_WRONLY)).filter(|&fd| fd >= 0);
        Ok(Fuzz {
            rng: Rng::new(seed),
            verbose: sh.verbose,
            threaded,
            rsdma,
            bufs: Vec::new(),
            live_bytes: 0,
            udmabufs,
            foreign,
            closed: Vec::new(),
            maps: Vec::new(),
            edu_paths: sh.edu_paths.clone(),
            edus,
            stale: Vec::new(),
            claim,
            claim_added: 0,
            guest_vendors: sh.guest_vendors.clone(),
            debug_files,
            edu_runs,
            knobs,
            mem,
            argbuf: vec![0u64; 64],
            table: BTreeMap::new(),
            calls: 0,
            failures: 0,
            what: String::new(),
            last_target: "",
            time: BTreeMap::new(),
            slowest: (Duration::ZERO, String::new()),
        })
    }

    /// Makes calls until the run has made its count; `progress`: prints
    /// a line of it every 10 s.
    fn run(&mut self, sh: &Shared, progress: bool) {
        let mut next = sh.t0 + Duration::from_secs(10);
        while sh.calls.load(Relaxed) < sh.n {
            if self.rsdma < 0 {
                self.rsdma = open_path("/dev/rsdma", O_RDWR);
            }
            let (t, c) = (Instant::now(), self.calls);
            self.last_target = "";
            self.step();
            sh.calls.fetch_add(self.calls - c, Relaxed);
            let d = t.elapsed();
            *self.time.entry(self.last_target).or_default() += d;
            if d > self.slowest.0 {
                self.slowest = (d, self.what.clone());
            }
            if progress && Instant::now() >= next {
                next += Duration::from_secs(10);
                let imps: usize = self.edus.iter().map(|e| e.imps.len()).sum();
                let line = format!(
                    "rsdma-fuzz: {} calls, {:.0} s, {} buffers, {} maps, {} imports, {} failures",
                    sh.calls.load(Relaxed),
                    sh.t0.elapsed().as_secs_f64(),
                    self.bufs.len(),
                    self.maps.len(),
                    imps,
                    self.failures
                );
                println!("{line}");
                let _ = std::io::stdout().flush();
                kmsg(&format!("{line}\n"));
            }
        }
        self.finish();
    }

    /// Adds another fuzzer's results to these.
    fn merge(&mut self, o: Fuzz) {
        for (t, m) in o.table {
            let mine = self.table.entry(t).or_default();
            for (k, n) in m {
                *mine.entry(k).or_default() += n;
            }
        }
        for (t, d) in o.time {
            *self.time.entry(t).or_default() += d;
        }
        if o.slowest.0 > self.slowest.0 {
            self.slowest = o.slowest;
        }
        self.calls += o.calls;
        self.failures += o.failures;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut n = 100_000u64;
    let mut threads = 1u64;
    let mut verbose = false;
    let mut edu_paths = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "-s" => {
                seed = parse_num(&v).unwrap_or_else(|| usage("bad seed"));
                i += 1;
            }
            "-n" => {
                n = parse_num(&v).unwrap_or_else(|| usage("bad call count"));
                i += 1;
            }
            "-t" => {
                threads = parse_num(&v)
                    .filter(|t| (1..=16).contains(t))
                    .unwrap_or_else(|| usage("threads: 1 to 16"));
                i += 1;
            }
            "--edu" => {
                edu_paths.push(v);
                i += 1;
            }
            "-v" => verbose = true,
            a => usage(&format!("unknown argument '{a}'")),
        }
        i += 1;
    }
    println!(
        "rsdma-fuzz: seed {seed:#x}, {n} calls, {threads} thread(s) (replay: rsdma-fuzz -s {seed:#x} -n {n} -t {threads})"
    );
    kmsg(&format!(
        "rsdma-fuzz: seed {seed:#x}, {n} calls, {threads} thread(s)\n"
    ));
    let sh = Arc::new(Shared {
        verbose,
        edu_paths,
        guest_vendors: guest_vendors(),
        calls: AtomicU64::new(0),
        n,
        t0: Instant::now(),
    });
    let threaded = threads > 1;
    let mut fuzzers = Vec::new();
    for k in 0..threads {
        match Fuzz::new(seed.wrapping_add(k), &sh, k == 0, threaded) {
            Ok(f) => fuzzers.push(f),
            Err(e) => {
                eprintln!("rsdma-fuzz: {e}");
                std::process::exit(2);
            }
        }
    }
    let f0 = &fuzzers[0];
    println!(
        "rsdma-fuzz: each thread: {} edu files, {} udmabufs, {} debugfs files, {} edu run files, claim file {}; {} knobs",
        f0.edus.len(),
        f0.udmabufs.len(),
        f0.debug_files.len(),
        f0.edu_runs.len(),
        if f0.claim.is_some() { "yes" } else { "no" },
        f0.knobs.len(),
    );
    let mut first = fuzzers.remove(0);
    let others: Vec<_> = fuzzers
        .into_iter()
        .map(|mut f| {
            let sh = sh.clone();
            std::thread::spawn(move || {
                f.run(&sh, false);
                f
            })
        })
        .collect();
    first.run(&sh, true);
    for h in others {
        match h.join() {
            Ok(f) => first.merge(f),
            Err(_) => {
                println!("FAIL: a fuzzer thread panicked");
                first.failures += 1;
            }
        }
    }
    first.print_table(sh.t0.elapsed().as_secs_f64());
    kmsg(&format!(
        "rsdma-fuzz: done, {} calls, {} failures\n",
        first.calls, first.failures
    ));
    if first.failures > 0 {
        std::process::exit(1);
    }
}

fn usage(why: &str) -> ! {
    eprintln!("rsdma-fuzz: {why}\nusage: rsdma-fuzz [-s SEED] [-n CALLS] [-t THREADS] [-v] [--edu PATH]...");
    std::process::exit(2);
}
