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
 */
#ifndef RSDMA_H
#define RSDMA_H

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

#endif
