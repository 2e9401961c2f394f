# Coherent allocations that fail: over the coherent_max_mib bound, and with the page allocator failing partway through a 64 MiB allocation (fail_page_alloc, at each stage): NULL, one warning each (none with NO_WARN), nothing left behind (pages, IOVA, kernel mapping, counters).
need_iommu
fi=/sys/kernel/debug/fail_page_alloc
[ -d $fi ] || fail "needs CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS"
load_edu coherent_max_mib=32
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
warnings() { dmesg | grep -c "rsdma: coherent allocation of 67108864 bytes failed"; }

# The bound on one allocation.
r=$(edu_run "coh_alloc 64M")
echo "$r"
echo "$r" | grep -q ": failed$" || fail "a 64 MiB allocation passed a 32 MiB bound"
expect_log "coherent allocation of 67108864 bytes failed: larger than the 32 MiB one allocation may take (rsdma.coherent_max_mib)"
edu_run "coh_alloc 32M" | grep -q ": allocated" || fail "a 32 MiB allocation failed under a 32 MiB bound"
echo 256 >/sys/module/rsdma/parameters/coherent_max_mib
edu_run "coh_alloc 64M" | grep -q ": allocated" || fail "a 64 MiB allocation failed under the default bound"

# Fault injection: a process marked make-it-fail may allocate SPACE pages,
# then every page allocation it makes fails.  The sweep of SPACE moves the
# first failure through the stages: the page array, the pages (largest
# blocks first, then smaller ones, down to single pages), and the page
# tables of the kernel mapping and of the IOMMU when these need new ones
# (the kernel keeps page tables it made for earlier mappings, so whether
# they do depends on what ran before).
echo 0 >$fi/verbose
echo N >$fi/ignore-gfp-wait
echo 0 >$fi/min-order
echo Y >$fi/task-filter
echo -1 >$fi/times
echo 100 >$fi/probability
failed=0 allocated=0
# attempt SPACE [nowarn]
attempt() {
	echo "$1" >$fi/space
	w0=$(warnings)
	if sh -c "echo 1 >/proc/self/make-it-fail && echo 'coh_alloc 64M $2' >$run" 2>/dev/null; then
		r=$(cat $run)
	else
		r="no allocation (the command itself could not run)"
	fi
	w=$(( $(warnings) - w0 ))
	case $r in
	*": failed")
		failed=$((failed + 1))
		if [ -n "$2" ]; then
			[ $w = 0 ] || fail "$w warning(s) for a failed NO_WARN allocation"
			why="no warning (NO_WARN)"
		else
			[ $w = 1 ] || fail "$w warnings for one failed allocation"
			why=$(dmesg | grep "coherent allocation of 67108864 bytes failed" | tail -1 | sed 's/.*failed: //')
		fi ;;
	*": allocated"*)
		allocated=$((allocated + 1)) why="allocated and freed"
		[ $w = 0 ] || fail "a warning for an allocation that succeeded" ;;
	*) why=$r ;;
	esac
	echo "space $1 pages: $why"
	nothing_left
}
# nothing_left: no buffer, page, IOVA or kernel mapping of rsdma's remains.
nothing_left() {
	expect_stat coherent_buffers -eq 0
	expect_stat coherent_pages -eq 0
	echo flush >$stats
	expect_stat iova_pages_used -eq 0
	! grep "\[rsdma\]" /proc/vmallocinfo || fail "a kernel mapping was left behind"
}
# The sweep in pages of 64 MiB (n: 16384 with 4K pages) and of its page
# array (a: 32 with 4K pages): none, a sixteenth, half, most of the pages;
# all the pages and the array, then 16 more pages for page tables; and
# more than enough.
n=$((64 * 1024 * 1024 / PAGE_SIZE))
a=$(((n * 8 + PAGE_SIZE - 1) / PAGE_SIZE))
sweep() {
	for space in 0 $((n / 16)) $((n / 2)) $((n - n * 3 / 128)) $((n + a)) $((n + a + 16)); do
		attempt $space
	done
	attempt $((n / 2)) nowarn
	attempt $((n * 5 / 2))
}
# A first sweep makes what the kernel makes once and keeps (stack depot
# records of new call chains, page tables of new kernel address ranges);
# the memory check is on the second.
# settled: kb_held once two looks a second apart agree within 256 kB (at
# most 6 looks): pages on their way back (RCU-deferred frees, vmalloc's
# lazy purge and its KASAN shadow) show as held for a while.
settled() {
	echo flush >$stats
	prev=$(kb_held)
	for _ in 1 2 3 4 5; do
		sleep 1
		echo flush >$stats
		now=$(kb_held)
		d=$((now - prev))
		[ ${d#-} -le 256 ] && break
		prev=$now
	done
	echo "$now"
}
sweep
held_before=$(settled)
sweep
echo 0 >$fi/probability
echo Y >$fi/ignore-gfp-wait
echo 1 >$fi/min-order
echo "$failed failed, $allocated allocated"
[ $failed -ge 10 ] || fail "only $failed allocations failed under fault injection"
[ $allocated -ge 2 ] || fail "no allocation succeeded once the injected failures came too late"
# IOVA space runs out after the pages are gathered and mapped in the
# kernel: under a 16 MiB coherent mask, 12 MiB need a 16 MiB-aligned IOVA
# range, and the only one holds the reserved IOVA 0.
edu_run "dma_bits 24"
r=$(edu_run "coh_alloc 12M")
echo "$r"
echo "$r" | grep -q ": failed$" || fail "12 MiB were allocated under a 16 MiB coherent mask"
expect_log "coherent allocation of 12582912 bytes failed: no IOVA space under the coherent mask"
nothing_left
edu_run "dma_bits $EDU_DMA_BITS"
# The smallest leak the sweep could cause is 991 pages (3.9 MiB).
held_after=$(settled)
limit=$((held_before + 2048))
echo "memory held by drivers: $held_before kB before the sweep, $held_after kB after"
[ "$held_after" -le $limit ] || fail "$((held_after - held_before)) kB of memory gone"
cat $stats
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
unload_edu
