# Partial CPU access: RSDMA_IOCTL_SYNC_RANGE syncs one range of a larger buffer for each importer; rsdma's tracker shows only that range handed to the CPU, and the exporter counts only its bytes.
dmabuf_setup 2
maps=/sys/kernel/debug/rsdma/$e1/mappings
d() { printf "%${1}s" | tr ' ' D; }
c() { printf "%${1}s" | tr ' ' c; }
# A 64 KiB mapping has 64 ownership parts of 1 KiB; [16k, 24k) is parts 16-23.
all=$(d 64)
part="$(d 16)$(c 8)$(d 40)"
synced="sed -n 's/^synced_bytes: //p' /sys/kernel/debug/rsdma/dmabuf"
rsdma-buf "alloc a 64k scattered" "map a" "edu e1 $n1" "edu e2 $n2" \
	"import e1 h1 a bidi" "import e2 h2 a bidi" \
	"sh cat $maps" "sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $all\$' $maps" \
	"write e1 h1 16k 8k 7" \
	"sh $synced >/tmp/before" \
	"psync a start read 16k 8k" \
	"sh cat $maps" "sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $part\$' $maps" \
	"sh [ \$(( \$($synced) - \$(cat /tmp/before) )) -eq 16384 ]" \
	"check a 16k 8k 7" \
	"psync a end read 16k 8k" \
	"sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $all\$' $maps" \
	"sh [ \$(( \$($synced) - \$(cat /tmp/before) )) -eq 32768 ]" \
	"psync a start write 40k 4k" "fill a 40k 4k 8" "psync a end write 40k 4k" \
	"read e2 h2 40k 4k 8" "read e1 h1 40k 4k 8" \
	"sync a start rw" "sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $(c 64)\$' $maps" "sync a end rw" \
	"sh grep -q '^cpu_accesses: 0$' /sys/kernel/debug/rsdma/dmabuf" ||
	fail "partial sync"
grep -q "^range_syncs: [1-9]" /sys/kernel/debug/rsdma/dmabuf || fail "no range sync counted"
dmabuf_teardown
