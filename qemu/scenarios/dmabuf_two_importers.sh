# One rsdma buffer, two importers at once: edu #1 on rsdma and edu #2 on the kernel's iommu-dma, each in its own IOMMU group; the CPU writes and both devices read, then each device writes its half and the CPU reads both.
dmabuf_setup 2
g1=$(readlink "/sys/bus/pci/devices/$e1/iommu_group")
g2=$(readlink "/sys/bus/pci/devices/$e2/iommu_group")
[ -n "$g1" ] && [ "$g1" != "$g2" ] || fail "the edu devices share an IOMMU group ($g1, $g2)"
echo "edu #1 $e1 ($n1, group ${g1##*/}) on rsdma, edu #2 $e2 ($n2, group ${g2##*/}) on iommu-dma"
stats=/sys/kernel/debug/rsdma/$e1/stats
[ ! -e "/sys/kernel/debug/rsdma/$e2" ] || fail "edu #2 is attached to rsdma"
for kind in "" "scattered wc"; do
	rsdma-buf "alloc a 16k $kind" "map a" "edu e1 $n1" "edu e2 $n2" \
		"import e1 h1 a bidi" "import e2 h2 a bidi" \
		"sh grep -q '^attachments: 2$' /sys/kernel/debug/rsdma/dmabuf" \
		"sh grep -q '^mappings: 2$' /sys/kernel/debug/rsdma/dmabuf" \
		"expect EBUSY remap e1 h1 to" "expect EBUSY remap e2 h2 bidi" \
		"sync a start write" "fill a 0 16k 3" "sync a end write" \
		"read e1 h1 0 16k 3" "read e2 h2 0 16k 3" \
		"write e1 h1 0 8k 4" "write e2 h2 8k 8k 5" \
		"sync a start read" "check a 0 8k 4" "check a 8k 8k 5" "sync a end read" \
		"vmap-read e2 h2 0 8k 4" "vmap-read e1 h1 8k 8k 5" \
		"sh grep -q '^vmaps: 0$' /sys/kernel/debug/rsdma/dmabuf" ||
		fail "two importers (${kind:-contiguous cached})"
done
expect_log "a second mapping (DMA_TO_DEVICE) is refused"
grep -q "^sg_maps: [1-9]" "$stats" || fail "rsdma served no importer mapping"
dmabuf_teardown
