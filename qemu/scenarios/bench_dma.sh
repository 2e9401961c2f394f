# DMA map/unmap latency on edu in every DMA mode (make bench; prints BENCH lines, not a test).
#
# Knobs (kernel command line, set by scripts/bench):
#   rsdma.bench_reps=N        repetitions of every row (default 5)
#   rsdma.bench_ms=MS         length of one sample (default 500)
#   rsdma.bench_pages=1,16,64 buffer sizes, in pages
#   rsdma.bench_threads=1,2   thread counts
#   rsdma.bench_modes=...     modes, in the order of the first repetition:
#                             iommu-dma, rsdma-strict, raw, rsdma-lazy,
#                             dma-fq, raw-lazy, identity (the default),
#                             rsdma-tracker;
#                             or the bounce modes, in a boot without an
#                             IOMMU and with swiotlb=force: rsdma-bounce,
#                             swiotlb, memcpy
#   rsdma.bench_iova_reps=N   the IOVA allocators alone, after the modes
#                             above, in a boot with an IOMMU: repetitions
#                             (default 0: none)
#   rsdma.bench_iova_ms=MS    length of one allocator sample (default 300)
#   rsdma.bench_iova_granules=1,16,64  allocation sizes, in granules
#
# Each repetition runs every (pages, threads) row once, and each row runs
# every mode once, back to back; the mode order rotates from one
# repetition to the next, so no mode is always first or last.  The
# allocator rows (pattern, granules, threads; threads as above) run the
# same way: each row with both allocators, in an order that alternates
# from one row and repetition to the next.  They print "IOVA ..." lines.

REPS=$(boot_arg bench_reps)
REPS=${REPS:-5}
MS=$(boot_arg bench_ms)
MS=${MS:-500}
PAGES=$(boot_arg bench_pages)
PAGES=${PAGES:-1 16 64}
THREADS=$(boot_arg bench_threads)
THREADS=${THREADS:-1 2}
MODES=$(boot_arg bench_modes)
MODES=${MODES:-iommu-dma rsdma-strict raw rsdma-lazy dma-fq raw-lazy identity}

IOVA_REPS=$(boot_arg bench_iova_reps)
IOVA_REPS=${IOVA_REPS:-0}
IOVA_MS=$(boot_arg bench_iova_ms)
IOVA_MS=${IOVA_MS:-300}
IOVA_GRANULES=$(boot_arg bench_iova_granules)
IOVA_GRANULES=${IOVA_GRANULES:-1 16 64}
IOVA_PATTERNS="0 50 90 frag"

BENCH=/sys/kernel/debug/rsdma_bench/run

insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
insmod /lib/modules/rsdma_bench.ko || fail "insmod rsdma_bench.ko"
# rsdma cannot be unloaded while the benchmark module uses it.
trap '[ -e "/sys/kernel/debug/rsdma/$dev" ] && echo detach >$BENCH; rmmod rsdma_bench' EXIT

dev=$(edu_dev) || fail "no edu device"
pcidrv=/sys/bus/pci/drivers/rsdma_edu
# The bounce modes measure a boot without an IOMMU; the others need one.
bounce_modes=1
for m in $MODES; do
	case $m in rsdma-bounce | swiotlb | memcpy) ;; *) bounce_modes= ;; esac
done
if [ -n "$bounce_modes" ]; then
	[ -e "/sys/bus/pci/devices/$dev/iommu_group" ] && fail "the bounce modes need a boot without an IOMMU"
	grep -q 'swiotlb=force' /proc/cmdline || fail "the swiotlb mode needs a boot with swiotlb=force"
	grp=none
	gtype=/dev/null
else
	[ -e "/sys/bus/pci/devices/$dev/iommu_group" ] || fail "edu has no IOMMU group (boot with an SMMU)"
	grp=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
	gtype=/sys/kernel/iommu_groups/$grp/type
fi

# The bench needs edu's DMA masks to reach all of RAM without bouncing (the
# identity domain is plain dma-direct) and to stay below the raw floor's
# scratch IOVAs: 32 bits.
edu_run "dma_bits 32" >/dev/null

# bench CMD: one command to the benchmark module (its result: cat $BENCH).
bench() {
	echo "$1" >$BENCH || fail "rsdma_bench '$1' failed (see the kernel log)"
}

# measure CMD: a measuring command; its result goes to $r.  In a
# profiling build of rsdma (RSDMA_PROFILE=1) the steps of its map and
# unmap are timed too, and their totals go to $prof.
PROFILE=/sys/kernel/debug/rsdma/profile
measure() {
	prof=
	[ -e $PROFILE ] && { echo reset >$PROFILE || fail "cannot reset $PROFILE"; }
	bench "$1"
	r=$(cat $BENCH)
	[ -e $PROFILE ] && prof=$(cat $PROFILE)
	return 0
}

# group_type T: makes T (DMA, DMA-FQ or identity) the default domain type of
# edu's IOMMU group: the driver is unbound and the type written (a new
# default domain is set up); the driver is bound again except on identity.
# edu's driver cannot probe there: its 28-bit probe-time mask cannot reach
# RAM without an IOMMU, so on identity the device is measured unbound, with
# the 32-bit masks it kept from before (dma-direct either way).
group_type() {
	[ "$(cat $gtype)" = "$1" ] && return 0
	if [ -e "$pcidrv/$dev" ]; then
		echo "$dev" >$pcidrv/unbind || fail "unbind $dev"
	fi
	echo "$1" >$gtype || fail "cannot make $1 the type of IOMMU group $grp"
	[ "$(cat $gtype)" = "$1" ] || fail "IOMMU group $grp is $(cat $gtype), not $1"
	[ "$1" = identity ] && return 0
	echo "$dev" >$pcidrv/bind || fail "bind $dev"
	edu_run "dma_bits 32" >/dev/null
}

# bound: edu bound to its driver (rsdma needs that): back to DMA if not.
bound() {
	[ -e "$pcidrv/$dev" ] && return 0
	[ -n "$bounce_modes" ] && fail "edu is not bound to its driver"
	group_type DMA
}

# sample MODE PAGES THREADS REP: one measurement; prints a BENCH line.
sample() {
	case $1 in
	rsdma-strict) bound; bench attach; measure "map $2 $3 $MS"; bench detach
		want="domain=unmanaged ops=dma_ops" ;;
	rsdma-lazy) bound; bench "attach lazy"; measure "map $2 $3 $MS"; bench detach
		want="domain=unmanaged ops=dma_ops" ;;
	rsdma-tracker) bound; bench "attach tracker"; measure "map $2 $3 $MS"; bench detach
		want="domain=unmanaged ops=dma_ops" ;;
	raw) bound; bench attach; measure "raw $2 $3 $MS"; bench detach
		want="domain=unmanaged ops=dma_ops" ;;
	raw-lazy) bound; bench attach; measure "raw-lazy $2 $3 $MS"; bench detach
		want="domain=unmanaged ops=dma_ops" ;;
	iommu-dma) group_type DMA; measure "map $2 $3 $MS"
		want="domain=DMA ops=iommu-dma" ;;
	dma-fq) group_type DMA-FQ; measure "map $2 $3 $MS"
		want="domain=DMA-FQ ops=iommu-dma" ;;
	identity) group_type identity; measure "map $2 $3 $MS"
		want="domain=identity ops=direct" ;;
	# Without an IOMMU: buffers above edu's 32-bit mask, bounced by rsdma's
	# pool or (swiotlb=force) by the kernel's swiotlb; the floor is the
	# two copies such a map + unmap makes.
	rsdma-bounce) bound; bench attach; measure "map $2 $3 $MS high"; bench detach
		want="bounced=1 domain=none ops=dma_ops" ;;
	swiotlb) bound; measure "map $2 $3 $MS high"
		want="bounced=1 domain=none ops=direct" ;;
	memcpy) measure "copy $2 $3 $MS"
		want="op=copy" ;;
	*) fail "unknown mode $1" ;;
	esac
	case $r in
	*"$want"*) ;;
	*) fail "mode $1 measured something else: $r" ;;
	esac
	echo "BENCH mode=$1 rep=$4 ${r%% bounced=*}"
	case $1 in
	rsdma-*) [ -z "$prof" ] || echo "$prof" | while read -r line; do
		echo "PROFILE mode=$1 rep=$4 pages=$2 threads=$3 $line"
	done ;;
	esac
}

echo "bench: kernel $(uname -r)"
if [ -n "$bounce_modes" ]; then
	echo "bench: edu $dev, no IOMMU, DMA mask 32 bits, $REPS repetitions of $MS ms samples"
else
	echo "bench: edu $dev, IOMMU group $grp ($(cat $gtype)), $REPS repetitions of $MS ms samples"
fi
echo "bench: pages [$PAGES], threads [$THREADS], modes [$MODES]"
start=$(cut -d. -f1 /proc/uptime)
rep=0
while [ $rep -lt "$REPS" ]; do
	rep=$((rep + 1))
	order=$(rotated "$rep" $MODES)
	for p in $PAGES; do
		for t in $THREADS; do
			for m in $order; do
				sample "$m" "$p" "$t" "$rep"
			done
		done
	done
done
echo "bench: done in $(( $(cut -d. -f1 /proc/uptime) - start )) s"
[ -n "$bounce_modes" ] || group_type DMA

# The IOVA allocators alone (rsdma_bench's iova command, no device): rsdma's
# IO address space against the kernel's iova.c, on the same pre-filled
# space.  A failed run (an allocation that failed) is reported on its own
# IOVA line with error=, and the rows go on.
iova_sample() { # ALLOC GRANULES THREADS PATTERN REP
	cmd="iova $1 $2 $3 $IOVA_MS $4"
	if echo "$cmd" >$BENCH 2>/dev/null; then
		r=$(cat $BENCH)
		case $r in
		"op=iova alloc=$1 granules=$2 threads=$3 ms=$IOVA_MS pattern=$4 "*) ;;
		*) fail "rsdma_bench '$cmd' measured something else: $r" ;;
		esac
		echo "IOVA rep=$5 ${r#op=iova }"
	else
		r=$(cat $BENCH)
		echo "IOVA rep=$5 alloc=$1 granules=$2 threads=$3 ms=$IOVA_MS pattern=$4 error=${r#error }"
	fi
}
if [ -z "$bounce_modes" ] && [ "$IOVA_REPS" -gt 0 ]; then
	echo "bench: IOVA allocators alone: $IOVA_REPS repetitions of $IOVA_MS ms samples, granules [$IOVA_GRANULES], threads [$THREADS], patterns [$IOVA_PATTERNS]"
	start=$(cut -d. -f1 /proc/uptime)
	rep=0
	while [ $rep -lt "$IOVA_REPS" ]; do
		rep=$((rep + 1))
		row=0
		for pat in $IOVA_PATTERNS; do
			for g in $IOVA_GRANULES; do
				for t in $THREADS; do
					row=$((row + 1))
					if [ $(((rep + row) % 2)) = 0 ]; then
						iova_sample rsdma "$g" "$t" "$pat" "$rep"
						iova_sample iova "$g" "$t" "$pat" "$rep"
					else
						iova_sample iova "$g" "$t" "$pat" "$rep"
						iova_sample rsdma "$g" "$t" "$pat" "$rep"
					fi
				done
			done
		done
	done
	echo "bench: IOVA allocators done in $(( $(cut -d. -f1 /proc/uptime) - start )) s"
fi
