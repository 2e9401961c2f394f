/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/rsdma_edu, /dev/rsdma_edu1, ...: the edu sample driver as a dma-buf
 * importer (samples/edu).  Each device node is one edu device.
 *
 * RSDMA_EDU_IOCTL_IMPORT attaches the device to a dma-buf and maps it in one
 * direction; the import lasts until RSDMA_EDU_IOCTL_RELEASE or until the
 * file is closed, and holds its own reference to the dma-buf.
 * RSDMA_EDU_IOCTL_XFER moves bytes with edu's DMA engine: between two
 * imports, or between an import and user memory (through a buffer of the
 * driver's own).  RSDMA_EDU_IOCTL_REMAP asks the exporter for a second
 * mapping of an import's attachment (and undoes it if granted), to see how
 * the exporter answers.
 *
 * Streaming, for dma-bufs rsdma exported: an import mapped once (usually
 * RSDMA_EDU_BIDIRECTIONAL) and kept, with only each transfer's bytes handed
 * to the device before it and back to the CPU after it, through rsdma's
 * rsdma_dmabuf_sync_for_device/_for_cpu.  RSDMA_EDU_XFER_SYNC asks a
 * transfer to do so; RSDMA_EDU_IOCTL_SYNC makes one such sync alone; and
 * RSDMA_EDU_IOCTL_BENCH times what an importer does per transfer, three
 * ways.
 *
 * Fixed-size fields, no padding; reserved fields and the fields an
 * operation does not use must be zero.  Errors: EINVAL for a bad argument
 * or a file descriptor that is not a dma-buf, EBADF for a closed one,
 * ENOENT for an unknown handle, EACCES for a transfer against the
 * direction of an import's mapping, ENOSPC when the device holds
 * RSDMA_EDU_MAX_IMPORTS imports, E2BIG for a transfer above
 * RSDMA_EDU_MAX_XFER bytes, ENXIO for a transfer on an import that is not
 * mapped; the exporter's own errors (and rsdma's range-sync errors, see
 * include/rsdma.h) pass through.
 */
#ifndef _UAPI_RSDMA_EDU_H
#define _UAPI_RSDMA_EDU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The direction of an import's mapping. */
#define RSDMA_EDU_TO_DEVICE	1	/* edu reads the buffer */
#define RSDMA_EDU_FROM_DEVICE	2	/* edu writes the buffer */
#define RSDMA_EDU_BIDIRECTIONAL	3
/* IMPORT only: attached and not mapped (for SYNC's errors and BENCH). */
#define RSDMA_EDU_UNMAPPED	4

#define RSDMA_EDU_MAX_IMPORTS	8
#define RSDMA_EDU_MAX_XFER	(1U << 20)

struct rsdma_edu_import {
	__s32 fd;		/* in: a dma-buf */
	__u32 dir;		/* in: RSDMA_EDU_TO_DEVICE, ... */
	__u32 handle;		/* out: names the import in later calls */
	__u32 segments;		/* out: DMA segments of the mapping */
	__u64 size;		/* out: the buffer's size */
	__u64 dma_addr;		/* out: device address of the first segment */
	__u64 reserved;		/* must be zero */
};

struct rsdma_edu_handle {
	__u32 handle;		/* an import */
	__u32 dir;		/* REMAP: the second mapping's direction; else 0 */
	__u64 reserved;		/* must be zero */
};

/* Transfers. */
#define RSDMA_EDU_COPY		1	/* import src -> import dst */
#define RSDMA_EDU_READ		2	/* import src -> user memory */
#define RSDMA_EDU_WRITE		3	/* user memory -> import dst */
#define RSDMA_EDU_VMAP_READ	4	/* import src -> user memory, read by
					 * the CPU through dma_buf_vmap()
					 * (twice, nested) inside
					 * dma_buf_begin/end_cpu_access() */

struct rsdma_edu_xfer {
	__u32 op;		/* RSDMA_EDU_COPY, ... */
	__u32 src;		/* import read from (COPY, READ, VMAP_READ) */
	__u32 dst;		/* import written to (COPY, WRITE) */
	__u32 flags;		/* RSDMA_EDU_XFER_* */
	__u64 src_off;		/* first byte read in src */
	__u64 dst_off;		/* first byte written in dst */
	__u64 len;		/* bytes, 1 to RSDMA_EDU_MAX_XFER */
	__u64 user;		/* READ, VMAP_READ: destination; WRITE: source */
	__u64 reserved;		/* must be zero */
};

/*
 * Sync just the bytes moved, on each import the transfer uses, for the
 * device before and for the CPU after (not with VMAP_READ).
 */
#define RSDMA_EDU_XFER_SYNC	(1U << 0)

/* One range sync on an import (rsdma_dmabuf_sync_for_device/_for_cpu). */
#define RSDMA_EDU_SYNC_FOR_DEVICE	1
#define RSDMA_EDU_SYNC_FOR_CPU		2

struct rsdma_edu_sync {
	__u32 handle;		/* an import */
	__u32 to;		/* RSDMA_EDU_SYNC_FOR_DEVICE or _FOR_CPU */
	__u32 dir;		/* the transfer's: RSDMA_EDU_TO_DEVICE, ...;
				 * 0 passes DMA_NONE on, for rsdma to refuse */
	__u32 reserved0;	/* must be zero */
	__u64 offset;		/* first byte */
	__u64 len;		/* bytes */
	__u64 reserved;		/* must be zero */
};

/*
 * What an importer does per transfer of chunk bytes (at offsets stepping
 * through the buffer), timed count times; the device's own transfer is
 * not part of it.
 */
#define RSDMA_EDU_BENCH_MAP	1	/* map and unmap the whole buffer
					 * (the import is RSDMA_EDU_UNMAPPED) */
#define RSDMA_EDU_BENCH_RANGE	2	/* sync the chunk for the device, then
					 * for the CPU (mapped BIDIRECTIONAL) */
#define RSDMA_EDU_BENCH_WHOLE	3	/* dma_buf_begin_cpu_access and
					 * dma_buf_end_cpu_access, whole buffer
					 * (mapped BIDIRECTIONAL) */

struct rsdma_edu_bench {
	__u32 handle;		/* an import */
	__u32 way;		/* RSDMA_EDU_BENCH_* */
	__u64 chunk;		/* bytes per transfer, 1 to the buffer's size */
	__u64 count;		/* transfers, 1 to 1000000 */
	__u64 ns;		/* out: nanoseconds for all of them */
	__u64 reserved;		/* must be zero */
};

#define RSDMA_EDU_IOC_MAGIC	0xd6
#define RSDMA_EDU_IOCTL_IMPORT	_IOWR(RSDMA_EDU_IOC_MAGIC, 0x00, struct rsdma_edu_import)
#define RSDMA_EDU_IOCTL_RELEASE	_IOW(RSDMA_EDU_IOC_MAGIC, 0x01, struct rsdma_edu_handle)
#define RSDMA_EDU_IOCTL_REMAP	_IOW(RSDMA_EDU_IOC_MAGIC, 0x02, struct rsdma_edu_handle)
#define RSDMA_EDU_IOCTL_XFER	_IOW(RSDMA_EDU_IOC_MAGIC, 0x03, struct rsdma_edu_xfer)
#define RSDMA_EDU_IOCTL_SYNC	_IOW(RSDMA_EDU_IOC_MAGIC, 0x04, struct rsdma_edu_sync)
#define RSDMA_EDU_IOCTL_BENCH	_IOWR(RSDMA_EDU_IOC_MAGIC, 0x05, struct rsdma_edu_bench)

#endif /* _UAPI_RSDMA_EDU_H */
