//! mmapcheck: maps `/dev/rsdma_edu` (a coherent DMA buffer the edu sample
//! prepared with `mmap_prepare`) and checks that the bytes the device copied
//! to offset 4096 are visible through the mapping and equal the 2048-byte
//! pattern at offset 0.
//!
//! Usage: mmapcheck [DEVICE]   (exit 0: match, 1: mismatch or error)

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

#[path = "lib/mmap.rs"]
mod mmap;
use mmap::Mapping;

const LEN: usize = 8192;
const PATTERN: usize = 2048;
const COPY_AT: usize = 4096;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/dev/rsdma_edu".into());
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mmapcheck: open {path}: {e}");
            std::process::exit(1);
        }
    };
    let map = match Mapping::new(file.as_raw_fd(), LEN, 0) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mmapcheck: mmap {path}: {e}");
            std::process::exit(1);
        }
    };
    let b = map.bytes();
    let (pattern, copy) = (&b[..PATTERN], &b[COPY_AT..COPY_AT + PATTERN]);
    if pattern.iter().all(|&x| x == 0) {
        eprintln!("mmapcheck: the mapped buffer is empty");
        std::process::exit(1);
    }
    match pattern.iter().zip(copy).position(|(a, b)| a != b) {
        None => println!("mmapcheck: {PATTERN} bytes the device wrote at offset {COPY_AT} are visible through the mapping and match"),
        Some(i) => {
            eprintln!("mmapcheck: byte {i} differs: {:#04x} != {:#04x}", pattern[i], copy[i]);
            std::process::exit(1);
        }
    }
    // The mapping must not reach past the buffer's last page (a buffer
    // smaller than a page is a page to mmap, as the kernel's own
    // dma_mmap_coherent has it).
    let page = mmap::page_size();
    if Mapping::new(file.as_raw_fd(), LEN.next_multiple_of(page) + page, 0).is_ok() {
        eprintln!("mmapcheck: a mapping larger than the buffer was accepted");
        std::process::exit(1);
    }
}
