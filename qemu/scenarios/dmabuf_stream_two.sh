# Two importers streaming at once into disjoint halves of one buffer: edu #1 on rsdma and edu #2 on the kernel's iommu-dma, each mapping the whole buffer once, BIDIRECTIONAL, move 256 chunks each at random offsets of their own half, in both directions, with range syncs only; every byte is checked.  Each sync reaches only its own attachment: the per-attachment counts match each importer's own transfers exactly, and rsdma's tracker shows edu #1's mapping of the other half never synced.
dmabuf_setup 2
maps=/sys/kernel/debug/rsdma/$e1/mappings
view=/sys/kernel/debug/rsdma/dmabuf
out=/tmp/stream2.out
stream_checks $out
# The tracker follows a mapping in 64 parts: of 2 KiB here; parts 32-63 are edu #2's half.
half=$(printf "%32s" | tr ' ' D)
for kind in scattered "scattered wc"; do
	rsdma-buf "alloc a 128k $kind" "map a" "fill a 0 128k 2" "edu e1 $n1" "edu e2 $n2" \
		"import e1 h1 a bidi" "import e2 h2 a bidi" \
		"sh grep -q '^attachments: 2$' $view" \
		"streams a 256 4k 91 e1 h1 0 64k e2 h2 64k 64k" \
		"sh cat $maps" \
		"sh grep -Eq 'scatter-gather DMA_BIDIRECTIONAL [cD]{32}$half\$' $maps" \
		"sh /tmp/own $e1 512 \$((2 * \$(/tmp/moved e1 h1)))" \
		"sh /tmp/own $e2 512 \$((2 * \$(/tmp/moved e2 h2)))" \
		"sh grep -q '^range_syncs: 0$' $view" >$out
	r=$?
	cat $out
	[ $r = 0 ] || fail "two importers streaming (${kind})"
done
[ "$(dmabuf_stat refused)" = 0 ] || fail "the exporter refused $(dmabuf_stat refused) requests of correct importers"
dmabuf_teardown
