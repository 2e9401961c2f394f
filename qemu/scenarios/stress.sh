# Stress, all at once on 4 vCPUs: NVMe claimed by rsdma (4 I/O queues) under 4 blkstress writers, edu round trips, dma-buf CPU/device ping-pong, map/unmap threads checking IOVA overlap, and a stale-IOVA DMA every second that must be blocked; strict, then lazy (rsdma.stress_seconds=N a mode, default 30).
# devices: nvme
#
# Four edu devices, each with one job so that none waits for another:
# round trips (roundtrip, sg), the dma-buf importer, the map/unmap
# threads, and the stale-IOVA check.  Each mode ends with one
# `stress-result MODE PATH key=value...` line per path, which scripts/stress
# turns into its table; progress goes to the kernel log every 15 s.
need_iommu
need_edu 4
[ "$(nproc)" -ge 4 ] || fail "needs 4 vCPUs (RSDMA_QEMU_SMP=4); the guest has $(nproc)"
secs=$(boot_arg stress_seconds)
secs=${secs:-30}
# Lazy mode's bound: an unmapped IOVA is invalidated at most flush_ms
# after its unmap (rust/iommu/flush.rs), here set explicitly.
flush_ms=10
# Each blkstress process gets a region of its own; lazy mode uses the
# half of the disk strict mode left alone, which still reads as zeros.
blk_mib=8
[ "$secs" -lt 120 ] || blk_mib=32
ovl_threads=2

set -- $(edu_devs)
e_rt=$1 e_buf=$2 e_ovl=$3 e_stale=$4
edus="$e_rt $e_buf $e_ovl $e_stale"
cleanup() {
	for d in $edus; do
		echo overlap_stop >"/sys/kernel/debug/rsdma_edu/$d/run" 2>/dev/null
		echo detach >"/sys/kernel/debug/rsdma_edu/$d/run" 2>/dev/null
	done
	rmmod rsdma_edu 2>/dev/null
	unclaim_all
}
trap cleanup EXIT

uptime_cs() { tr -d . </proc/uptime | cut -d' ' -f1; }
rnd() { echo $((RANDOM % $1)); }
kmsg() { echo "rsdma-stress: $*" >/dev/kmsg; }

# edu moves at most 4 KiB per transfer, each taking 100 ms (QEMU's edu),
# so the sizes stay small.
# edu_loop DIR END: round trips on e_rt until uptime END; counts in DIR/edu.
edu_loop() {
	ok=0 bad=0 err=0 t0=$(uptime_cs)
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$2" ]; do
		if [ $(rnd 3) = 0 ]; then cmd="sg $((1 + $(rnd 4)))"; else cmd="roundtrip $((1 + $(rnd 4096)))"; fi
		if echo "$cmd" >"/sys/kernel/debug/rsdma_edu/$e_rt/run" 2>/dev/null; then
			ok=$((ok + 1))
		elif grep -q "BYTES DIFFER" "/sys/kernel/debug/rsdma_edu/$e_rt/run"; then
			bad=$((bad + 1))
			echo "edu $cmd: $(cat "/sys/kernel/debug/rsdma_edu/$e_rt/run")" >>"$1/log"
		else
			err=$((err + 1))
			echo "edu $cmd failed" >>"$1/log"
		fi
		echo "ops=$ok corruptions=$bad errors=$err" >"$1/edu.now"
	done
	echo "ops=$ok corruptions=$bad errors=$err cs=$(($(uptime_cs) - t0))" >"$1/edu"
}

# dmabuf_loop DIR END: rsdma-buf runs until uptime END, each allocating two
# 64 KiB dma-bufs that e_buf imports (one to read, one to write), then 4
# rounds of: the CPU writes a random range of the first, edu copies it into
# the second, the CPU checks it there.  Counts rounds in DIR/dmabuf.
dmabuf_loop() {
	dir=$1 end=$2 ok=0 bad=0 err=0 i=0 t0=$(uptime_cs)
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		i=$((i + 1))
		case $((i % 4)) in 0) kind= ;; 1) kind=scattered ;; 2) kind=wc ;; 3) kind="scattered wc" ;; esac
		set -- "alloc a 64k $kind" "alloc b 64k $kind" "map a" "map b" "edu e $n_buf" \
			"import e ha a to" "import e hb b from"
		r=0
		while [ $r -lt 4 ]; do
			len=$((1 + $(rnd 8192)))
			off=$(rnd $((65536 - len)))
			seed=$((i * 4 + r))
			set -- "$@" "sync a start write" "fill a $off $len $seed" "sync a end write" \
				"copy e ha $off hb $off $len" \
				"sync b start read" "check b $off $len $seed" "sync b end read"
			r=$((r + 1))
		done
		if rsdma-buf "$@" "release e ha" "release e hb" >"$dir/dmabuf.out" 2>&1; then
			ok=$((ok + 4))
		elif grep -q "pattern .* has" "$dir/dmabuf.out"; then
			bad=$((bad + 1))
			tail -3 "$dir/dmabuf.out" >>"$dir/log"
		else
			err=$((err + 1))
			tail -3 "$dir/dmabuf.out" >>"$dir/log"
		fi
		echo "ops=$ok corruptions=$bad errors=$err" >"$dir/dmabuf.now"
	done
	echo "ops=$ok corruptions=$bad errors=$err cs=$(($(uptime_cs) - t0))" >"$dir/dmabuf"
}

# stale_loop DIR END WAIT: a stale-IOVA DMA on e_stale every second until
# uptime END, WAIT ms after the unmap; counts in DIR/stale.
stale_loop() {
	att=0 blocked=0 err=0
	cmd=stale
	[ "$3" = 0 ] || cmd="stale $3"
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$2" ]; do
		t=$(uptime_cs)
		if echo "$cmd" >"/sys/kernel/debug/rsdma_edu/$e_stale/run" 2>/dev/null; then
			att=$((att + 1)) blocked=$((blocked + 1))
		elif grep -q OVERWRITTEN "/sys/kernel/debug/rsdma_edu/$e_stale/run"; then
			att=$((att + 1))
			cat "/sys/kernel/debug/rsdma_edu/$e_stale/run" >>"$1/log"
		else
			err=$((err + 1))
			echo "edu $cmd failed" >>"$1/log"
		fi
		echo "blocked=$blocked attempted=$att errors=$err" >"$1/stale.now"
		# One check a second.
		left=$((100 - $(uptime_cs) + t))
		[ $left -le 0 ] || sleep "0.$(printf %02d $left)"
	done
	echo "blocked=$blocked attempted=$att errors=$err" >"$1/stale"
}

# field FILE KEY: the value of KEY=value in FILE (0 if absent).
field() { v=$(sed -nE "s/(^|.* )$2=([0-9]+).*/\2/p" "$1" 2>/dev/null | tail -1); echo "${v:-0}"; }

# progress MODE DIR T0: one line of counts so far.
progress() {
	nv=0
	for f in "$2"/blk*; do
		n=$(sed -n 's/.*: \([0-9]*\) ops (.*/\1/p' "$f" | tail -1)
		nv=$((nv + ${n:-0}))
	done
	# The stale counts from one read of their file, which changes meanwhile.
	cp "$2/stale.now" "$2/stale.shown" 2>/dev/null
	kmsg "$1 $(($(cut -d. -f1 /proc/uptime) - $3))/$secs s: nvme $nv ops," \
		"edu $(field "$2/edu.now" ops) round trips, dma-buf $(field "$2/dmabuf.now" ops) rounds," \
		"stale blocked $(field "$2/stale.shown" blocked)/$(field "$2/stale.shown" attempted)"
}

insmod /lib/modules/rsdma.ko claim=pci:1b36:0010/rebind || fail "insmod rsdma.ko claim=pci:1b36:0010/rebind"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
n_buf=$(edu_node "$e_buf")
dev=$(nvme_dev) || fail "no NVMe device"
for d in $edus; do edu_run_on "$d" "dma_bits $EDU_DMA_BITS" >/dev/null; done
status=0
base=0
for mode in strict lazy; do
	kmsg "mode $mode start"
	dir=/tmp/stress-$mode
	mkdir -p "$dir"
	if [ $mode = strict ]; then
		attach=attach stale_wait=0
	else
		for d in $edus; do edu_run_on "$d" detach >/dev/null; done
		claim "-pci:1b36:0010"
		claim "pci:1b36:0010/lazy/flush_ms=$flush_ms/rebind"
		attach="attach lazy flush_ms=$flush_ms" stale_wait=$flush_ms
		base=$((4 * blk_mib))
	fi
	served "$dev" || fail "$dev is not served in $mode mode"
	dev_stat "$dev" mode = $mode
	disk=$(disk_of "$dev") || fail "no disk on $dev"
	queues=$(ls "/sys/block/$disk/mq" | wc -l)
	[ "$queues" = 4 ] || fail "$disk has $queues I/O queues, expected 4"
	for d in $edus; do edu_run_on "$d" "$attach" >/dev/null; done
	echo "$mode: $disk with $queues I/O queues; edu $edus attached ($attach); $secs s"

	t0=$(cut -d. -f1 /proc/uptime)
	end=$((t0 + secs))
	edu_run_on "$e_ovl" "overlap_start $ovl_threads" >/dev/null
	pids=
	for k in 0 1 2 3; do
		blkstress "/dev/$disk" $((base + k * blk_mib)) $blk_mib "$secs" $k >"$dir/blk$k" 2>&1 &
		pids="$pids $!"
	done
	edu_loop "$dir" $end &
	pids="$pids $!"
	dmabuf_loop "$dir" $end &
	pids="$pids $!"
	stale_loop "$dir" $end $stale_wait &
	pids="$pids $!"
	while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
		sleep 15
		progress $mode "$dir" $t0
	done
	for p in $pids; do wait "$p"; done
	# overlap_stop fails when it saw an overlap; its counts are shown either way.
	echo overlap_stop >"/sys/kernel/debug/rsdma_edu/$e_ovl/run" 2>/dev/null
	ovl=$(cat "/sys/kernel/debug/rsdma_edu/$e_ovl/run")
	progress $mode "$dir" $t0
	kmsg "mode $mode end"

	# The results, one line a path.
	ops=0 bad=0 err=0 cs=0
	for k in 0 1 2 3; do
		last=$(grep "^blkstress $k: ops" "$dir/blk$k")
		[ -n "$last" ] || { echo "blkstress $k did not finish:"; tail -5 "$dir/blk$k"; err=$((err + 1)); continue; }
		ops=$((ops + $(echo "$last" | sed 's/.* ops \([0-9]*\) .*/\1/')))
		bad=$((bad + $(echo "$last" | sed 's/.* corruptions \([0-9]*\) .*/\1/')))
		err=$((err + $(echo "$last" | sed 's/.* errors \([0-9]*\) .*/\1/')))
		s=$(echo "$last" | sed 's/.* seconds \([0-9]*\)$/\1/')
		[ $((s * 100)) -le $cs ] || cs=$((s * 100))
		grep -E "CORRUPTION|blkstress $k: (read|write)" "$dir/blk$k" | head -5
	done
	echo "stress-result $mode nvme ops=$ops cs=$cs corruptions=$bad errors=$err"
	echo "stress-result $mode edu $(cat "$dir/edu")"
	echo "stress-result $mode dmabuf $(cat "$dir/dmabuf")"
	o_maps=$(echo "$ovl" | sed -n 's/.* \([0-9]*\) maps.*/\1/p')
	o_unmaps=$(echo "$ovl" | sed -n 's/.* \([0-9]*\) unmaps.*/\1/p')
	o_ms=$(echo "$ovl" | sed -n 's/.* \([0-9]*\) ms,.*/\1/p')
	o_bad=$(echo "$ovl" | sed -n 's/.* \([0-9]*\) overlaps.*/\1/p')
	o_err=$(echo "$ovl" | sed -n 's/.* \([0-9]*\) failures.*/\1/p')
	echo "stress-result $mode overlap ops=$((${o_maps:-0} + ${o_unmaps:-0})) cs=$((${o_ms:-0} / 10)) corruptions=${o_bad:-1} errors=${o_err:-1}"
	echo "stress-result $mode stale $(cat "$dir/stale") wait_ms=$stale_wait"
	echo "$ovl"
	[ -s "$dir/log" ] && head -20 "$dir/log"

	# The verdict: nothing corrupted, nothing failed, every stale DMA
	# blocked, and rsdma saw no misuse.
	for f in edu dmabuf; do
		[ "$(field "$dir/$f" corruptions)" = 0 ] && [ "$(field "$dir/$f" errors)" = 0 ] ||
			{ echo "FAIL: $mode: $f: $(cat "$dir/$f")"; status=1; }
		[ "$(field "$dir/$f" ops)" -gt 0 ] || { echo "FAIL: $mode: no $f operation completed"; status=1; }
	done
	[ $bad = 0 ] && [ $err = 0 ] && [ $ops -gt 0 ] || { echo "FAIL: $mode: nvme: $ops ops, $bad corruptions, $err errors"; status=1; }
	[ "${o_bad:-1}" = 0 ] && [ "${o_err:-1}" = 0 ] && [ "${o_maps:-0}" -gt 0 ] ||
		{ echo "FAIL: $mode: overlap threads: $ovl"; status=1; }
	sb=$(field "$dir/stale" blocked) sa=$(field "$dir/stale" attempted)
	[ "$sa" -gt 0 ] && [ "$sb" = "$sa" ] && [ "$(field "$dir/stale" errors)" = 0 ] ||
		{ echo "FAIL: $mode: stale IOVA blocked $sb of $sa ($(cat "$dir/stale"))"; status=1; }
	for d in $dev $edus; do
		f=$(sed -n 's/^tracker_findings: //p' "/sys/kernel/debug/rsdma/$d/stats")
		[ "$f" = 0 ] || { echo "FAIL: $mode: rsdma's tracker: $f findings on $d"; status=1; }
	done
	scenario_log | grep -q "rsdma tracker:" && { echo "FAIL: $mode: the tracker found DMA API misuse"; status=1; }
done
exit $status
