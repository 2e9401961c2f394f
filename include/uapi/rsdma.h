/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/rsdma: buffers rsdma allocates and exports as dma-bufs.
 *
 * RSDMA_IOCTL_ALLOC allocates a buffer and returns a dma-buf file
 * descriptor (O_RDWR, close-on-exec).  The dma-buf is used as any other:
 * mmap() it, bracket CPU access with DMA_BUF_IOCTL_SYNC, pass it to a driver
 * that imports dma-bufs.  RSDMA_IOCTL_SYNC_RANGE is DMA_BUF_IOCTL_SYNC for a
 * byte range: every device that has the buffer mapped is synced for that
 * range only.
 *
 * Every structure has fixed-size fields and no padding; reserved fields must
 * be zero.  Errors: EINVAL for unknown flags, non-zero reserved fields, a
 * size of 0, an empty range or one past the end of the buffer, a sync that
 * neither reads nor writes, a file descriptor that is not an rsdma dma-buf,
 * a sync end that matches no start, and a private (MAP_PRIVATE) mmap;
 * E2BIG for a size above the module parameter dmabuf_max_kib (or, for a
 * contiguous buffer, above what one page allocation gives); EBADF for a
 * closed file descriptor.
 */
#ifndef _UAPI_RSDMA_H
#define _UAPI_RSDMA_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The buffer is made of single pages (default: physically contiguous). */
#define RSDMA_ALLOC_SCATTERED		(1U << 0)
/* CPU mappings of the buffer are write-combined (default: cached). */
#define RSDMA_ALLOC_WRITE_COMBINE	(1U << 1)

struct rsdma_alloc {
	__u64 size;		/* in: bytes, rounded up to whole pages */
	__u32 flags;		/* in: RSDMA_ALLOC_* */
	__s32 fd;		/* out: the dma-buf */
	__u64 reserved[2];	/* must be zero */
};

/* The values of DMA_BUF_SYNC_READ, _WRITE and _END. */
#define RSDMA_SYNC_READ		(1U << 0)
#define RSDMA_SYNC_WRITE	(1U << 1)
#define RSDMA_SYNC_END		(1U << 2)

struct rsdma_sync_range {
	__s32 fd;		/* an rsdma dma-buf */
	__u32 flags;		/* RSDMA_SYNC_*: read and/or write, start or end */
	__u64 offset;		/* first byte */
	__u64 len;		/* bytes */
	__u64 reserved;		/* must be zero */
};

#define RSDMA_IOC_MAGIC		0xd5
#define RSDMA_IOCTL_ALLOC	_IOWR(RSDMA_IOC_MAGIC, 0x00, struct rsdma_alloc)
#define RSDMA_IOCTL_SYNC_RANGE	_IOW(RSDMA_IOC_MAGIC, 0x01, struct rsdma_sync_range)

#endif /* _UAPI_RSDMA_H */
