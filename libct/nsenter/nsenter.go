// Package nsenter is the part of `hull init` that runs before the Go
// runtime starts.
//
// Importing it (for its side effect) links a C constructor into the
// binary. The constructor does nothing unless the environment holds
// _HULL_INIT, the bootstrap that only hull's parent sets for the `hull
// init` child it starts; libct/sync.go defines that bootstrap and the
// report the constructor writes back. It joins namespaces (nsenter.c)
// and, when the bootstrap asks, runs the final-stage program in C
// (final.c; libct/doc.go has the contract), never returning to Go but in
// the helpers that program's setup and ready steps fork (Role).
package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -O2
extern int hull_boot_reported;
extern int hull_role;
extern const char *hull_hook_data;
extern int hull_setup_gate[2];
*/
import "C"

// Reported reports whether the constructor ran in this process and
// reported to the parent (for the process it forked, its parent did).
func Reported() bool { return C.hull_boot_reported != 0 }

// The roles of a process that the C init forked and that returns to Go.
const (
	// RoleInit: not forked by the C executor (Go's own init, or any
	// other hull process).
	RoleInit = 0
	// RoleSetup: the helper of the setup step, sharing init's fd table
	// and filesystem info; it sets the container up and exits.
	RoleSetup = 1
	// RoleHooks: the helper of the ready step, which runs the
	// startContainer hooks of HookData and exits.
	RoleHooks = 2
)

// Role says which of the C executor's helpers this process is.
func Role() int { return int(C.hull_role) }

// HookData is the ready step's operand in a RoleHooks helper: the
// startContainer hooks and their state (JSON).
func HookData() []byte {
	if C.hull_hook_data == nil {
		return nil
	}
	return []byte(C.GoString(C.hull_hook_data))
}

// SetupGate is, in a RoleSetup helper, the read end of a pipe that init
// writes to once it has read its program from the sync socket: only then
// may the helper read its config there.
func SetupGate() int { return int(C.hull_setup_gate[0]) }
