# What an importer pays per transfer of 4 KiB through an imported 1 MiB rsdma buffer, three ways, with edu's DMA on rsdma and on the kernel's iommu-dma (make bench; prints DMABUF lines, not a test).
#
# The ways (RSDMA_EDU_IOCTL_BENCH): map and unmap the whole buffer per
# transfer; map once and sync just the chunk for the device and back
# (rsdma_dmabuf_sync_*); map once and bracket the whole buffer with
# dma_buf_begin/end_cpu_access.  edu's own DMA is left out: QEMU's edu
# paces every transfer by a timer, which would bury the difference.
#
# Knobs (kernel command line, set by scripts/bench-dmabuf):
#   rsdma.bench_reps=N        repetitions (default 5)
#   rsdma.dmabuf_count=N      transfers per sample (default 2000)
# Each repetition measures every (importer, way) once; the importer order
# and the way order rotate from one repetition to the next.

REPS=$(boot_arg bench_reps)
REPS=${REPS:-5}
COUNT=$(boot_arg dmabuf_count)
COUNT=${COUNT:-2000}
need_iommu
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
dev=$(edu_dev)
pcidrv=/sys/bus/pci/drivers/rsdma_edu
grp=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
gtype=/sys/kernel/iommu_groups/$grp/type
# iommu-dma strict, against rsdma strict.
if [ "$(cat $gtype)" != DMA ]; then
	echo "$dev" >$pcidrv/unbind || fail "unbind $dev"
	echo DMA >$gtype || fail "cannot make DMA the type of IOMMU group $grp"
	echo "$dev" >$pcidrv/bind || fail "bind $dev"
fi
edu_run "dma_bits $EDU_DMA_BITS" >/dev/null
node=$(edu_node "$dev")
echo "bench: kernel $(uname -r), edu $dev, IOMMU group $grp ($(cat $gtype)), $COUNT transfers of 4096 bytes per sample"
trap '[ -e "/sys/kernel/debug/rsdma/$dev" ] && edu_run detach >/dev/null' EXIT
for rep in $(seq 1 "$REPS"); do
	for importer in $(rotated $rep rsdma iommu-dma); do
		if [ $importer = rsdma ]; then edu_run "attach notracker" >/dev/null; fi
		steps=
		for way in $(rotated $rep map range whole); do
			h=r
			[ $way = map ] && h=m
			steps="$steps|bench e $h $way 4k $COUNT"
		done
		out=$(IFS='|'; rsdma-buf "alloc a 1m scattered" "edu e $node" "import e m a none" "import e r a bidi" ${steps#|}) ||
			fail "benchmark ($importer): $out"
		echo "$out" | sed -n "s/.*: bench way=\([a-z]*\) chunk=\([0-9]*\) count=\([0-9]*\) ns=\([0-9]*\) .*/DMABUF rep=$rep importer=$importer way=\1 chunk=\2 count=\3 ns=\4/p"
		if [ $importer = rsdma ]; then edu_run detach >/dev/null; fi
	done
done
true
