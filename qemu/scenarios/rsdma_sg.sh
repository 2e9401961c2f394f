# map_sg: 64 discontiguous pages merged into few DMA segments, moved through edu chunk by chunk; bytes compared.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
# PCI's default segment limit, 64 KiB, is one 64K page: pages could not be
# merged under it.  Four pages a segment, whatever the page size.
edu_run "max_seg $((4 * PAGE_SIZE))"
r=$(edu_run "sg 64")
echo "$r"
edu_run "max_seg 65536"
segs=$(echo "$r" | sed -n 's/.* 64 -> \([0-9]*\) DMA segments.*/\1/p')
[ -n "$segs" ] && [ "$segs" -lt 64 ] || fail "map_sg did not merge the 64 pages ($segs segments)"
grep -q "^sg_maps: 2$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve both map_sg calls"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
