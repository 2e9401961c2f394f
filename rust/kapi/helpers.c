// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rsdma's Rust abstraction layer: static inline functions and
 * macros have no symbol the Rust side could call, so each gets a one-line
 * forward here.  Compiled into every rsdma module that uses rust/kapi.
 */

#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/smp.h>
#include <linux/kallsyms.h>
#include <linux/stacktrace.h>
#include <linux/iommu.h>
#include <linux/iosys-map.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/libnvdimm.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>

#include "helpers.h"

/* dma-buf's exports live in a symbol namespace module! cannot import. */
MODULE_IMPORT_NS(DMA_BUF);

bool rsdma_helper_has_dma_ops(void)
{
	return IS_ENABLED(CONFIG_ARCH_HAS_DMA_OPS);
}

const struct dma_map_ops *rsdma_helper_get_dma_ops(struct device *dev)
{
	return get_dma_ops(dev);
}

void rsdma_helper_set_dma_ops(struct device *dev, const struct dma_map_ops *ops)
{
	set_dma_ops(dev, ops);
}

bool rsdma_helper_dma_iommu(struct device *dev)
{
#ifdef CONFIG_IOMMU_DMA
	return dev->dma_iommu;
#else
	return false;
#endif
}

void rsdma_helper_set_dma_iommu(struct device *dev, bool on)
{
#ifdef CONFIG_IOMMU_DMA
	dev->dma_iommu = on;
#endif
}

u64 rsdma_helper_coherent_dma_mask(struct device *dev)
{
	return dev->coherent_dma_mask;
}

unsigned int rsdma_helper_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

int rsdma_helper_set_max_seg_size(struct device *dev, unsigned int size)
{
	/* dma_set_max_seg_size() warns on a device without DMA parameters. */
	if (!dev->dma_parms)
		return -EINVAL;
	dma_set_max_seg_size(dev, size);
	return 0;
}

unsigned long rsdma_helper_seg_boundary(struct device *dev)
{
	return dma_get_seg_boundary(dev);
}

bool rsdma_helper_dev_is_dma_coherent(struct device *dev)
{
	return dev_is_dma_coherent(dev);
}

int rsdma_helper_dma_mapping_error(struct device *dev, dma_addr_t addr)
{
	return dma_mapping_error(dev, addr);
}

struct device *rsdma_helper_get_device(struct device *dev)
{
	return get_device(dev);
}

void rsdma_helper_put_device(struct device *dev)
{
	put_device(dev);
}

const char *rsdma_helper_dev_driver_name(struct device *dev)
{
	const struct device_driver *drv = READ_ONCE(dev->driver);

	return drv ? drv->name : NULL;
}

void rsdma_helper_device_lock(struct device *dev)
{
	device_lock(dev);
}

void rsdma_helper_device_unlock(struct device *dev)
{
	device_unlock(dev);
}

const void *rsdma_helper_of_compatible(struct device *dev, int *len)
{
	*len = 0;
	return dev->of_node ? of_get_property(dev->of_node, "compatible", len) : NULL;
}

bool rsdma_helper_try_module_get(struct module *mod)
{
	return try_module_get(mod);
}

const char *rsdma_helper_dev_name(const struct device *dev)
{
	return dev_name(dev);
}

void rsdma_helper_dev_info(const struct device *dev, const char *msg)
{
	dev_info(dev, "%s\n", msg);
}

void rsdma_helper_dev_err(const struct device *dev, const char *msg)
{
	dev_err(dev, "%s\n", msg);
}

void rsdma_helper_dev_warn(const struct device *dev, const char *msg)
{
	dev_warn(dev, "%s\n", msg);
}

u32 rsdma_helper_readl(const void __iomem *addr)
{
	return readl(addr);
}

void rsdma_helper_writel(u32 val, void __iomem *addr)
{
	writel(val, addr);
}

u64 rsdma_helper_readq(const void __iomem *addr)
{
	return readq(addr);
}

void rsdma_helper_writeq(u64 val, void __iomem *addr)
{
	writeq(val, addr);
}

void rsdma_helper_memset_io(void __iomem *addr, int val, size_t len)
{
	memset_io(addr, val, len);
}

void __iomem *rsdma_helper_ioremap(phys_addr_t phys, size_t len)
{
	return ioremap(phys, len);
}

void rsdma_helper_iounmap(void __iomem *addr)
{
	iounmap(addr);
}

void rsdma_helper_vma_set_prot(struct vm_area_struct *vma, int kind)
{
	if (kind == 1)
		vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
	else if (kind == 2)
		vma->vm_page_prot = pgprot_device(vma->vm_page_prot);
}

void *rsdma_helper_pci_get_drvdata(struct pci_dev *pdev)
{
	return pci_get_drvdata(pdev);
}

void rsdma_helper_pci_set_drvdata(struct pci_dev *pdev, void *data)
{
	pci_set_drvdata(pdev, data);
}

struct device *rsdma_helper_pci_dev(struct pci_dev *pdev)
{
	return &pdev->dev;
}

resource_size_t rsdma_helper_pci_resource_len(struct pci_dev *pdev, int bar)
{
	return pci_resource_len(pdev, bar);
}

bool rsdma_helper_pci_ids(struct device *dev, u16 *vendor, u16 *device)
{
	if (!dev_is_pci(dev))
		return false;
	*vendor = to_pci_dev(dev)->vendor;
	*device = to_pci_dev(dev)->device;
	return true;
}

void rsdma_helper_pci_driver_set_managed_dma(struct pci_driver *drv, bool on)
{
	drv->driver_managed_dma = on;
}

struct scatterlist *rsdma_helper_sg_next(struct scatterlist *sg)
{
	return sg_next(sg);
}

void rsdma_helper_sg_set_page(struct scatterlist *sg, struct page *page,
			      unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

struct page *rsdma_helper_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

dma_addr_t rsdma_helper_sg_dma_address(struct scatterlist *sg)
{
	return sg_dma_address(sg);
}

unsigned int rsdma_helper_sg_dma_len(struct scatterlist *sg)
{
	return sg_dma_len(sg);
}

void rsdma_helper_sg_set_dma(struct scatterlist *sg, dma_addr_t addr,
			     unsigned int len)
{
	sg_dma_address(sg) = addr;
	sg_dma_len(sg) = len;
}

phys_addr_t rsdma_helper_sg_phys(struct scatterlist *sg)
{
	return sg_phys(sg);
}

void rsdma_helper_sg_copy_dma(struct scatterlist *dst, struct scatterlist *src)
{
	sg_dma_address(dst) = sg_dma_address(src);
	sg_dma_len(dst) = sg_dma_len(src);
#ifdef CONFIG_NEED_SG_DMA_FLAGS
	dst->dma_flags = src->dma_flags;
#endif
}

struct page *rsdma_helper_alloc_pages(gfp_t gfp, unsigned int order)
{
	return alloc_pages(gfp, order);
}

struct page *rsdma_helper_nth_page(struct page *page, unsigned long n)
{
	return nth_page(page, n);
}

pgprot_t rsdma_helper_pgprot_kernel(void)
{
	return PAGE_KERNEL;
}

pgprot_t rsdma_helper_pgprot_writecombine(pgprot_t prot)
{
	return pgprot_writecombine(prot);
}

pgprot_t rsdma_helper_pgprot_dmacoherent(pgprot_t prot)
{
	return pgprot_dmacoherent(prot);
}

#ifdef CONFIG_ARM64
static int rsdma_count_memtype(pte_t *ptep, unsigned long addr, void *data)
{
	struct rsdma_memtypes *m = data;
	pte_t pte = ptep_get(ptep);

	if (pte_present(pte))
		m->count[(pte_val(pte) & PTE_ATTRINDX_MASK) >> 2]++;
	return 0;
}
#endif

/*
 * Counts the present PTEs of the current process over [addr, addr + len),
 * per memory type (arm64: the MAIR index in the PTE).  The range must lie
 * in one VMA a driver mapped (VM_MIXEDMAP or VM_PFNMAP: no huge pages).
 */
int rsdma_helper_user_memtypes(unsigned long addr, unsigned long len,
			       struct rsdma_memtypes *m)
{
#ifdef CONFIG_ARM64
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	int ret = -EINVAL;

	memset(m, 0, sizeof(*m));
	if (!mm || !len || addr + len < addr)
		return -EINVAL;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma && len <= vma->vm_end - addr &&
	    (vma->vm_flags & (VM_MIXEDMAP | VM_PFNMAP)))
		ret = apply_to_existing_page_range(mm, addr, len,
						   rsdma_count_memtype, m);
	mmap_read_unlock(mm);
	return ret;
#else
	return -EOPNOTSUPP;
#endif
}

void *rsdma_helper_page_address(struct page *page)
{
	return page_address(page);
}

phys_addr_t rsdma_helper_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

struct page *rsdma_helper_phys_to_page(phys_addr_t phys)
{
	return phys_to_page(phys);
}

struct page *rsdma_helper_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

phys_addr_t rsdma_helper_virt_to_phys(const void *addr)
{
	return virt_to_phys(addr);
}

void rsdma_helper_for_each_resv_region(struct device *dev,
				       void (*fn)(void *ctx, u64 start, u64 len),
				       void *ctx)
{
	struct iommu_resv_region *region;
	LIST_HEAD(regions);

	iommu_get_resv_regions(dev, &regions);
	list_for_each_entry(region, &regions, list)
		fn(ctx, region->start, region->length);
	iommu_put_resv_regions(dev, &regions);
}

bool rsdma_helper_sw_msi_base(struct device *dev, u64 *base)
{
	struct iommu_resv_region *region;
	LIST_HEAD(regions);
	bool found = false;

	iommu_get_resv_regions(dev, &regions);
	list_for_each_entry(region, &regions, list) {
		if (region->type == IOMMU_RESV_SW_MSI) {
			*base = region->start;
			found = true;
			break;
		}
	}
	iommu_put_resv_regions(dev, &regions);
	return found;
}

static int rsdma_count_dev(struct device *dev, void *data)
{
	(*(int *)data)++;
	return 0;
}

int rsdma_helper_iommu_group_size(struct device *dev)
{
	struct iommu_group *group = iommu_group_get(dev);
	int n = 0;

	if (!group)
		return 0;
	iommu_group_for_each_dev(group, &n, rsdma_count_dev);
	iommu_group_put(group);
	return n;
}

void rsdma_helper_iommu_flush_iotlb_all(struct iommu_domain *domain)
{
	iommu_flush_iotlb_all(domain);
}

/* Unmaps without invalidating the IOTLB: the caller flushes later. */
size_t rsdma_helper_iommu_unmap_nosync(struct iommu_domain *domain,
				       unsigned long iova, size_t size)
{
	struct iommu_iotlb_gather gather;

	iommu_iotlb_gather_init(&gather);
	gather.queued = true;
	return iommu_unmap_fast(domain, iova, size, &gather);
}

/* Cache maintenance with what arm64 exports to modules. */
void rsdma_helper_cache_clean(void *addr, size_t size)
{
	arch_wb_cache_pmem(addr, size);
}

void rsdma_helper_cache_inval(void *addr, size_t size)
{
	arch_invalidate_pmem(addr, size);
}

int rsdma_helper_devm_add_action(struct device *dev, void (*fn)(void *),
				 void *data)
{
	return devm_add_action(dev, fn, data);
}

void rsdma_helper_devm_remove_action(struct device *dev, void (*fn)(void *),
				     void *data)
{
	devm_remove_action(dev, fn, data);
}

u64 rsdma_helper_jiffies(void)
{
	return get_jiffies_64();
}

unsigned long rsdma_helper_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void rsdma_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

/*
 * Names the function that called the DMA API: the first frame on the stack
 * that is neither in this module nor in the DMA core (dma_*, __dma_*,
 * debug_dma_*).  For reports, so it may be slow.
 */
void rsdma_helper_dma_caller(char *buf, size_t len)
{
	unsigned long entries[16];
	unsigned int n, i;
	char sym[KSYM_SYMBOL_LEN];

	buf[0] = '\0';
	if (!IS_ENABLED(CONFIG_STACKTRACE))
		return;
	n = stack_trace_save(entries, ARRAY_SIZE(entries), 0);
	for (i = 0; i < n; i++) {
		if (within_module(entries[i], THIS_MODULE))
			continue;
		sprint_symbol(sym, entries[i]);
		if (!strncmp(sym, "dma_", 4) || !strncmp(sym, "__dma_", 6) ||
		    !strncmp(sym, "debug_dma_", 10) || !strncmp(sym, "stack_trace_", 12) ||
		    !strncmp(sym, "arch_stack_walk", 15))
			continue;
		strscpy(buf, sym, len);
		return;
	}
}

unsigned int rsdma_helper_cpu_id(void)
{
	return raw_smp_processor_id();
}

unsigned int rsdma_helper_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

static void rsdma_timer_fire(struct timer_list *timer)
{
	struct rsdma_timer *t = from_timer(t, timer, t);
	void (*fn)(void *) = READ_ONCE(t->fn);

	if (fn)
		fn(READ_ONCE(t->data));
}

void rsdma_helper_timer_init(struct rsdma_timer *t)
{
	t->fn = NULL;
	t->data = NULL;
	timer_setup(&t->t, rsdma_timer_fire, 0);
}

void rsdma_helper_timer_arm(struct rsdma_timer *t, void (*fn)(void *),
			    void *data, unsigned long delay)
{
	WRITE_ONCE(t->data, data);
	WRITE_ONCE(t->fn, fn);
	if (!timer_pending(&t->t))
		mod_timer(&t->t, jiffies + delay);
}

void rsdma_helper_timer_shutdown(struct rsdma_timer *t)
{
	timer_shutdown_sync(&t->t);
}

unsigned int rsdma_helper_min_align_mask(struct device *dev)
{
	return dma_get_min_align_mask(dev);
}

bool rsdma_helper_dev_untrusted(struct device *dev)
{
	return dev_is_pci(dev) && to_pci_dev(dev)->untrusted;
}

dma_addr_t rsdma_helper_phys_to_dma(struct device *dev, phys_addr_t phys)
{
	return phys_to_dma(dev, phys);
}

phys_addr_t rsdma_helper_dma_to_phys(struct device *dev, dma_addr_t addr)
{
	return dma_to_phys(dev, addr);
}

void *rsdma_helper_phys_to_virt(phys_addr_t phys)
{
	return phys_to_virt(phys);
}

void *rsdma_helper_vmap(struct page **pages, unsigned int count, bool wc)
{
	return vmap(pages, count, VM_MAP,
		    wc ? pgprot_writecombine(PAGE_KERNEL) : PAGE_KERNEL);
}

void rsdma_helper_invalidate_kernel_vmap_range(void *addr, int size)
{
	invalidate_kernel_vmap_range(addr, size);
}

void rsdma_helper_flush_kernel_vmap_range(void *addr, int size)
{
	flush_kernel_vmap_range(addr, size);
}

void rsdma_helper_vma_set_writecombine(struct vm_area_struct *vma)
{
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
}

void rsdma_helper_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr)
{
	iosys_map_set_vaddr(map, vaddr);
}

void *rsdma_helper_iosys_map_vaddr(const struct iosys_map *map)
{
	return map->is_iomem ? NULL : map->vaddr;
}

long (*rsdma_helper_compat_ptr_ioctl(void))(struct file *, unsigned int, unsigned long)
{
	return compat_ptr_ioctl;
}
