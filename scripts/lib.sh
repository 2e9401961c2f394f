# shellcheck shell=bash
# Shared settings for rsdma's scripts: where things are cached and which
# tools the kernel build uses.  Sourced, never run.

RSDMA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RSDMA_CACHE=${RSDMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rsdma}
RSDMA_BUILD=${RSDMA_BUILD:-$RSDMA_ROOT/build}
KSRC_NAME=linux-source-6.12
KSRC=${RSDMA_KSRC:-$RSDMA_CACHE/src/$KSRC_NAME}
BUSYBOX=$RSDMA_CACHE/busybox/bin/busybox

export PATH="$HOME/.cargo/bin:$PATH"

# The kernel's Rust must come from Debian's rustc-web, whose sysroot holds
# the library sources the kernel's build needs (RSDMA_RUSTC names another
# rustc, for a kernel that some other rustc built).
KRUSTC=${RSDMA_RUSTC:-/usr/bin/rustc}
KBINDGEN=$(command -v bindgen || echo "$HOME/.cargo/bin/bindgen")
KMAKE=(make ARCH=arm64 LLVM=1 "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")

# What an out-of-tree Rust module needs of a kernel tree besides the C
# headers and scripts of a headers package (install-extmod-build's output),
# found by building rsdma against a headers tree without each: the crates
# a module links against, as metadata (rustc reads them, nothing links
# them), the `macros` proc-macro crate (a shared library rustc loads into
# itself), and the bindgen parameters the kernel's own bindings were made
# with (rsdma makes its bindings the same way).
RUST_TREE_FILES=(
	rust/libcore.rmeta rust/libcompiler_builtins.rmeta rust/libffi.rmeta
	rust/libbindings.rmeta rust/libuapi.rmeta rust/libbuild_error.rmeta
	rust/libkernel.rmeta rust/libmacros.so rust/bindgen_parameters
)

# kmake_for KDIR: sets KMAKE for building modules against KDIR, a full build
# tree or a headers tree, whichever compiler built it (clang: LLVM=1; gcc:
# the aarch64 cross compiler unless this machine is arm64).
kmake_for() {
	if grep -q '^CONFIG_CC_IS_CLANG=y' "$1/.config" 2>/dev/null; then
		KMAKE=(make ARCH=arm64 LLVM=1 "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")
	elif [ "$(uname -m)" = aarch64 ]; then
		KMAKE=(make ARCH=arm64 "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")
	else
		KMAKE=(make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")
	fi
}

say() { printf '%s\n' "rsdma: $*" >&2; }
die() { printf '%s\n' "rsdma: error: $*" >&2; exit 1; }

# The kernel page size (RSDMA_PAGE_SIZE: 4K, the default, 16K or 64K): the
# IOMMU granule of rsdma's domains stays 4 KiB, so 16K and 64K kernels test
# rsdma where a page is several granules.  PAGE_TAG is what names a kernel
# of that size in the cache ("" for 4K, whose trees keep their old names),
# QEMU_CPU a CPU model whose MMU implements that translation granule
# (cortex-a57 has no 16K granule; neoverse-n1 has 4K, 16K and 64K).
RSDMA_PAGE_SIZE=${RSDMA_PAGE_SIZE:-4K}
case $RSDMA_PAGE_SIZE in
4[Kk]) RSDMA_PAGE_SIZE=4K PAGE_TAG= QEMU_CPU=cortex-a57 ;;
16[Kk]) RSDMA_PAGE_SIZE=16K PAGE_TAG=-16k QEMU_CPU=neoverse-n1 ;;
64[Kk]) RSDMA_PAGE_SIZE=64K PAGE_TAG=-64k QEMU_CPU=neoverse-n1 ;;
*) printf '%s\n' "rsdma: error: RSDMA_PAGE_SIZE must be 4K, 16K or 64K, not '$RSDMA_PAGE_SIZE'" >&2
	exit 1 ;;
esac
export RSDMA_PAGE_SIZE

# kernel_dir VARIANT: the cached build tree of the test (debug) or the
# benchmark (bench) kernel of the page size RSDMA_PAGE_SIZE.
kernel_dir() { echo "$RSDMA_CACHE/kbuild/$1$PAGE_TAG"; }

# png_beside JSON: the path of the plot drawn beside a benchmark's JSON file
# (.png for .json, or .png added).
png_beside() {
	local png=${1%.json}.png
	[ "$png" != "$1" ] || png=$1.png
	echo "$png"
}

# copy_sources DEST: rsdma's sources (tracked files and new ones, as the
# working tree has them), without build output.
copy_sources() {
	mkdir -p "$1"
	if git -C "$RSDMA_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$RSDMA_ROOT" && git ls-files -z --cached --others --exclude-standard |
			tar --null --ignore-failed-read -T - -cf -) | tar -C "$1" -xf -
	else
		tar -C "$RSDMA_ROOT" --exclude=./build --exclude=./target --exclude='*.o' \
			--exclude='*.ko' --exclude=./.kdir -cf - . | tar -C "$1" -xf -
	fi
}

# kernel_reports: the lines of a guest log (stdin) that are kernel reports:
# WARNING, BUG, Oops, panic, KASAN, lockdep, RCU, kmemleak and DMA-API
# debug findings, without the lines these facilities print when they start.
kernel_reports() {
	grep -E 'WARNING:|BUG:|Oops|Kernel panic|KASAN|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU|DMA-API:|kmemleak: [0-9]+ new suspected|unreferenced object|Call trace:' |
		grep -vE 'DMA-API: (preallocated [0-9]+ debug entries|debugging enabled by kernel config|enable driver filter for driver|switching off dma-debug driver filter)|KASAN: (vmalloc|failed)|kasan: KernelAddressSanitizer initialized'
}
