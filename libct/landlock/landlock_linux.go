package landlock

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// landlockRuleNetPort is LANDLOCK_RULE_NET_PORT (Linux 6.7), which
// golang.org/x/sys/unix does not define yet.
const landlockRuleNetPort = 2

// rulesetAttr is struct landlock_ruleset_attr up to handled_access_net
// (ABI 4); the size passed says how much of it the kernel reads.
type rulesetAttr struct {
	handledAccessFS  uint64
	handledAccessNet uint64
}

// pathBeneathAttr is struct landlock_path_beneath_attr. The kernel's is
// packed (12 bytes) and landlock_add_rule reads exactly that: Go's
// trailing padding is never read.
type pathBeneathAttr struct {
	allowedAccess uint64
	parentFd      int32
}

// netPortAttr is struct landlock_net_port_attr.
type netPortAttr struct {
	allowedAccess uint64
	port          uint64
}

// ABI returns the running kernel's Landlock ABI version, or 0 when it has
// none: built without it (ENOSYS) or not enabled at boot (EOPNOTSUPP). A
// seccomp filter that refuses the call is reported as such.
func ABI() (int, error) {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	switch {
	case e == 0:
		return int(v), nil
	case e == unix.ENOSYS || e == unix.EOPNOTSUPP:
		return 0, nil
	}
	return 0, fmt.Errorf("landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION): %w", e)
}

// Check is the parent's look at l before anything is created: the lines
// it returns are warnings for what this kernel will not enforce (best
// effort); with disableBestEffort those are an error.
func Check(l *configs.Landlock) ([]string, error) {
	if l == nil {
		return nil, nil
	}
	abi, err := ABI()
	if err != nil {
		return nil, fmt.Errorf("process.landlock: %w", err)
	}
	_, notes, err := Compat(l, abi)
	return notes, err
}

// Apply restricts the calling thread, and what it execs, with l. It runs
// in init right before execve, inside the container (paths are opened
// after pivot_root, as the process will see them) and with the process's
// own credentials. Notes about what best effort skips (a missing path)
// are written to warn, the process's stderr: the parent is gone by then.
//
// Landlock needs no_new_privs unless the thread has CAP_SYS_ADMIN: when
// landlock_restrict_self refuses with EPERM, Apply sets no_new_privs and
// tries again, as Landlock's own sample sandboxer and go-landlock do.
func Apply(l *configs.Landlock, warn io.Writer) error {
	if l == nil {
		return nil
	}
	abi, err := ABI()
	if err != nil {
		if l.DisableBestEffort {
			return fmt.Errorf("%w (is it refused by linux.seccomp?)", err)
		}
		fmt.Fprintf(warn, "hull: warning: process.landlock not enforced: %v (is it refused by linux.seccomp?)\n", err)
		return nil
	}
	// The parent has warned about what Compat drops.
	eff, _, err := Compat(l, abi)
	if err != nil || eff == nil {
		return err
	}
	attr := rulesetAttr{handledAccessFS: eff.HandledAccessFS, handledAccessNet: eff.HandledAccessNet}
	size := unsafe.Sizeof(attr)
	if eff.HandledAccessNet == 0 {
		size = unsafe.Sizeof(attr.handledAccessFS) // all that ABI 1 to 3 read
	}
	r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	ruleset := int(r)
	defer unix.Close(ruleset)
	for i, rule := range eff.PathBeneath {
		if rule.AllowedAccess == 0 {
			continue // all it allowed was dropped (Compat)
		}
		for j, p := range rule.Paths {
			field := fmt.Sprintf("process.landlock.rules.pathBeneath[%d].paths[%d]", i, j)
			if err := addPathRule(ruleset, rule.AllowedAccess, p); err != nil {
				if errors.Is(err, unix.ENOENT) && !l.DisableBestEffort {
					fmt.Fprintf(warn, "hull: warning: %s %q skipped: %v\n", field, p, err)
					continue
				}
				return fmt.Errorf("%s %q: %w", field, p, err)
			}
		}
	}
	for i, rule := range eff.NetPort {
		if rule.AllowedAccess == 0 {
			continue
		}
		for j, port := range rule.Ports {
			a := netPortAttr{allowedAccess: rule.AllowedAccess, port: uint64(port)}
			if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), landlockRuleNetPort, uintptr(unsafe.Pointer(&a)), 0, 0, 0); e != 0 {
				return fmt.Errorf("process.landlock.rules.netPort[%d].ports[%d] %d: landlock_add_rule: %w", i, j, port, e)
			}
		}
	}
	return restrictSelf(ruleset)
}

// addPathRule opens p with O_PATH (following symlinks, as the process
// would) and allows access beneath it. On a file that is not a directory
// only the rights that apply to files are kept.
func addPathRule(ruleset int, access uint64, p string) error {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= fileRights
	}
	if access == 0 {
		return nil // nothing to allow here (landlock_add_rule: ENOMSG)
	}
	a := pathBeneathAttr{allowedAccess: access, parentFd: int32(fd)}
	if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&a)), 0, 0, 0); e != 0 {
		return fmt.Errorf("landlock_add_rule: %w", e)
	}
	return nil
}

func restrictSelf(ruleset int) error {
	_, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0)
	if e == unix.EPERM {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs for landlock_restrict_self: %w", err)
		}
		_, _, e = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0)
	}
	if e != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return nil
}
