//! rsdma-core: the pure logic of rsdma's DMA-mapping layer.
//!
//! This crate decides where DMA goes. It has no kernel dependency and no
//! allocation: memory comes from the caller (the kernel module hands in
//! `KVec`/`KBox` buffers, host tests hand in `Vec`/`Box`), and whenever an
//! operation needs more memory it returns a "need to grow" answer so that the
//! caller can allocate outside its lock and retry.
//!
//! The kernel module includes these files by source (`#[path]`), so the
//! component modules refer to each other only through `super::`.
//!
//! Components:
//! - [`dma`]: the DMA direction and attribute types the tables share;
//! - [`route`]: where a mapping goes (IOVA, bounce, direct);
//! - [`claimspec`], [`claim`]: which devices rsdma takes over at bind, and
//!   whether it can;
//! - [`bitmap`]: word bitmaps and a hierarchical summary index;
//! - [`iova`]: chunked IOVA bitmap allocator with per-CPU magazine caches;
//! - [`bounce`]: swiotlb-like bounce slot areas;
//! - [`cache`]: cache maintenance decisions for non-coherent devices;
//! - [`coherent`]: declared coherent memory pools;
//! - [`uapi`]: `/dev/rsdma`'s ioctl arguments and their checks;
//! - [`cpu_access`]: CPU-access brackets on an exported buffer;
//! - [`inject`]: which calls of a fault injection point fail (test builds);
//! - [`span`]: byte ranges over segment lists, scatterlist entries;
//! - [`declared`]: the rules of declaring coherent memory;
//! - [`pages`]: buffers from the page allocator (gathering, CPU mapping, runs);
//! - [`tracker`]: DMA-API debug state machine;
//! - [`sg`]: scatter-gather merge planner.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
#![warn(clippy::all)]

#[cfg(test)]
extern crate std;

pub mod bitmap;
pub mod bounce;
pub mod cache;
pub mod claim;
pub mod claimspec;
pub mod coherent;
pub mod cpu_access;
pub mod declared;
pub mod dma;
pub mod importer_sync;
pub mod inject;
pub mod iova;
pub mod pages;
pub mod route;
pub mod sg;
pub mod span;
pub mod tracker;
pub mod uapi;
