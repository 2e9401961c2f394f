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
# the library sources the kernel's build needs.
KRUSTC=/usr/bin/rustc
KBINDGEN=$(command -v bindgen || echo "$HOME/.cargo/bin/bindgen")
KMAKE=(make ARCH=arm64 LLVM=1 "RUSTC=$KRUSTC" "BINDGEN=$KBINDGEN")

say() { printf '%s\n' "rsdma: $*" >&2; }
die() { printf '%s\n' "rsdma: error: $*" >&2; exit 1; }

# kernel_dir VARIANT: the cached build tree of the test (debug) or the
# benchmark (bench) kernel.
kernel_dir() { echo "$RSDMA_CACHE/kbuild/$1"; }
