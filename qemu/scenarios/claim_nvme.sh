# NVMe through rsdma, claimed while its driver binds: ext2 with a tree of files, 64 MiB of random data written direct and buffered and read back, rsdma's counters, unbind and bind again; strict, then lazy.
# devices: nvme
need_iommu
trap unclaim_all EXIT
dev=$(nvme_dev) || fail "no NVMe device"
[ "$(driver_of "$dev")" = nvme ] || fail "$dev is not bound to nvme"

# A spec without rebind leaves a bound device alone.
insmod /lib/modules/rsdma.ko claim=pci:1b36:0010 || fail "insmod rsdma.ko claim=pci:1b36:0010"
expect_log "$dev: rsdma: bound to nvme already: pci:1b36:0010 claims it at its next bind"
served "$dev" && fail "a bound device was taken over without rebind"
cat $CLAIM
rmmod rsdma || fail "rmmod rsdma with no device served"

for mode in strict lazy; do
	echo "--- $mode"
	if [ $mode = strict ]; then
		insmod /lib/modules/rsdma.ko claim=pci:1b36:0010/rebind || fail "insmod rsdma.ko claim=pci:1b36:0010/rebind"
	else
		# A new spec with rebind takes the served device over again.
		claim "-pci:1b36:0010"
		claim "pci:1b36:0010/lazy/rebind"
	fi
	served "$dev" || fail "$dev is not served after the rebind"
	cat $CLAIM
	expect_log "$dev: rsdma: claimed by pci:1b36:0010.* for driver nvme"
	dev_stat "$dev" mode = $mode
	dev_stat "$dev" iommu = yes
	disk=$(disk_of "$dev") || fail "no disk on $dev"
	fs_check "$disk"
	data_check "$disk" 64
	cat "/sys/kernel/debug/rsdma/$dev/stats"
	# Queues and PRP lists are coherent allocations; requests map pages
	# and scatterlists.
	dev_stat "$dev" maps -gt 0
	dev_stat "$dev" sg_maps -gt 0
	dev_stat "$dev" allocs -gt 0
	dev_stat "$dev" map_failures -eq 0
	dev_stat "$dev" tracker_findings -eq 0

	# Unbinding detaches the device after nvme's buffers are freed;
	# binding attaches it again, and the data is still there.
	echo "$dev" >/sys/bus/pci/drivers/nvme/unbind || fail "unbind $dev"
	[ -e "/sys/kernel/debug/rsdma/$dev" ] && fail "$dev still attached after its driver unbound"
	expect_log "$dev: rsdma: driver unbound; device restored"
	expect_log "$dev: rsdma: released by pci:1b36:0010"
	scenario_log | grep -q "still live at detach" && fail "nvme left mappings live at unbind"
	scenario_log | grep -q "rsdma tracker:" && fail "the tracker found DMA API misuse"
	echo "$dev" >/sys/bus/pci/drivers/nvme/bind || fail "bind $dev"
	served "$dev" || fail "$dev is not served after bind"
	disk=$(disk_of "$dev") || fail "no disk on $dev after bind"
	want=$(sha256sum </tmp/random-64 | cut -d' ' -f1)
	got=$(dd if="/dev/$disk" bs=1M count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "the data read after bind differs"
	echo "$disk: after unbind and bind: sha256 matches"
done
