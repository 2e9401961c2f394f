# Real block I/O on NVMe in every DMA mode (make bench; prints BIO lines, not a test).
# devices: nvme
#
# Knobs (kernel command line, set by scripts/bench-io):
#   rsdma.bio_reps=N     repetitions (default 5)
#   rsdma.bio_ms=MS      length of one workload run (default 2000)
#   rsdma.bio_span=MIB   part of the disk the I/O covers (default 128)
#   rsdma.bio_modes=...  modes, in the order of the first repetition:
#                        rsdma-strict, rsdma-lazy, iommu-dma, dma-fq,
#                        identity (the default: all five)
#
# Each repetition sets every mode once, in an order rotated from one
# repetition to the next, and runs the four workloads in it back to back:
# 4 KiB random reads at queue depth 1 and 32, 128 KiB sequential reads and
# writes at queue depth 8, all O_DIRECT through native AIO (iobench).  A
# mode is set by unbinding nvme, changing the IOMMU group's default domain
# or rsdma's claim, and binding nvme again.

REPS=$(boot_arg bio_reps)
REPS=${REPS:-5}
MS=$(boot_arg bio_ms)
MS=${MS:-2000}
SPAN=$(boot_arg bio_span)
SPAN=${SPAN:-128}
MODES=$(boot_arg bio_modes)
MODES=${MODES:-rsdma-strict rsdma-lazy iommu-dma dma-fq identity}
WORKLOADS="randread:4096:1 randread:4096:32 seqread:131072:8 seqwrite:131072:8"

need_iommu
trap unclaim_all EXIT
dev=$(nvme_dev) || fail "no NVMe device"
grp=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
gtype=/sys/kernel/iommu_groups/$grp/type
drv=/sys/bus/pci/drivers/nvme
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"

# set_mode M: nvme bound again in mode M.
set_mode() {
	[ -e "$drv/$dev" ] && { echo "$dev" >$drv/unbind || fail "unbind $dev"; }
	echo clear >$CLAIM
	case $1 in
	rsdma-* | iommu-dma) t=DMA ;;
	dma-fq) t=DMA-FQ ;;
	identity) t=identity ;;
	*) fail "unknown mode $1" ;;
	esac
	if [ "$(cat $gtype)" != $t ]; then
		echo $t >$gtype || fail "cannot make $t the type of IOMMU group $grp"
	fi
	case $1 in
	rsdma-strict) claim "pci:$dev/notracker" ;;
	rsdma-lazy) claim "pci:$dev/lazy/notracker" ;;
	esac
	echo "$dev" >$drv/bind || fail "bind $dev"
	disk=$(disk_of "$dev") || fail "no disk in mode $1"
	case $1 in
	rsdma-strict) served "$dev" && dev_stat "$dev" mode = strict || fail "rsdma strict is not serving $dev" ;;
	rsdma-lazy) served "$dev" && dev_stat "$dev" mode = lazy || fail "rsdma lazy is not serving $dev" ;;
	*) { ! served "$dev" && [ "$(cat $gtype)" = $t ]; } || fail "$dev is not on a $t domain" ;;
	esac
}

echo "bench: kernel $(uname -r), $(nproc) CPUs"
echo "bench: NVMe $dev, IOMMU group $grp; $REPS repetitions of $MS ms per workload over $SPAN MiB"
echo "bench: modes [$MODES], workloads [$WORKLOADS]"
set_mode iommu-dma
# Every block of the span is written once, so that reads find data.
dd if=/dev/zero of="/dev/$disk" bs=1M count="$SPAN" oflag=direct 2>/dev/null || fail "filling $disk"
start=$(cut -d. -f1 /proc/uptime)
rep=0
while [ $rep -lt "$REPS" ]; do
	rep=$((rep + 1))
	for m in $(rotated $rep $MODES); do
		set_mode "$m"
		for w in $WORKLOADS; do
			op=${w%%:*}; r=${w#*:}; bs=${r%%:*}; qd=${r#*:}
			out=$(iobench "/dev/$disk" "$op" "$bs" "$qd" "$MS" "$SPAN" 2>&1) || fail "iobench $w in mode $m: $out"
			echo "BIO mode=$m rep=$rep ${out#IO }"
		done
	done
done
echo "bench: done in $(( $(cut -d. -f1 /proc/uptime) - start )) s"
set_mode iommu-dma
