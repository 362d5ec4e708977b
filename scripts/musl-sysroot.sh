#!/bin/bash
# musl-sysroot.sh DIR prepares what `make hull` needs to link hull statically
# against musl instead of glibc (see the Makefile), and prints nothing:
#   DIR/include   the headers cgo needs that musl lacks: libseccomp's
#                 (seccomp.h, seccomp-syscalls.h) and the kernel's UAPI
#                 (linux/, asm/, asm-generic/), as links to the system's
#   DIR/lib       libseccomp.a (Debian's libseccomp-dev, a link) and
#                 libhullfortify.a (scripts/musl/fortify.c, built with
#                 musl-gcc): libseccomp.a is built against glibc and calls
#                 __fprintf_chk, the only glibc-only symbol it needs
#   DIR/pkgconfig libseccomp.pc for libseccomp-golang's `#cgo pkg-config`:
#                 no paths in it, the Makefile passes -I DIR/include and
#                 -L DIR/lib in CGO_CFLAGS and CGO_LDFLAGS, which (unlike
#                 pkg-config's output) are part of the go build cache key
# Only these are on musl-gcc's paths, never glibc's libc.a or headers.
#
# Why musl: a static glibc initialises its CPU-feature and cache tables at
# every start, with dozens of CPUID instructions (each a VM exit under a
# hypervisor: about 15% of `hull state`'s CPU here), and brings 0.8 MB of C
# into the binary; musl does neither (bench/RESULTS.md, issue 17.4).
#
# The go build cache does not hash pkg-config's output: after changing the
# Libs line written here, rebuild once with `go build -a`.
set -euo pipefail

dir=${1:?usage: musl-sysroot.sh DIR}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cc=${MUSL_CC:-musl-gcc}
if ! command -v "$cc" >/dev/null; then
	echo "musl-sysroot: $cc not found (apt-get install musl-tools)" >&2
	exit 1
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
seccomp_a=/usr/lib/$multiarch/libseccomp.a
for f in /usr/include/seccomp.h "$seccomp_a"; do
	if [[ ! -e $f ]]; then
		echo "musl-sysroot: $f not found (apt-get install libseccomp-dev)" >&2
		exit 1
	fi
done

mkdir -p "$dir/include" "$dir/lib" "$dir/pkgconfig"
for h in /usr/include/seccomp.h /usr/include/seccomp-syscalls.h \
	/usr/include/linux /usr/include/asm-generic; do
	[[ -e $h ]] && ln -sfn "$h" "$dir/include/$(basename "$h")"
done
ln -sfn "/usr/include/$multiarch/asm" "$dir/include/asm"
ln -sfn "$seccomp_a" "$dir/lib/libseccomp.a"

obj=$dir/lib/fortify.o
if [[ ! -e $dir/lib/libhullfortify.a || $repo/scripts/musl/fortify.c -nt $dir/lib/libhullfortify.a ]]; then
	"$cc" -O2 -Wall -c "$repo/scripts/musl/fortify.c" -o "$obj"
	rm -f "$dir/lib/libhullfortify.a"
	ar rcs "$dir/lib/libhullfortify.a" "$obj"
	rm -f "$obj"
fi

pc=$dir/pkgconfig/libseccomp.pc
want="Name: libseccomp
Description: Debian's static libseccomp, for hull's musl link
Version: $(pkg-config --modversion libseccomp 2>/dev/null || echo 0)
Cflags:
Libs: -lseccomp -lhullfortify"
if [[ ! -e $pc || $(cat "$pc") != "$want" ]]; then
	printf '%s\n' "$want" >"$pc"
fi
