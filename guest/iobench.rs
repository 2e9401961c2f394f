//! iobench: block-device I/O at a fixed queue depth with O_DIRECT, through
//! Linux native AIO (`io_submit`), for a fixed time.  Prints one line:
//!
//! `IO op=randread bs=4096 qd=32 ios=N bytes=N us=N iops=N kbps=N`
//!
//! Usage: iobench DEVICE OP BS QD MS [SPAN_MIB]
//!   OP        randread (offsets uniform over the span, BS aligned),
//!             seqread or seqwrite (from offset 0, wrapping at the span)
//!   BS        bytes per I/O, a multiple of 4096
//!   QD        I/Os kept in flight (1 to 256)
//!   MS        run time in ms
//!   SPAN_MIB  the part of the device used (default: all of it)
//!
//! Exit 0 on success; 1 on a bad argument or any failed or short I/O.

use std::ffi::c_long;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// arm64's `O_DIRECT` (asm/fcntl.h; not the x86 value).
const O_DIRECT: i32 = 0o200000;
const SYS_IO_SETUP: c_long = 0;
const SYS_IO_DESTROY: c_long = 1;
const SYS_IO_SUBMIT: c_long = 2;
const SYS_IO_GETEVENTS: c_long = 4;
const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const ALIGN: usize = 4096;

extern "C" {
    fn syscall(n: c_long, ...) -> c_long;
}

/// `struct iocb` (linux/aio_abi.h, little endian).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Iocb {
    data: u64,
    key: u32,
    rw_flags: i32,
    opcode: u16,
    reqprio: i16,
    fildes: u32,
    buf: u64,
    nbytes: u64,
    offset: i64,
    reserved2: u64,
    flags: u32,
    resfd: u32,
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    RandRead,
    SeqRead,
    SeqWrite,
}

/// Memory aligned for O_DIRECT, freed on drop.
struct Buffer {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Buffer {
    fn new(len: usize, fill: u8) -> Result<Self, String> {
        let layout = std::alloc::Layout::from_size_align(len, ALIGN).map_err(|e| e.to_string())?;
        // SAFETY: `layout` has a non-zero size (checked by the caller).
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err("out of memory".into());
        }
        // SAFETY: `ptr` is valid for `len` bytes.
        unsafe { std::ptr::write_bytes(ptr, fill, len) };
        Ok(Self { ptr, layout })
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// An AIO context, destroyed on drop.
struct Context(u64);

impl Context {
    fn new(events: usize) -> Result<Self, String> {
        let mut ctx = 0u64;
        // SAFETY: io_setup writes the context id to `ctx`.
        let r = unsafe { syscall(SYS_IO_SETUP, events as c_long, &mut ctx as *mut u64) };
        if r != 0 {
            return Err(format!("io_setup: {}", std::io::Error::last_os_error()));
        }
        Ok(Self(ctx))
    }

    fn submit(&self, iocbs: &mut [*mut Iocb]) -> Result<(), String> {
        let mut done = 0;
        while done < iocbs.len() {
            let rest = &mut iocbs[done..];
            // SAFETY: every pointer is to an iocb that outlives the I/O
            // (the caller's table, kept until every event is reaped).
            let r = unsafe {
                syscall(SYS_IO_SUBMIT, self.0 as c_long, rest.len() as c_long, rest.as_mut_ptr())
            };
            if r <= 0 {
                return Err(format!("io_submit: {}", std::io::Error::last_os_error()));
            }
            done += r as usize;
        }
        Ok(())
    }

    fn reap(&self, events: &mut [IoEvent], min: usize) -> Result<usize, String> {
        loop {
            // SAFETY: `events` is valid for its length; no timeout.
            let r = unsafe {
                syscall(
                    SYS_IO_GETEVENTS,
                    self.0 as c_long,
                    min as c_long,
                    events.len() as c_long,
                    events.as_mut_ptr(),
                    std::ptr::null::<u8>(),
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("io_getevents: {}", e));
            }
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context is ours; every I/O was reaped.
        unsafe { syscall(SYS_IO_DESTROY, self.0 as c_long) };
    }
}

/// xorshift64*: offsets for the random reads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

struct Args {
    path: String,
    op: Op,
    bs: usize,
    qd: usize,
    ms: u64,
    span_mib: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 && a.len() != 7 {
        return Err("usage: iobench DEVICE randread|seqread|seqwrite BS QD MS [SPAN_MIB]".into());
    }
    let num = |s: &str, what: &str| -> Result<u64, String> {
        s.parse::<u64>().map_err(|_| format!("{} must be a number, not '{}'", what, s))
    };
    let op = match a[2].as_str() {
        "randread" => Op::RandRead,
        "seqread" => Op::SeqRead,
        "seqwrite" => Op::SeqWrite,
        o => return Err(format!("unknown op '{}'", o)),
    };
    let bs = num(&a[3], "BS")? as usize;
    if bs == 0 || bs % ALIGN != 0 || bs > 4 << 20 {
        return Err(format!("BS must be a multiple of {} up to 4 MiB", ALIGN));
    }
    let qd = num(&a[4], "QD")? as usize;
    if !(1..=256).contains(&qd) {
        return Err("QD must be 1 to 256".into());
    }
    let ms = num(&a[5], "MS")?;
    let span_mib = match a.get(6) {
        Some(s) => Some(num(s, "SPAN_MIB")?),
        None => None,
    };
    Ok(Args {
        path: a[1].clone(),
        op,
        bs,
        qd,
        ms,
        span_mib,
    })
}

fn run(a: &Args) -> Result<String, String> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(a.op == Op::SeqWrite)
        .custom_flags(O_DIRECT)
        .open(&a.path)
        .map_err(|e| format!("{}: {}", a.path, e))?;
    let size = f.seek(SeekFrom::End(0)).map_err(|e| format!("{}: {}", a.path, e))?;
    let span = match a.span_mib {
        Some(m) => size.min(m << 20),
        None => size,
    };
    let blocks = span / a.bs as u64;
    if blocks == 0 {
        return Err(format!("{} holds no {}-byte block in its span", a.path, a.bs));
    }
    let fd = f.as_raw_fd() as u32;
    let ctx = Context::new(a.qd)?;
    let bufs = (0..a.qd)
        .map(|i| Buffer::new(a.bs, i as u8))
        .collect::<Result<Vec<_>, _>>()?;
    let mut iocbs = vec![Iocb::default(); a.qd];
    let mut events = vec![IoEvent::default(); a.qd];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut next_seq = 0u64;
    let mut offset = |rng: &mut Rng| -> i64 {
        let block = match a.op {
            Op::RandRead => rng.next() % blocks,
            Op::SeqRead | Op::SeqWrite => {
                let b = next_seq % blocks;
                next_seq += 1;
                b
            }
        };
        (block * a.bs as u64) as i64
    };
    let opcode = if a.op == Op::SeqWrite {
        IOCB_CMD_PWRITE
    } else {
        IOCB_CMD_PREAD
    };
    for (i, cb) in iocbs.iter_mut().enumerate() {
        *cb = Iocb {
            data: i as u64,
            opcode,
            fildes: fd,
            buf: bufs[i].ptr as u64,
            nbytes: a.bs as u64,
            offset: offset(&mut rng),
            ..Iocb::default()
        };
    }
    let base = iocbs.as_mut_ptr();
    let mut ptrs: Vec<*mut Iocb> = (0..a.qd).map(|i| base.wrapping_add(i)).collect();
    let deadline = Duration::from_millis(a.ms);
    let start = Instant::now();
    ctx.submit(&mut ptrs)?;
    let mut in_flight = a.qd;
    let mut ios = 0u64;
    let mut stopping = false;
    let mut again = Vec::with_capacity(a.qd);
    while in_flight > 0 {
        let n = ctx.reap(&mut events, 1)?;
        in_flight -= n;
        again.clear();
        for ev in &events[..n] {
            if ev.res != a.bs as i64 {
                return Err(format!(
                    "I/O at {} returned {} (wanted {})",
                    iocbs.get(ev.data as usize).map_or(-1, |c| c.offset),
                    ev.res,
                    a.bs
                ));
            }
            ios += 1;
            let i = ev.data as usize;
            if !stopping && i < iocbs.len() {
                iocbs[i].offset = offset(&mut rng);
                again.push(base.wrapping_add(i));
            }
        }
        if !stopping && start.elapsed() >= deadline {
            stopping = true;
            again.clear();
        }
        if !again.is_empty() {
            in_flight += again.len();
            ctx.submit(&mut again)?;
        }
    }
    let us = start.elapsed().as_micros().max(1) as u64;
    let bytes = ios * a.bs as u64;
    let name = match a.op {
        Op::RandRead => "randread",
        Op::SeqRead => "seqread",
        Op::SeqWrite => "seqwrite",
    };
    Ok(format!(
        "IO op={} bs={} qd={} ios={} bytes={} us={} iops={} kbps={}",
        name,
        a.bs,
        a.qd,
        ios,
        bytes,
        us,
        ios * 1_000_000 / us,
        bytes * 1_000_000 / 1024 / us
    ))
}

fn main() {
    let r = parse_args().and_then(|a| run(&a));
    match r {
        Ok(line) => println!("{}", line),
        Err(e) => {
            eprintln!("iobench: {}", e);
            std::process::exit(1);
        }
    }
}
