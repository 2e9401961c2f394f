# Helpers for scenarios (sourced by the guest init).

# edu_dev: the PCI address of QEMU's edu device (1234:11e8).
edu_dev() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
			basename "$d"
			return 0
		fi
	done
	echo "no edu device" >&2
	return 1
}

# fail MSG: report a failed check and stop the scenario.
fail() {
	echo "FAIL: $*"
	exit 1
}

# scenario_log: the kernel log since the running scenario began.
scenario_log() {
	dmesg | sed -n '/rsdma-scenario-start: /h; /rsdma-scenario-start: /!H; ${x;p}'
}

# expect_log PATTERN: the kernel log since the scenario began matches PATTERN.
expect_log() {
	scenario_log | grep -q -- "$1" || fail "kernel log lacks '$1'"
}

# edu_run TEST: asks the edu sample to run TEST on the edu device.
edu_run() {
	dev=$(edu_dev) || return 1
	echo "$1" >"/sys/kernel/debug/rsdma_edu/$dev/run" || fail "edu test '$1' failed (see the kernel log)"
	cat "/sys/kernel/debug/rsdma_edu/$dev/run"
}

# The DMA mask QEMU gave edu, as a bit count (qemu/run passes it along).
EDU_DMA_BITS=$(sed -n 's/.*rsdma\.edu_dma_bits=\([0-9]*\).*/\1/p' /proc/cmdline)
EDU_DMA_BITS=${EDU_DMA_BITS:-28}
