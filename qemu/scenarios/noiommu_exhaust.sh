# No IOMMU, a small bounce pool (bounce_kib=256 bounce_max_pools=2): bounced maps until one fails; earlier mappings keep their bytes, and the pool works again after the unmaps.
need_noiommu
load_edu bounce_kib=256 bounce_max_pools=2
# The kernel loads a module with parameters it does not know, and says so.
scenario_log | grep -q "rsdma: unknown parameter" && fail "rsdma.ko lacks bounce_kib or bounce_max_pools"
for p in bounce_kib=256 bounce_max_pools=2; do
	f=/sys/module/rsdma/parameters/${p%=*}
	[ ! -r $f ] || [ "$(cat $f)" = "${p#*=}" ] || fail "rsdma.ko has ${p%=*}=$(cat $f), not ${p#*=}"
done
edu_run "dma_bits 32"
edu_run attach
expect_log "rsdma: attached (direct+bounce"
r=$(edu_run exhaust)
echo "$r"
echo "$r" | grep -q "^exhaust: [1-9][0-9]* bounced mappings .*(direct): bytes match" ||
	fail "the first mapping lost its bytes when the pool ran out"
echo "$r" | grep -q "round trip: .*(bounced), .*(bounced): bytes match" ||
	fail "no bounced round trip after the pool was freed"
scenario_log | grep "bounce pool" | sed 's/^\[[^]]*\] //' | head -3
scenario_log | grep -q "$dev: .*bounce pool" || fail "no error line about the exhausted bounce pool"
cat $stats
expect_stat bounce_failures -gt 0
expect_stat bounce_pools -ge 1
expect_stat bounce_pools -le 2
expect_stat bounce_slots_used -eq 0
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
unload_edu
