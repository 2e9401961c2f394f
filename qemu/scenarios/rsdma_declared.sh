# Declared memory behind the SMMU: a reserved region of RAM is declared for edu at device address PAGE_SIZE (0x1000 with 4K pages), the first IOVA rsdma would hand out (mapped there in rsdma's domain, the range kept from its allocator); dma_alloc_coherent serves from it, edu moves a pattern in and out, and a process mmaps a buffer from it; bytes compared.
need_iommu
load_edu
region=$(edu_region) || fail "no reserved region for edu"
decl=/sys/kernel/debug/rsdma/$dev/declared
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
# The region goes at the first page of IO address space (IOVA 0 is never
# handed out), and ends 1 MiB later.
at=$(hex $PAGE_SIZE)
end=$(hex $((PAGE_SIZE + 0x100000)))
edu_run "declare $region $at map exclusive"
expect_log "rsdma: declared 0x[0-9a-f]*+0x100000 at device address $at (map, exclusive, IOMMU-mapped)"
cat $decl
grep -q "^region: phys 0x[0-9a-f]* dev $at size 1048576 used 0 high_water 0 failures 0 map exclusive$" $decl ||
	fail "the declared file does not show the region"
r=$(edu_run declared_roundtrip)
echo "$r"
echo "$r" | grep -q "(in the region at $at+0x100000): bytes match" ||
	fail "edu did not move the bytes through the declared region"
# The 8 KiB buffer took whole pages of the region.
hw=8192
[ $PAGE_SIZE -le $hw ] || hw=$PAGE_SIZE
grep -q " used 0 high_water $hw failures 0 " $decl || fail "the region's figures are wrong"
# Streaming mappings beside it: first fit would put them at $at if the
# region did not hold the range.
r=$(edu_run roundtrip)
echo "$r"
for a in $(echo "$r" | sed -n 's/.*src dma \(0x[0-9a-f]*\), dst dma \(0x[0-9a-f]*\),.*/\1 \2/p'); do
	[ $((a)) -ge $((end)) ] || fail "a streaming mapping got IOVA $a, inside the declared region"
done
echo "$r" | grep -q "bytes match" || fail "the roundtrip beside the region failed"
edu_run release
# The release unmapped the region: edu's write to its second page faults
# in the SMMU.
smmu_ready
edu_run declared_stale
stale=$(printf '0x%016x' $((2 * PAGE_SIZE)))
for _ in 1 2 3 4 5; do
	smmu_event_has $stale && break
	sleep 1
done
smmu_event_has $stale ||
	fail "no SMMU translation fault at the released device address $(hex $((2 * PAGE_SIZE)))"
# The MSI window is an IOMMU reserved region: it cannot be declared over.
edu_refused "declare $region 0x8000000 map" "Device or resource busy"
expect_log "IOVA range 0x8000000+0x100000 is in use"
cat $decl
expect_declared "$dev" regions 0
expect_declared "$dev" allocations 0
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
# A process maps a buffer from the region and sees the device's bytes; the
# buffer is freed when the driver unbinds, before rsdma drops the region.
edu_run "declare $region $at map"
dma=$(edu_run mmap_prepare | sed -n 's/.* at dma \(0x[0-9a-f]*\),.*/\1/p')
[ -n "$dma" ] && [ $((dma)) -ge $((at)) ] && [ $((dma)) -lt $((end)) ] ||
	fail "the mmap buffer (dma '$dma') is not in the region"
/usr/bin/mmapcheck /dev/rsdma_edu || fail "the mapped buffer does not show the device's bytes"
expect_declared "$dev" allocations 1
rmmod rsdma_edu || fail "rmmod rsdma_edu"
expect_log "rsdma: driver unbound; device restored"
scenario_log | grep -q "never freed" && fail "buffers were left at detach"
rmmod rsdma || fail "rmmod rsdma"
