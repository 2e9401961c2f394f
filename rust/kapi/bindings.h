/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C API rsdma's abstraction layer (rust/kapi/) wraps.  bindgen runs over
 * this header at build time, against the target kernel's build tree and with
 * its C flags; the output is never committed.
 *
 * Sorted alphabetically.
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/fcntl.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/iommu.h>
#include <linux/ioport.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "helpers.h"
#include "../../include/rsdma.h"
#include "../../include/uapi/rsdma.h"
#include "../../include/uapi/rsdma_edu.h"
#include "../params.h"

/* Macros bindgen cannot see through. */
const gfp_t RSDMA_GFP_KERNEL = GFP_KERNEL;
const gfp_t RSDMA_GFP_ATOMIC = GFP_ATOMIC;
const gfp_t RSDMA_GFP_DMA32 = GFP_DMA32;
const gfp_t RSDMA_GFP_ZERO = __GFP_ZERO;
const gfp_t RSDMA_GFP_NOWARN = __GFP_NOWARN;
const gfp_t RSDMA_GFP_DMA = GFP_DMA;
const gfp_t RSDMA_GFP_NORETRY = __GFP_NORETRY;
const gfp_t RSDMA_GFP_COMP = __GFP_COMP;
const gfp_t RSDMA_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM;
const unsigned int RSDMA_MAX_PAGE_ORDER = MAX_PAGE_ORDER;
const size_t RSDMA_PAGE_SIZE = PAGE_SIZE;
const unsigned int RSDMA_PAGE_SHIFT = PAGE_SHIFT;
const int RSDMA_IOMMU_READ = IOMMU_READ;
const int RSDMA_IOMMU_WRITE = IOMMU_WRITE;
const int RSDMA_IOMMU_CACHE = IOMMU_CACHE;
const int RSDMA_IOMMU_MMIO = IOMMU_MMIO;
const int RSDMA_IOMMU_PRIV = IOMMU_PRIV;
/*
 * bindgen evaluates constants as signed 64-bit values and cannot give an
 * all-ones u64 a Rust constant: DMA_MAPPING_ERROR comes in two halves.
 */
const u64 RSDMA_DMA_MAPPING_ERROR_HI = (u64)DMA_MAPPING_ERROR >> 32;
const u64 RSDMA_DMA_MAPPING_ERROR_LO = (u64)DMA_MAPPING_ERROR & 0xffffffffULL;
/* arm64 memory types (MAIR indexes), as a PTE names them. */
const unsigned int RSDMA_MT_NORMAL = MT_NORMAL;
const unsigned int RSDMA_MT_NORMAL_TAGGED = MT_NORMAL_TAGGED;
const unsigned int RSDMA_MT_NORMAL_NC = MT_NORMAL_NC;
const unsigned int RSDMA_MT_DEVICE_nGnRnE = MT_DEVICE_nGnRnE;
const unsigned int RSDMA_MT_DEVICE_nGnRE = MT_DEVICE_nGnRE;
const unsigned long RSDMA_DMA_ATTR_WEAK_ORDERING = DMA_ATTR_WEAK_ORDERING;
const unsigned long RSDMA_DMA_ATTR_WRITE_COMBINE = DMA_ATTR_WRITE_COMBINE;
const unsigned long RSDMA_DMA_ATTR_NO_KERNEL_MAPPING = DMA_ATTR_NO_KERNEL_MAPPING;
const unsigned long RSDMA_DMA_ATTR_SKIP_CPU_SYNC = DMA_ATTR_SKIP_CPU_SYNC;
const unsigned long RSDMA_DMA_ATTR_FORCE_CONTIGUOUS = DMA_ATTR_FORCE_CONTIGUOUS;
const unsigned long RSDMA_DMA_ATTR_ALLOC_SINGLE_PAGES = DMA_ATTR_ALLOC_SINGLE_PAGES;
const unsigned long RSDMA_DMA_ATTR_NO_WARN = DMA_ATTR_NO_WARN;
const unsigned long RSDMA_DMA_ATTR_PRIVILEGED = DMA_ATTR_PRIVILEGED;
/* Function-like macros: the ioctl numbers. */
const unsigned int RSDMA_IOCTL_ALLOC_CMD = RSDMA_IOCTL_ALLOC;
const unsigned int RSDMA_IOCTL_SYNC_RANGE_CMD = RSDMA_IOCTL_SYNC_RANGE;
const unsigned int RSDMA_EDU_IOCTL_IMPORT_CMD = RSDMA_EDU_IOCTL_IMPORT;
const unsigned int RSDMA_EDU_IOCTL_RELEASE_CMD = RSDMA_EDU_IOCTL_RELEASE;
const unsigned int RSDMA_EDU_IOCTL_REMAP_CMD = RSDMA_EDU_IOCTL_REMAP;
const unsigned int RSDMA_EDU_IOCTL_XFER_CMD = RSDMA_EDU_IOCTL_XFER;
const unsigned int RSDMA_EDU_IOCTL_SYNC_CMD = RSDMA_EDU_IOCTL_SYNC;
const unsigned int RSDMA_EDU_IOCTL_BENCH_CMD = RSDMA_EDU_IOCTL_BENCH;
const unsigned long RSDMA_IORESOURCE_SYSTEM_RAM = IORESOURCE_SYSTEM_RAM;
const unsigned long RSDMA_IORES_DESC_NONE = IORES_DESC_NONE;
const int RSDMA_REGION_INTERSECTS = REGION_INTERSECTS;
const int RSDMA_REGION_DISJOINT = REGION_DISJOINT;
const unsigned long RSDMA_MEMREMAP_WB = MEMREMAP_WB;
const unsigned long RSDMA_MEMREMAP_WC = MEMREMAP_WC;
