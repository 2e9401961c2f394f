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
r=$(edu_run "coh_alloc 8M")
echo "$r"
echo "$r" | grep -q ": failed$" || fail "8 MiB of contiguous memory were allocated"
expect_log "coherent allocation of 8388608 bytes failed: physically contiguous memory is limited to 1024 pages"
cat $stats
expect_stat coherent_buffers -eq 0
expect_stat coherent_pages -eq 0
expect_stat tracker_findings -eq 0
unload_edu
