# Fault injection (rsdma/inject, the test build's): over 1,000 failures of iommu_map, IOVA chunk growth, bounce pool growth, coherent pages, the tracker's table and dma-buf attachments, through map_page, map_sg, coherent allocations, attaches (untrusted too), NVMe claims and I/O, and dma-buf imports: each reaches its caller as ENOMEM or a failed allocation, a real transfer after it moves the right bytes, and nothing is left behind (counters, kmemleak).
# devices: nvme
need_iommu
INJ=/sys/kernel/debug/rsdma/inject
KML=/sys/kernel/debug/kmemleak
# ROUNDS scales every phase: 70 inject about 1,400 failures with 4 KiB
# pages, about 1,140 with 64 KiB (fewer block sizes for coherent pages).
ROUNDS=${ROUNDS:-70}
load_edu
[ -w $INJ ] || fail "rsdma has no injection points (a build without RSDMA_INJECT=1)"
echo reset >$INJ
[ -w $KML ] && echo clear >$KML
edu_run "dma_bits $EDU_DMA_BITS" >/dev/null
edu_run attach >/dev/null
trap '[ -e $INJ ] && echo off >$INJ; unclaim_all' EXIT
node=$(edu_node "$dev")

# injected POINT: the failures injected into POINT so far.
injected() { sed -n "s/^$1: calls [0-9]* injected \([0-9]*\).*/\1/p" $INJ; }

# Each phase gathers rsdma-buf steps (one process runs them all: no
# process per call).  add STEP...: adds steps.
steps=
add() { for st in "$@"; do steps="$steps|$st"; done; }

# must POINT CMD: POINT's next call fails (it is armed for one failure),
# the edu command CMD fails with ENOMEM, and the failure was spent.
must() { add "put $INJ $1 1" "expect ENOMEM put $run $2" "lacks $INJ armed"; }

# real [CMD]: a round trip (or CMD) edu moves through rsdma; the sample
# compares the bytes and fails the command with EIO when they differ.
real() { add "put $run ${1:-roundtrip}"; }

# run_phase NAME [STEP...]: runs the steps gathered (after STEP...), then
# reports the failures the phase injected.
t0=$(cut -d. -f1 /proc/uptime)
total() { awk '{ n += $5 } END { print n + 0 }' $INJ; }
last=0
run_phase() {
	name=$1
	shift
	IFS='|'
	set -f
	# shellcheck disable=SC2086
	rsdma-buf "$@" ${steps#|} >/tmp/faults-$name 2>&1
	rc=$?
	set +f
	unset IFS
	steps=
	[ $rc = 0 ] || { grep -B2 FAILED /tmp/faults-$name | tail -5; fail "phase $name"; }
	report "$name"
}
# report NAME: the failures injected since the last report.
report() {
	now=$(total)
	echo "$1: $((now - last)) failures injected ($now in all), $(($(cut -d. -f1 /proc/uptime) - t0)) s"
	last=$now
}

# map_page: edu's round trip maps a source and a destination page;
# either mapping fails (the source is unmapped when the destination's
# fails).
i=0
while [ $i -lt $ROUNDS ]; do
	must "iommu_map" roundtrip
	add "put $INJ iommu_map 2 1" "expect ENOMEM put $run roundtrip" "lacks $INJ armed"
	real
	i=$((i + 1))
done
run_phase map_page

# map_sg: 8 discontiguous pages each way, one iommu_map per page: the
# failure comes at every place in both lists, and the entries mapped
# before it are unmapped.
i=0
while [ $i -lt $((ROUNDS * 2)) ]; do
	add "put $INJ iommu_map $((i % 16 + 1)) 1" "expect ENOMEM put $run sg 8" "lacks $INJ armed"
	real "sg 2"
	i=$((i + 1))
done
run_phase map_sg

# Coherent allocations (which fail by returning NULL): the pages fail
# from the first block on; or some blocks from a later one, which the
# buffer may make up for with smaller blocks; or the IOMMU mapping of the
# gathered pages fails.
i=0
while [ $i -lt $ROUNDS ]; do
	add "put $INJ coherent_pages 1 all" "put $run coh_alloc 1M" "put $INJ off" "has $run : failed"
	add "put $INJ coherent_pages $((i % 4 + 2)) $((i % 3 + 1))" "put $run coh_alloc 5M" "put $INJ off"
	add "put $INJ iommu_map 1" "put $run coh_alloc 256K" "lacks $INJ armed" "has $run : failed"
	real
	i=$((i + 1))
done
real "coh_check 1M n=2"
real coh_release
run_phase alloc

# Attaches: the tracker's table; the first chunk of the IOVA space (IOVA 0
# is reserved at attach); the bounce pools of an untrusted attach (the
# first pool fails the attach, a later one leaves fewer pools) and the
# bounced 100-byte transfer after it.
i=0
while [ $i -lt $ROUNDS ]; do
	add "put $run detach"
	must tracker attach
	real attach
	real
	add "put $run detach"
	must iova_grow attach
	real attach
	real
	add "put $run detach" "put $INJ bounce_grow $((i % 3 + 1))" "either ENOMEM put $run attach untrusted"
	add "put $INJ off" "either EINVAL put $run detach"
	real "attach untrusted"
	real untrusted_100
	add "has $stats bounce_slots_used: 0" "has $stats live_mappings: 0"
	i=$((i + 1))
done
add "put $run detach"
real attach
run_phase attach

# dma-buf imports: edu's import of an rsdma buffer fails to attach
# (dmabuf_attach) or to map (iommu_map), then imports it for real and
# copies it into a second buffer, whose bytes the CPU checks.
i=0
while [ $i -lt $ROUNDS ]; do
	v=$((i % 250 + 1))
	add "put $INJ dmabuf_attach 1" "expect ENOMEM import e hx a to" "lacks $INJ armed"
	add "put $INJ iommu_map 1" "expect ENOMEM import e hx a to" "lacks $INJ armed"
	add "sync a start write" "fill a 0 16k $v" "sync a end write"
	add "import e ha a to" "import e hb b from" "copy e ha 0 hb 0 16k"
	add "sync b start read" "check b 0 16k $v" "sync b end read" "release e ha" "release e hb"
	i=$((i + 1))
done
run_phase dmabuf "alloc a 16k scattered" "alloc b 16k" "map a" "map b" "edu e $node"
expect_dmabuf_idle

# NVMe, claimed: an attach whose tracker table fails leaves the disk on
# the kernel's DMA path, where it works; then, served by rsdma, its
# mappings fail now and then under direct I/O (the driver retries them)
# and every byte still arrives.
nvme=$(nvme_dev) || fail "no NVMe device"
i=0
while [ $i -lt $((ROUNDS / 10)) ]; do
	before=$(injected tracker)
	echo "tracker 1" >$INJ
	claim "pci:1b36:0010/rebind"
	echo "tracker off" >$INJ
	[ $(($(injected tracker) - before)) = 1 ] || fail "the claim's attach injected no failure"
	served "$nvme" && fail "$nvme is served though its attach failed"
	disk=$(disk_of "$nvme") || fail "no disk on $nvme"
	data_check "$disk" 2 >/dev/null
	claim "-pci:1b36:0010"
	i=$((i + 1))
done
expect_log "$nvme: rsdma: claim pci:1b36:0010.* not honoured: attaching failed (.*); nvme keeps the normal DMA path"
claim "pci:1b36:0010/rebind"
served "$nvme" || fail "$nvme is not served once nothing fails"
disk=$(disk_of "$nvme") || fail "no disk on $nvme"
dd if=/dev/urandom of=/tmp/faults-io bs=64k count=16 2>/dev/null
before=$(injected iommu_map)
i=0
while [ $i -lt $ROUNDS ]; do
	echo "iommu_map $((i % 3 + 1))" >$INJ
	dd if=/tmp/faults-io of="/dev/$disk" bs=64k count=16 seek=$((i % 64 * 16)) oflag=direct 2>/dev/null ||
		fail "a direct write to $disk failed"
	i=$((i + 1))
done
echo "iommu_map off" >$INJ
n=$(($(injected iommu_map) - before))
[ $n -ge $((ROUNDS / 2)) ] || fail "only $n of $ROUNDS NVMe writes met an injected failure"
want=$(sha256sum </tmp/faults-io | cut -d' ' -f1)
i=0
while [ $i -lt 64 ] && [ $i -lt $ROUNDS ]; do
	got=$(dd if="/dev/$disk" bs=64k count=16 skip=$((i * 16)) iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "$disk: block $i written under injected failures reads back wrong"
	i=$((i + 1))
done
data_check "$disk" 8
dev_stat "$nvme" map_failures -ge $((n / 2))
claim clear
rebind "$nvme"
report nvme

# Every kind failed, more than 1,000 times in all.
echo off >$INJ
cat $INJ
total=$(total)
for p in iommu_map iova_grow bounce_grow coherent_pages tracker dmabuf_attach; do
	[ "$(injected $p)" -gt 0 ] || fail "no failure of $p was injected"
done
echo "$total failures injected"
# 70 rounds must inject 1,000 failures at least.
[ $total -ge $((ROUNDS * 1000 / 70)) ] || fail "only $total failures injected in $ROUNDS rounds"

# Nothing is left behind: no mapping, buffer, bounce slot or IOVA of edu,
# no tracker finding, nothing the exporter holds, no leak kmemleak finds.
echo flush >$stats
cat $stats
expect_stat live_mappings -eq 0
expect_stat coherent_buffers -eq 0
expect_stat coherent_pages -eq 0
expect_stat iova_pages_used -eq 0
expect_stat tracker_findings -eq 0
expect_dmabuf_idle
unload_edu
if [ -w $KML ]; then
	echo scan >$KML
	echo scan >$KML
	! grep -q "unreferenced object" $KML || { head -30 $KML; fail "kmemleak found leaks"; }
fi
