# Hostile input: rsdma-fuzz makes 100,000 random and mutated calls (then 20,000 from two threads at once, with edu #2 and #1 unbound and bound again under them) to /dev/rsdma, its dma-bufs (syncs, range syncs, mmap, closes), both edu importers and the debugfs command files; every call gets 0 or an errno, nothing crashes or reports, and afterwards the exporter, rsdma, the claim table and the knobs hold nothing; a file of an edu node kept open across its device's unbind and rebind answers ENOENT and closes cleanly.  Replay: RSDMA_QEMU_APPEND="rsdma.fuzz_seed=SEED rsdma.fuzz_calls=N".
dmabuf_setup 2
seed=$(sed -n 's/.*rsdma\.fuzz_seed=\([^ ]*\).*/\1/p' /proc/cmdline)
calls=$(sed -n 's/.*rsdma\.fuzz_calls=\([^ ]*\).*/\1/p' /proc/cmdline)
refused0=$(dmabuf_stat refused)
rsdma-fuzz ${seed:+-s $seed} -n "${calls:-100000}" --edu "$n1" --edu "$n2" || fail "rsdma-fuzz failed (its seed is printed above)"
# Then two fuzzers at once in one process, racing on the same buffers,
# imports and descriptor numbers, while every few seconds edu #2, then
# edu #1 (detached from rsdma with it, attached again after), is unbound
# and bound again under them.
drv=/sys/bus/pci/drivers/rsdma_edu
rsdma-fuzz ${seed:+-s $seed} -n "$(( ${calls:-100000} / 5 ))" -t 2 --edu "$n1" --edu "$n2" >/tmp/fuzz2 2>&1 &
fz=$!
rebinds=0
while sleep 2 && kill -0 $fz 2>/dev/null; do
	d=$e2
	[ $((rebinds % 2)) = 1 ] && d=$e1
	echo "$d" >$drv/unbind || break
	sleep 1
	echo "$d" >$drv/bind || break
	echo "dma_bits $EDU_DMA_BITS" >"/sys/kernel/debug/rsdma_edu/$d/run" || break
	[ "$d" = "$e2" ] || echo attach >"/sys/kernel/debug/rsdma_edu/$d/run" || break
	rebinds=$((rebinds + 1))
done
wait $fz
rc=$?
cat /tmp/fuzz2
for d in $e1 $e2; do
	[ "$(driver_of "$d")" = rsdma_edu ] || fail "$d could not be bound again after $rebinds rebinds"
done
[ -e "/sys/kernel/debug/rsdma/$e1/stats" ] || fail "$e1 is not attached to rsdma again"
[ $rc = 0 ] || fail "rsdma-fuzz -t 2 failed (its seed is printed above)"
echo "edu #2 and #1 unbound and bound again $rebinds times in turn under it"
echo "dma-buf exporter refused $(( $(dmabuf_stat refused) - refused0 )) requests"
# Every counter is back at rest, and both edu devices still work.
expect_dmabuf_idle
[ "$(sed -n '/^specs:/,/^devices:/p' $CLAIM | grep -c '^  ')" = 0 ] || fail "claim specs left: $(cat $CLAIM)"
[ "$(sed -n '/^devices:/,$p' $CLAIM | grep -c '^  ')" = 0 ] || fail "devices claimed: $(cat $CLAIM)"
for d in $e1 $e2; do [ "$(driver_of "$d")" = rsdma_edu ] || fail "$d lost its driver"; done
rsdma-buf "alloc a 64k scattered" "map a" "sync a start write" "fill a 0 64k 3" "sync a end write" \
	"edu e $n1" "edu f $n2" "import e h a bidi" "import f g a bidi" \
	"sread e h 0 64k 3" "sread f g 0 64k 3" "release e h" "release f g" ||
	fail "the edu devices no longer move a dma-buf after the fuzzing"
# A file of edu #2's node and its import outlive the device's unbind:
# the import goes with the device, the file answers ENOENT, and closing
# it after the rebind is clean (its file operations stay while it is open).
rsdma-buf "alloc a 16k" "edu f $n2" "import f g a bidi" "sh echo $e2 >$drv/unbind" \
	"sh grep -q '^attachments: 0$' /sys/kernel/debug/rsdma/dmabuf" \
	"expect ENOENT release f g" "expect ENOENT isync f g device to 0 4k" \
	"sh echo $e2 >$drv/bind" "expect ENOENT release f g" ||
	fail "an edu file kept open across its device's unbind"
[ "$(driver_of "$e2")" = rsdma_edu ] || fail "$e2 was not bound again"
edu_run_on "$e2" "dma_bits $EDU_DMA_BITS"
dmabuf_teardown
