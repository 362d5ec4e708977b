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

// set is a 64-bit capability set as capget(2)/capset(2) take it.
type set uint64

// toSet converts CAP_* numbers to a set. Numbers the kernel does not know
// (above Last) are left out, as runc does with a warning: a config written
// for a newer kernel still runs. Numbers that can never be capabilities are
// an error.
func toSet(what string, caps []int, last int) (set, error) {
	var s set
	for _, c := range caps {
		if c < 0 || c >= maxBits {
			return 0, fmt.Errorf("%s capabilities: %d is not a capability number", what, c)
		}
		if c > last {
			continue
		}
		s |= 1 << uint(c)
	}
	return s, nil
}

func (s set) has(c int) bool { return s&(1<<uint(c)) != 0 }

// ApplyBounding drops from the calling thread's bounding set every
// capability not listed in c.Bounding (PR_CAPBSET_DROP). It needs
// CAP_SETPCAP in the effective set, so it must run before setuid drops the
// effective set. A nil c drops everything.
func ApplyBounding(c *configs.Capabilities) error {
	if c == nil {
		c = &configs.Capabilities{}
	}
	last := Last()
	keep, err := toSet("bounding", c.Bounding, last)
	if err != nil {
		return err
	}
	for n := 0; n <= last; n++ {
		if keep.has(n) {
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
// to exactly what c lists (one capset(2)), then clears the ambient set and
// raises each listed ambient capability (PR_CAP_AMBIENT_RAISE). Call it
// after setresuid. A nil c clears every set.
//
// Inheritable is never widened beyond c.Inheritable (CVE-2022-29162). An
// ambient capability that is not also permitted and inheritable cannot be
// raised (the kernel refuses); it is left out, as runc does, because runc's
// own example config lists ambient capabilities without inheritable ones.
func Apply(c *configs.Capabilities) error {
	if c == nil {
		c = &configs.Capabilities{}
	}
	last := Last()
	eff, err := toSet("effective", c.Effective, last)
	if err != nil {
		return err
	}
	perm, err := toSet("permitted", c.Permitted, last)
	if err != nil {
		return err
	}
	inh, err := toSet("inheritable", c.Inheritable, last)
	if err != nil {
		return err
	}
	amb, err := toSet("ambient", c.Ambient, last)
	if err != nil {
		return err
	}
	// A capability hull itself does not hold (outside its bounding set,
	// like CAP_SYS_RESOURCE in some sandboxes) cannot be granted: it is
	// left out, as the spec asks (a warning, not a failure; the parent
	// logs it, see Ungrantable).
	_, curPerm, curInh, err := capget()
	if err != nil {
		return err
	}
	eff &= curPerm
	perm &= curPerm
	inh &= curPerm | curInh
	if err := capset(eff, perm, inh); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		// EINVAL: kernel before 4.3 has no ambient set.
		if errors.Is(err, unix.EINVAL) && amb == 0 {
			return nil
		}
		return fmt.Errorf("prctl PR_CAP_AMBIENT_CLEAR_ALL: %w", err)
	}
	for n := 0; n <= last; n++ {
		if !amb.has(n) || !perm.has(n) || !inh.has(n) {
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
