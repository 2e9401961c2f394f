# A claim on a disk that shares its IOMMU group (virtio-blk-pci and virtio-rng-pci as functions of one slot, no ACS) is refused with the reason logged; the disk keeps iommu-dma and its data compares.
# devices: shared
need_iommu
trap unclaim_all EXIT
f0=0000:00:1e.0
f1=0000:00:1e.1
[ "$(driver_of $f0)" = virtio-pci ] && [ "$(driver_of $f1)" = virtio-pci ] ||
	fail "virtio-pci is not bound to both functions of slot 1e"
g0=$(basename "$(readlink "/sys/bus/pci/devices/$f0/iommu_group")")
g1=$(basename "$(readlink "/sys/bus/pci/devices/$f1/iommu_group")")
[ -n "$g0" ] && [ "$g0" = "$g1" ] || fail "the functions are not in one IOMMU group ($g0, $g1)"
insmod /lib/modules/rsdma.ko "claim=pci:$f0/rebind" || fail "insmod rsdma.ko claim=pci:$f0/rebind"
expect_log "$f0: rsdma: claim pci:$f0/rebind not honoured: its IOMMU group holds 2 devices; rsdma needs it alone; virtio-pci keeps the normal DMA path"
served "$f0" && fail "$f0 is served although its group is shared"
grep "$f0 .*refused: its IOMMU group holds 2 devices" $CLAIM || fail "the claim file does not show the refusal"
[ -e "/sys/kernel/debug/rsdma/$f0" ] && fail "$f0 has rsdma stats"
echo "IOMMU group $g0: $(cat "/sys/kernel/iommu_groups/$g0/type")"
disk=$(disk_of $f0) || fail "no disk on $f0"
data_check "$disk" 8
