# Bad range syncs: a range outside the buffer, no bytes, no direction, an attachment that is not mapped, a direction the mapping does not allow, and a buffer rsdma did not export each get their own errno and a log line naming the importing device; nothing is synced, the buffer keeps its bytes, nothing crashes, and a good sync works afterwards.
dmabuf_setup 1
view=/sys/kernel/debug/rsdma/dmabuf
refused0=$(dmabuf_stat refused)
rsdma-buf "alloc a 64k scattered" "map a" "fill a 0 64k 5" "udmabuf u $((4 * PAGE_SIZE))" "edu e $n1" \
	"import e b a bidi" "import e t a to" "import e f a from" "import e n a none" "import e x u bidi" \
	"expect ERANGE isync e b device to 60k 8k" \
	"expect ERANGE isync e b cpu from 64k 1" \
	"expect ERANGE isync e b device bidi 0xffffffffffffffff 2" \
	"expect EINVAL isync e b device to 0 0" \
	"expect EINVAL isync e b cpu none 0 4k" \
	"expect ENXIO isync e n device to 0 4k" \
	"expect ENXIO sread e n 0 4k 5" \
	"expect EACCES isync e t cpu from 0 4k" \
	"expect EACCES isync e t device bidi 0 4k" \
	"expect EACCES isync e f device to 0 4k" \
	"expect EOPNOTSUPP isync e x device to 0 4k" \
	"expect EOPNOTSUPP sread e x 0 4k zero" \
	"check a 0 64k 5" \
	"sh grep '^attachment' $view" \
	"sh grep -q '^attachments: 4$' $view" \
	"sh ! grep '^attachment:' $view | grep -v 'access_bytes 0 own_syncs 0 own_bytes 0$'" \
	"sread e b 60k 4k 5" \
	"sh grep -q 'mapped DMA_BIDIRECTIONAL access_bytes 0 own_syncs 2 own_bytes 8192$' $view" ||
	fail "bad range syncs"
[ $(( $(dmabuf_stat refused) - refused0 )) = 9 ] || fail "$(( $(dmabuf_stat refused) - refused0 )) refusals counted, expected 9"
expect_log "$e1: rsdma: dma-buf"
expect_log "refused: range 61440..69632 is outside the 65536-byte buffer"
expect_log "refused: range at 18446744073709551615 overflows"
expect_log "refused: a range of 0 bytes"
expect_log "refused: the direction is not one a transfer can have"
expect_log "refused: the attachment is not mapped"
expect_log "is not mapped: no transfer"
expect_log "refused: the attachment is mapped DMA_TO_DEVICE, which does not allow DMA_FROM_DEVICE"
expect_log "refused: the attachment is mapped DMA_FROM_DEVICE, which does not allow DMA_TO_DEVICE"
expect_log "$e1: rsdma: dmabuf sync on a dma-buf rsdma did not export"
dmabuf_teardown
