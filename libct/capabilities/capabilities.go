// Package capabilities applies a container process's five capability sets
// (bounding, effective, permitted, inheritable, ambient) in the order the
// kernel's uid-change rules require, and maps capability names to the
// kernel's CAP_* numbers.
//
// Compute turns the config's lists into bit masks (pure); the container's
// init then applies them, on one locked OS thread (capabilities are
// per-thread, see capabilities(7)), as steps of its final-stage program
// (libct/final_linux.go), whose ordering rules are unit-tested:
//
//	DropBounding(s.Bounding)  // PR_CAPBSET_DROP, needs CAP_SETPCAP: before setuid
//	KeepCapsForSetuid()       // PR_SET_KEEPCAPS 1: permitted survives 0 -> non-0
//	setgroups/setresgid/setresuid
//	ClearKeepCaps()           // PR_SET_KEEPCAPS 0
//	SetCaps(E, P, I)          // one capset
//	SetAmbient(s.Ambient)     // cleared first, then raised
//	... execve
//
// ApplyBounding and Apply do the same from a config in one call.
//
// Inheritable capabilities are only ever the ones the config lists: nothing
// here adds them implicitly (CVE-2022-29162, where `runc exec --cap` made
// inheritable = the requested set and so leaked capabilities across execve
// of non-root programs with file capabilities).
package capabilities

import (
	"fmt"
	"slices"

	"github.com/hullrt/hull/libct/configs"
)

// capNames is indexed by the kernel's CAP_* number (include/uapi/linux/capability.h).
var capNames = [...]string{
	0:  "CAP_CHOWN",
	1:  "CAP_DAC_OVERRIDE",
	2:  "CAP_DAC_READ_SEARCH",
	3:  "CAP_FOWNER",
	4:  "CAP_FSETID",
	5:  "CAP_KILL",
	6:  "CAP_SETGID",
	7:  "CAP_SETUID",
	8:  "CAP_SETPCAP",
	9:  "CAP_LINUX_IMMUTABLE",
	10: "CAP_NET_BIND_SERVICE",
	11: "CAP_NET_BROADCAST",
	12: "CAP_NET_ADMIN",
	13: "CAP_NET_RAW",
	14: "CAP_IPC_LOCK",
	15: "CAP_IPC_OWNER",
	16: "CAP_SYS_MODULE",
	17: "CAP_SYS_RAWIO",
	18: "CAP_SYS_CHROOT",
	19: "CAP_SYS_PTRACE",
	20: "CAP_SYS_PACCT",
	21: "CAP_SYS_ADMIN",
	22: "CAP_SYS_BOOT",
	23: "CAP_SYS_NICE",
	24: "CAP_SYS_RESOURCE",
	25: "CAP_SYS_TIME",
	26: "CAP_SYS_TTY_CONFIG",
	27: "CAP_MKNOD",
	28: "CAP_LEASE",
	29: "CAP_AUDIT_WRITE",
	30: "CAP_AUDIT_CONTROL",
	31: "CAP_SETFCAP",
	32: "CAP_MAC_OVERRIDE",
	33: "CAP_MAC_ADMIN",
	34: "CAP_SYSLOG",
	35: "CAP_WAKE_ALARM",
	36: "CAP_BLOCK_SUSPEND",
	37: "CAP_AUDIT_READ",
	38: "CAP_PERFMON",
	39: "CAP_BPF",
	40: "CAP_CHECKPOINT_RESTORE",
}

// MaxKnown is the highest capability number hull has a name for
// (CAP_CHECKPOINT_RESTORE, Linux 5.9). The running kernel may know fewer or
// more; see Last.
const MaxKnown = len(capNames) - 1

// maxBits is how many capability bits the kernel's 64-bit sets can hold
// (_LINUX_CAPABILITY_U32S_3 == 2).
const maxBits = 64

// FromName returns the CAP_* number of a capability name as the OCI spec
// writes it ("CAP_NET_ADMIN"). Names are matched exactly; an unknown name is
// an error naming it.
func FromName(name string) (int, error) {
	for i, n := range capNames {
		if n == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown capability %q", name)
}

// Name returns the name of capability number n ("CAP_NET_ADMIN"), or
// "CAP_<n>" for a number hull has no name for.
func Name(n int) string {
	if n >= 0 && n < len(capNames) {
		return capNames[n]
	}
	return fmt.Sprintf("CAP_%d", n)
}

// Names returns every capability name hull knows, indexed by number.
func Names() []string {
	return slices.Clone(capNames[:])
}

// FromNames converts a list of names to numbers; the first unknown name is
// an error naming it.
func FromNames(names []string) ([]int, error) {
	out := make([]int, 0, len(names))
	for _, name := range names {
		n, err := FromName(name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

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

// Sets are the five capability sets of a process as bit masks (bit n is
// capability n), ready for the kernel.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Compute converts c's names-turned-numbers to bit masks, for a kernel
// whose last capability is last (see Last). It is pure: the container's
// init computes the sets before it applies them (DropBounding, SetCaps,
// SetAmbient). A nil c is every set empty.
//
// Inheritable is exactly c.Inheritable, never widened (CVE-2022-29162).
// An ambient capability that is not also permitted and inheritable cannot
// be raised (the kernel refuses); it is left out, as runc does, because
// runc's own example config lists ambient capabilities without
// inheritable ones.
func Compute(c *configs.Capabilities, last int) (Sets, error) {
	if c == nil {
		c = &configs.Capabilities{}
	}
	var s Sets
	for _, f := range []struct {
		what string
		in   []int
		out  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding}, {"effective", c.Effective, &s.Effective},
		{"permitted", c.Permitted, &s.Permitted}, {"inheritable", c.Inheritable, &s.Inheritable},
		{"ambient", c.Ambient, &s.Ambient},
	} {
		set, err := toSet(f.what, f.in, last)
		if err != nil {
			return Sets{}, err
		}
		*f.out = uint64(set)
	}
	s.Ambient &= s.Permitted & s.Inheritable
	return s, nil
}
