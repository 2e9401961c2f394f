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
 *   iova ALLOC GRANULES THREADS MS PATTERN
 *                          the IOVA allocators alone, no device: ALLOC is
 *                          rsdma (its IO address space, rsdma_iova_*) or
 *                          iova (the kernel's iova.c: alloc_iova_fast(),
 *                          free_iova_fast() with rcaches), on a fresh
 *                          32-bit space of 4 KiB granules with IOVA 0 kept
 *                          out, pre-filled by PATTERN (0, 50, 90 or frag:
 *                          see iova_patterns) with the same ranges for
 *                          both; then THREADS threads, one per CPU, each
 *                          loop alloc + free of GRANULES granules for MS
 *                          milliseconds, each timing its whole loop
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
 * rsdma's).  An iova result reads
 *
 *   op=iova alloc=rsdma granules=16 threads=2 ms=400 pattern=90
 *   occupancy=89.9 loops=N pair_ns=N
 *
 * where occupancy is the percentage of the space in use after the
 * pre-fill, as the allocator counts it, and pair_ns the mean ns of one
 * alloc + free: the threads' summed loop times over their summed loops.
 * A failed alloc or free fails the command.
 *
 * The device is locked for the whole of a command, so it cannot be unbound
 * under a run.  A raw run maps into a domain its owner may free: nothing
 * may detach the device from rsdma while one is under way.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/iommu.h>
#include <linux/iova.h>
#include <linux/kthread.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/rbtree.h>
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

/* The @i-th online CPU, wrapping around. */
static unsigned int bench_nth_cpu(unsigned int i)
{
	unsigned int cpu, n = i % num_online_cpus();

	for_each_online_cpu(cpu) {
		if (!n--)
			return cpu;
	}
	return cpumask_first(cpu_online_mask);
}

/*
 * Runs @n kthreads named @name/<i>, the i-th on @data + i * @size, for @ms
 * milliseconds (a signal cuts the run short; what was measured still
 * counts), one per online CPU when @bind, then sets *@stop (if given) and
 * stops them.  Returns 0, or the errno of a thread that could not be
 * created (those created are stopped; none has run).
 */
static int bench_run_threads(int (*fn)(void *), void *data, size_t size,
			     unsigned int n, const char *name, bool bind,
			     unsigned int ms, bool *stop)
{
	struct task_struct **tasks;
	unsigned int i, started = 0;
	int ret = 0;

	tasks = kcalloc(n, sizeof(*tasks), GFP_KERNEL);
	if (!tasks)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct task_struct *task;

		task = kthread_create(fn, data + (size_t)i * size, "%s/%u", name, i);
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			break;
		}
		if (bind)
			kthread_bind(task, bench_nth_cpu(i));
		get_task_struct(task);
		tasks[started++] = task;
	}
	if (!ret) {
		for (i = 0; i < started; i++)
			wake_up_process(tasks[i]);
		msleep_interruptible(ms);
	}
	if (stop)
		WRITE_ONCE(*stop, true);
	for (i = 0; i < started; i++)
		kthread_stop_put(tasks[i]);
	kfree(tasks);
	return ret;
}

static int bench_measure(struct bench_run *r)
{
	size_t size = (size_t)r->pages * PAGE_SIZE;
	struct bench_thread *th;
	u64 loops = 0, map_ns = 0, unmap_ns = 0;
	unsigned int i;
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

	ret = bench_run_threads(bench_thread_fn, th, sizeof(*th), r->threads,
				"rsdma-bench", false, r->ms, NULL);
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

/*
 * The allocator-alone benchmark (iova command): rsdma's IO address space
 * (rsdma_iova_*, include/rsdma.h) against the kernel's iova.c on a space
 * of the same size, pre-filled with the same ranges.
 */

#define IOVA_GRANULE_SHIFT	12
#define IOVA_SPACE_BITS		32
#define IOVA_SPACE_GRANULES	(1UL << (IOVA_SPACE_BITS - IOVA_GRANULE_SHIFT))
#define IOVA_MAX_GRANULES	4096
#define IOVA_SEED		0x7273646d61696f76ULL	/* "rsdmaiov" */

enum iova_allocator {
	IOVA_RSDMA,
	IOVA_KERNEL,
};

static const char *const iova_allocator_names[] = {
	[IOVA_RSDMA] = "rsdma",
	[IOVA_KERNEL] = "iova",
};

/*
 * A pre-fill: used and free runs of uniform random lengths, alternating
 * from the top of each region down, a used run first; with holes, every
 * hole_every granules the top hole_len are a free hole and the runs fill
 * the rest.  Runs reach up to 127 granules free (50, 90) so that a free
 * run may hold an aligned 64-granule range.
 */
struct iova_pattern {
	const char *name;
	unsigned int used_max;		/* used runs: 1..used_max (0: empty) */
	unsigned int free_max;		/* free runs: 1..free_max */
	unsigned long hole_every;	/* 0, or a power of two */
	unsigned long hole_len;
};

static const struct iova_pattern iova_patterns[] = {
	{ "0", 0, 0, 0, 0 },
	{ "50", 127, 127, 0, 0 },
	{ "90", 1151, 127, 0, 0 },
	{ "frag", 7, 7, 4096, 128 },
};

struct iova_run {
	enum iova_allocator alloc;
	const struct iova_pattern *pattern;
	unsigned int granules;
	unsigned int threads;
	unsigned int ms;
	bool stop;			/* READ_ONCE/WRITE_ONCE */
	struct rsdma_iova_space *rs;	/* IOVA_RSDMA */
	struct iova_domain iovad;	/* IOVA_KERNEL */
	u64 prefilled;			/* granules the pre-fill placed */
};

struct iova_thread {
	struct iova_run *run;
	u64 loops;
	u64 ns;
	int err;
};

/* splitmix64: one seeded sequence, the same for both allocators. */
static u64 iova_rand(u64 *state)
{
	u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Takes granules [lo, lo + len) out of @r's space. */
static int iova_fill(struct iova_run *r, unsigned long lo, unsigned long len)
{
	struct iova *v;
	int ret;

	if (r->alloc == IOVA_RSDMA) {
		ret = rsdma_iova_space_claim(r->rs,
					     (dma_addr_t)lo << IOVA_GRANULE_SHIFT,
					     len);
		if (ret)
			pr_err("iova: rsdma could not claim pre-fill run %#lx+%lu: %d\n",
			       lo, len, ret);
		return ret;
	}
	/*
	 * reserve_iova() walks the whole tree from its first node on every
	 * call (quadratic over a pre-fill of 10^5 runs); a top-down
	 * alloc_iova() whose limit ends at the run places it exactly, below
	 * the run placed before it, in O(log n).  Checked, not assumed.
	 */
	v = alloc_iova(&r->iovad, len, lo + len - 1, false);
	if (!v) {
		pr_err("iova: iova.c could not place pre-fill run %#lx+%lu\n",
		       lo, len);
		return -ENOMEM;
	}
	if (v->pfn_lo != lo) {
		pr_err("iova: iova.c placed pre-fill run %#lx+%lu at %#lx\n",
		       lo, len, v->pfn_lo);
		return -EIO;
	}
	return 0;
}

/* Lays @r's pattern into its space, from the top down. */
static int iova_prefill(struct iova_run *r)
{
	const struct iova_pattern *p = r->pattern;
	u64 state = IOVA_SEED;
	unsigned long base = IOVA_SPACE_GRANULES;
	int ret;

	if (!p->used_max)
		return 0;
	while (base > 0) {
		unsigned long lo, hi;
		bool used = true;

		/* The region [lo, hi): a block under its hole, or all. */
		if (p->hole_every) {
			base -= p->hole_every;
			hi = base + p->hole_every - p->hole_len;
		} else {
			base = 0;
			hi = IOVA_SPACE_GRANULES;
		}
		lo = max(base, 1UL);	/* IOVA 0 stays out */
		while (hi > lo) {
			unsigned long len = 1 + iova_rand(&state) %
					    (used ? p->used_max : p->free_max);

			len = min(len, hi - lo);
			if (used) {
				ret = iova_fill(r, hi - len, len);
				if (ret)
					return ret;
				r->prefilled += len;
			}
			hi -= len;
			used = !used;
			cond_resched();
		}
	}
	return 0;
}

/* Granules in use in @r's space, as the allocator itself counts them. */
static u64 iova_used(struct iova_run *r)
{
	struct rb_node *node;
	unsigned long flags;
	u64 used = 0;

	if (r->alloc == IOVA_RSDMA)
		return rsdma_iova_space_used(r->rs);
	spin_lock_irqsave(&r->iovad.iova_rbtree_lock, flags);
	for (node = rb_first(&r->iovad.rbroot); node; node = rb_next(node)) {
		if (node != &r->iovad.anchor.node)
			used += iova_size(rb_entry(node, struct iova, node));
	}
	spin_unlock_irqrestore(&r->iovad.iova_rbtree_lock, flags);
	return used;
}

/*
 * One thread: alloc then free of the row's size until told to stop, the
 * whole loop between two clock reads.  The same loop for both allocators,
 * each called as its DMA layer calls it: rsdma's with a byte limit,
 * iova.c's alloc_iova_fast() with a PFN limit and a flush of its rcaches
 * before it gives up, as iommu-dma calls it.
 */
static int bench_iova_thread_fn(void *data)
{
	struct iova_thread *t = data;
	struct iova_run *r = t->run;
	unsigned long n = r->granules;
	u64 loops = 0;
	ktime_t t0, t1;

	t0 = ktime_get();
	while (!READ_ONCE(r->stop)) {
		if (r->alloc == IOVA_RSDMA) {
			dma_addr_t iova = rsdma_iova_alloc(r->rs, n,
				(dma_addr_t)(IOVA_SPACE_GRANULES << IOVA_GRANULE_SHIFT) - 1);

			if (!iova) {
				t->err = -ENOSPC;
				break;
			}
			if (rsdma_iova_free(r->rs, iova, n)) {
				t->err = -EINVAL;
				break;
			}
		} else {
			unsigned long pfn = alloc_iova_fast(&r->iovad, n,
						IOVA_SPACE_GRANULES - 1, true);

			if (!pfn) {
				t->err = -ENOSPC;
				break;
			}
			free_iova_fast(&r->iovad, pfn, n);
		}
		loops++;
		/* Not preemptible kernels: let the stopping thread in. */
		cond_resched();
	}
	t1 = ktime_get();
	t->loops = loops;
	t->ns = ktime_to_ns(ktime_sub(t1, t0));
	bench_park_until_stopped();
	return 0;
}

/* Runs @r's threads, one per CPU; the result goes to bench_result. */
static int bench_iova_measure(struct iova_run *r, u64 used)
{
	struct iova_thread *th;
	unsigned int i;
	u64 loops = 0, ns = 0, permille;
	int ret = 0;

	th = kcalloc(r->threads, sizeof(*th), GFP_KERNEL);
	if (!th)
		return -ENOMEM;
	for (i = 0; i < r->threads; i++)
		th[i].run = r;
	ret = bench_run_threads(bench_iova_thread_fn, th, sizeof(*th), r->threads,
				"rsdma-bench-iova", true, r->ms, &r->stop);
	if (ret)
		goto out_free;

	for (i = 0; i < r->threads; i++) {
		if (th[i].err && !ret) {
			pr_err("iova: %s %s of %u granules failed in thread %u after %llu loops: %d\n",
			       iova_allocator_names[r->alloc],
			       th[i].err == -ENOSPC ? "alloc" : "free",
			       r->granules, i, th[i].loops, th[i].err);
			ret = th[i].err;
		}
		loops += th[i].loops;
		ns += th[i].ns;
	}
	if (!ret && !loops)
		ret = -ETIME;
	permille = div64_u64(used * 1000 + IOVA_SPACE_GRANULES / 2,
			     IOVA_SPACE_GRANULES);
	if (!ret)
		scnprintf(bench_result, sizeof(bench_result),
			  "op=iova alloc=%s granules=%u threads=%u ms=%u pattern=%s occupancy=%llu.%llu loops=%llu pair_ns=%llu\n",
			  iova_allocator_names[r->alloc], r->granules,
			  r->threads, r->ms, r->pattern->name,
			  div64_u64(permille, 10), permille % 10, loops,
			  div64_u64(ns, loops));
out_free:
	kfree(th);
	return ret;
}

/* iova ALLOCATOR GRANULES THREADS MS PATTERN: see the top of the file. */
static int bench_iova(char **s)
{
	struct iova_run *r;
	unsigned int i;
	char *w;
	u64 used = 0;
	int ret;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	ret = -EINVAL;
	w = bench_word(s);
	if (!w)
		goto usage;
	if (!strcmp(w, "rsdma"))
		r->alloc = IOVA_RSDMA;
	else if (!strcmp(w, "iova"))
		r->alloc = IOVA_KERNEL;
	else
		goto usage;
	if (bench_uint(s, 1, IOVA_MAX_GRANULES, &r->granules) ||
	    bench_uint(s, 1, BENCH_MAX_THREADS, &r->threads) ||
	    bench_uint(s, BENCH_MIN_MS, BENCH_MAX_MS, &r->ms))
		goto usage;
	w = bench_word(s);
	for (i = 0; w && i < ARRAY_SIZE(iova_patterns); i++) {
		if (!strcmp(w, iova_patterns[i].name))
			r->pattern = &iova_patterns[i];
	}
	if (!r->pattern || bench_word(s))
		goto usage;
	if (r->alloc == IOVA_KERNEL && !IS_REACHABLE(CONFIG_IOMMU_IOVA)) {
		pr_err("iova: this kernel has no iova.c (CONFIG_IOMMU_IOVA)\n");
		ret = -EOPNOTSUPP;
		goto out;
	}

	if (r->alloc == IOVA_RSDMA) {
		r->rs = rsdma_iova_space_create(IOVA_GRANULE_SHIFT,
						IOVA_SPACE_BITS);
		if (!r->rs) {
			ret = -ENOMEM;
			goto out;
		}
	} else {
		ret = iova_cache_get();
		if (ret)
			goto out;
		/* IOVA 0 stays out: start_pfn 1, as iommu-dma's domains. */
		init_iova_domain(&r->iovad, 1UL << IOVA_GRANULE_SHIFT, 1);
#if IS_REACHABLE(CONFIG_IOMMU_IOVA)	/* no stub in 6.12's iova.h */
		ret = iova_domain_init_rcaches(&r->iovad);
#endif
		if (ret) {
			put_iova_domain(&r->iovad);
			iova_cache_put();
			goto out;
		}
	}

	ret = iova_prefill(r);
	if (!ret) {
		used = iova_used(r);
		if (used != r->prefilled) {
			pr_err("iova: %s counts %llu granules in use after a pre-fill of %llu\n",
			       iova_allocator_names[r->alloc], used,
			       r->prefilled);
			ret = -EIO;
		}
	}
	if (!ret)
		ret = bench_iova_measure(r, used);

	if (r->alloc == IOVA_RSDMA) {
		rsdma_iova_space_destroy(r->rs);
	} else {
		put_iova_domain(&r->iovad);
		iova_cache_put();
	}
out:
	kfree(r);
	return ret;

usage:
	pr_err("usage: iova rsdma|iova GRANULES(1-%u) THREADS(1-%u) MS(%u-%u) 0|50|90|frag\n",
	       IOVA_MAX_GRANULES, BENCH_MAX_THREADS, BENCH_MIN_MS, BENCH_MAX_MS);
	kfree(r);
	return -EINVAL;
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
	/* The allocators alone: no device. */
	if (!strcmp(w, "iova"))
		return bench_iova(&s);
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
	pr_err("usage: map|raw|raw-lazy|copy PAGES(1-%u) THREADS(1-%u) MS(%u-%u) (map may end with high, raw-lazy with N(1-%u)) | attach [lazy] [tracker] | detach | iova ...\n",
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

MODULE_DESCRIPTION("DMA map/unmap latency benchmark on QEMU's edu device (rsdma, iommu-dma, identity, swiotlb, raw IOMMU and memcpy floors) and IOVA allocators alone (rsdma, iova.c)");
MODULE_AUTHOR("the rsdma developers");
MODULE_LICENSE("GPL");
