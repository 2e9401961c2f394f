# A coherent buffer from rsdma is edu's DMA target; a userspace program mmaps it and sees the device's bytes.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
edu_run mmap_prepare
[ -c /dev/rsdma_edu ] || fail "no /dev/rsdma_edu"
/usr/bin/mmapcheck /dev/rsdma_edu || fail "the mapped buffer does not show the device's bytes"
grep -q "^allocs: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the allocation"
rmmod rsdma_edu || fail "rmmod rsdma_edu"
rmmod rsdma
