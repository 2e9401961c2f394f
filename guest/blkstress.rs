//! blkstress: writes and verifies checksummed sectors on a block device
//! with O_DIRECT, for a given time, in a region of its own.
//!
//! Usage: blkstress DEVICE FIRST_MIB MIB SECONDS [ID]
//!
//! Each 512-byte sector written carries a magic, its own sector number,
//! the generation of the write that wrote it, the writer's ID, a payload
//! that depends on the sector and generation only, and a checksum of all
//! that.  The program keeps the generation of every sector of its region
//! (FIRST_MIB..FIRST_MIB+MIB, which must read as zeros at the start), and
//! until SECONDS have passed it either writes a run of 1 to 256 sectors at
//! a random place with a new generation and reads it back, or reads a
//! random run and checks it against what it wrote there last (or zeros).
//! The I/O buffers start at random 512-byte offsets in their pages, so
//! the DMA segments differ from one request to the next.  At the end the
//! whole region is read back once more and checked.
//!
//! Every 10 s it prints its progress; the last line is
//! `blkstress ID: ops N writes N reads N bytes N corruptions N errors N seconds N`
//! and the exit status is 0 only with no corruption and no I/O error.

use std::alloc::{alloc_zeroed, Layout};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, Instant};

const O_DIRECT: i32 = 0o200000; // arm64
const SECTOR: usize = 512;
const MAX_RUN: usize = 256;
const MAGIC: &[u8; 8] = b"RSDMABLK";
/// Bytes of a sector the checksum covers; the checksum fills the rest.
const SUMMED: usize = SECTOR - 8;
/// Corruptions described in full; the rest are only counted.
const DESCRIBED: u64 = 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a, 64 bits.
fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The sector `lba` as generation `gen` of writer `id` writes it.
fn encode(s: &mut [u8], lba: u64, gen: u64, id: u32) {
    s[0..8].copy_from_slice(MAGIC);
    s[8..16].copy_from_slice(&lba.to_le_bytes());
    s[16..24].copy_from_slice(&gen.to_le_bytes());
    s[24..28].copy_from_slice(&id.to_le_bytes());
    let mut r = Rng((lba.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ gen) | 1);
    for c in s[28..SUMMED].chunks_mut(8) {
        let v = r.next().to_le_bytes();
        c.copy_from_slice(&v[..c.len()]);
    }
    let sum = checksum(&s[..SUMMED]);
    s[SUMMED..SECTOR].copy_from_slice(&sum.to_le_bytes());
}

fn word(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

/// What is wrong with sector `lba` as read (`s`), given the generation
/// last written there (0: never, so all zeros); `None` if nothing.
fn verify(s: &[u8], lba: u64, gen: u64, id: u32) -> Option<String> {
    if gen == 0 {
        return match s.iter().position(|&b| b != 0) {
            None => None,
            Some(i) => Some(format!(
                "never written, byte {} is {:#x} (magic ok: {}, lba {}, gen {})",
                i,
                s[i],
                &s[0..8] == MAGIC,
                word(s, 8),
                word(s, 16)
            )),
        };
    }
    let mut want = [0u8; SECTOR];
    encode(&mut want, lba, gen, id);
    if s == want {
        return None;
    }
    let sum_ok = checksum(&s[..SUMMED]) == word(s, SUMMED);
    Some(format!(
        "expected generation {}: magic {}, lba {} (want {}), generation {}, checksum {}",
        gen,
        if &s[0..8] == MAGIC { "ok" } else { "BAD" },
        word(s, 8),
        lba,
        word(s, 16),
        if sum_ok {
            "ok (stale or misplaced data)"
        } else {
            "BAD"
        }
    ))
}

struct Stress {
    dev: File,
    id: u32,
    /// First sector of the region.
    first: u64,
    /// Generation last written to each sector of the region.
    gens: Vec<u64>,
    next_gen: u64,
    /// The I/O buffer: room for the longest run past any in-page offset.
    buf: &'static mut [u8],
    ops: u64,
    writes: u64,
    reads: u64,
    bytes: u64,
    corruptions: u64,
    errors: u64,
}

impl Stress {
    /// Part of the buffer at a random 512-byte offset, `n` sectors long.
    fn window(&mut self, rng: &mut Rng, n: usize) -> (usize, usize) {
        let off = rng.below(8) as usize * SECTOR;
        (off, off + n * SECTOR)
    }

    fn io_error(&mut self, what: &str, at: u64, n: usize, e: std::io::Error) {
        self.errors += 1;
        if self.errors <= DESCRIBED {
            eprintln!(
                "blkstress {}: {} of {} sectors at {}: {}",
                self.id, what, n, at, e
            );
        }
    }

    /// Reads `n` sectors from region sector `i` and checks each one.
    fn read_check(&mut self, rng: &mut Rng, i: usize, n: usize) {
        let (a, b) = self.window(rng, n);
        let lba = self.first + i as u64;
        let r = self.dev.read_at(&mut self.buf[a..b], lba * SECTOR as u64);
        self.ops += 1;
        self.reads += 1;
        match r {
            Ok(got) if got == n * SECTOR => {}
            Ok(got) => {
                let e = std::io::Error::other(format!("short read of {} bytes", got));
                return self.io_error("read", lba, n, e);
            }
            Err(e) => return self.io_error("read", lba, n, e),
        }
        self.bytes += (n * SECTOR) as u64;
        for k in 0..n {
            let s = &self.buf[a + k * SECTOR..a + (k + 1) * SECTOR];
            if let Some(why) = verify(s, lba + k as u64, self.gens[i + k], self.id) {
                self.corruptions += 1;
                if self.corruptions <= DESCRIBED {
                    eprintln!(
                        "blkstress {}: CORRUPTION at sector {} ({} of a {}-sector read): {}",
                        self.id,
                        lba + k as u64,
                        k,
                        n,
                        why
                    );
                }
            }
        }
    }

    /// Writes `n` sectors at region sector `i` with a new generation.
    fn write(&mut self, rng: &mut Rng, i: usize, n: usize) {
        let (a, b) = self.window(rng, n);
        let lba = self.first + i as u64;
        let gen = self.next_gen;
        self.next_gen += 1;
        for k in 0..n {
            encode(
                &mut self.buf[a + k * SECTOR..a + (k + 1) * SECTOR],
                lba + k as u64,
                gen,
                self.id,
            );
        }
        let r = self.dev.write_at(&self.buf[a..b], lba * SECTOR as u64);
        self.ops += 1;
        self.writes += 1;
        match r {
            Ok(put) if put == n * SECTOR => {
                self.bytes += (n * SECTOR) as u64;
                for g in &mut self.gens[i..i + n] {
                    *g = gen;
                }
            }
            // What the sectors hold now is unknown: stop checking them.
            Ok(_) | Err(_) => {
                let e = match r {
                    Err(e) => e,
                    Ok(put) => std::io::Error::other(format!("short write of {} bytes", put)),
                };
                self.io_error("write", lba, n, e);
                for g in &mut self.gens[i..i + n] {
                    *g = u64::MAX;
                }
            }
        }
    }

    fn report(&self, secs: u64, last: bool) {
        if last {
            println!(
                "blkstress {}: ops {} writes {} reads {} bytes {} corruptions {} errors {} seconds {}",
                self.id, self.ops, self.writes, self.reads, self.bytes, self.corruptions, self.errors, secs
            );
        } else {
            println!(
                "blkstress {}: {} s: {} ops ({} writes, {} reads), {} MiB, {} corruptions, {} errors",
                self.id,
                secs,
                self.ops,
                self.writes,
                self.reads,
                self.bytes >> 20,
                self.corruptions,
                self.errors
            );
        }
    }
}

fn parse(s: &str, what: &str) -> u64 {
    s.parse().unwrap_or_else(|_| {
        eprintln!("blkstress: {} '{}' is not a number", what, s);
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 || args.len() > 6 {
        eprintln!("usage: blkstress DEVICE FIRST_MIB MIB SECONDS [ID]");
        std::process::exit(2);
    }
    let first_mib = parse(&args[2], "FIRST_MIB");
    let mib = parse(&args[3], "MIB");
    let seconds = parse(&args[4], "SECONDS");
    let id = args.get(5).map_or(0, |s| parse(s, "ID")) as u32;
    if mib == 0 {
        eprintln!("blkstress: an empty region");
        std::process::exit(2);
    }
    let dev = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_DIRECT)
        .open(&args[1])
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("blkstress: {}: {}", args[1], e);
            std::process::exit(2);
        }
    };
    let mut seed = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .is_err()
    {
        seed = (Instant::now().elapsed().as_nanos() as u64 ^ id as u64).to_le_bytes();
    }
    let mut rng = Rng(u64::from_le_bytes(seed) | 1);
    let sectors = (mib << 20) as usize / SECTOR;
    let len = MAX_RUN * SECTOR + 4096;
    let layout = match Layout::from_size_align(len, 4096) {
        Ok(l) => l,
        Err(_) => std::process::exit(2),
    };
    // SAFETY: the layout has a non-zero size; the buffer lives as long as
    // the program.
    let ptr = unsafe { alloc_zeroed(layout) };
    if ptr.is_null() {
        eprintln!("blkstress: out of memory");
        std::process::exit(2);
    }
    // SAFETY: `ptr` is a new allocation of `len` bytes, zeroed.
    let buf = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
    let mut st = Stress {
        dev,
        id,
        first: (first_mib << 20) / SECTOR as u64,
        gens: vec![0; sectors],
        next_gen: 1,
        buf,
        ops: 0,
        writes: 0,
        reads: 0,
        bytes: 0,
        corruptions: 0,
        errors: 0,
    };
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut shown = start;
    while Instant::now() < end {
        // Mostly short runs, some long ones.
        let max = if rng.below(4) == 0 { MAX_RUN } else { 16 };
        let n = (1 + rng.below(max as u64) as usize).min(sectors);
        let i = rng.below((sectors - n + 1) as u64) as usize;
        if st.gens[i..i + n].contains(&u64::MAX) || rng.below(5) < 2 {
            // Sectors of a failed write hold unknown data: write them again.
            if st.gens[i..i + n].contains(&u64::MAX) {
                st.write(&mut rng, i, n);
            } else {
                st.read_check(&mut rng, i, n);
            }
        } else {
            st.write(&mut rng, i, n);
            st.read_check(&mut rng, i, n);
        }
        if shown.elapsed() >= Duration::from_secs(10) {
            shown = Instant::now();
            st.report(start.elapsed().as_secs(), false);
        }
    }
    // The whole region once more.
    let mut i = 0;
    while i < sectors {
        let n = MAX_RUN.min(sectors - i);
        if !st.gens[i..i + n].contains(&u64::MAX) {
            st.read_check(&mut rng, i, n);
        }
        i += n;
    }
    st.report(start.elapsed().as_secs(), true);
    std::process::exit(if st.corruptions == 0 && st.errors == 0 {
        0
    } else {
        1
    });
}
