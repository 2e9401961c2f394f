# Interop: a dma-buf the kernel's udmabuf exports (from a memfd) is imported by edu while edu is attached to rsdma, and moves bytes both ways with an rsdma buffer.
[ -c /dev/udmabuf ] || fail "no /dev/udmabuf (CONFIG_UDMABUF)"
dmabuf_setup 1
stats=/sys/kernel/debug/rsdma/$e1/stats
maps0=$(sed -n 's/^sg_maps: //p' "$stats")
# The memfd is the CPU's view of the udmabuf: four pages (udmabuf takes
# whole pages of the memfd).
rsdma-buf "udmabuf u $((4 * PAGE_SIZE))" "map u" "fill u 0 16k 9" "alloc b 16k" \
	"edu e $n1" "import e hu u to" "import e hb b from" \
	"copy e hu 0 hb 0 16k" \
	"map b" "sync b start read" "check b 0 16k 9" "sync b end read" \
	"release e hu" "import e hu u from" \
	"sync b start write" "fill b 0 16k 10" "sync b end write" "release e hb" "import e hb b to" \
	"copy e hb 4k hu 4k 8k" "check u 4k 8k 10" "check u 0 4k 9" "check u 12k 4k 9" \
	"expect EINVAL psync u start read 0 4k" ||
	fail "udmabuf interop"
expect_log "is a dma-buf rsdma did not export"
maps1=$(sed -n 's/^sg_maps: //p' "$stats")
[ "$maps1" -ge $((maps0 + 4)) ] || fail "rsdma served $((maps1 - maps0)) of the 4 importer mappings"
dmabuf_teardown
