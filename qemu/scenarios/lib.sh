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

# edu_devs: the PCI addresses of every edu device, in bus order.
edu_devs() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
			basename "$d"
		fi
	done
}

# need_edu N: fails (never skips) unless the guest has N edu devices or
# more (RSDMA_QEMU_EDU=N).
need_edu() {
	[ "$(edu_devs | wc -l)" -ge "$1" ] ||
		fail "needs $1 edu devices (RSDMA_QEMU_EDU=$1); the guest has $(edu_devs | wc -l)"
}

# edu_run_on DEV TEST: as edu_run, on the edu device at PCI address DEV.
edu_run_on() {
	echo "$2" >"/sys/kernel/debug/rsdma_edu/$1/run" || fail "edu test '$2' on $1 failed (see the kernel log)"
	cat "/sys/kernel/debug/rsdma_edu/$1/run"
}

# edu_node DEV: the device node (/dev/rsdma_edu*) of the edu device DEV.
edu_node() {
	n=$(ls "/sys/bus/pci/devices/$1/misc" 2>/dev/null | head -1)
	[ -n "$n" ] || fail "edu device $1 has no device node"
	echo "/dev/$n"
}

# dmabuf_stat NAME: a counter of rsdma's dma-buf exporter.
dmabuf_stat() {
	sed -n "s/^$1: //p" /sys/kernel/debug/rsdma/dmabuf
}

# expect_dmabuf_idle: the exporter holds no buffer, attachment, mapping,
# kernel mapping or open CPU access.
expect_dmabuf_idle() {
	for c in buffers bytes attachments mappings vmaps cpu_accesses; do
		[ "$(dmabuf_stat $c)" = 0 ] || fail "dma-buf exporter: '$c: $(dmabuf_stat $c)', expected 0"
	done
}

# dmabuf_setup N: loads rsdma and the edu sample on a guest with an IOMMU
# and N edu devices or more, gives each edu device the guest's DMA mask and
# attaches the first to rsdma (the others stay on the kernel's iommu-dma).
# Sets e1 (, e2) to their PCI addresses and n1 (, n2) to their device nodes.
dmabuf_setup() {
	need_iommu
	need_edu "$1"
	insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
	insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
	set -- $(edu_devs)
	e1=$1 e2=${2:-}
	n1=$(edu_node "$e1")
	[ -z "$e2" ] || n2=$(edu_node "$e2")
	for d in "$@"; do edu_run_on "$d" "dma_bits $EDU_DMA_BITS"; done
	edu_run_on "$e1" attach
}

# dmabuf_teardown: the exporter holds nothing, rsdma kept no mapping of edu
# #1 and its tracker found nothing; then detaches and unloads.
dmabuf_teardown() {
	expect_dmabuf_idle
	grep -q "^live_mappings: 0$" "/sys/kernel/debug/rsdma/$e1/stats" || fail "mappings left live in rsdma"
	grep -q "^tracker_findings: 0$" "/sys/kernel/debug/rsdma/$e1/stats" || fail "tracker findings on correct use"
	edu_run_on "$e1" detach
	rmmod rsdma_edu || fail "rmmod rsdma_edu"
	rmmod rsdma || fail "rmmod rsdma"
}

# edu_region: the device-tree path of the reserved region qemu/run sets
# aside for edu to declare.
edu_region() {
	p=$(ls -d /sys/firmware/devicetree/base/reserved-memory/rsdma-edu@* 2>/dev/null | head -1)
	[ -n "$p" ] || { echo "no rsdma-edu region under /reserved-memory" >&2; return 1; }
	echo "${p#/sys/firmware/devicetree/base}"
}

# The platform sample's device (the device-tree node rsdma-sample).
PLATFORM_DEV=rsdma-sample

# platform_run CHECK: asks the platform sample to run CHECK and prints the
# result.
platform_run() {
	echo "$1" >"/sys/kernel/debug/rsdma_platform/$PLATFORM_DEV/run" ||
		fail "platform check '$1' failed (see the kernel log)"
	cat "/sys/kernel/debug/rsdma_platform/$PLATFORM_DEV/run"
}

# expect_declared DEV NAME VALUE: the `NAME: VALUE` line of DEV's rsdma
# debugfs `declared` file.
expect_declared() {
	v=$(sed -n "s/^$2: //p" "/sys/kernel/debug/rsdma/$1/declared")
	[ "$v" = "$3" ] || fail "rsdma declared ($1): '$2: $v', expected $3"
}

# edu_refused TEST ERRTEXT: the edu command TEST fails with the errno whose
# text is ERRTEXT (as the shell reports a failed write).
edu_refused() {
	out=$(echo "$1" 2>&1 >"/sys/kernel/debug/rsdma_edu/$(edu_dev)/run") &&
		fail "edu command '$1' was accepted"
	echo "$out" | grep -q "$2" || fail "edu command '$1': '$out', expected '$2'"
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
