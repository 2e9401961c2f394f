# edu moves a random pattern RAM -> device -> RAM on the kernel's own DMA ops; bytes compared.
load_edu
[ -e "/sys/bus/pci/drivers/rsdma_edu/$dev" ] || fail "rsdma_edu did not bind $dev"
edu_run "dma_bits $EDU_DMA_BITS"
edu_run roundtrip
edu_run "roundtrip 16384"
edu_run "roundtrip 100"
rmmod rsdma_edu || fail "rmmod rsdma_edu"
rmmod rsdma
