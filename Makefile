# SPDX-License-Identifier: GPL-2.0
#
# rsdma: an out-of-tree module.  `make` builds rsdma.ko and the samples
# against KDIR (default: the cached test kernel, built on first use);
# `make demo` and `make test` are the two commands the README gives.
# With KDIR given (a board's /lib/modules/<release>/build, DKMS), `make`
# and `make install` only build and install: nothing is installed first.

RSDMA_VARIANT ?= debug

.PHONY: all modules install dkms-check setup kernel demo test test-host test-qemu stress bench \
	bench-host fuzz check clean help

all: modules

help:
	@echo "make            build rsdma.ko and the samples (KDIR=... to pick a kernel tree)"
	@echo "make install    install them for KDIR's kernel (INSTALL_MOD_PATH=... for another root), then depmod"
	@echo "make dkms-check build and install rsdma with DKMS for the bench kernel (root; for a throwaway root)"
	@echo "make demo       boot QEMU and show a DMA round trip through rsdma"
	@echo "make test       host tests and every QEMU scenario"
	@echo "make stress     every DMA path at once in QEMU, strict then lazy (RSDMA_STRESS_SECONDS each, 300)"
	@echo "make bench      DMA map/unmap benchmark in QEMU (non-debug kernel)"
	@echo "make bench-host rsdma-core allocator benchmarks on the host"
	@echo "make fuzz       fuzz rsdma-core for a bounded time"
	@echo "make check      rustfmt and clippy"

setup:
	@scripts/setup

kernel: setup
	@scripts/kernel $(RSDMA_VARIANT) >/dev/null

# A given KDIR needs only the toolchain, which scripts/build-module checks.
modules: $(if $(KDIR),,setup)
	@KDIR=$(KDIR) scripts/build-module $(RSDMA_VARIANT) >/dev/null

install: $(if $(KDIR),,setup)
	@KDIR=$(KDIR) scripts/install-module $(RSDMA_VARIANT)

dkms-check:
	@scripts/dkms-check

demo: setup
	@scripts/demo

test: setup
	@scripts/test

test-host: setup
	@scripts/test --host-only

test-qemu: setup
	@scripts/test --qemu-only

stress: setup
	@scripts/stress

bench: setup
	@scripts/bench

bench-host: setup
	@scripts/bench-host

fuzz: setup
	@scripts/fuzz

check: setup
	@scripts/check

clean:
	@KDIR=$(KDIR) scripts/build-module --clean 2>/dev/null || true
	rm -rf build target
