# Bad declarations and releases on the platform sample's device: each gets its errno and a message naming the device and the cause; nothing is left declared or allocated, and kmemleak finds nothing.
leaks=/sys/kernel/debug/kmemleak
[ -w $leaks ] || fail "no kmemleak in this kernel"
echo clear >$leaks   # what earlier scenarios left is not this one's
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_platform.ko || fail "insmod rsdma_platform.ko"
r=$(platform_run bad_calls)
echo "$r"
for want in "no MAP or IO: EINVAL" "MAP and IO: EINVAL" "unknown flag: EINVAL" \
	"size not page-aligned: EINVAL" "overlapping memory: EBUSY" \
	"overlapping device range: EBUSY" "beyond the coherent mask: ERANGE" \
	"release of no region: ENOENT" "too many regions: 7 more declared, then ENOSPC"; do
	echo "$r" | grep -qx "$want" || fail "bad call: expected '$want'"
done
for why in "neither MAP nor IO is given" "MAP and IO are both given" "unknown flags 0x80" \
	"the size or an address is not a multiple of the page size" "the memory overlaps the region at phys" \
	"the device range overlaps the region at device address" \
	"the device range ends above the coherent DMA mask 0xffffffff" "no region is declared at that address" \
	"the device has 8 regions already"; do
	scenario_log | grep -q "$PLATFORM_DEV: rsdma: cannot .*: $why" || fail "no message naming the device and '$why'"
done
expect_declared $PLATFORM_DEV regions 1
expect_declared $PLATFORM_DEV allocations 0
grep -q "^region: .* used 0 high_water 0 failures 0 map$" /sys/kernel/debug/rsdma/$PLATFORM_DEV/declared ||
	fail "the probe's region changed"
rmmod rsdma_platform || fail "rmmod rsdma_platform"
rmmod rsdma || fail "rmmod rsdma"
# kmemleak reports objects at least 5 s old.
sleep 6
echo scan >$leaks
echo scan >$leaks
[ -z "$(cat $leaks)" ] || { cat $leaks; fail "kmemleak found leaks"; }
