# No IOMMU, RAM above 4 GiB: NVMe claimed with dma_bits=32, so its block I/O above 4 GiB is bounced under it; ext2 and 64 MiB of random data compared.
# devices: nvme
need_noiommu
trap unclaim_all EXIT
dev=$(nvme_dev) || fail "no NVMe device"
insmod /lib/modules/rsdma.ko claim=pci:1b36:0010/dma_bits=32/rebind ||
	fail "insmod rsdma.ko claim=pci:1b36:0010/dma_bits=32/rebind"
served "$dev" || fail "$dev is not served"
expect_log "$dev: rsdma: attached (direct+bounce"
dev_stat "$dev" iommu = no
dev_stat "$dev" dma_limit = 0xffffffff
disk=$(disk_of "$dev") || fail "no disk on $dev"
fs_check "$disk"
data_check "$disk" 64
cat "/sys/kernel/debug/rsdma/$dev/stats"
dev_stat "$dev" bounce_maps -gt 0
dev_stat "$dev" allocs -gt 0
dev_stat "$dev" tracker_findings -eq 0
echo "$dev" >/sys/bus/pci/drivers/nvme/unbind || fail "unbind $dev"
expect_log "$dev: rsdma: driver unbound; device restored"
scenario_log | grep -q "still live at detach" && fail "nvme left mappings live at unbind"
echo "$dev" >/sys/bus/pci/drivers/nvme/bind || fail "bind $dev"
served "$dev" || fail "$dev is not served after bind"
