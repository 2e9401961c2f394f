# virtio-blk on virtio-mmio (the platform bus) through rsdma, claimed by device-tree compatible: data compared; a transport whose probe fails is released; a claim demanding an IOMMU is refused and the device keeps its normal DMA path.
# devices: virtio-mmio
trap unclaim_all EXIT
dev=$(vmmio_dev) || fail "no virtio-mmio block device"
insmod /lib/modules/rsdma.ko "claim=of:virtio,mmio/rebind" || fail "insmod rsdma.ko claim=of:virtio,mmio/rebind"
served "$dev" || fail "$dev is not served"
cat $CLAIM
dev_stat "$dev" iommu = no
disk=$(disk_of "$dev") || fail "no disk on $dev"
data_check "$disk" 64
cat "/sys/kernel/debug/rsdma/$dev/stats"
dev_stat "$dev" maps -gt 0
dev_stat "$dev" direct_maps -gt 0
dev_stat "$dev" allocs -gt 0
dev_stat "$dev" tracker_findings -eq 0

# A transport with no device behind it: claimed at bind, its probe fails,
# and it is released.
empty=
for d in /sys/bus/platform/devices/*.virtio_mmio; do
	[ -e "$d/driver" ] || { empty=$(basename "$d"); break; }
done
[ -n "$empty" ] || fail "no virtio-mmio transport without a device"
echo "$empty" >/sys/bus/platform/drivers/virtio-mmio/bind 2>/dev/null &&
	fail "virtio-mmio bound a transport with no device"
expect_log "$empty: rsdma: claimed by of:virtio,mmio"
expect_log "$empty: rsdma: driver unbound; device restored"
[ -e "/sys/kernel/debug/rsdma/$empty" ] && fail "$empty still attached after its probe failed"
grep "$empty" $CLAIM

# Back to the normal path, then a claim that demands an IOMMU.
claim clear
rebind "$dev"
served "$dev" && fail "$dev still served after clear and rebind"
claim "platform:$dev/iommu/rebind"
expect_log "$dev: rsdma: claim platform:$dev/rebind/iommu not honoured: the spec demands an IOMMU"
served "$dev" && fail "$dev served although the claim was refused"
grep "$dev .*refused" $CLAIM || fail "the claim file does not show the refusal"
disk=$(disk_of "$dev") || fail "no disk on $dev"
data_check "$disk" 16
