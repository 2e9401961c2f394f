# Bad input to the dma-buf exporter: each case gets its errno and a log line naming its cause, nothing crashes, and the exporter holds nothing afterwards; a buffer whose fd is closed while an importer maps it lives on until the importer lets go.
dmabuf_setup 1
# Buffer a is four pages; mmap offsets are whole pages, and "near" is the
# last 4 KiB of it, for ranges that run 4 KiB past its end.
P=$PAGE_SIZE
near=$((4 * P - 4096))
param=/sys/module/rsdma/parameters/dmabuf_max_kib
limit=$(cat $param)
[ "$limit" = 65536 ] || fail "dmabuf_max_kib defaults to $limit, not 65536"
# Twice the page allocator's largest block (8 MiB with 4K pages, 1 GiB with
# 64K pages): more than one contiguous allocation gives, under a size limit
# raised to let it through when it is above the default.
orders=$(awk 'NR == 1 { print NF - 4 }' /proc/buddyinfo)
big=$((P << orders))
big_kib=$((big / 1024))
[ $big_kib -ge $limit ] || big_kib=$limit
rsdma-buf \
	"expect EINVAL raw-alloc 0 0 0 0" \
	"expect EINVAL raw-alloc 4096 4 0 0" \
	"expect EINVAL raw-alloc 4096 0x80000000 0 0" \
	"expect EINVAL raw-alloc 4096 0 1 0" \
	"expect EINVAL raw-alloc 4096 0 0 0x100" \
	"expect E2BIG raw-alloc $((limit * 1024 + 1)) 1 0 0" \
	"sh echo $big_kib >$param" "expect E2BIG raw-alloc $big 0 0 0" "sh echo $limit >$param" \
	"raw-alloc 8m 1 0 0" \
	"sh echo 64 >$param" "expect E2BIG raw-alloc 68k 1 0 0" "raw-alloc 64k 1 0 0" "sh echo $limit >$param" \
	"alloc a $((4 * P))" "open f /dev/null" "alloc c 4k" "close c" "edu e $n1" \
	"expect EINVAL import e h f to" \
	"expect EBADF import e h c to" \
	"expect EINVAL psync f start read 0 4k" \
	"expect EBADF psync c start read 0 4k" \
	"expect EINVAL map a 0 $((8 * P))" \
	"expect EINVAL map a $((4 * P)) $P" \
	"expect EINVAL map a $((5 * P)) $P" \
	"map a $((3 * P)) $P" "unmap a" \
	"expect EINVAL pmap a" "alloc s $((4 * P)) scattered" "expect EINVAL pmap s" "expect EINVAL pmap s $P $P" "close s" \
	"expect EINVAL sync a end read" \
	"sync a start read" "expect EINVAL sync a end write" "sync a end read" \
	"expect EINVAL psync a end read 0 4k" \
	"psync a start read 0 4k" "expect EINVAL psync a end read 0 8k" "psync a end read 0 4k" \
	"expect EINVAL psync a start read $near 8k" \
	"expect EINVAL psync a start read 0 0" \
	"expect EINVAL psync-raw a 0 0 4k 0" \
	"expect EINVAL psync-raw a 9 0 4k 0" \
	"expect EINVAL psync-raw a 1 0 4k 1" \
	"import e h a to" "expect EACCES write e h 0 4k 1" "expect EINVAL read e h $near 8k 1" \
	"expect E2BIG read e h 0 2m 1" "expect ENOENT release e #999" "release e h" \
	"sh grep -q '^buffers: 1$' /sys/kernel/debug/rsdma/dmabuf" ||
	fail "bad input"
expect_log "rsdma: alloc: size 0"
expect_log "rsdma: alloc: unknown flags 0x4"
expect_log "rsdma: alloc: reserved fields are not zero"
expect_log "is above the limit of"
expect_log "bytes one contiguous allocation gives"
expect_log "is not a dma-buf"
expect_log "that was never begun"
expect_log "rsdma: sync: range $near+8192 is outside the $((4 * P))-byte buffer"
expect_log "rsdma: sync: a sync that neither reads nor writes"
expect_log "may not write it"
expect_log "mmap of dma-buf [0-9]*: a private mapping is refused"
expect_dmabuf_idle
# Closing the fd while an importer maps the buffer: it stays, and the device
# still reads what the CPU wrote, until the import goes.
rsdma-buf "alloc z 16k" "map z" "sync z start write" "fill z 0 16k 11" "sync z end write" "unmap z" \
	"edu e $n1" "import e hz z bidi" "close z" \
	"sh grep -q '^buffers: 1$' /sys/kernel/debug/rsdma/dmabuf" \
	"sh grep -q '^mappings: 1$' /sys/kernel/debug/rsdma/dmabuf" \
	"read e hz 0 16k 11" "release e hz" \
	"sh grep -q '^buffers: 0$' /sys/kernel/debug/rsdma/dmabuf" ||
	fail "closing a mapped buffer's fd"
# The process ends with an import live: the file's close releases it.
rsdma-buf "alloc y 8k" "edu e $n1" "import e hy y from" "write e hy 0 8k 12" ||
	fail "an import left to the file's close"
dmabuf_teardown
