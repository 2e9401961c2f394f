# The demo: a DMA round trip through edu, on the kernel's iommu-dma and then on rsdma, told in plain words.
load_edu
edu_run "dma_bits $EDU_DMA_BITS" >/dev/null
say() { echo "DEMO: $*"; }
show() {
	set -- $(echo "$1" | sed -n 's/roundtrip \([0-9]*\) bytes: src dma \(0x[0-9a-f]*\), dst dma \(0x[0-9a-f]*\).*: \(.*\)$/\1 \2 \3 \4 \5/p')
	say "  edu read $1 bytes from bus address $2 and wrote them to bus address $3: $4 $5"
}
say "QEMU's edu device ($dev) can address ${EDU_DMA_BITS} bits."
say "A random pattern goes RAM -> edu's own buffer -> a second RAM buffer,"
say "2048 bytes per transfer, and the two RAM buffers are compared."
say ""
say "1. With the kernel's own DMA layer (iommu-dma on the device's default domain):"
r=$(edu_run "roundtrip 8192") || fail "the round trip failed"
show "$r"
say ""
say "2. With rsdma: the driver attaches the device, rsdma gives it an IOMMU domain"
say "   of its own, and every dma_map_* call now goes through rsdma's ops:"
edu_run attach >/dev/null || fail "attach failed"
r=$(edu_run "roundtrip 8192") || fail "the round trip through rsdma failed"
show "$r"
say "   (IOVAs from rsdma's allocator: low addresses, 32-bit first, page 0 never used)"
r=$(edu_run "sg 16") || fail "the sg round trip failed"
say "   A scatterlist of 16 scattered pages: $(echo "$r" | sed 's/^sg 16 pages: //')"
say ""
say "3. After unmapping, the device can no longer reach the memory:"
r=$(edu_run stale) || fail "the isolation check failed"
say "   edu wrote to the stale $(echo "$r" | sed 's/^stale //')"
say "   and the SMMU reported a translation fault (event 0x10) at input address"
say "   $(scenario_log | grep 'arm-smmu-v3' | grep -m1 -A3 'event 0x10 received' | sed -n 4p | sed 's/^.*: *//;s/^[[:space:]]*//')"
say ""
say "rsdma's counters for the device (/sys/kernel/debug/rsdma/$dev/stats):"
grep -E '^(maps|unmaps|sg_maps|live_mappings|iova_pages_high_water|tracker_findings):' "/sys/kernel/debug/rsdma/$dev/stats" | sed 's/^/DEMO:   /'
edu_run detach >/dev/null
say ""
say "Detached: the device is back on its default domain."
