package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// fsError is a refusal by the new mount API (fsopen, fsconfig, fsmount,
// fspick), with what the kernel logged on the filesystem context: the
// kernel names there the option it refuses and why ("tmpfs: Unknown
// parameter 'x'", "tmpfs: Bad value for 'size'"), which mount(2) never
// tells.
type fsError struct {
	Step   string // "fsopen", "fsconfig", "create", "fsmount", "fspick", "reconfigure"
	Option string // the option fsconfig refused, for Step "fsconfig"
	Log    string // the kernel's messages, "; "-separated, without their "e " prefix
	Err    error  // the errno
}

func (e *fsError) Error() string {
	var b strings.Builder
	b.WriteString(e.Step)
	if e.Option != "" {
		fmt.Fprintf(&b, " %q", e.Option)
	}
	if e.Log != "" {
		b.WriteString(": ")
		b.WriteString(e.Log)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *fsError) Unwrap() error { return e.Err }

// unknownOption reports whether the kernel refused the option as one the
// filesystem does not have (rather than a bad value).
func (e *fsError) unknownOption() bool {
	return e.Option != "" && strings.Contains(e.Log, "Unknown parameter")
}

// splitOption turns a mount option into an fsconfig(2) key and value:
// "key=value" is a string parameter (a value in double quotes, as an
// SELinux context with commas is written for mount(2), loses them), "key"
// alone a flag.
func splitOption(o string) (key, value string, isFlag bool) {
	k, v, ok := strings.Cut(o, "=")
	if !ok {
		return o, "", true
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return k, v, false
}

// fsLog drains the messages the kernel logged on a filesystem context fd.
func fsLog(fd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 16 {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		m := strings.TrimSpace(string(buf[:n]))
		// "e " error, "w " warning, "i " info.
		if len(m) > 2 && m[1] == ' ' {
			m = m[2:]
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}

func fsErr(fd int, step, option string, err error) error {
	return &fsError{Step: step, Option: option, Log: fsLog(fd), Err: err}
}

// fsconfigAll gives each option to the filesystem context fd, one
// fsconfig(2) call each, so that a refusal names its option.
func fsconfigAll(fd int, options []string) error {
	for _, o := range options {
		k, v, isFlag := splitOption(o)
		var err error
		if isFlag {
			err = unix.FsconfigSetFlag(fd, k)
		} else {
			err = unix.FsconfigSetString(fd, k, v)
		}
		if err != nil {
			return fsErr(fd, "fsconfig", o, err)
		}
	}
	return nil
}

// fsmount makes a detached mount of a new filesystem of type fstype:
// fsopen, fsconfig of the source and each option, FSCONFIG_CMD_CREATE, and
// fsmount with the MOUNT_ATTR_* attributes.
func (realSys) fsmount(fstype, source string, options []string, attrs uint64) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, &fsError{Step: "fsopen", Err: err}
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return -1, fsErr(fsfd, "fsconfig", "source="+source, err)
		}
	}
	if err := fsconfigAll(fsfd, options); err != nil {
		return -1, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fsErr(fsfd, "create", "", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attrs))
	if err != nil {
		return -1, fsErr(fsfd, "fsmount", "", err)
	}
	return fd, nil
}

// reconfigure changes the options of the filesystem mounted at fd (the
// root of a mount): fspick, fsconfig of each option, and
// FSCONFIG_CMD_RECONFIGURE, as mount(2) with MS_REMOUNT would.
func (realSys) reconfigure(fd int, options []string) error {
	fsfd, err := unix.Fspick(fd, "", unix.FSPICK_EMPTY_PATH|unix.FSPICK_NO_AUTOMOUNT|unix.FSPICK_CLOEXEC)
	if err != nil {
		return &fsError{Step: "fspick", Err: err}
	}
	defer unix.Close(fsfd)
	if err := fsconfigAll(fsfd, options); err != nil {
		return err
	}
	if err := unix.FsconfigReconfigure(fsfd); err != nil {
		return fsErr(fsfd, "reconfigure", "", err)
	}
	return nil
}
