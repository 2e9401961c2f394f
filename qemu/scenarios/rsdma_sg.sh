# map_sg: 64 discontiguous pages merged into few DMA segments, moved through edu chunk by chunk; bytes compared.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
r=$(edu_run "sg 64")
echo "$r"
segs=$(echo "$r" | sed -n 's/.* 64 -> \([0-9]*\) DMA segments.*/\1/p')
[ -n "$segs" ] && [ "$segs" -lt 64 ] || fail "map_sg did not merge the 64 pages ($segs segments)"
grep -q "^sg_maps: 2$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve both map_sg calls"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
