# No IOMMU, 32-bit mask, RAM above 4 GiB: coherent buffers are one contiguous run under the coherent mask, at their bus address; edu writes and reads them, userspace maps them; a run larger than the page allocator's largest block fails cleanly.
need_noiommu
load_edu
edu_run "dma_bits 32"
edu_run attach
expect_log "rsdma: attached (direct+bounce"
for attrs in "" "wc" "single"; do
	r=$(edu_run "coh_check 4M $attrs n=4") || fail "coh_check 4M $attrs"
	echo "$r"
	echo "$r" | grep -q "kernel reads ok, device reads ok: ok$" || fail "a '$attrs' buffer did not hold the device's bytes"
	echo "$r" | grep -q "sg_table 1 entries, 4194304 bytes" || fail "a buffer without IOMMU is not one run"
	dma=$(hex_field dma "$r")
	[ $((dma + 4194304 - 1)) -le $((0xffffffff)) ] || fail "the buffer at $dma is above the 32-bit mask"
	u=$(/usr/bin/cohcheck mmap /dev/rsdma_edu 4194304 "$(hex_field seed "$r")" "$run") || fail "cohcheck: $u"
	echo "$u"
	echo "$u" | grep -q "4 runs of pattern bytes (8000 bytes, offsets hash $(hex_field "offsets hash" "$r"))" ||
		fail "userspace does not see the bytes the device wrote"
	edu_run coh_release
done
# Twice the page allocator's largest block (8 MiB with 4K pages, 1 GiB with
# 64K pages, under a bound raised to let it through).
orders=$(awk 'NR == 1 { print NF - 4 }' /proc/buddyinfo)
max_block=$((1 << (orders - 1)))
big=$((PAGE_SIZE << orders))
max_mib=$(cat /sys/module/rsdma/parameters/coherent_max_mib)
[ $((big >> 20)) -le "$max_mib" ] || echo $((big >> 20)) >/sys/module/rsdma/parameters/coherent_max_mib
r=$(edu_run "coh_alloc $((big >> 20))M")
echo "$r"
echo "$max_mib" >/sys/module/rsdma/parameters/coherent_max_mib
echo "$r" | grep -q ": failed$" || fail "$((big >> 20)) MiB of contiguous memory were allocated"
expect_log "coherent allocation of $big bytes failed: physically contiguous memory is limited to $max_block pages"
cat $stats
expect_stat coherent_buffers -eq 0
expect_stat coherent_pages -eq 0
expect_stat tracker_findings -eq 0
unload_edu
