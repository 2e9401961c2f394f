# dma_alloc_attrs through rsdma: a coherent buffer is edu's DMA target; bytes compared.
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
dev=$(edu_dev) || fail "no edu device"
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
edu_run coherent
grep -q "^allocs: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the allocation"
grep -q "^frees: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the free"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
