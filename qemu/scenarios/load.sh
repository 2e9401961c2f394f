# rsdma.ko loads, creates its debugfs directory and unloads cleanly.
insmod /lib/modules/rsdma.ko || fail "insmod rsdma.ko"
[ -d /sys/kernel/debug/rsdma ] || fail "no /sys/kernel/debug/rsdma"
expect_log "rsdma .* loaded"
rmmod rsdma || fail "rmmod rsdma"
[ ! -d /sys/kernel/debug/rsdma ] || fail "debugfs directory left behind"
insmod /lib/modules/rsdma.ko || fail "second insmod"
rmmod rsdma || fail "second rmmod"
echo "loaded and unloaded twice"
