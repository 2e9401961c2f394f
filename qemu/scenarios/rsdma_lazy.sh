# Lazy invalidation: unmaps are queued and flushed in batches (or by a timer when idle); edu's bytes still match and every IOVA is freed after the flush.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run "attach lazy"
expect_log "rsdma: attached (lazy"
grep -q "^mode: lazy$" $stats || fail "not in lazy mode"
edu_run roundtrip
# With no further unmap, the queued IOVAs are still invalidated within
# flush_ms (10 ms): a timer bounds the deferral.
sleep 1
grep -q "^flushes: [1-9]" $stats || fail "nothing flushed the queue after an idle second"
grep -q "^iova_pages_used: [0-9]" $stats
edu_run "sg 16"
edu_run coherent
echo flush >$stats || fail "flush refused"
cat $stats | grep -E "^(maps|unmaps|sg_maps|flushes|iova_pages_used|live_mappings):"
grep -q "^flushes: [1-9]" $stats || fail "no flush happened"
grep -q "^iova_pages_used: 0$" $stats || fail "IOVAs still held after the flush"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
