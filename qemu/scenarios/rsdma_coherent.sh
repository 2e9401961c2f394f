# dma_alloc_attrs through rsdma: a coherent buffer is edu's DMA target; bytes compared.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
edu_run coherent
grep -q "^allocs: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the allocation"
grep -q "^frees: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the free"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
