// Package nsenter joins existing namespaces before the Go runtime starts.
//
// Importing it (for its side effect) links a C constructor into the binary.
// The constructor does nothing unless the environment holds _HULL_NSENTER,
// which only hull's parent sets for the `hull init` child it starts; see
// nsenter.c for the format. Everything else hull does with namespaces
// happens in Go (see libct's package doc for why this split).
package nsenter

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"

// EnvVar is the environment variable the constructor reads.
const EnvVar = "_HULL_NSENTER"
