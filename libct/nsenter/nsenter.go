// Package nsenter is the part of `hull init` that runs before the Go
// runtime starts.
//
// Importing it (for its side effect) links a C constructor into the
// binary. The constructor does nothing unless the environment holds
// _HULL_INIT, the bootstrap that only hull's parent sets for the `hull
// init` child it starts; libct/sync.go defines that bootstrap and the
// report the constructor writes back. It joins namespaces (nsenter.c)
// and, when the bootstrap asks, runs the final-stage program in C
// (final.c; libct/doc.go has the contract), never returning to Go.
package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -O2
extern int hull_boot_reported;
*/
import "C"

// Reported reports whether the constructor ran in this process and
// reported to the parent (for the process it forked, its parent did).
func Reported() bool { return C.hull_boot_reported != 0 }
