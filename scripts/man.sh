#!/bin/bash
# man.sh renders man/*.md (markdown, go-md2man dialect) into man/man8/*.8.
# A page named hull-create.8.md becomes man/man8/hull-create.8.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=$PATH:/usr/local/go/bin

if command -v go-md2man >/dev/null; then
	md2man=(go-md2man)
else
	# go.mod pins github.com/cpuguy83/go-md2man/v2.
	md2man=(go run github.com/cpuguy83/go-md2man/v2)
fi

shopt -s nullglob
pages=(man/*.md)
if ((${#pages[@]} == 0)); then
	echo "man: no man/*.md pages" >&2
	exit 1
fi

mkdir -p man/man8
n=0
for md in "${pages[@]}"; do
	name=$(basename "$md" .md)
	name=${name%.8}
	[[ $name == README ]] && continue
	"${md2man[@]}" -in "$md" -out "man/man8/$name.8"
	n=$((n + 1))
done
echo "man: rendered $n pages into man/man8"
