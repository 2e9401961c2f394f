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

# smmu_event_has WORD: a translation fault (event 0x10) the SMMU driver
# logged holds WORD among its words (the lines of arm-smmu-v3 after it).
smmu_event_has() {
	scenario_log | grep -A8 "arm-smmu-v3.*event 0x10 received" | grep "arm-smmu-v3" | grep -q -- "$1"
}

# smmu_ready: waits until the SMMU driver will log the next fault.  It logs
# at most 10 events in 5 s (a rate limit of its own), so faults an earlier
# scenario provoked can hide the next scenario's for up to 5 s.
smmu_ready() {
	last=$(dmesg | sed -n 's/^\[ *\([0-9]*\)\.[0-9]*\] arm-smmu-v3.*event 0x[0-9a-f]* received.*/\1/p' | tail -1)
	[ -n "$last" ] || return 0
	wait=$((last + 6 - $(cut -d. -f1 /proc/uptime)))
	[ $wait -le 0 ] || sleep $wait
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

# The kernel's page size in bytes (4096, 16384 or 65536): the unit rsdma
# gives out IOVAs, coherent and declared memory in when it is larger than
# the IOMMU's granule.
PAGE_SIZE=$(sed -n 's/^KernelPageSize: *\([0-9]*\) kB$/\1/p' /proc/self/smaps | head -1)
PAGE_SIZE=$((${PAGE_SIZE:-4} * 1024))

# hex N: N as 0x and lowercase hex digits, as rsdma prints addresses.
hex() {
	printf '0x%x' "$1"
}

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

# stream_checks OUT: writes two programs rsdma-buf's `sh` steps can run
# (shell functions do not reach them): /tmp/own DEV SYNCS BYTES passes when
# DEV's one attachment shows SYNCS own range syncs of BYTES bytes and none
# of the exporter's CPU-access syncs; /tmp/moved E H prints the bytes the
# `streams` step moved through E's import H, from its output in OUT.
stream_checks() {
	view=/sys/kernel/debug/rsdma/dmabuf
	cat >/tmp/own <<END
#!/bin/sh
grep -q "^attachment: buffer [0-9]* device \$1 mapped DMA_BIDIRECTIONAL access_bytes 0 own_syncs \$2 own_bytes \$3\$" $view && exit 0
echo "expected \$1: \$2 own syncs of \$3 bytes; $view has:"; grep '^attachment' $view; exit 1
END
	cat >/tmp/moved <<END
#!/bin/sh
sed -n "s/.*\$1 \$2: [0-9]* transfers, \([0-9]*\) bytes.*/\1/p" $1
END
	chmod +x /tmp/own /tmp/moved
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

# unload_edu: detaches edu from rsdma, then unloads the edu sample and
# rsdma.
unload_edu() {
	edu_run detach
	rmmod rsdma_edu || fail "rmmod rsdma_edu"
	rmmod rsdma || fail "rmmod rsdma"
}

# hex_field NAME TEXT: the hex number after NAME in TEXT ("seed 0x1f" -> 0x1f).
hex_field() {
	echo "$2" | sed -n "s/.*$1 \\(0x[0-9a-f]*\\).*/\\1/p"
}

# --- Disks and claiming (the claim_* and bench_io scenarios) ---

CLAIM=/sys/kernel/debug/rsdma/claim

# pci_by_id VENDOR DEVICE: the PCI address of the first device with these
# IDs (hex, without 0x).
pci_by_id() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "0x$1" ] && [ "$(cat "$d/device")" = "0x$2" ]; then
			basename "$d"
			return 0
		fi
	done
	echo "no PCI device $1:$2" >&2
	return 1
}

# NVMe (QEMU's 1b36:0010) and virtio-blk-pci (modern: 1af4:1042).
nvme_dev() { pci_by_id 1b36 0010; }
vpci_dev() { pci_by_id 1af4 1042; }

# vmmio_dev: the virtio-mmio transport (a platform device) that carries a
# block device.
vmmio_dev() {
	for d in /sys/bus/platform/devices/*.virtio_mmio; do
		if ls "$d"/virtio*/block 2>/dev/null | grep -q .; then
			basename "$d"
			return 0
		fi
	done
	echo "no virtio-mmio block device" >&2
	return 1
}

# sysdev DEV: DEV's sysfs directory (a PCI address or a platform name).
sysdev() {
	if [ -e "/sys/bus/pci/devices/$1" ]; then echo "/sys/bus/pci/devices/$1"
	else echo "/sys/bus/platform/devices/$1"; fi
}

# disk_of DEV: the block device (nvme0n1, vda...) on DEV, waiting up to
# 30 s for it to appear after a bind.
disk_of() {
	i=0
	while [ $i -lt 300 ]; do
		b=$(ls -d "$(sysdev "$1")"/nvme/nvme*/nvme*n1 "$(sysdev "$1")"/virtio*/block/* 2>/dev/null | head -1)
		if [ -n "$b" ] && [ -b "/dev/$(basename "$b")" ]; then
			basename "$b"
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "no block device on $1" >&2
	return 1
}

# driver_of DEV: the name of the driver bound to DEV (empty if none).
driver_of() {
	d=$(sysdev "$1")/driver
	[ -e "$d" ] && basename "$(readlink "$d")"
}

# rebind DEV: unbinds DEV's driver and binds it again.
rebind() {
	drv=$(driver_of "$1")
	[ -n "$drv" ] || fail "$1 has no driver"
	bus=$(basename "$(readlink "$(sysdev "$1")/subsystem")")
	echo "$1" >"/sys/bus/$bus/drivers/$drv/unbind" || fail "unbind $1 from $drv"
	echo "$1" >"/sys/bus/$bus/drivers/$drv/bind" || fail "bind $1 to $drv"
}

# claim LINE: writes a command to rsdma's claim file.
claim() {
	echo "$1" >$CLAIM || fail "claim command '$1' refused (see the kernel log)"
}

# served DEV: DEV is attached to rsdma by a claim.
served() {
	grep -q "^  $1 .*: served" $CLAIM 2>/dev/null && [ -e "/sys/kernel/debug/rsdma/$1/stats" ]
}

# dev_stat DEV NAME OP VALUE: as expect_stat, for DEV's rsdma stats.
dev_stat() {
	v=$(sed -n "s/^$2: //p" "/sys/kernel/debug/rsdma/$1/stats")
	[ -n "$v" ] || fail "rsdma stats of $1 lack '$2'"
	[ "$v" "$3" "$4" ] 2>/dev/null || fail "rsdma stats of $1: '$2: $v', expected $3 $4"
}

# kb_held: kB of memory that is neither free (the per-CPU free lists
# included) nor held by a consumer /proc/meminfo names (page cache,
# anonymous memory, slab, kernel stacks, page tables and the IOMMU's,
# per-CPU areas, vmalloc): pages drivers took from the allocator.  Run
# after `echo flush >$stats`, which also tears down lazily unmapped kernel
# mappings and their KASAN shadow.
kb_held() {
	pcp=$(awk '$1 == "count:" { n += $2 } END { print n + 0 }' /proc/zoneinfo)
	awk -v pcp_kb=$((pcp * PAGE_SIZE / 1024)) '
		{ kb[$1] = $2 }
		END {
			n = kb["MemTotal:"] - kb["MemFree:"] - pcp_kb
			split("Buffers Cached SwapCached AnonPages Slab KernelStack ShadowCallStack PageTables SecPageTables Percpu VmallocUsed", named)
			for (i in named) n -= kb[named[i] ":"]
			print n
		}' /proc/meminfo
}

# drop_caches DISK: the next reads of DISK come from the device.
drop_caches() {
	sync
	blockdev --flushbufs "/dev/$1"
	echo 3 >/proc/sys/vm/drop_caches
}

# data_check DISK MIB: writes MIB MiB of random data to DISK twice, with
# O_DIRECT at offset 0 and through the page cache after it, drops the
# caches and reads each copy back the other way: both sha256 must match.
data_check() {
	rnd=/tmp/random-$2
	[ -f $rnd ] || dd if=/dev/urandom of=$rnd bs=1M count="$2" 2>/dev/null || fail "no random data"
	want=$(sha256sum <$rnd | cut -d' ' -f1)
	dd if=$rnd of="/dev/$1" bs=1M oflag=direct 2>/dev/null || fail "direct write to $1"
	dd if=$rnd of="/dev/$1" bs=1M seek="$2" conv=fsync 2>/dev/null || fail "buffered write to $1"
	drop_caches "$1"
	got=$(dd if="/dev/$1" bs=1M count="$2" 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "$1: the $2 MiB written direct read back buffered differ ($got, wrote $want)"
	got=$(dd if="/dev/$1" bs=1M skip="$2" count="$2" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "$1: the $2 MiB written buffered read back direct differ ($got, wrote $want)"
	drop_caches "$1"
	echo "$1: $2 MiB written direct and buffered, read back the other way: sha256 $want matches"
}

# fs_check DISK: ext2 on DISK, a tree of files copied in, unmounted,
# mounted again and compared file by file.
fs_check() {
	tree=/tmp/tree
	if [ ! -d $tree ]; then
		mkdir -p $tree/mod $tree/bin $tree/rand/a/b
		cp /lib/modules/*.ko $tree/mod/
		cp /bin/busybox /usr/bin/* $tree/bin/
		for n in 1 511 4095 4096 4097 65536 1048583 3145728; do
			dd if=/dev/urandom of=$tree/rand/a/f$n bs=$n count=1 2>/dev/null
		done
		i=0
		while [ $i -lt 64 ]; do
			dd if=/dev/urandom of=$tree/rand/a/b/s$i bs=$((i * 97 + 1)) count=1 2>/dev/null
			i=$((i + 1))
		done
		(cd $tree && find . -type f | sort | xargs sha256sum) >/tmp/tree.sum
	fi
	mke2fs -F "/dev/$1" >/dev/null 2>&1 || fail "mke2fs on $1"
	mkdir -p /mnt
	mount -t ext2 "/dev/$1" /mnt || fail "mount $1"
	cp -a $tree /mnt/ || fail "copying the tree to $1"
	umount /mnt || fail "umount $1"
	drop_caches "$1"
	mount -t ext2 "/dev/$1" /mnt || fail "mount $1 again"
	(cd /mnt/tree && find . -type f | sort | xargs sha256sum) >/tmp/tree.got
	umount /mnt
	cmp -s /tmp/tree.sum /tmp/tree.got || {
		diff /tmp/tree.sum /tmp/tree.got | head -5
		fail "$1: the files read back from ext2 differ"
	}
	echo "$1: ext2 with $(wc -l </tmp/tree.sum) files ($(du -sk $tree | cut -f1) KiB) copied, remounted, all match"
}

# unclaim_all: forgets every spec, gives each claimed device back to its
# driver on the normal DMA path, and unloads rsdma (scenarios end so).
unclaim_all() {
	[ -e $CLAIM ] || return 0
	echo clear >$CLAIM
	for d in $(sed -n 's/^  \([^ ]*\) .*: served.*/\1/p' $CLAIM); do
		rebind "$d"
	done
	rmmod rsdma
}

# --- Benchmarks ---

# boot_arg NAME: the value of rsdma.NAME= on the kernel command line, its
# commas turned into spaces.
boot_arg() { sed -n "s/.*rsdma\.$1=\([^ ]*\).*/\1/p" /proc/cmdline | tr , ' '; }

# rotated N WORD...: the words rotated left by N - 1 (the order of
# repetition N, so that no mode is always first or last).
rotated() {
	k=$(( ($1 - 1) % ($# - 1) ))
	shift
	i=0
	for w in "$@"; do [ $i -ge $k ] && printf '%s ' "$w"; i=$((i + 1)); done
	i=0
	for w in "$@"; do [ $i -lt $k ] && printf '%s ' "$w"; i=$((i + 1)); done
	echo
}
