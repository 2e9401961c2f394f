# Coherent buffers' CPU mappings: a non-coherent device gets write-combined or non-cacheable kernel and user mappings, a coherent one cacheable (page tables checked); NO_KERNEL_MAPPING leaves no kernel mapping while edu moves the bytes (checked through an mmap); dma_alloc_noncoherent with syncs doing cache maintenance.
need_iommu
load_edu
stat() { sed -n "s/^$1: //p" $stats; }

# check ATTRS KMAP KERNEL USER: a 1 MiB buffer with ATTRS; edu writes and
# reads 2 offsets.  KMAP says how the kernel reaches it: vmap (a mapping of
# rsdma's in /proc/vmallocinfo: 1 MiB and a guard page of PAGE_SIZE),
# linear, or none;
# the kernel's page tables give that mapping the memory type KERNEL (an
# extended regex), and those of a user mapping the type USER.
check() {
	r=$(edu_run "coh_check 1M $1 n=2") || fail "coh_check 1M $1"
	echo "$r"
	echo "$r" | grep -q "device reads ok: ok$" || fail "a '$1' buffer did not hold the device's bytes"
	vmaps=$(grep "\[rsdma\]" /proc/vmallocinfo)
	case $2 in
	vmap)
		echo "$vmaps" | grep -q " $((0x100000 + PAGE_SIZE)) .*\\[rsdma\\] vmap$" || { grep vmap /proc/vmallocinfo; fail "no vmap of the '$1' buffer in /proc/vmallocinfo"; }
		echo "vmallocinfo: $vmaps" ;;
	*)
		[ -z "$vmaps" ] || fail "rsdma holds a kernel mapping of a '$1' buffer: $vmaps" ;;
	esac
	if [ "$2" = none ]; then
		echo "$r" | grep -q "kernel reads skipped (no kernel mapping)" || fail "the kernel read a NO_KERNEL_MAPPING buffer"
		echo "no kernel mapping: /proc/vmallocinfo holds nothing of rsdma's"
	else
		k=$(/usr/bin/cohcheck kpt "$(hex_field cpu "$r")" 1048576) || fail "$k"
		echo "$k"
		echo "$k" | grep -qE ": $3 \(.*, 1048576 bytes mapped\)" || fail "the kernel mapping of a '$1' buffer is not $3"
	fi
	u=$(/usr/bin/cohcheck mmap /dev/rsdma_edu 1048576 "$(hex_field seed "$r")" "$run") || fail "cohcheck: $u"
	echo "$u"
	echo "$u" | grep -q "2 runs of pattern bytes (4000 bytes, offsets hash $(hex_field "offsets hash" "$r"))" ||
		fail "userspace does not see the bytes the device wrote"
	echo "$u" | grep -q "user mapping .*: $4 $((0x100000 / PAGE_SIZE)), other 0, absent 0" || fail "the user mapping of a '$1' buffer is not $4"
	edu_run coh_release
}

edu_run "dma_bits $EDU_DMA_BITS"
edu_run "attach noncoherent"
expect_log "rsdma: attached (.*, non-coherent)"
expect_stat coherent = false
check wc vmap MEM/NORMAL-NC MEM/NORMAL-NC
check "" vmap MEM/NORMAL-NC MEM/NORMAL-NC
check "wc contig" vmap MEM/NORMAL-NC MEM/NORMAL-NC
check "nokmap wc" none - MEM/NORMAL-NC
expect_stat cache_maintenance -gt 0
# Pages the driver keeps coherent itself: each sync is cache maintenance.
before=$(stat cache_maintenance)
edu_run noncoherent | grep -q "bytes match" || fail "dma_alloc_noncoherent pages lost the device's bytes"
after=$(stat cache_maintenance)
echo "cache maintenance operations: $before before dma_alloc_noncoherent and its syncs, $after after"
[ "$after" -ge $((before + 3)) ] || fail "the syncs of non-coherent pages did no cache maintenance"
edu_run detach

# A coherent device: cacheable mappings, WRITE_COMBINE or not, and no
# cache maintenance.
edu_run attach
expect_stat coherent = true
# (The linear map is tagged normal memory on kernels built for MTE.)
check wc vmap MEM/NORMAL MEM/NORMAL
check contig linear "MEM/NORMAL(-TAGGED)?" MEM/NORMAL
check nokmap none - MEM/NORMAL
edu_run noncoherent | grep -q "bytes match" || fail "dma_alloc_noncoherent pages lost the device's bytes"
expect_stat cache_maintenance -eq 0
expect_stat coherent_buffers -eq 0
expect_stat coherent_pages -eq 0
expect_stat tracker_findings -eq 0
unload_edu
