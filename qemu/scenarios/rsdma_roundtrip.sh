# Single mappings through rsdma: edu moves a random pattern both ways through rsdma's IOVAs; bytes compared.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
expect_log "rsdma: attached (strict"
edu_run roundtrip
edu_run "roundtrip 16384"
edu_run "roundtrip 100"
edu_run sync_range
cat "/sys/kernel/debug/rsdma/$dev/stats"
grep -q "^maps: [1-9]" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma served no map_page"
grep -q "^live_mappings: 0$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "mappings left live"
grep -q "^tracker_findings: 0$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "tracker findings on correct use"
# Every IOVA handed out fits the device's mask.
limit=$(( (1 << EDU_DMA_BITS) - 1 ))
for a in $(scenario_log | sed -n 's/.*roundtrip .* src dma \(0x[0-9a-f]*\), dst dma \(0x[0-9a-f]*\).*/\1 \2/p'); do
	[ $((a)) -le $limit ] || fail "IOVA $a is outside the ${EDU_DMA_BITS}-bit mask"
done
unload_edu
