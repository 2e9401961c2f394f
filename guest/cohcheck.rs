//! cohcheck: checks a coherent DMA buffer from userspace.
//!
//! `cohcheck mmap DEVICE SIZE SEED RUNFILE` maps SIZE bytes of DEVICE (the
//! buffer the edu sample's `coh_check` left for `/dev/rsdma_edu`) and
//! checks every byte: each is either zero or the pattern byte for its
//! position and SEED (`samples/edu/pattern.rs`).  It prints the runs of
//! pattern bytes it found and a hash of their offsets (to compare with
//! what `coh_check` reported), asks the driver through RUNFILE which memory
//! types the mapping's page tables hold, and checks that mappings reaching
//! past the buffer are refused.
//!
//! `cohcheck kpt ADDR LEN` prints the memory types the kernel's page tables
//! (`/sys/kernel/debug/kernel_page_tables`) give `LEN` bytes at kernel
//! address `ADDR`.
//!
//! Exit status: 0 when everything checks out, 1 otherwise.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

#[path = "../samples/edu/pattern.rs"]
mod pattern;

#[path = "lib/mmap.rs"]
mod mmap;
use mmap::Mapping;

fn fail(msg: String) -> ! {
    eprintln!("cohcheck: {msg}");
    std::process::exit(1);
}

fn number(s: &str) -> u64 {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.unwrap_or_else(|_| fail(format!("'{s}' is not a number")))
}

/// Checks the mapped buffer against the pattern; returns the offsets of
/// the runs of pattern bytes and how many such bytes there are.
fn scan(b: &[u8], seed: u64) -> (Vec<u64>, u64) {
    let mut starts = Vec::new();
    let (mut bytes, mut in_run) = (0u64, false);
    for (w, chunk) in b.chunks(8).enumerate() {
        if !in_run && chunk.iter().all(|&x| x == 0) {
            continue;
        }
        for (i, &x) in chunk.iter().enumerate() {
            let pos = (w * 8 + i) as u64;
            if x == 0 {
                in_run = false;
                continue;
            }
            let want = pattern::byte(seed, pos);
            if x != want {
                fail(format!("byte {pos:#x} is {x:#04x}: neither zero nor the pattern's {want:#04x}"));
            }
            if !in_run {
                starts.push(pos);
                in_run = true;
            }
            bytes += 1;
        }
    }
    (starts, bytes)
}

fn check_mmap(dev: &str, size: usize, seed: u64, runfile: &str) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .unwrap_or_else(|e| fail(format!("open {dev}: {e}")));
    let fd = file.as_raw_fd();
    let map = Mapping::new(fd, size, 0).unwrap_or_else(|e| fail(format!("mmap {dev}: {e}")));
    let (starts, bytes) = scan(map.bytes(), seed);
    println!(
        "cohcheck: {size} bytes mapped at {:#x}: {} runs of pattern bytes ({bytes} bytes, offsets hash {:#x}), every other byte zero",
        map.addr(),
        starts.len(),
        pattern::hash_offsets(starts.iter().copied())
    );
    // The driver reads this process's page tables for the mapping.
    let mut run = OpenOptions::new()
        .read(true)
        .write(true)
        .open(runfile)
        .unwrap_or_else(|e| fail(format!("open {runfile}: {e}")));
    run.write_all(format!("user_pte {:#x} {size}", map.addr()).as_bytes())
        .unwrap_or_else(|e| fail(format!("user_pte: {e}")));
    let mut answer = String::new();
    let mut again = OpenOptions::new()
        .read(true)
        .open(runfile)
        .unwrap_or_else(|e| fail(format!("open {runfile}: {e}")));
    again
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| fail(format!("read {runfile}: {e}")));
    print!("cohcheck: {answer}");
    // A mapping at an offset (one page in) sees the same bytes from there.
    let page = mmap::page_size();
    if size > page {
        let tail = Mapping::new(fd, size - page, page)
            .unwrap_or_else(|e| fail(format!("mmap at offset {page}: {e}")));
        if tail.bytes() != &map.bytes()[page..] {
            fail(format!("the mapping at offset {page} shows other bytes"));
        }
    }
    drop(map);
    // Mappings that reach past the buffer are refused.
    for (len, off) in [(size + page, 0), (size, page), (page, size)] {
        if Mapping::new(fd, len, off).is_ok() {
            fail(format!("a mapping of {len} bytes at offset {off} was accepted"));
        }
    }
    println!("cohcheck: mappings past the end of the buffer are refused");
}

fn check_kpt(addr: u64, len: u64) {
    let path = "/sys/kernel/debug/kernel_page_tables";
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("read {path}: {e}")));
    let end = addr.saturating_add(len);
    let mut types: Vec<String> = Vec::new();
    let (mut lines, mut covered) = (0, 0u64);
    for line in text.lines() {
        let Some((range, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Some(a), Some(b)) = (a.strip_prefix("0x"), b.strip_prefix("0x")) else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if b <= addr || a >= end {
            continue;
        }
        lines += 1;
        covered += b.min(end) - a.max(addr);
        let t = rest.split_whitespace().last().unwrap_or("?").to_string();
        if !types.contains(&t) {
            types.push(t);
        }
    }
    if lines == 0 {
        fail(format!("no kernel mapping covers {addr:#x}+{len:#x}"));
    }
    println!(
        "cohcheck: kernel page tables over {addr:#x}+{len:#x}: {} ({lines} line(s), {covered} bytes mapped)",
        types.join(",")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[1..] {
        ["mmap", dev, size, seed, runfile] => {
            check_mmap(dev, number(size) as usize, number(seed), runfile)
        }
        ["kpt", addr, len] => check_kpt(number(addr), number(len)),
        _ => fail("usage: cohcheck mmap DEVICE SIZE SEED RUNFILE | cohcheck kpt ADDR LEN".into()),
    }
}
