# rmmod while a claimed device is bound is refused and the device keeps working; once its driver unbinds, rsdma unloads and the device works on its normal DMA path.
# devices: nvme
need_iommu
trap unclaim_all EXIT
dev=$(nvme_dev) || fail "no NVMe device"
insmod /lib/modules/rsdma.ko claim=pci:1b36:0010/rebind || fail "insmod rsdma.ko claim=pci:1b36:0010/rebind"
served "$dev" || fail "$dev is not served"
rmmod rsdma 2>/tmp/err && fail "rmmod rsdma succeeded while $dev is served"
echo "rmmod refused: $(cat /tmp/err)"
[ "$(cat /sys/module/rsdma/refcnt)" -ge 1 ] || fail "rsdma holds no reference"
grep "$dev .*served" $CLAIM || fail "the claim file does not list $dev"
disk=$(disk_of "$dev") || fail "no disk on $dev"
data_check "$disk" 8
echo "$dev" >/sys/bus/pci/drivers/nvme/unbind || fail "unbind $dev"
rmmod rsdma || fail "rmmod rsdma after the unbind"
echo "$dev" >/sys/bus/pci/drivers/nvme/bind || fail "bind $dev"
[ -e /sys/kernel/debug/rsdma ] && fail "rsdma's debugfs is still there"
grp=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
echo "$dev on IOMMU group $grp ($(cat "/sys/kernel/iommu_groups/$grp/type")) again"
disk=$(disk_of "$dev") || fail "no disk on $dev after bind"
data_check "$disk" 8
