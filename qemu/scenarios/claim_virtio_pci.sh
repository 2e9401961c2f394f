# virtio-blk-pci (iommu_platform=on) through rsdma, claimed by vendor:device: 64 MiB of random data written direct and buffered and read back, rsdma's counters, unbind and bind again.
# devices: virtio-pci
need_iommu
trap unclaim_all EXIT
dev=$(vpci_dev) || fail "no virtio-blk-pci device"
insmod /lib/modules/rsdma.ko claim=pci:1af4:1042/rebind || fail "insmod rsdma.ko claim=pci:1af4:1042/rebind"
served "$dev" || fail "$dev is not served"
cat $CLAIM
dev_stat "$dev" iommu = yes
disk=$(disk_of "$dev") || fail "no disk on $dev"
data_check "$disk" 64
cat "/sys/kernel/debug/rsdma/$dev/stats"
# The rings are coherent allocations; virtio maps each request buffer.
dev_stat "$dev" maps -gt 0
dev_stat "$dev" allocs -gt 0
dev_stat "$dev" tracker_findings -eq 0
rebind "$dev"
served "$dev" || fail "$dev is not served after unbind and bind"
expect_log "$dev: rsdma: driver unbound; device restored"
disk=$(disk_of "$dev") || fail "no disk on $dev after bind"
data_check "$disk" 16
scenario_log | grep -q "still live at detach" && fail "virtio left mappings live at unbind"
true
