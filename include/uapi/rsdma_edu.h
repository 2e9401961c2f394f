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
 * Fixed-size fields, no padding; reserved fields and the fields an
 * operation does not use must be zero.  Errors: EINVAL for a bad argument
 * or a file descriptor that is not a dma-buf, EBADF for a closed one,
 * ENOENT for an unknown handle, EACCES for a transfer against the
 * direction of an import's mapping, ENOSPC when the device holds
 * RSDMA_EDU_MAX_IMPORTS imports, E2BIG for a transfer above
 * RSDMA_EDU_MAX_XFER bytes; the exporter's own errors pass through.
 */
#ifndef _UAPI_RSDMA_EDU_H
#define _UAPI_RSDMA_EDU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The direction of an import's mapping. */
#define RSDMA_EDU_TO_DEVICE	1	/* edu reads the buffer */
#define RSDMA_EDU_FROM_DEVICE	2	/* edu writes the buffer */
#define RSDMA_EDU_BIDIRECTIONAL	3

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
	__u32 reserved0;	/* must be zero */
	__u64 src_off;		/* first byte read in src */
	__u64 dst_off;		/* first byte written in dst */
	__u64 len;		/* bytes, 1 to RSDMA_EDU_MAX_XFER */
	__u64 user;		/* READ, VMAP_READ: destination; WRITE: source */
	__u64 reserved;		/* must be zero */
};

#define RSDMA_EDU_IOC_MAGIC	0xd6
#define RSDMA_EDU_IOCTL_IMPORT	_IOWR(RSDMA_EDU_IOC_MAGIC, 0x00, struct rsdma_edu_import)
#define RSDMA_EDU_IOCTL_RELEASE	_IOW(RSDMA_EDU_IOC_MAGIC, 0x01, struct rsdma_edu_handle)
#define RSDMA_EDU_IOCTL_REMAP	_IOW(RSDMA_EDU_IOC_MAGIC, 0x02, struct rsdma_edu_handle)
#define RSDMA_EDU_IOCTL_XFER	_IOW(RSDMA_EDU_IOC_MAGIC, 0x03, struct rsdma_edu_xfer)

#endif /* _UAPI_RSDMA_EDU_H */
