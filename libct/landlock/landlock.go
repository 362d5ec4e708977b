// Package landlock applies process.landlock (runtime-spec PR #1241) to the
// container's process: a Landlock ruleset built with the kernel's
// landlock_create_ruleset, landlock_add_rule and landlock_restrict_self
// (thin wrappers over golang.org/x/sys/unix's syscall numbers), enforced on
// init's thread right before execve so that none of hull's own setup is
// confined.
//
// Landlock grew by ABI versions, and a kernel refuses a ruleset that names
// a right it does not know. Compat reduces a ruleset to what an ABI
// version has: by default (best effort) the missing rights are dropped and
// reported, with disableBestEffort they are an error. The parent (create,
// exec) calls Check to warn or fail before anything is created; init calls
// Apply, which reduces the same way, silently.
//
// Access right names are the kernel's without their prefix, as the PR
// writes them: LANDLOCK_ACCESS_FS_WRITE_FILE is "write_file",
// LANDLOCK_ACCESS_NET_CONNECT_TCP is "connect_tcp".
package landlock

import (
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// Right is one Landlock access right: its name in config.json, its
// LANDLOCK_ACCESS_* bit and the ABI version that introduced it.
type Right struct {
	Name string
	Bit  uint64
	ABI  int
}

// FSRights are the filesystem access rights, in bit order.
var FSRights = []Right{
	{"execute", unix.LANDLOCK_ACCESS_FS_EXECUTE, 1},
	{"write_file", unix.LANDLOCK_ACCESS_FS_WRITE_FILE, 1},
	{"read_file", unix.LANDLOCK_ACCESS_FS_READ_FILE, 1},
	{"read_dir", unix.LANDLOCK_ACCESS_FS_READ_DIR, 1},
	{"remove_dir", unix.LANDLOCK_ACCESS_FS_REMOVE_DIR, 1},
	{"remove_file", unix.LANDLOCK_ACCESS_FS_REMOVE_FILE, 1},
	{"make_char", unix.LANDLOCK_ACCESS_FS_MAKE_CHAR, 1},
	{"make_dir", unix.LANDLOCK_ACCESS_FS_MAKE_DIR, 1},
	{"make_reg", unix.LANDLOCK_ACCESS_FS_MAKE_REG, 1},
	{"make_sock", unix.LANDLOCK_ACCESS_FS_MAKE_SOCK, 1},
	{"make_fifo", unix.LANDLOCK_ACCESS_FS_MAKE_FIFO, 1},
	{"make_block", unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK, 1},
	{"make_sym", unix.LANDLOCK_ACCESS_FS_MAKE_SYM, 1},
	{"refer", unix.LANDLOCK_ACCESS_FS_REFER, 2},
	{"truncate", unix.LANDLOCK_ACCESS_FS_TRUNCATE, 3},
	{"ioctl_dev", unix.LANDLOCK_ACCESS_FS_IOCTL_DEV, 5},
}

// NetRights are the network access rights (TCP ports, ABI 4).
var NetRights = []Right{
	{"bind_tcp", unix.LANDLOCK_ACCESS_NET_BIND_TCP, 4},
	{"connect_tcp", unix.LANDLOCK_ACCESS_NET_CONNECT_TCP, 4},
}

// fileRights are the filesystem rights that mean something on a file
// that is not a directory; the kernel refuses a path rule on such a file
// that allows any other (EINVAL).
const fileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
	unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

// FileRights are the rights a path rule on a file that is not a
// directory may allow (the others are dropped from such a rule).
const FileRights = fileRights

// LatestABI is the newest ABI version whose rights hull knows. A newer
// kernel is used at this version: it accepts every older right.
const LatestABI = 5

// Lookup returns the right named name in rights.
func Lookup(rights []Right, name string) (Right, bool) {
	for _, r := range rights {
		if r.Name == name {
			return r, true
		}
	}
	return Right{}, false
}

// Supported returns the filesystem and network rights of an ABI version
// (none for 0: no Landlock).
func Supported(abi int) (fs, net uint64) {
	for _, r := range FSRights {
		if r.ABI <= abi {
			fs |= r.Bit
		}
	}
	for _, r := range NetRights {
		if r.ABI <= abi {
			net |= r.Bit
		}
	}
	return fs, net
}

// Names lists the names of the rights of rights set in mask, in bit
// order; a bit hull does not know is shown as a number.
func Names(rights []Right, mask uint64) []string {
	var out []string
	for _, r := range rights {
		if mask&r.Bit != 0 {
			out = append(out, r.Name)
			mask &^= r.Bit
		}
	}
	for mask != 0 {
		b := uint64(1) << bits.TrailingZeros64(mask)
		out = append(out, fmt.Sprintf("%#x", b))
		mask &^= b
	}
	return out
}

// Compat reduces l to what Landlock ABI version abi can enforce. It
// returns the ruleset to apply (nil when nothing is left to enforce) and
// one line per thing dropped. With l.DisableBestEffort anything that
// would be dropped is an error instead. l itself is not changed.
func Compat(l *configs.Landlock, abi int) (*configs.Landlock, []string, error) {
	if l == nil {
		return nil, nil, nil
	}
	fs, net := Supported(min(abi, LatestABI))
	lackFS, lackNet := l.HandledAccessFS&^fs, l.HandledAccessNet&^net
	if lackFS == 0 && lackNet == 0 {
		return l, nil, nil
	}
	var lack []string
	if lackFS != 0 {
		lack = append(lack, "ruleset.handledAccessFS "+strings.Join(Names(FSRights, lackFS), ", "))
	}
	if lackNet != 0 {
		lack = append(lack, "ruleset.handledAccessNetwork "+strings.Join(Names(NetRights, lackNet), ", "))
	}
	have := fmt.Sprintf("ABI version %d", abi)
	if abi == 0 {
		have = "no Landlock"
	}
	if l.DisableBestEffort {
		return nil, nil, fmt.Errorf("process.landlock: this kernel has %s, without %s (disableBestEffort is set)", have, strings.Join(lack, "; "))
	}
	var notes []string
	for _, s := range lack {
		notes = append(notes, fmt.Sprintf("process.landlock: %s not enforced: this kernel has %s", s, have))
	}
	// Before ABI 2, moving or linking a file to another directory is
	// always denied under a ruleset (refer could not be handled yet): a
	// process allowed refer somewhere would break, so it runs without
	// Landlock rather than with a stricter one.
	if lackFS&unix.LANDLOCK_ACCESS_FS_REFER != 0 && allowsRefer(l) {
		return nil, append(notes, fmt.Sprintf("process.landlock: not enforced at all: a rule allows refer, which %s would deny everywhere", have)), nil
	}
	out := &configs.Landlock{
		HandledAccessFS:  l.HandledAccessFS & fs,
		HandledAccessNet: l.HandledAccessNet & net,
	}
	if out.HandledAccessFS == 0 && out.HandledAccessNet == 0 {
		return nil, append(notes, "process.landlock: not enforced at all: none of its handled rights is left"), nil
	}
	// Rules keep their indexes (error messages name them); a rule left
	// with nothing to allow is skipped by Apply.
	for _, r := range l.PathBeneath {
		out.PathBeneath = append(out.PathBeneath, configs.LandlockPathBeneath{AllowedAccess: r.AllowedAccess & out.HandledAccessFS, Paths: r.Paths})
	}
	for _, r := range l.NetPort {
		out.NetPort = append(out.NetPort, configs.LandlockNetPort{AllowedAccess: r.AllowedAccess & out.HandledAccessNet, Ports: r.Ports})
	}
	return out, notes, nil
}

func allowsRefer(l *configs.Landlock) bool {
	for _, r := range l.PathBeneath {
		if r.AllowedAccess&unix.LANDLOCK_ACCESS_FS_REFER != 0 {
			return true
		}
	}
	return false
}
