# Streaming through one long-lived mapping: edu #1 (on rsdma) imports a buffer once, BIDIRECTIONAL, and moves 256 chunks of 1 byte to 4 KiB at random offsets in both directions, syncing only each chunk before and after the DMA (rsdma_dmabuf_sync_for_device/_for_cpu), with the CPU writing and reading through the exporter's mmap in between: every byte is checked.  rsdma's tracker shows a single range sync on exactly its parts of the mapping, and the attachment's own counts show every sync and no whole-buffer sync.
dmabuf_setup 1
maps=/sys/kernel/debug/rsdma/$e1/mappings
view=/sys/kernel/debug/rsdma/dmabuf
out=/tmp/stream.out
d() { printf "%${1}s" | tr ' ' D; }
c() { printf "%${1}s" | tr ' ' c; }
stream_checks $out
for kind in scattered ""; do
	# A 64 KiB mapping has 64 ownership parts of 1 KiB; [16k, 24k) is parts 16-23.
	rsdma-buf "alloc a 64k $kind" "map a" "fill a 0 64k 1" "edu e1 $n1" "import e1 h1 a bidi" \
		"sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $(d 64)\$' $maps" \
		"isync e1 h1 cpu bidi 0 64k" \
		"sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $(c 64)\$' $maps" \
		"isync e1 h1 device to 16k 8k" \
		"sh cat $maps" "sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $(c 16)$(d 8)$(c 40)\$' $maps" \
		"isync e1 h1 cpu to 16k 8k" \
		"sh grep -q 'scatter-gather DMA_BIDIRECTIONAL $(c 64)\$' $maps" \
		"sh /tmp/own $e1 3 81920" \
		"streams a 256 4k 77 e1 h1 0 64k" \
		"sh /tmp/own $e1 515 \$((81920 + 2 * \$(/tmp/moved e1 h1)))" \
		"sh grep -q '^range_syncs: 0$' $view" >$out
	r=$?
	cat $out
	[ $r = 0 ] || fail "streaming (${kind:-contiguous})"
done
[ "$(dmabuf_stat importer_syncs)" -ge 1030 ] || fail "importer_syncs: $(dmabuf_stat importer_syncs), expected 1030 or more"
[ "$(dmabuf_stat refused)" = 0 ] || fail "the exporter refused $(dmabuf_stat refused) requests of a correct importer"
dmabuf_teardown
