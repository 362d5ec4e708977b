package capabilities

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// Last returns the highest capability number the running kernel knows.
//
// It asks the kernel with PR_CAPBSET_READ (EINVAL past the last capability)
// instead of reading /proc/sys/kernel/cap_last_cap: the container's init runs
// this after its own mounts are in place, and a file under /proc is a path
// a container mount could redirect (CVE-2025-52881 class). A too small answer
// would leave the high capabilities in the bounding set. The answer is
// computed once per process: it cannot change while the kernel runs.
func Last() int {
	return lastCap()
}

var lastCap = sync.OnceValue(func() int {
	known := func(n int) bool {
		_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		return err == nil
	}
	n := MaxKnown
	if known(n) {
		for n+1 < maxBits && known(n+1) {
			n++
		}
		return n
	}
	for n > 0 && !known(n) {
		n--
	}
	return n
})

// ApplyBounding drops from the calling thread's bounding set every
// capability not listed in c.Bounding (PR_CAPBSET_DROP). It needs
// CAP_SETPCAP in the effective set, so it must run before setuid drops the
// effective set. A nil c drops everything.
func ApplyBounding(c *configs.Capabilities) error {
	s, err := Compute(c, Last())
	if err != nil {
		return err
	}
	return DropBounding(s.Bounding, Last())
}

// DropBounding drops every capability up to last that keep does not hold
// from the calling thread's bounding set (see ApplyBounding).
func DropBounding(keep uint64, last int) error {
	for n := 0; n <= last; n++ {
		if set(keep).has(n) {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("read %s from the bounding set: %w", Name(n), err)
		}
		if in == 0 {
			continue // already gone: no CAP_SETPCAP needed
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			return fmt.Errorf("drop %s from the bounding set: %w", Name(n), err)
		}
	}
	return nil
}

// KeepCapsForSetuid sets PR_SET_KEEPCAPS so that the permitted set survives
// the change from uid 0 to a non-zero uid (the kernel otherwise clears it,
// capabilities(7) "Effect of user ID changes on capabilities"). Call it
// right before setresuid and ClearKeepCaps right after.
func KeepCapsForSetuid() error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS 1: %w", err)
	}
	return nil
}

// ClearKeepCaps clears PR_SET_KEEPCAPS again, so that a later uid change
// in the container process follows the kernel's normal rules.
func ClearKeepCaps() error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS 0: %w", err)
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// to exactly what c lists (SetCaps), then its ambient set (SetAmbient).
// Call it after setresuid. A nil c clears every set.
func Apply(c *configs.Capabilities) error {
	s, err := Compute(c, Last())
	if err != nil {
		return err
	}
	if err := SetCaps(s.Effective, s.Permitted, s.Inheritable); err != nil {
		return err
	}
	return SetAmbient(s.Ambient, Last())
}

// SetCaps sets the calling thread's effective, permitted and inheritable
// sets with one capset(2). A capability the thread does not hold itself
// (outside hull's bounding set, like CAP_SYS_RESOURCE in some sandboxes)
// cannot be granted: it is left out, as the spec asks (a warning, not a
// failure; the parent logs it, see Ungrantable).
func SetCaps(eff, perm, inh uint64) error {
	_, curPerm, curInh, err := capget()
	if err != nil {
		return err
	}
	e, p, i := set(eff)&curPerm, set(perm)&curPerm, set(inh)&(curPerm|curInh)
	return capset(e, p, i)
}

// SetAmbient clears the calling thread's ambient set and raises each
// capability of amb (PR_CAP_AMBIENT_RAISE), which must be permitted and
// inheritable by then (Compute sees to it).
func SetAmbient(amb uint64, last int) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		// EINVAL: kernel before 4.3 has no ambient set.
		if errors.Is(err, unix.EINVAL) && amb == 0 {
			return nil
		}
		return fmt.Errorf("prctl PR_CAP_AMBIENT_CLEAR_ALL: %w", err)
	}
	for n := 0; n <= last; n++ {
		if !set(amb).has(n) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %s: %w", Name(n), err)
		}
	}
	return nil
}

// capget reads the calling thread's effective, permitted and inheritable
// sets.
func capget() (eff, perm, inh set, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, 0, fmt.Errorf("capget: %w", err)
	}
	eff = set(data[0].Effective) | set(data[1].Effective)<<32
	perm = set(data[0].Permitted) | set(data[1].Permitted)<<32
	inh = set(data[0].Inheritable) | set(data[1].Inheritable)<<32
	return eff, perm, inh, nil
}

// Ungrantable returns the names of the capabilities c asks for that the
// calling process cannot give (not in its permitted set), for a warning
// before the container starts.
func Ungrantable(c *configs.Capabilities) []string {
	if c == nil {
		return nil
	}
	_, perm, _, err := capget()
	if err != nil {
		return nil
	}
	seen := map[int]bool{}
	var out []string
	for _, l := range [][]int{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		for _, n := range l {
			if n < 0 || n > Last() || perm.has(n) || seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, Name(n))
		}
	}
	return out
}

// capset sets the three capset(2) sets of the calling thread.
func capset(eff, perm, inh set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0] = unix.CapUserData{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)}
	data[1] = unix.CapUserData{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset effective=%#x permitted=%#x inheritable=%#x: %w", uint64(eff), uint64(perm), uint64(inh), err)
	}
	return nil
}
