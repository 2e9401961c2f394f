# edu claimed by PCI address when its driver binds: its round trip goes through rsdma; malformed specs are refused with EINVAL and a line naming them; rsdma stays loaded while edu is served.
need_iommu
trap unclaim_all EXIT
dev=$(edu_dev) || fail "no edu device"
insmod /lib/modules/rsdma.ko claim=usb:1-1 2>/dev/null && fail "insmod accepted the spec usb:1-1"
expect_log "rsdma: bad claim spec 'usb:1-1': a spec starts with pci:, platform: or of:"
insmod /lib/modules/rsdma.ko "claim=pci:$dev/notracker,pci:1234:11e8/lazy" || fail "insmod rsdma.ko claim=pci:$dev"
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
served "$dev" || fail "edu is not served"
cat $CLAIM
# The first matching spec wins.
dev_stat "$dev" tracker = off
dev_stat "$dev" mode = strict
edu_run "dma_bits $EDU_DMA_BITS"
edu_run roundtrip
edu_run "roundtrip 16384"
dev_stat "$dev" maps -ge 4
dev_stat "$dev" unmaps -ge 4
# The driver attaching the device itself finds it attached.
echo attach >"/sys/kernel/debug/rsdma_edu/$dev/run" 2>/dev/null && fail "a second attach was accepted"
expect_log "rsdma: device is already attached"
# Bad commands on the claim file.
echo "pci:1234" >$CLAIM 2>/dev/null && fail "the claim file accepted pci:1234"
expect_log "rsdma: bad claim spec 'pci:1234': pci: takes an address"
echo "-pci:1b36:9999" >$CLAIM 2>/dev/null && fail "removing an unknown spec succeeded"
echo "pci:1234:11e8/dma_bits=99" >$CLAIM 2>/dev/null && fail "the claim file accepted dma_bits=99"
# Served: rsdma cannot go.
rmmod rsdma 2>/dev/null && fail "rmmod rsdma succeeded while edu is served"
rmmod rsdma_edu || fail "rmmod rsdma_edu"
expect_log "$dev: rsdma: released by pci:$dev/notracker (driver unbound)"
served "$dev" && fail "edu still served after its driver unbound"
rmmod rsdma || fail "rmmod rsdma once edu is released"
