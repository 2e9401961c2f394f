# The demo: one DMA round trip through edu, told in plain words.
insmod /lib/modules/rsdma_edu.ko || fail "insmod rsdma_edu.ko"
dev=$(edu_dev) || fail "no edu device"
edu_run "dma_bits $EDU_DMA_BITS" >/dev/null
r=$(edu_run "roundtrip 8192") || fail "the round trip failed"
echo "DEMO: edu device $dev, DMA mask of $EDU_DMA_BITS bits"
echo "DEMO: the driver filled 8192 bytes with a random pattern; edu copied them"
echo "DEMO: from RAM into its own buffer and back out into a second RAM buffer,"
echo "DEMO: 2048 bytes per transfer, through the DMA addresses it was given:"
echo "DEMO:   $r"
case $r in *"bytes match"*) echo "DEMO: result: every byte arrived intact." ;; *) fail "bytes differ" ;; esac
rmmod rsdma_edu
