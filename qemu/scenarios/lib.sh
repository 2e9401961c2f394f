# Helpers for scenarios (sourced by the guest init).

# edu_dev: the PCI address of QEMU's edu device (1234:11e8).
edu_dev() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
			basename "$d"
			return 0
		fi
	done
	echo "no edu device" >&2
	return 1
}

# fail MSG: report a failed check and stop the scenario.
fail() {
	echo "FAIL: $*"
	exit 1
}

# scenario_log: the kernel log since the running scenario began.
scenario_log() {
	dmesg | sed -n '/rsdma-scenario-start: /h; /rsdma-scenario-start: /!H; ${x;p}'
}

# expect_log PATTERN: the kernel log since the scenario began matches PATTERN.
expect_log() {
	scenario_log | grep -q -- "$1" || fail "kernel log lacks '$1'"
}

# edu_run TEST: asks the edu sample to run TEST on the edu device.
edu_run() {
	dev=$(edu_dev) || return 1
	echo "$1" >"/sys/kernel/debug/rsdma_edu/$dev/run" || fail "edu test '$1' failed (see the kernel log)"
	cat "/sys/kernel/debug/rsdma_edu/$dev/run"
}

# The DMA mask QEMU gave edu, as a bit count (qemu/run passes it along).
EDU_DMA_BITS=$(sed -n 's/.*rsdma\.edu_dma_bits=\([0-9]*\).*/\1/p' /proc/cmdline)
EDU_DMA_BITS=${EDU_DMA_BITS:-28}

# expect_stat NAME OP VALUE: the edu device's rsdma stats line `NAME: N`
# exists and `[ N OP VALUE ]` holds (OP: = -eq -gt -le ...).
expect_stat() {
	v=$(sed -n "s/^$1: //p" "/sys/kernel/debug/rsdma/$(edu_dev)/stats")
	[ -n "$v" ] || fail "rsdma stats lack '$1'"
	[ "$v" "$2" "$3" ] 2>/dev/null || fail "rsdma stats: '$1: $v', expected $2 $3"
}

# need_iommu: fails (never skips) unless the guest has an IOMMU.
need_iommu() {
	ls /sys/class/iommu 2>/dev/null | grep -q . ||
		fail "needs a guest with an IOMMU (RSDMA_QEMU_IOMMU=smmuv3)"
}

# need_noiommu: fails (never skips) unless the guest is the one the
# noiommu_* scenarios need: no IOMMU, RAM above 4 GiB, and an edu device
# that drives at least 32 address bits.  scripts/test boots it with
# RSDMA_QEMU_IOMMU=none RSDMA_QEMU_MEM=5G RSDMA_EDU_DMA_MASK=32.
need_noiommu() {
	! ls /sys/class/iommu 2>/dev/null | grep -q . ||
		fail "needs a guest without IOMMU (RSDMA_QEMU_IOMMU=none)"
	top=$(sed -n 's/^ *[0-9a-f]*-\([0-9a-f]*\) : System RAM$/\1/p' /proc/iomem | tail -1)
	[ -n "$top" ] && [ $((0x$top)) -gt $((0xffffffff)) ] ||
		fail "needs RAM above 4 GiB (RSDMA_QEMU_MEM=5G); RAM ends at 0x$top"
	[ "$EDU_DMA_BITS" -ge 32 ] ||
		fail "needs edu to drive 32 address bits (RSDMA_EDU_DMA_MASK=32), not $EDU_DMA_BITS"
}

# load_edu [PARAM=VALUE...]: loads rsdma (with those module parameters) and
# the edu sample; sets dev, run and stats to the edu device, its run file
# and its rsdma stats file.
load_edu() {
	insmod /lib/modules/rsdma.ko "$@" || fail "insmod rsdma.ko $*"
	insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
	dev=$(edu_dev) || fail "no edu device"
	run=/sys/kernel/debug/rsdma_edu/$dev/run
	stats=/sys/kernel/debug/rsdma/$dev/stats
}

# hex_field NAME TEXT: the hex number after NAME in TEXT ("seed 0x1f" -> 0x1f).
hex_field() {
	echo "$2" | sed -n "s/.*$1 \\(0x[0-9a-f]*\\).*/\\1/p"
}
