# Declared memory without an IOMMU: the reserved region is declared for edu at its physical address; dma_alloc_coherent serves from it and edu moves a pattern in and out; and the platform sample's streaming mappings above its 32-bit mask are bounced (the sample plays the device); bytes compared.
need_noiommu
load_edu
region=$(edu_region) || fail "no reserved region for edu"
phys=${region##*@}
edu_run "dma_bits 32"
edu_run attach
edu_run "declare $region phys map"
expect_log "rsdma: declared 0x$phys+0x100000 at device address 0x$phys (map)"
r=$(edu_run declared_roundtrip)
echo "$r"
echo "$r" | grep -q "(in the region at 0x$phys+0x100000): bytes match" ||
	fail "edu did not move the bytes through the declared region"
edu_run release
expect_declared "$dev" regions 0
expect_declared "$dev" allocations 0
edu_run detach
rmmod rsdma_edu || fail "rmmod rsdma_edu"
# The platform sample with a narrow mask: memory above 4 GiB is bounced.
insmod /lib/modules/rsdma_platform.ko || fail "insmod rsdma_platform.ko"
r=$(platform_run bounce)
echo "$r"
echo "$r" | grep -q "to device phys .*: bytes match; from device phys .*: bytes match" ||
	fail "the bounced mappings did not carry the bytes"
grep -q "^bounce_maps: [1-9]" /sys/kernel/debug/rsdma/$PLATFORM_DEV/stats || fail "no mapping was bounced"
grep -q "^live_mappings: 0$" /sys/kernel/debug/rsdma/$PLATFORM_DEV/stats || fail "mappings left live"
rmmod rsdma_platform || fail "rmmod rsdma_platform"
rmmod rsdma || fail "rmmod rsdma"
