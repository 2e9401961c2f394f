// SPDX-License-Identifier: GPL-2.0
/*
 * Exports rsdma's C API (include/rsdma.h), defined in rust/api.rs and
 * rust/iova_api.rs.
 */
#include <linux/export.h>
#include <linux/module.h>

#include "../include/rsdma.h"

EXPORT_SYMBOL_GPL(rsdma_attach);
EXPORT_SYMBOL_GPL(rsdma_detach);
EXPORT_SYMBOL_GPL(rsdma_declare_coherent_memory);
EXPORT_SYMBOL_GPL(rsdma_release_declared_memory);
EXPORT_SYMBOL_GPL(rsdma_dmabuf_sync_for_device);
EXPORT_SYMBOL_GPL(rsdma_dmabuf_sync_for_cpu);

/* rust/iova_api.rs */
EXPORT_SYMBOL_GPL(rsdma_iova_space_create);
EXPORT_SYMBOL_GPL(rsdma_iova_space_destroy);
EXPORT_SYMBOL_GPL(rsdma_iova_space_claim);
EXPORT_SYMBOL_GPL(rsdma_iova_alloc);
EXPORT_SYMBOL_GPL(rsdma_iova_free);
EXPORT_SYMBOL_GPL(rsdma_iova_space_used);
