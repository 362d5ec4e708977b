// Package earlystack gives the main goroutine a 32 KB stack before the
// other packages' init functions run. Import it for its side effect, from
// package main only.
//
// A goroutine starts with a 2 KB stack that the runtime doubles when a call
// needs more (morestack, copystack). Each copy walks every frame on the
// stack and reads, for each function, its pclntab entry and stack maps:
// tables of 2.5 MB in hull's binary that a short-lived process otherwise
// barely reads. The main goroutine grows four times during package
// initialisation and the command (urfave/cli, encoding/json and regexp
// recurse), each time with a deep stack, and the kernel maps the tables'
// file pages 64 KB at a time (fault-around): measured on `hull state`,
// 0.45 MB of pclntab and 0.2 MB of stack maps resident, for nothing but
// those copies. Growing once, here, copies three frames instead (peak RSS
// 0.9x on every command, bench/RESULTS.md, issue 17.4).
//
// The init order of Go (1.21 and later) runs a package with no imports as
// soon as the packages before it in import-path order that are ready have
// run: this one runs among the first (GODEBUG=inittrace=1 shows it).
package earlystack

func init() { grow(0) }

// frame is the size of grow's frame. The runtime then sizes the new stack
// by doubling until the frame fits: 32 KB, which `hull run` and `hull
// state` do not outgrow. 8 KB frames (16 KB stacks) grow again later; 32
// KB frames (64 KB stacks) cost more zeroed stack than they save (measured).
const frame = 16 << 10

// grow needs a frame of the given size: calling it makes the runtime grow
// the stack once. It must not be inlined (its frame would join init's,
// which the runtime grows the same way, but the test would not see it)
// and b must stay on the stack, which TestGrowStaysOnStack checks.
//
//go:noinline
func grow(i int) byte {
	var b [frame]byte
	b[i] = 1
	return b[len(b)-1-i]
}
