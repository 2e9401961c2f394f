# Untrusted device behind the SMMU: a 100-byte mapping is bounced into a zero-padded granule (edu reads the granule: the data and zeros), whole-page mappings are not; bytes compared.
need_iommu
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run "attach untrusted"
scenario_log | grep "rsdma: attached (" | grep -q untrusted || fail "the attach line does not say untrusted"
expect_stat iommu = yes
expect_stat untrusted = true
# Mappings of whole granules (pages, when the kernel's pages are larger
# than the IOMMU's granule) go to the device as they are.
edu_run "roundtrip $PAGE_SIZE"
edu_run "roundtrip $((4 * PAGE_SIZE))"
edu_run "sg 16"
edu_run sync_range
expect_stat bounce_maps -eq 0
# One mapping of 100 bytes: bounced, and the device sees nothing else.
r=$(edu_run untrusted_100)
echo "$r"
echo "$r" | grep -q "data intact, 0 other byte(s) of the granule not zero: ok" ||
	fail "the device saw more than the 100 bytes mapped for it"
expect_stat bounce_maps -eq 1
# A 100-byte round trip: both buffers bounced, bytes still match.
edu_run "roundtrip 100"
expect_stat bounce_maps -eq 3
cat $stats
expect_stat bounce_slots_used -eq 0
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
unload_edu
