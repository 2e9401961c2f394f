# A coherent buffer from rsdma is edu's DMA target; a userspace program mmaps it and sees the device's bytes.
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
dev=$(edu_dev) || fail "no edu device"
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
edu_run mmap_prepare
[ -c /dev/rsdma_edu ] || fail "no /dev/rsdma_edu"
/usr/bin/mmapcheck /dev/rsdma_edu || fail "the mapped buffer does not show the device's bytes"
grep -q "^allocs: 1$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "rsdma did not serve the allocation"
rmmod rsdma_edu || fail "rmmod rsdma_edu"
rmmod rsdma
