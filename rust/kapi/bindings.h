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
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "helpers.h"
#include "../../include/rsdma.h"

/* Macros bindgen cannot see through. */
const gfp_t RSDMA_GFP_KERNEL = GFP_KERNEL;
const gfp_t RSDMA_GFP_ATOMIC = GFP_ATOMIC;
const gfp_t RSDMA_GFP_ZERO = __GFP_ZERO;
const gfp_t RSDMA_GFP_NOWARN = __GFP_NOWARN;
const size_t RSDMA_PAGE_SIZE = PAGE_SIZE;
const unsigned int RSDMA_PAGE_SHIFT = PAGE_SHIFT;
const int RSDMA_IOMMU_READ = IOMMU_READ;
const int RSDMA_IOMMU_WRITE = IOMMU_WRITE;
const int RSDMA_IOMMU_CACHE = IOMMU_CACHE;
const int RSDMA_IOMMU_MMIO = IOMMU_MMIO;
const int RSDMA_IOMMU_PRIV = IOMMU_PRIV;
