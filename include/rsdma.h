/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rsdma: attach a device to rsdma's DMA ops.
 *
 * A driver that sets driver_managed_dma calls rsdma_attach() on its device
 * (typically in probe); from then on the kernel's DMA API on that device is
 * served by rsdma: through an IOMMU domain rsdma owns when an IOMMU
 * translates the device, otherwise directly, with a bounce buffer for memory
 * the device cannot reach.  rsdma_detach()
 * restores the device as it was; unbinding the driver does so too.
 *
 * rsdma_declare_coherent_memory() gives an attached device memory of its
 * own (on-chip SRAM, a carve-out the device tree reserves): dma_alloc_attrs()
 * on the device, and on its children when the region says so, is served from
 * its declared regions first.  A device may declare several regions; behind
 * an IOMMU each is mapped into rsdma's domain at its device address as it is
 * declared.
 */
#ifndef RSDMA_H
#define RSDMA_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;

/* Defer IOTLB invalidation on unmap to a bounded flush queue. */
#define RSDMA_ATTACH_LAZY		(1U << 0)
/* Do not run the mapping tracker on this device. */
#define RSDMA_ATTACH_NO_TRACKER		(1U << 1)
/*
 * Treat the device as untrusted even if its bus does not say so: behind an
 * IOMMU, a mapping that does not fill whole IOMMU granules is bounced, so
 * the device cannot reach the data around it.  PCI devices the kernel marks
 * untrusted (external ports) are treated so without this flag.
 */
#define RSDMA_ATTACH_UNTRUSTED		(1U << 2)
/*
 * Treat the device as not snooping the CPU caches even if firmware says it
 * does (a device whose DMA bypasses the coherent interconnect): rsdma then
 * does cache maintenance on every ownership transfer, maps its IOMMU
 * mappings without IOMMU_CACHE, and gives coherent buffers uncached (or
 * write-combined) CPU mappings.
 */
#define RSDMA_ATTACH_NONCOHERENT	(1U << 3)

struct rsdma_config {
	__u32 flags;		/* RSDMA_ATTACH_* */
	__u32 flush_ms;		/* lazy mode: longest deferral (0: 10 ms) */
};

int rsdma_attach(struct device *dev, const struct rsdma_config *config);
int rsdma_detach(struct device *dev);

/* The CPU maps the region as memory: dma_alloc_attrs() returns a pointer. */
#define RSDMA_MEM_MAP			(1U << 0)
/*
 * The CPU may only use I/O accessors on the region: dma_alloc_attrs()
 * returns an __iomem address (cast to void *).
 */
#define RSDMA_MEM_IO			(1U << 1)
/* No fallback to system memory when the device's regions are full. */
#define RSDMA_MEM_EXCLUSIVE		(1U << 2)
/* The region also serves the device's child devices attached to rsdma. */
#define RSDMA_MEM_INCLUDES_CHILDREN	(1U << 3)

/*
 * Declares size bytes of memory at phys_addr, which the device sees at
 * device_addr, for dma_alloc_attrs() on dev (attached to rsdma).  flags:
 * exactly one of RSDMA_MEM_MAP and RSDMA_MEM_IO, and any of the others.
 * The memory must be the caller's: reserved for the device (no-map) or on
 * the device's bus, not System RAM.  Returns 0, or -EINVAL (bad flags,
 * size or addresses not page aligned, System RAM), -ERANGE (the device
 * cannot reach device_addr..+size), -EBUSY (overlaps a declared region, or
 * the IOVA range is in use), -ENOSPC (too many regions), -ENODEV (dev is
 * not attached to rsdma).
 */
int rsdma_declare_coherent_memory(struct device *dev, phys_addr_t phys_addr,
				  dma_addr_t device_addr, size_t size,
				  unsigned int flags);
/*
 * Releases the region declared at phys_addr.  Returns 0, or -EBUSY while
 * allocations from it are live, -ENOENT when no region starts there.
 */
int rsdma_release_declared_memory(struct device *dev, phys_addr_t phys_addr);

/*
 * Range syncs on an importer's own mapping of a dma-buf rsdma exported
 * (/dev/rsdma), for an importer that maps the buffer once (typically
 * DMA_BIDIRECTIONAL), keeps the mapping, and hands each transfer's bytes to
 * its device and back without remapping and without the exporter's
 * whole-buffer begin/end_cpu_access:
 *
 *	rsdma_dmabuf_sync_for_device(attach, off, len, DMA_TO_DEVICE);
 *	... the device reads off..off+len ...
 *	rsdma_dmabuf_sync_for_device(attach, off, len, DMA_FROM_DEVICE);
 *	... the device writes off..off+len ...
 *	rsdma_dmabuf_sync_for_cpu(attach, off, len, DMA_FROM_DEVICE);
 *
 * Exactly bytes offset..offset+len of attach's mapping are synced, through
 * the DMA ops of the importer's own device (rsdma's, iommu-dma, direct),
 * with dir telling them which way the transfer goes.  dir must be one the
 * mapping allows: any for a DMA_BIDIRECTIONAL mapping, the mapping's own
 * otherwise.  Returns 0, or, with nothing synced and a line in the log
 * naming the importing device: -EINVAL (attach is NULL, dir is DMA_NONE or
 * not a direction, len is 0), -ERANGE (the range is not inside the
 * buffer), -ENXIO (the attachment is not mapped), -EACCES (the mapping's
 * direction does not allow dir), -EOPNOTSUPP (rsdma did not export the
 * buffer).  Process context only (it may sleep); the caller must not
 * detach attach during the call.
 */
struct dma_buf_attachment;
int rsdma_dmabuf_sync_for_device(struct dma_buf_attachment *attach,
				 size_t offset, size_t len,
				 enum dma_data_direction dir);
int rsdma_dmabuf_sync_for_cpu(struct dma_buf_attachment *attach,
			      size_t offset, size_t len,
			      enum dma_data_direction dir);


/*
 * A standalone IO address space: the allocator rsdma gives each device it
 * serves behind an IOMMU (a bitmap over the space, first fit from the
 * bottom, with per-CPU caches of recently freed ranges of 1 to 32
 * granules), tied to no device and no IOMMU domain.  Sizes are in
 * granules, addresses in bytes.  The space holds addresses only: mapping
 * them is the caller's business.
 */
struct rsdma_iova_space;

/**
 * rsdma_iova_space_create() - make a standalone IO address space
 * @granule_shift: log2 of the granule in bytes: 12, 14 or 16
 * @bits: log2 of the space's size in bytes, 20 to 40
 *
 * The space covers IOVAs 0 to 2^@bits - 1.  Its first granule is kept out,
 * so that no allocation starts at 0.  Process context (it may sleep).
 *
 * Return: the space, or NULL (an unsupported geometry, logged; no memory).
 */
struct rsdma_iova_space *rsdma_iova_space_create(unsigned int granule_shift,
						 unsigned int bits);

/**
 * rsdma_iova_space_destroy() - free a space and everything it holds
 * @s: the space, or NULL
 *
 * Live allocations and claims are forgotten with it.  No other call on @s
 * may be under way or come later.  Process context.
 */
void rsdma_iova_space_destroy(struct rsdma_iova_space *s);

/**
 * rsdma_iova_space_claim() - take a range at a fixed address
 * @s: the space
 * @iova: first address, granule aligned
 * @granules: length in granules
 *
 * Marks exactly @granules granules at @iova as allocated (memory the
 * caller maps there for good), for the life of the space.  Ranges the
 * per-CPU caches hold are returned to the bitmap first when they are in
 * the way.  Process context (it may sleep).
 *
 * Return: 0; -EINVAL (@granules is 0, @iova not granule aligned, the range
 * not inside the space); -EBUSY (a granule of it is allocated, claimed or
 * kept out); -ENOMEM.
 */
int rsdma_iova_space_claim(struct rsdma_iova_space *s, dma_addr_t iova,
			   u64 granules);

/**
 * rsdma_iova_alloc() - allocate a range
 * @s: the space
 * @granules: length in granules
 * @limit: the highest address the range may reach (inclusive: a DMA mask)
 *
 * A length of 1 to 32 granules is rounded up to a power of two and served
 * from the calling CPU's cache when it holds one under @limit; otherwise
 * the bitmap gives the lowest fit, aligned to the length rounded up to a
 * power of two.  When nothing fits, every CPU's cache goes back to the
 * bitmap and the search runs once more.  Any context: it does not sleep
 * (bitmap memory, when a part of the space is first used, is GFP_ATOMIC).
 *
 * Return: the range's first address, or 0 on failure: no range fits under
 * @limit, no memory for the bitmap, or @granules is 0 or larger than the
 * space.  Nothing is logged.
 */
dma_addr_t rsdma_iova_alloc(struct rsdma_iova_space *s, u64 granules,
			    dma_addr_t limit);

/**
 * rsdma_iova_free() - give back a range rsdma_iova_alloc() returned
 * @s: the space
 * @iova: the address rsdma_iova_alloc() returned
 * @granules: the length it was given
 *
 * A length of 1 to 32 granules goes to the calling CPU's cache; such a
 * range is checked only for its alignment and its place in the space, so
 * a double free of it goes unnoticed (as with iova.c's rcaches).  Any
 * context.
 *
 * Return: 0; -EINVAL (and a line in the log) when the range is not one
 * live allocation of that length: nothing is freed.
 */
int rsdma_iova_free(struct rsdma_iova_space *s, dma_addr_t iova,
		    u64 granules);

/**
 * rsdma_iova_space_used() - granules in use
 * @s: the space
 *
 * Return: the granules of live allocations and claims, ranges held in the
 * per-CPU caches included (they stay allocated in the bitmap), the
 * granule kept out at 0 not.
 */
u64 rsdma_iova_space_used(const struct rsdma_iova_space *s);

#endif
