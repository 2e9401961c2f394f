/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for static inline functions and macros the Rust side needs.
 * Each is a one-line forward to the kernel API of the same name.
 */
#ifndef RSDMA_HELPERS_H
#define RSDMA_HELPERS_H

#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/timer.h>

struct iosys_map;
struct vm_area_struct;

/* Whether struct device carries dma_ops in this kernel. */
bool rsdma_helper_has_dma_ops(void);
const struct dma_map_ops *rsdma_helper_get_dma_ops(struct device *dev);
void rsdma_helper_set_dma_ops(struct device *dev, const struct dma_map_ops *ops);
bool rsdma_helper_dma_iommu(struct device *dev);
void rsdma_helper_set_dma_iommu(struct device *dev, bool on);
u64 rsdma_helper_coherent_dma_mask(struct device *dev);
unsigned int rsdma_helper_max_seg_size(struct device *dev);
int rsdma_helper_set_max_seg_size(struct device *dev, unsigned int size);
unsigned long rsdma_helper_seg_boundary(struct device *dev);
bool rsdma_helper_dev_is_dma_coherent(struct device *dev);
int rsdma_helper_dma_mapping_error(struct device *dev, dma_addr_t addr);
unsigned int rsdma_helper_min_align_mask(struct device *dev);
bool rsdma_helper_dev_untrusted(struct device *dev);
dma_addr_t rsdma_helper_phys_to_dma(struct device *dev, phys_addr_t phys);
phys_addr_t rsdma_helper_dma_to_phys(struct device *dev, dma_addr_t addr);

struct device *rsdma_helper_get_device(struct device *dev);
/* The name of the bound driver, or NULL. */
const char *rsdma_helper_dev_driver_name(struct device *dev);
void rsdma_helper_device_lock(struct device *dev);
void rsdma_helper_device_unlock(struct device *dev);
/* The device's OF node's "compatible" property (*len bytes), or NULL. */
const void *rsdma_helper_of_compatible(struct device *dev, int *len);
struct module;
bool rsdma_helper_try_module_get(struct module *mod);
void rsdma_helper_put_device(struct device *dev);
const char *rsdma_helper_dev_name(const struct device *dev);
void rsdma_helper_dev_info(const struct device *dev, const char *msg);
void rsdma_helper_dev_err(const struct device *dev, const char *msg);
void rsdma_helper_dev_warn(const struct device *dev, const char *msg);

u32 rsdma_helper_readl(const void __iomem *addr);
void rsdma_helper_writel(u32 val, void __iomem *addr);
u64 rsdma_helper_readq(const void __iomem *addr);
void rsdma_helper_writeq(u64 val, void __iomem *addr);
void rsdma_helper_memset_io(void __iomem *addr, int val, size_t len);
void __iomem *rsdma_helper_ioremap(phys_addr_t phys, size_t len);
void rsdma_helper_iounmap(void __iomem *addr);
/* Sets the page protection of a user mapping of DMA memory: 0 keeps it
 * (cached), 1 write-combined, 2 device memory. */
void rsdma_helper_vma_set_prot(struct vm_area_struct *vma, int kind);

void *rsdma_helper_pci_get_drvdata(struct pci_dev *pdev);
void rsdma_helper_pci_set_drvdata(struct pci_dev *pdev, void *data);
struct device *rsdma_helper_pci_dev(struct pci_dev *pdev);
resource_size_t rsdma_helper_pci_resource_len(struct pci_dev *pdev, int bar);
/* A PCI device's vendor and device ID; false when dev is not PCI. */
bool rsdma_helper_pci_ids(struct device *dev, u16 *vendor, u16 *device);
void rsdma_helper_pci_driver_set_managed_dma(struct pci_driver *drv, bool on);

struct scatterlist *rsdma_helper_sg_next(struct scatterlist *sg);
void rsdma_helper_sg_set_page(struct scatterlist *sg, struct page *page,
			      unsigned int len, unsigned int offset);
struct page *rsdma_helper_sg_page(struct scatterlist *sg);
dma_addr_t rsdma_helper_sg_dma_address(struct scatterlist *sg);
unsigned int rsdma_helper_sg_dma_len(struct scatterlist *sg);
void rsdma_helper_sg_set_dma(struct scatterlist *sg, dma_addr_t addr,
			     unsigned int len);
phys_addr_t rsdma_helper_sg_phys(struct scatterlist *sg);
/* Copies the DMA address, length and flags of one entry to another. */
void rsdma_helper_sg_copy_dma(struct scatterlist *dst, struct scatterlist *src);

struct page *rsdma_helper_alloc_pages(gfp_t gfp, unsigned int order);
struct page *rsdma_helper_nth_page(struct page *page, unsigned long n);
pgprot_t rsdma_helper_pgprot_kernel(void);
pgprot_t rsdma_helper_pgprot_writecombine(pgprot_t prot);
pgprot_t rsdma_helper_pgprot_dmacoherent(pgprot_t prot);

/* Present PTEs of a user range, counted per memory type (arm64 MT_*). */
#define RSDMA_MEMTYPES 8
struct rsdma_memtypes {
	unsigned long count[RSDMA_MEMTYPES];
};
int rsdma_helper_user_memtypes(unsigned long addr, unsigned long len,
			       struct rsdma_memtypes *m);
void *rsdma_helper_page_address(struct page *page);
phys_addr_t rsdma_helper_page_to_phys(struct page *page);
struct page *rsdma_helper_phys_to_page(phys_addr_t phys);
struct page *rsdma_helper_virt_to_page(const void *addr);
phys_addr_t rsdma_helper_virt_to_phys(const void *addr);
void *rsdma_helper_phys_to_virt(phys_addr_t phys);

void *rsdma_helper_vmap(struct page **pages, unsigned int count, bool wc);
void rsdma_helper_invalidate_kernel_vmap_range(void *addr, int size);
void rsdma_helper_flush_kernel_vmap_range(void *addr, int size);
void rsdma_helper_vma_set_writecombine(struct vm_area_struct *vma);
void rsdma_helper_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr);
/* compat_ptr_ioctl, or NULL on a kernel without 32-bit compat. */
long (*rsdma_helper_compat_ptr_ioctl(void))(struct file *, unsigned int, unsigned long);
/* The kernel address of a map, NULL for I/O memory. */
void *rsdma_helper_iosys_map_vaddr(const struct iosys_map *map);

struct iommu_domain;
/* Calls fn(ctx, start, length) for each IOMMU reserved region of dev. */
void rsdma_helper_for_each_resv_region(struct device *dev,
				       void (*fn)(void *ctx, u64 start, u64 len),
				       void *ctx);
/*
 * The start of dev's software MSI window (IOMMU_RESV_SW_MSI), where the
 * IOMMU must map MSI doorbells; false when it has none.
 */
bool rsdma_helper_sw_msi_base(struct device *dev, u64 *base);
/* How many devices share dev's IOMMU group; 0 without a group. */
int rsdma_helper_iommu_group_size(struct device *dev);
void rsdma_helper_iommu_flush_iotlb_all(struct iommu_domain *domain);
size_t rsdma_helper_iommu_unmap_nosync(struct iommu_domain *domain,
				       unsigned long iova, size_t size);
void rsdma_helper_cache_clean(void *addr, size_t size);
void rsdma_helper_cache_inval(void *addr, size_t size);
int rsdma_helper_devm_add_action(struct device *dev, void (*fn)(void *),
				 void *data);
void rsdma_helper_devm_remove_action(struct device *dev, void (*fn)(void *),
				     void *data);

u64 rsdma_helper_jiffies(void);
unsigned int rsdma_helper_cpu_id(void);
unsigned int rsdma_helper_nr_cpu_ids(void);
void rsdma_helper_dma_caller(char *buf, size_t len);
unsigned long rsdma_helper_spin_lock_irqsave(spinlock_t *lock);
void rsdma_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

/* A timer that calls fn(data) when it fires (in softirq context). */
struct rsdma_timer {
	struct timer_list t;
	void (*fn)(void *data);
	void *data;
};
void rsdma_helper_timer_init(struct rsdma_timer *t);
/* Arms the timer unless it is pending; calls fn(data) after delay jiffies. */
void rsdma_helper_timer_arm(struct rsdma_timer *t, void (*fn)(void *),
			    void *data, unsigned long delay);
void rsdma_helper_timer_shutdown(struct rsdma_timer *t);

/* Only the samples link these (rust/kapi/driver_helpers.c). */
struct device_node;
struct platform_device;
struct device_node *rsdma_helper_of_find_node_by_path(const char *path);
struct device_node *rsdma_helper_of_parse_phandle(const struct device_node *np,
						  const char *name, int index);
void rsdma_helper_of_node_put(struct device_node *np);
void *rsdma_helper_platform_get_drvdata(struct platform_device *pdev);
void rsdma_helper_platform_set_drvdata(struct platform_device *pdev, void *data);

#endif
