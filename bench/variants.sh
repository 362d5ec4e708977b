#!/bin/bash
# bench/variants.sh builds experimental hull variants into bench/.bin from a
# scratch copy of the working tree (the repository is not touched), to
# price a change before anyone makes it, or to show what a past one bought
# (issue 17.4):
#   hull-base       the tree as is, built by `make hull` (musl when
#                   musl-gcc is installed)
#   hull-glibc      make hull LIBC=glibc: the static glibc link
#   hull-nostack    without internal/earlystack (main's stack grows
#                   2 -> 4 -> ... KB during inits and the command)
#   hull-nosystemd  the systemd cgroup driver stubbed out: what
#                   go-systemd and godbus cost every process (NOT a usable
#                   runtime with --systemd-cgroup)
# Each is also built unstripped as NAME-sym, for bench/memmap -sym.
# Then, say:
#   ./bench/run.sh -add hull-base=bench/.bin/hull-base \
#       -add hull-glibc=bench/.bin/hull-glibc -runtimes hull-base,hull-glibc,runc \
#       -vs runc,hull-base -big-n 0
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/bench/.bin
src=$(mktemp -d /tmp/hull-variants.XXXXXX)
trap 'rm -rf "$src"' EXIT
mkdir -p "$bin"
(cd "$repo" && tar --exclude=./tests/.cache --exclude=./tests/vm --exclude=./.git \
	--exclude=./.build --exclude=./bench --exclude=./conformance -cf - .) | tar -C "$src" -xf -
cd "$src"

# build NAME [make variables...]: the Makefile's build, stripped and not.
build() {
	local name=$1
	shift
	make -s hull "$@" >/dev/null
	mv hull "$bin/$name"
	make -s hull "$@" GOFLAGS_BUILD="-trimpath -tags urfave_cli_no_docs,netgo,osusergo -ldflags '-linkmode external -extldflags -static'" >/dev/null
	mv hull "$bin/$name-sym"
}

build hull-base
build hull-glibc LIBC=glibc

cp main.go main.go.orig
grep -q 'internal/earlystack' main.go || { echo "variants: main.go no longer imports internal/earlystack: update variants.sh" >&2; exit 1; }
sed -i '/internal\/earlystack/d' main.go
build hull-nostack
mv main.go.orig main.go

cd libct/cgroups
grep -q 'func newSystemd(' systemd_linux.go || { echo "variants: systemd_linux.go changed: update variants.sh" >&2; exit 1; }
rm -f systemd_linux_test.go systemd_props.go systemd_props_test.go \
	systemd_annotations.go systemd_annotations_linux_test.go
cat >systemd_annotations.go <<'GO'
package cgroups

import "errors"

const SystemdPropertyPrefix = "org.systemd.property."

func ParseSystemdProperty(name, value string) (any, error) {
	return nil, errors.New("variant hull-nosystemd: no systemd driver")
}
GO
cat >systemd_linux.go <<'GO'
package cgroups

import (
	"errors"

	"github.com/hullrt/hull/libct/configs"
)

type systemdManager struct {
	Manager
	fs Manager
}

func newSystemd(c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	return nil, errors.New("variant hull-nosystemd: no systemd driver")
}

func loadSystemd(s *State) (Manager, error) {
	return nil, errors.New("variant hull-nosystemd: no systemd driver")
}
GO
cd "$src"
if ! build hull-nosystemd; then
	echo "variants: hull-nosystemd does not build (the systemd driver's API changed): update variants.sh" >&2
fi
ls -l "$bin"/hull-base "$bin"/hull-glibc "$bin"/hull-nostack "$bin"/hull-nosystemd 2>/dev/null
