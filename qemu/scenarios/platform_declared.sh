# The platform sample, bound by device tree: its reserved region serves dma_alloc_coherent until full (then EXCLUSIVE refuses, plain falls back to system memory); a second region used through I/O accessors; release refused while a buffer is live; a child device served when the region includes children; the sample plays the device, bytes compared.
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
insmod /lib/modules/rsdma_platform.ko || fail "insmod rsdma_platform.ko"
[ -e /sys/bus/platform/drivers/rsdma_platform/$PLATFORM_DEV ] || fail "the sample did not bind to $PLATFORM_DEV"
expect_log "rsdma: declared 0x[0-9a-f]*+0x100000 at device address 0x[0-9a-f]* (map)"
decl=/sys/kernel/debug/rsdma/$PLATFORM_DEV/declared
r=$(platform_run fill)
echo "$r"
echo "$r" | grep -q "fill: 16 of 16 x 65536 bytes .* exclusive: next refused; plain: 16 from the region, next from system memory at .*: bytes match" ||
	fail "the region did not fill as it should"
grep -q "^region: .* size 1048576 used 0 high_water 1048576 failures 1 map$" $decl ||
	fail "the region's figures after the fill are wrong"
r=$(platform_run two_regions)
echo "$r"
echo "$r" | grep -q "16 buffers from map, then dma .* in the io region .*: CPU to device bytes match, device to CPU bytes match" ||
	fail "the second region did not serve through I/O accessors"
grep -q "^region: .* used 0 high_water 1048576 failures 2 map$" $decl ||
	fail "the region's figures after the second region are wrong"
r=$(platform_run release)
echo "$r"
echo "$r" | grep -q "release: with a buffer live EBUSY, after the free ok, declared again: dma .* in the region: bytes match" ||
	fail "release did not behave"
# The live buffer is 64 KiB: 16 pages of 4K, one of 64K.
expect_log "cannot release the declared region at 0x[0-9a-f]*: $((65536 / PAGE_SIZE)) page(s) of it are still allocated"
r=$(platform_run children)
echo "$r"
echo "$r" | grep -q "unattached child ENODEV; without INCLUDES_CHILDREN the child's buffer is outside the region; with it, dma .* is in the region: bytes match" ||
	fail "the child device was not served as it should"
cat $decl
grep -q "^region: .* size 1048576 used 0 high_water 0 failures 0 map$" $decl ||
	fail "the region as probe declared it is not back"
expect_declared $PLATFORM_DEV regions 1
expect_declared $PLATFORM_DEV allocations 0
expect_declared $PLATFORM_DEV allocated_bytes 0
grep -q "^live_mappings: 0$" /sys/kernel/debug/rsdma/$PLATFORM_DEV/stats || fail "allocations left live"
grep -q "^tracker_findings: 0$" /sys/kernel/debug/rsdma/$PLATFORM_DEV/stats || fail "the tracker found misuse"
rmmod rsdma_platform || fail "rmmod rsdma_platform"
[ ! -e /sys/kernel/debug/rsdma/$PLATFORM_DEV ] || fail "the device is still attached after unbind"
rmmod rsdma || fail "rmmod rsdma"
