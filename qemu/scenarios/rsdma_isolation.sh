# Isolation: after a strict unmap, edu's DMA through the stale IOVA faults in the SMMU and the memory stays unchanged.
[ -d /sys/class/iommu ] && ls /sys/class/iommu | grep -q . || { echo "no IOMMU"; exit 77; }
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
smmu_ready
r=$(edu_run stale)
echo "$r"
iova=$(echo "$r" | sed -n 's/stale IOVA \(0x[0-9a-f]*\).*/\1/p')
sleep 1
scenario_log | grep -A3 "arm-smmu-v3.*event 0x10 received" | head -4
scenario_log | grep -q "arm-smmu-v3.*event 0x10 received" || fail "the SMMU reported no translation fault"
# The event's third word is the faulting input address: the stale IOVA.
# The SMMU driver prints the event a word per line from its event thread:
# other lines may come in between, and the words may still be coming.
want=$(printf '0x%016x' $((iova)))
for _ in 1 2 3 4 5; do
	smmu_event_has "$want" && break
	sleep 1
done
smmu_event_has "$want" || fail "no fault at the stale IOVA $iova"
edu_run detach
rmmod rsdma_edu; rmmod rsdma
