# dma-buf round trip: the CPU fills an rsdma buffer through mmap, edu (attached to rsdma) imports it and copies it into a second one, the CPU reads that back; contiguous and scattered, cached and write-combined.
dmabuf_setup 1
[ "$(stat -c %a /dev/rsdma)" = 600 ] || fail "/dev/rsdma is not root only: mode $(stat -c %a /dev/rsdma)"
stats=/sys/kernel/debug/rsdma/$e1/stats
maps0=$(sed -n 's/^sg_maps: //p' "$stats")
# 128 KiB: a contiguous buffer is cut at edu's 64 KiB segment limit, and the
# copies cross that cut; bytes outside them must stay zero.
for kind in "" scattered wc "scattered wc"; do
	rsdma-buf "alloc a 128k $kind" "alloc b 128k $kind" "map a" \
		"sync a start write" "fill a 0 128k 1" "sync a end write" \
		"edu e $n1" "import e ha a to" "import e hb b from" \
		"copy e ha 56k hb 56k 16k" "copy e ha 120k hb 120k 8k" \
		"map b" "sync b start read" \
		"check b 56k 16k 1" "check b 120k 8k 1" \
		"check b 0 56k zero" "check b 72k 48k zero" \
		"sync b end read" "release e ha" "release e hb" ||
		fail "round trip (${kind:-contiguous cached})"
done
maps1=$(sed -n 's/^sg_maps: //p' "$stats")
[ "$maps1" -ge $((maps0 + 8)) ] || fail "rsdma served $((maps1 - maps0)) of the 8 importer mappings"
dmabuf_teardown
