# No IOMMU, 32-bit mask, RAM above 4 GiB: mappings under the mask go direct, the others through rsdma's bounce pool (single, sg, partly written); bytes compared.
need_noiommu
load_edu
edu_run "dma_bits 32"
edu_run attach
expect_log "rsdma: attached (direct+bounce"
expect_stat iommu = no
r=$(edu_run bounce_route)
echo "$r"
echo "$r" | grep -q "above mask 0xffffffff: .*(bounced), .*(bounced): bytes match" ||
	fail "memory above the mask did not make a bounced round trip"
echo "$r" | grep -q "below mask 0xffffffff: .*(direct), .*(direct): bytes match" ||
	fail "memory below the mask did not make a direct round trip"
r=$(edu_run "sg_mixed 16")
echo "$r"
echo "$r" | grep -q "0 wrong), from device .* 0 wrong), 65536 bytes moved: bytes match" ||
	fail "the mixed scatterlists did not make their round trip"
r=$(edu_run bounce_partial)
echo "$r"
echo "$r" | grep -q "(bounced).*2048 bytes still 0xa5, 0 0x3c, 0 zero: ok" ||
	fail "a partly written bounced buffer lost what the CPU put there"
cat $stats
expect_stat direct_maps -gt 0
expect_stat bounce_maps -gt 0
expect_stat bounce_failures -eq 0
expect_stat bounce_slots_used -eq 0
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
unload_edu
