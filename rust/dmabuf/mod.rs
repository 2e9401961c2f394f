// SPDX-License-Identifier: GPL-2.0

//! The dma-buf exporter: buffers `/dev/rsdma` allocates and exports, which
//! other devices import.
//!
//! Each importer gets the buffer mapped for its own device, through that
//! device's DMA ops (rsdma's, iommu-dma, direct), on a table cut to the
//! device's segment limits (`importer.rs`).  CPU access is bracketed: a
//! begin syncs every mapped importer for the CPU, an end for the devices,
//! each in its mapping's direction, over the whole buffer or over a byte
//! range (`buffer.rs`).  An importer that keeps its mapping syncs just the
//! bytes of each transfer itself (`Importer::sync_part`, which rsdma's C
//! API exports).  `ioctl.rs` is the `/dev/rsdma` side: allocation, and the
//! range version of `DMA_BUF_IOCTL_SYNC`; `registry.rs` lists every live
//! attachment for debugfs.
//!
//! Lock order: a buffer's CPU-access brackets, then its list of importers,
//! then one importer's mapping; the buffer's kernel mapping is taken alone
//! or right after the brackets.  The dma-buf core calls map and unmap with
//! the buffer's reservation lock held, which rsdma never takes.

pub(crate) mod buffer;
pub(crate) mod importer;
pub(crate) mod ioctl;
pub(crate) mod registry;
