// SPDX-License-Identifier: GPL-2.0
/*
 * rsdma_bench: DMA map/unmap latency on QEMU's edu device.
 *
 * The method is the kernel's DMA map benchmark (kernel/dma/map_benchmark.c):
 * N kernel threads each loop over "stain the buffer, map it, unmap it" for
 * a fixed time, timing the map and the unmap separately with ktime; the
 * result is the mean time of one map and of one unmap over every loop of
 * every thread.  This module is not a driver: it measures the first edu
 * device (PCI 1234:11e8) as its driver left it, so whatever serves the
 * device's DMA API is what is measured: the kernel's iommu-dma on the
 * group's default domain, dma-direct on an identity domain, or rsdma once
 * the device is attached to it.
 *
 * Everything goes through /sys/kernel/debug/rsdma_bench/run.  Write one
 * command, then read the file for its result:
 *
 *   map PAGES THREADS MS [high]
 *                          dma_map_single() + dma_unmap_single() of PAGES
 *                          pages (DMA_BIDIRECTIONAL) in THREADS threads
 *                          for MS milliseconds; with high, every buffer
 *                          lies (at least partly) above the device's DMA
 *                          mask, so that a layer without an IOMMU must
 *                          bounce it
 *   copy PAGES THREADS MS  the floor under any bounce buffer: memcpy() of
 *                          PAGES pages into a scratch buffer (timed as the
 *                          "map") and back (the "unmap"), which is what a
 *                          bidirectional bounce map + unmap copies
 *   raw PAGES THREADS MS   the floor under any IOMMU-backed DMA API: bare
 *                          iommu_map() + iommu_unmap() of the same size on
 *                          the driver-owned (rsdma) domain the device is
 *                          attached to, at scratch IOVAs no allocator
 *                          hands out, with no IOVA allocation at all
 *   raw-lazy PAGES THREADS MS [N]
 *                          the floor under lazy invalidation: as raw, but
 *                          each unmap leaves the IOTLB alone
 *                          (iommu_unmap_fast() without a sync) and every
 *                          Nth unmap of a thread is followed by one full
 *                          IOTLB flush, timed with that unmap (N: default
 *                          256, the length of a per-CPU flush queue of
 *                          the kernel's DMA-FQ)
 *   attach [lazy] [tracker]
 *                          attach the device to rsdma (strict invalidation
 *                          unless lazy; without the mapping tracker unless
 *                          tracker), on behalf of its driver, which must
 *                          set driver_managed_dma
 *   detach                 detach it from rsdma
 *
 * A result reads, on one line:
 *
 *   op=map pages=1 threads=2 ms=400 loops=51234 map_ns=2112
 *   unmap_ns=2980 bounced=0 domain=DMA ops=iommu-dma
 *
 * where domain is the type of the IOMMU domain the device is attached to
 * (DMA, DMA-FQ, identity, unmanaged, or none), ops what serves its DMA
 * API (iommu-dma, direct, or dma_ops: a per-device table such as rsdma's),
 * and bounced is 1 when, without an IOMMU, the first mapping's bus address
 * was not the buffer's own physical address (a bounce slot: swiotlb's or
 * rsdma's).
 *
 * The device is locked for the whole of a command, so it cannot be unbound
 * under a run.  A raw run maps into a domain its owner may free: nothing
 * may detach the device from rsdma while one is under way.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/iommu.h>
#include <linux/kthread.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "../../include/rsdma.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8

#define BENCH_MAX_PAGES		1024
#define BENCH_MAX_THREADS	64
#define BENCH_MIN_MS		10
#define BENCH_MAX_MS		60000
#define BENCH_CMD_LEN		128
#define BENCH_FQ_DEFAULT	256	/* the kernel's IOVA_DEFAULT_FQ_SIZE */
#define BENCH_FQ_MAX		65536
#define BENCH_RESULT_LEN	256

/*
 * Raw mode's scratch IOVAs: one window of BENCH_MAX_PAGES pages per thread
 * from 64 GiB up.  rsdma hands out IOVAs from the bottom of the space and
 * never above the device's DMA masks, which raw mode requires to be below
 * this base, so no mapping of rsdma's can meet these.
 */
#define RAW_IOVA_BASE		BIT_ULL(36)
#define RAW_IOVA_STRIDE		((u64)BENCH_MAX_PAGES * PAGE_SIZE)

enum bench_mode {
	BENCH_MAP,
	BENCH_RAW,
	BENCH_RAW_LAZY,
	BENCH_COPY,
};

static const char *const bench_op_names[] = {
	[BENCH_MAP] = "map",
	[BENCH_RAW] = "raw",
	[BENCH_RAW_LAZY] = "raw-lazy",
	[BENCH_COPY] = "copy",
};

/* Allocation tries for a buffer above the mask before giving up. */
#define BENCH_HIGH_TRIES	64

struct bench_run {
	struct device *dev;
	struct iommu_domain *domain;	/* raw mode */
	enum bench_mode mode;
	unsigned int pages;
	unsigned int threads;
	unsigned int ms;
	bool high;			/* map mode: buffers above the mask */
	int prot;			/* raw modes */
	unsigned int flush_every;	/* raw-lazy: unmaps per IOTLB flush */
};

struct bench_thread {
	const struct bench_run *run;
	struct task_struct *task;
	void *buf;
	void *scratch;			/* copy mode */
	unsigned long iova;		/* raw modes */
	unsigned int unflushed;		/* raw-lazy: unmaps since the flush */
	dma_addr_t first_addr;		/* map mode: the first mapping */
	u64 loops;
	u64 map_ns;
	u64 unmap_ns;
	int err;
};

static DEFINE_MUTEX(bench_lock);	/* one command at a time */
static char bench_result[BENCH_RESULT_LEN];	/* under bench_lock */
static struct dentry *bench_dir;

/* Waits for kthread_stop(), so that the thread never exits on its own. */
static void bench_park_until_stopped(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
}

/*
 * Raw-lazy mode's unmap: the page-table entries go at once, their IOTLB
 * entries stay until the flush every r->flush_every unmaps, as a flush
 * queue would leave them.  Nothing reuses the IOVA behind the device's
 * back: the device does no DMA during a run.
 */
static size_t bench_unmap_lazy(const struct bench_run *r,
			       struct bench_thread *t, size_t size)
{
	struct iommu_iotlb_gather gather;
	size_t unmapped;

	iommu_iotlb_gather_init(&gather);
	unmapped = iommu_unmap_fast(r->domain, t->iova, size, &gather);
	if (++t->unflushed >= r->flush_every) {
		iommu_flush_iotlb_all(r->domain);
		t->unflushed = 0;
	}
	return unmapped;
}

static int bench_thread_fn(void *data)
{
	struct bench_thread *t = data;
	const struct bench_run *r = t->run;
	size_t size = (size_t)r->pages * PAGE_SIZE;
	phys_addr_t phys = virt_to_phys(t->buf);

	while (!kthread_should_stop()) {
		ktime_t t0, t1, t2, t3;
		dma_addr_t addr = 0;
		size_t unmapped = size;
		int err = 0;

		/*
		 * As map_benchmark does: dirty the buffer first, so that a
		 * non-coherent device pays its real cache maintenance.
		 */
		memset(t->buf, 0x66, size);

		t0 = ktime_get();
		switch (r->mode) {
		case BENCH_RAW:
		case BENCH_RAW_LAZY:
			err = iommu_map(r->domain, t->iova, phys, size, r->prot,
					GFP_ATOMIC);
			break;
		case BENCH_COPY:
			memcpy(t->scratch, t->buf, size);
			break;
		case BENCH_MAP:
			addr = dma_map_single(r->dev, t->buf, size,
					      DMA_BIDIRECTIONAL);
			if (dma_mapping_error(r->dev, addr))
				err = -ENOMEM;
			break;
		}
		t1 = ktime_get();
		if (err) {
			t->err = err;
			break;
		}
		if (!t->loops)
			t->first_addr = addr;

		t2 = ktime_get();
		switch (r->mode) {
		case BENCH_RAW:
			unmapped = iommu_unmap(r->domain, t->iova, size);
			break;
		case BENCH_RAW_LAZY:
			unmapped = bench_unmap_lazy(r, t, size);
			break;
		case BENCH_COPY:
			memcpy(t->buf, t->scratch, size);
			break;
		case BENCH_MAP:
			dma_unmap_single(r->dev, addr, size, DMA_BIDIRECTIONAL);
			break;
		}
		t3 = ktime_get();
		if (unmapped != size) {
			t->err = -EIO;
			break;
		}

		t->map_ns += ktime_to_ns(ktime_sub(t1, t0));
		t->unmap_ns += ktime_to_ns(ktime_sub(t3, t2));
		t->loops++;

		/* Not preemptible kernels: let the stopping thread in. */
		cond_resched();
	}
	/* No stale IOTLB entry outlives the run. */
	if (t->unflushed)
		iommu_flush_iotlb_all(r->domain);
	bench_park_until_stopped();
	return 0;
}

static const char *bench_domain_name(struct device *dev)
{
	struct iommu_domain *d = iommu_get_domain_for_dev(dev);

	if (!d)
		return "none";
	switch (d->type) {
	case IOMMU_DOMAIN_DMA:
		return "DMA";
	case IOMMU_DOMAIN_DMA_FQ:
		return "DMA-FQ";
	case IOMMU_DOMAIN_IDENTITY:
		return "identity";
	case IOMMU_DOMAIN_UNMANAGED:
		return "unmanaged";
	case IOMMU_DOMAIN_BLOCKED:
		return "blocked";
	default:
		return "other";
	}
}

static const char *bench_ops_name(struct device *dev)
{
#ifdef CONFIG_IOMMU_DMA
	if (dev->dma_iommu)
		return "iommu-dma";
#endif
#ifdef CONFIG_ARCH_HAS_DMA_OPS
	if (dev->dma_ops)
		return "dma_ops";
#endif
	return "direct";
}

/* Raw mode: checks the domain and the scratch windows, and fills @r. */
static int bench_raw_prepare(struct bench_run *r, struct bench_thread *th)
{
	struct device *dev = r->dev;
	struct iommu_domain *d = iommu_get_domain_for_dev(dev);
	size_t size = (size_t)r->pages * PAGE_SIZE;
	u64 end = RAW_IOVA_BASE + (u64)r->threads * RAW_IOVA_STRIDE - 1;
	unsigned int i;
	size_t off;

	if (!d || d->type != IOMMU_DOMAIN_UNMANAGED) {
		dev_err(dev, "raw mode needs the device attached to a driver-owned domain (rsdma), not %s\n",
			bench_domain_name(dev));
		return -EINVAL;
	}
	if (!d->pgsize_bitmap || __ffs(d->pgsize_bitmap) > PAGE_SHIFT) {
		dev_err(dev, "raw mode: the IOMMU cannot map %lu-byte pages\n",
			PAGE_SIZE);
		return -EINVAL;
	}
	if (d->geometry.aperture_start > RAW_IOVA_BASE ||
	    d->geometry.aperture_end < end) {
		dev_err(dev, "raw mode: scratch IOVAs %#llx-%#llx lie outside the domain's aperture\n",
			RAW_IOVA_BASE, end);
		return -EINVAL;
	}
	if (dma_get_mask(dev) >= RAW_IOVA_BASE ||
	    dev->coherent_dma_mask >= RAW_IOVA_BASE) {
		dev_err(dev, "raw mode needs DMA masks below %#llx, so that no allocator hands out the scratch IOVAs\n",
			RAW_IOVA_BASE);
		return -EBUSY;
	}
	for (i = 0; i < r->threads; i++) {
		th[i].iova = RAW_IOVA_BASE + (u64)i * RAW_IOVA_STRIDE;
		/* Mapping over a live entry would trip io-pgtable's WARN. */
		for (off = 0; off < size; off += PAGE_SIZE) {
			if (iommu_iova_to_phys(d, th[i].iova + off)) {
				dev_err(dev, "raw mode: scratch IOVA %#llx is already mapped\n",
					(u64)th[i].iova + off);
				return -EBUSY;
			}
		}
	}
	r->domain = d;
	r->prot = IOMMU_READ | IOMMU_WRITE;
	if (dev_is_dma_coherent(dev))
		r->prot |= IOMMU_CACHE;
	return 0;
}

/* Whether @size bytes at @buf reach past what @dev's streaming mask covers. */
static bool bench_above_mask(struct device *dev, void *buf, size_t size)
{
	return virt_to_phys(buf) + size - 1 > dma_get_mask(dev);
}

/*
 * A buffer for @r: anywhere, or in high mode one the device's mask does not
 * cover (the page allocator hands out the highest zone first, so this
 * rarely takes more than one try).  NULL when none could be found.
 */
static void *bench_alloc_buf(const struct bench_run *r, size_t size)
{
	void *rejected[BENCH_HIGH_TRIES];
	unsigned int n = 0, i;
	void *buf = NULL;

	while (n < BENCH_HIGH_TRIES) {
		buf = alloc_pages_exact(size, GFP_KERNEL);
		if (!buf || !r->high || bench_above_mask(r->dev, buf, size))
			break;
		rejected[n++] = buf;
		buf = NULL;
	}
	for (i = 0; i < n; i++)
		free_pages_exact(rejected[i], size);
	return buf;
}

static int bench_measure(struct bench_run *r)
{
	size_t size = (size_t)r->pages * PAGE_SIZE;
	struct bench_thread *th;
	u64 loops = 0, map_ns = 0, unmap_ns = 0;
	unsigned int i, started = 0;
	int ret = 0;

	th = kcalloc(r->threads, sizeof(*th), GFP_KERNEL);
	if (!th)
		return -ENOMEM;
	for (i = 0; i < r->threads; i++) {
		th[i].run = r;
		th[i].buf = bench_alloc_buf(r, size);
		if (!th[i].buf) {
			if (r->high)
				dev_err(r->dev, "no memory above the DMA mask %#llx for a %zu-byte buffer\n",
					dma_get_mask(r->dev), size);
			ret = -ENOMEM;
			goto out_free;
		}
		if (r->mode == BENCH_COPY) {
			th[i].scratch = alloc_pages_exact(size, GFP_KERNEL);
			if (!th[i].scratch) {
				ret = -ENOMEM;
				goto out_free;
			}
		}
	}
	if (r->mode == BENCH_RAW || r->mode == BENCH_RAW_LAZY) {
		ret = bench_raw_prepare(r, th);
		if (ret)
			goto out_free;
	}

	for (i = 0; i < r->threads; i++) {
		struct task_struct *task;

		task = kthread_create(bench_thread_fn, &th[i], "rsdma-bench/%u", i);
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			goto out_stop;
		}
		get_task_struct(task);
		th[i].task = task;
		started++;
	}
	for (i = 0; i < started; i++)
		wake_up_process(th[i].task);

	/* A signal cuts the run short; what was measured still counts. */
	msleep_interruptible(r->ms);

out_stop:
	for (i = 0; i < started; i++)
		kthread_stop_put(th[i].task);
	if (ret)
		goto out_free;

	for (i = 0; i < r->threads; i++) {
		if (th[i].err && !ret) {
			dev_err(r->dev, "%s failed in thread %u after %llu loops: %d\n",
				r->mode == BENCH_MAP ? "dma_map_single" :
				r->mode == BENCH_COPY ? "memcpy" : "iommu_map/unmap",
				i, th[i].loops, th[i].err);
			ret = th[i].err;
		}
		loops += th[i].loops;
		map_ns += th[i].map_ns;
		unmap_ns += th[i].unmap_ns;
	}
	if (!ret && !loops)
		ret = -ETIME;
	if (!ret)
		scnprintf(bench_result, sizeof(bench_result),
			  "op=%s pages=%u threads=%u ms=%u loops=%llu map_ns=%llu unmap_ns=%llu bounced=%d domain=%s ops=%s\n",
			  bench_op_names[r->mode], r->pages, r->threads, r->ms,
			  loops, div64_u64(map_ns, loops),
			  div64_u64(unmap_ns, loops),
			  r->mode == BENCH_MAP &&
			  !iommu_get_domain_for_dev(r->dev) &&
			  th[0].first_addr != (dma_addr_t)virt_to_phys(th[0].buf),
			  bench_domain_name(r->dev), bench_ops_name(r->dev));

out_free:
	for (i = 0; i < r->threads; i++) {
		if (th[i].buf)
			free_pages_exact(th[i].buf, size);
		if (th[i].scratch)
			free_pages_exact(th[i].scratch, size);
	}
	kfree(th);
	return ret;
}

static int bench_attach(struct device *dev, bool attach, bool lazy,
			bool tracker)
{
	struct rsdma_config cfg = { 0 };
	int ret;

	if (!dev->driver || !to_pci_driver(dev->driver)->driver_managed_dma) {
		dev_err(dev, "rsdma attach/detach needs the device bound to a driver that sets driver_managed_dma\n");
		return -ENODEV;
	}
	if (!attach) {
		ret = rsdma_detach(dev);
		if (!ret)
			scnprintf(bench_result, sizeof(bench_result),
				  "detached: domain=%s ops=%s\n",
				  bench_domain_name(dev), bench_ops_name(dev));
		return ret;
	}
	if (lazy)
		cfg.flags |= RSDMA_ATTACH_LAZY;
	if (!tracker)
		cfg.flags |= RSDMA_ATTACH_NO_TRACKER;
	ret = rsdma_attach(dev, &cfg);
	if (!ret)
		scnprintf(bench_result, sizeof(bench_result),
			  "attached: %s, tracker %s, domain=%s ops=%s\n",
			  lazy ? "lazy" : "strict", tracker ? "on" : "off",
			  bench_domain_name(dev), bench_ops_name(dev));
	return ret;
}

/* The next word of @s (moved past it), or NULL at the end. */
static char *bench_word(char **s)
{
	char *w;

	do {
		w = strsep(s, " \t\n");
	} while (w && !*w);
	return w;
}

static int bench_uint(char **s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *w = bench_word(s);

	if (!w || kstrtouint(w, 0, out) || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

static int bench_command(char *cmd)
{
	struct bench_run r = { };
	struct pci_dev *pdev;
	bool attach = false, detach = false, lazy = false, tracker = false;
	char *s = cmd, *w;
	int ret;

	w = bench_word(&s);
	if (!w)
		return -EINVAL;
	if (!strcmp(w, "map") || !strcmp(w, "raw") ||
	    !strcmp(w, "raw-lazy") || !strcmp(w, "copy")) {
		r.mode = !strcmp(w, "raw") ? BENCH_RAW :
			 !strcmp(w, "raw-lazy") ? BENCH_RAW_LAZY :
			 !strcmp(w, "copy") ? BENCH_COPY : BENCH_MAP;
		if (bench_uint(&s, 1, BENCH_MAX_PAGES, &r.pages) ||
		    bench_uint(&s, 1, BENCH_MAX_THREADS, &r.threads) ||
		    bench_uint(&s, BENCH_MIN_MS, BENCH_MAX_MS, &r.ms))
			goto usage;
		if (r.mode == BENCH_MAP && (w = bench_word(&s))) {
			if (strcmp(w, "high"))
				goto usage;
			r.high = true;
		}
		r.flush_every = BENCH_FQ_DEFAULT;
		if (r.mode == BENCH_RAW_LAZY && (w = bench_word(&s)) &&
		    (kstrtouint(w, 0, &r.flush_every) || !r.flush_every ||
		     r.flush_every > BENCH_FQ_MAX))
			goto usage;
	} else if (!strcmp(w, "attach")) {
		attach = true;
		while ((w = bench_word(&s))) {
			if (!strcmp(w, "lazy"))
				lazy = true;
			else if (!strcmp(w, "tracker"))
				tracker = true;
			else
				goto usage;
		}
	} else if (!strcmp(w, "detach")) {
		detach = true;
	} else {
		goto usage;
	}
	if (bench_word(&s))
		goto usage;

	pdev = pci_get_device(EDU_VENDOR, EDU_DEVICE, NULL);
	if (!pdev) {
		pr_err("no edu device (PCI %04x:%04x)\n", EDU_VENDOR, EDU_DEVICE);
		return -ENODEV;
	}
	r.dev = &pdev->dev;
	/* No unbind (and no rsdma teardown by one) under a command. */
	device_lock(r.dev);
	if (attach || detach)
		ret = bench_attach(r.dev, attach, lazy, tracker);
	else
		ret = bench_measure(&r);
	device_unlock(r.dev);
	pci_dev_put(pdev);
	return ret;

usage:
	pr_err("usage: map|raw|raw-lazy|copy PAGES(1-%u) THREADS(1-%u) MS(%u-%u) (map may end with high, raw-lazy with N(1-%u)) | attach [lazy] [tracker] | detach\n",
	       BENCH_MAX_PAGES, BENCH_MAX_THREADS, BENCH_MIN_MS, BENCH_MAX_MS,
	       BENCH_FQ_MAX);
	return -EINVAL;
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	char *cmd;
	int ret;

	if (count == 0 || count >= BENCH_CMD_LEN)
		return -EINVAL;
	cmd = memdup_user_nul(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	ret = mutex_lock_interruptible(&bench_lock);
	if (ret)
		goto out;
	bench_result[0] = '\0';
	ret = bench_command(cmd);
	if (ret)
		scnprintf(bench_result, sizeof(bench_result), "error %d\n", ret);
	mutex_unlock(&bench_lock);
out:
	kfree(cmd);
	return ret ?: count;
}

static int bench_show(struct seq_file *m, void *v)
{
	int ret = mutex_lock_interruptible(&bench_lock);

	if (ret)
		return ret;
	seq_puts(m, bench_result);
	mutex_unlock(&bench_lock);
	return 0;
}

static int bench_open(struct inode *inode, struct file *file)
{
	return single_open(file, bench_show, NULL);
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.open = bench_open,
	.read = seq_read,
	.write = bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static int __init bench_init(void)
{
	bench_dir = debugfs_create_dir("rsdma_bench", NULL);
	debugfs_create_file("run", 0600, bench_dir, NULL, &bench_fops);
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove_recursive(bench_dir);
}

module_init(bench_init);
module_exit(bench_exit);

MODULE_DESCRIPTION("DMA map/unmap latency benchmark on QEMU's edu device (rsdma, iommu-dma, identity, swiotlb, raw IOMMU and memcpy floors)");
MODULE_AUTHOR("the rsdma developers");
MODULE_LICENSE("GPL");
