# The tracker reports exactly a direction mismatch and a double unmap for a deliberately misused mapping.
load_edu
# The kernel's own DMA-API debugging would see the same misuse and WARN.
filter=/sys/kernel/debug/dma-api/driver_filter
[ -w $filter ] && echo rsdma_no_such_driver >$filter
edu_run attach
edu_run misuse
scenario_log | grep "rsdma tracker:" | sed 's/^\[[^]]*\] //'
n=$(scenario_log | grep -c "rsdma tracker:")
scenario_log | grep "rsdma tracker:" | grep -q "with DMA_[A-Z_]*, mapped with DMA_" || fail "no direction-mismatch finding"
scenario_log | grep "rsdma tracker:" | grep -q "double unmap" || fail "no double-unmap finding"
[ "$n" -eq 2 ] || fail "expected exactly 2 findings, got $n"
# Each names the driver function that misused the API.
[ "$(scenario_log | grep "rsdma tracker:" | grep -c "(caller .*misuse")" -eq 2 ] || fail "findings do not name the caller"
grep -q "^tracker_findings: 2$" "/sys/kernel/debug/rsdma/$dev/stats" || fail "stats disagree"
edu_run detach
[ -w $filter ] && echo >$filter
rmmod rsdma_edu; rmmod rsdma
