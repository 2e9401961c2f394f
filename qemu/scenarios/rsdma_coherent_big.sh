# A 64 MiB coherent buffer on a fragmented 1 GiB guest: scattered pages at one IOVA range; edu writes and reads 32 random offsets, the kernel and a user mapping show the bytes, get_sgtable adds up; ALLOC_SINGLE_PAGES gives 1 MiB of single pages (256 with 4K pages) in N entries, FORCE_CONTIGUOUS one block in 1.
need_iommu
load_edu
edu_run "dma_bits $EDU_DMA_BITS"
edu_run attach

# sg_entries RESULT, sg_bytes RESULT: the table coh_check reported.
sg_entries() { echo "$1" | sed -n 's/.*sg_table \([0-9]*\) entries.*/\1/p'; }
sg_bytes() { echo "$1" | sed -n 's/.*entries, \([0-9]*\) bytes.*/\1/p'; }
# Pages of 1 MiB and of 64 MiB; the page allocator's largest block in pages
# (its orders are the columns of /proc/buddyinfo after the zone name).
pages_1m=$((0x100000 / PAGE_SIZE))
pages_64m=$((0x4000000 / PAGE_SIZE))
orders=$(awk 'NR == 1 { print NF - 4 }' /proc/buddyinfo)
max_block=$((1 << (orders - 1)))

# FORCE_CONTIGUOUS: one block of the page allocator, one entry.
r=$(edu_run "coh_check 1M contig n=2") || fail "coh_check 1M contig"
echo "$r"
expect_stat coherent_blocks -eq 1
[ "$(sg_entries "$r")" = 1 ] || fail "FORCE_CONTIGUOUS: $(sg_entries "$r") entries, expected 1"
edu_run coh_release

# Fragment the guest: all but 40 MiB of free memory is taken in blocks of
# 16 pages, and part of each given back (8 pages, or a single page) where
# it cannot merge with anything: the 64 MiB buffer takes the 40 MiB of
# large blocks, then hundreds of 8-page blocks; the single pages are left
# for ALLOC_SINGLE_PAGES, the 8-page blocks for the rest of the system.
free_mib=$(( $(sed -n 's/^MemFree: *\([0-9]*\) kB$/\1/p' /proc/meminfo) / 1024 ))
[ "$free_mib" -gt 200 ] && [ "$free_mib" -lt 1200 ] ||
	fail "$free_mib MiB free: the scenario needs a guest of about 1 GiB (RSDMA_QEMU_MEM=1G)"
edu_run "fragment $((free_mib - 40))"
grep -E '^(MemFree|MemTotal)' /proc/meminfo

# ALLOC_SINGLE_PAGES: 1 MiB in blocks of one page; get_sgtable gives one entry
# per run of them (single pages that happen to be adjacent are one run).
r=$(edu_run "coh_check 1M single n=2") || fail "coh_check 1M single"
echo "$r"
expect_stat coherent_blocks -eq $pages_1m
[ "$(sg_entries "$r")" -gt 1 ] || fail "ALLOC_SINGLE_PAGES: $(sg_entries "$r") entry"
edu_run coh_release

r=$(edu_run "coh_check 64M") || fail "coh_check 64M"
echo "$r"
echo "$r" | grep -q "kernel reads ok, device reads ok: ok" || fail "the 64 MiB buffer did not hold the device's bytes"
[ "$(sg_entries "$r")" -gt 1 ] || fail "get_sgtable of a scattered buffer gave $(sg_entries "$r") entry"
[ "$(sg_bytes "$r")" = 67108864 ] || fail "get_sgtable entries add up to $(sg_bytes "$r") bytes"
echo "$r" | grep -q "linear map ok" || fail "the sg table does not name the buffer's pages"
seed=$(hex_field seed "$r")
hash=$(hex_field "offsets hash" "$r")
u=$(/usr/bin/cohcheck mmap /dev/rsdma_edu 67108864 "$seed" "$run") || fail "cohcheck: $u"
echo "$u"
echo "$u" | grep -q "32 runs of pattern bytes (64000 bytes, offsets hash $hash)" ||
	fail "userspace does not see the bytes the device wrote"
echo "$u" | grep -q "user mapping .*: MEM/NORMAL $pages_64m, other 0, absent 0" ||
	fail "the user mapping of a coherent device's buffer is not cacheable"
expect_stat coherent_buffers -eq 1
expect_stat coherent_pages -eq $pages_64m
echo "64 MiB: $(sed -n 's/^coherent_blocks: //p' $stats) blocks from the page allocator"
expect_stat coherent_blocks -gt 16
edu_run coh_release

# Beyond the page allocator's largest block (4 MiB with 4K pages, 512 MiB
# with 64K pages): a clean failure, one warning.  64 MiB, or two largest
# blocks when that is more, under a bound raised to let it through and a
# mask that holds it (32 bits, more than edu's, when edu's does not: the
# allocation is refused before anything is mapped).
big=$((max_block * PAGE_SIZE * 2))
[ $big -ge $((0x4000000)) ] || big=$((0x4000000))
max_mib=$(cat /sys/module/rsdma/parameters/coherent_max_mib)
[ $((big >> 20)) -le "$max_mib" ] || echo $((big >> 20)) >/sys/module/rsdma/parameters/coherent_max_mib
[ $big -le $((1 << EDU_DMA_BITS)) ] || edu_run "dma_bits 32"
r=$(edu_run "coh_alloc $((big >> 20))M contig")
echo "$r"
edu_run "dma_bits $EDU_DMA_BITS"
echo "$max_mib" >/sys/module/rsdma/parameters/coherent_max_mib
echo "$r" | grep -q "failed" || fail "a $((big >> 20)) MiB FORCE_CONTIGUOUS allocation succeeded"
expect_log "coherent allocation of $big bytes failed: physically contiguous memory is limited to $max_block pages"

edu_run unfragment
cat $stats
expect_stat coherent_buffers -eq 0
expect_stat coherent_pages -eq 0
expect_stat coherent_blocks -eq 0
echo flush >$stats
expect_stat iova_pages_used -eq 0
expect_stat live_mappings -eq 0
expect_stat tracker_findings -eq 0
unload_edu
