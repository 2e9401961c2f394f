# Attach, use, detach, re-attach, then unload with a mapping live: the leak is reported and the default domain works again.
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach
echo attach >"/sys/kernel/debug/rsdma_edu/$dev/run" 2>/dev/null && fail "a second attach was accepted"
expect_log "rsdma: device is already attached"
edu_run roundtrip
edu_run detach
[ ! -e "/sys/kernel/debug/rsdma/$dev" ] || fail "debugfs entry left after detach"
edu_run roundtrip   # the kernel's iommu-dma again
edu_run attach
edu_run roundtrip
# The kernel's own DMA-API debugging would WARN about the deliberate leak.
filter=/sys/kernel/debug/dma-api/driver_filter
[ -w $filter ] && echo rsdma_no_such_driver >$filter
edu_run leak
# Unbinding the driver detaches the device with the mapping live.
rmmod rsdma_edu || fail "rmmod rsdma_edu"
expect_log "rsdma: driver unbound; device restored"
scenario_log | grep -q "rsdma tracker: leaked page mapping" || fail "the leaked mapping was not reported"
expect_log "mapping(s) were still live at detach"
[ -w $filter ] && echo >$filter
# The device works on its default domain after the restore.
insmod /lib/modules/rsdma_edu.ko || fail "re-insmod rsdma_edu.ko"
edu_run "dma_bits $EDU_DMA_BITS"
edu_run roundtrip
rmmod rsdma_edu
rmmod rsdma || fail "rmmod rsdma"
