package hostcheck

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Prober makes the tries that need the kernel. Run uses the running
// kernel's unless Options.Probe gives another (tests give a fake).
type Prober interface {
	// Release is the kernel release (uname -r).
	Release() (string, error)
	// Namespace creates a namespace of a type named as in /proc/self/ns
	// (mnt, uts, ipc, pid, net, user, cgroup, time) and lets it go.
	Namespace(name string) error
	// SeccompMode is prctl(PR_GET_SECCOMP): 0 none, 2 filtered.
	SeccompMode() (int, error)
	// SeccompFlag tells whether seccomp(2) knows a filter flag.
	SeccompFlag(bit uint) error
	// LSMs lists the active security modules (lsm_list_modules(2));
	// ENOSYS sends Run to /sys/kernel/security/lsm.
	LSMs() ([]string, error)
	// Landlock returns the Landlock ABI version.
	Landlock() (int, error)
	// IDMappedMount idmaps a detached tmpfs to a new user namespace
	// (EPERM for a rootless caller, which cannot make the tmpfs).
	IDMappedMount() error
	// MountAPI makes a detached tmpfs (fsopen, fsmount), clones a
	// detached copy of / (open_tree) and checks move_mount exists. For a
	// rootless caller it only checks that the calls exist.
	MountAPI() error
	// MountSetattr makes a detached tmpfs read-only with mount_setattr(2)
	// (for a rootless caller: checks that the call exists).
	MountSetattr() error
	// Openat2 opens / with openat2(RESOLVE_IN_ROOT).
	Openat2() error
	// PidfdOpen opens a pidfd of the caller.
	PidfdOpen() error
	// Clone3 tells whether clone3(2) exists (without creating anything).
	Clone3() error
	// CloneIntoCgroup starts a child with CLONE_INTO_CGROUP into the
	// cgroup2 directory dir (the caller's own, so nothing is created).
	CloneIntoCgroup(dir string) error
}

// kernel is the Prober of the running kernel. Every try is undone before
// it returns: children are waited for, fds closed, namespaces and detached
// mounts die with their last reference.
type kernel struct {
	rootless bool
	uid, gid int
}

func (kernel) Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// nsFlags are the CLONE_NEW* flags by /proc/self/ns name.
var nsFlags = map[string]uintptr{
	"mnt": unix.CLONE_NEWNS, "uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC,
	"pid": unix.CLONE_NEWPID, "net": unix.CLONE_NEWNET, "user": unix.CLONE_NEWUSER,
	"cgroup": unix.CLONE_NEWCGROUP, "time": unix.CLONE_NEWTIME,
}

// nsFlagNames are the kernel's names of the flags, for messages.
var nsFlagNames = map[string]string{
	"mnt": "CLONE_NEWNS", "uts": "CLONE_NEWUTS", "ipc": "CLONE_NEWIPC",
	"pid": "CLONE_NEWPID", "net": "CLONE_NEWNET", "user": "CLONE_NEWUSER",
	"cgroup": "CLONE_NEWCGROUP", "time": "CLONE_NEWTIME",
}

func (k kernel) Namespace(name string) error {
	flag, ok := nsFlags[name]
	if !ok {
		return fmt.Errorf("unknown namespace %q", name)
	}
	switch {
	case k.rootless:
		// Unprivileged, every namespace but user needs CAP_SYS_ADMIN in
		// a user namespace of its own, as hull creates them rootless.
		// CLONE_NEWTIME is 0x80, CSIGNAL's bits in clone(2): the child
		// unshares it instead.
		if name == "time" {
			return k.child(unix.CLONE_NEWUSER, flag)
		}
		return k.child(unix.CLONE_NEWUSER|flag, 0)
	case name == "user":
		return k.child(flag, 0)
	case name == "mnt" || name == "pid":
		// unshare(CLONE_NEWNS) needs an unshared fs_struct, which a Go
		// process's threads share (EINVAL); a pid namespace is only
		// real once it has an init. Clone a child with the flag, which
		// is how hull creates them.
		return k.child(flag, 0)
	case name == "time":
		// A thread could unshare it, but not setns back: the kernel
		// refuses setns to a time namespace in a multithreaded process
		// (EUSERS). The child unshares it (it is CSIGNAL to clone(2)).
		return k.child(0, flag)
	default:
		return unshareThread(name, flag)
	}
}

// unshareThread unshares a namespace on a locked thread and puts the
// thread back into its old one with setns(2), so the new namespace (or the
// time_for_children it set) dies with the last reference. If the way back
// fails the goroutine exits still locked: Go then ends the thread rather
// than hand it to other goroutines (on the main thread, which Go cannot end,
// it parks it for good instead; setns back is what keeps that from
// happening in practice).
func unshareThread(name string, flag uintptr) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- unshareAndReturn(name, flag)
	}()
	return <-errc
}

func unshareAndReturn(name string, flag uintptr) error {
	old, err := unix.Open("/proc/thread-self/ns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread() // nothing changed
		return fmt.Errorf("open /proc/thread-self/ns/%s: %w", name, err)
	}
	defer unix.Close(old)
	if err := unix.Unshare(int(flag)); err != nil {
		runtime.UnlockOSThread() // nothing changed
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Setns(old, int(flag)); err != nil {
		// Created all the same; the thread stays locked and goes.
		return nil
	}
	runtime.UnlockOSThread()
	return nil
}

// childPath is the program run by test children: it waits for EOF on
// stdin, so the child lives exactly as long as its pipe is open, and dies
// with hull if hull dies.
var childPath = []string{"/bin/cat", "/usr/bin/cat"}

// child is a probe child.
type child struct {
	pid int
	w   *os.File
}

// start clones a child with cloneflags (and unshareflags unshared in it),
// mapping the caller's uid and gid to 0 when it gets a user namespace.
func (k kernel) start(cloneflags, unshareflags uintptr, sys *syscall.SysProcAttr) (*child, error) {
	path := ""
	for _, p := range childPath {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("no %s to run as a test child", childPath[0])
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// cat's close_stdout fails on a closed fd: give it /dev/null.
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return nil, err
	}
	defer null.Close()
	if sys == nil {
		sys = &syscall.SysProcAttr{}
	}
	sys.Cloneflags, sys.Unshareflags = cloneflags, unshareflags
	if cloneflags&unix.CLONE_NEWUSER != 0 {
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: k.uid, Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: k.gid, Size: 1}}
	}
	pid, err := syscall.ForkExec(path, []string{path}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{},
		Files: []uintptr{r.Fd(), null.Fd(), null.Fd()},
		Sys:   sys,
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	return &child{pid: pid, w: w}, nil
}

// end closes the child's stdin and waits for it.
func (c *child) end() error {
	c.w.Close()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for test child %d: %w", c.pid, err)
		}
		break
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("test child %d ended with status %#x", c.pid, uint32(ws))
	}
	return nil
}

// child clones a child with the flags and ends it.
func (k kernel) child(cloneflags, unshareflags uintptr) error {
	c, err := k.start(cloneflags, unshareflags, nil)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	return c.end()
}

func (kernel) SeccompMode() (int, error) {
	m, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("prctl PR_GET_SECCOMP: %w", err)
	}
	return m, nil
}

// SeccompFlag asks seccomp(SECCOMP_SET_MODE_FILTER) with a NULL program:
// the kernel checks the flags before it copies the program, so EFAULT means
// it knows them, and nothing is installed.
func (kernel) SeccompFlag(bit uint) error {
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bit), 0)
	if e == unix.EFAULT {
		return nil
	}
	if e == 0 {
		return errors.New("seccomp accepted a NULL filter")
	}
	return e
}

func (kernel) LSMs() ([]string, error) {
	ids := make([]uint64, 64)
	size := uint32(len(ids) * 8)
	n, _, e := unix.Syscall(unix.SYS_LSM_LIST_MODULES, uintptr(unsafe.Pointer(&ids[0])), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return nil, e
	}
	var out []string
	for _, id := range ids[:min(int(n), len(ids))] {
		if name, ok := lsmNames[id]; ok {
			out = append(out, name)
		} else {
			out = append(out, fmt.Sprintf("lsm%d", id))
		}
	}
	return out, nil
}

func (kernel) Landlock() (int, error) {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// detachedTmpfs makes a tmpfs mount that is attached nowhere: closing the
// fd is its umount.
func detachedTmpfs() (int, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("fsconfig FSCONFIG_CMD_CREATE: %w", err)
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return m, nil
}

func (k kernel) IDMappedMount() error {
	if k.rootless {
		// The tmpfs would belong to the caller's user namespace, where
		// it has no CAP_SYS_ADMIN.
		return fmt.Errorf("fsopen tmpfs: %w", unix.EPERM)
	}
	m, err := detachedTmpfs()
	if err != nil {
		return err
	}
	defer unix.Close(m)
	c, err := k.start(unix.CLONE_NEWUSER, 0, nil)
	if err != nil {
		return fmt.Errorf("clone CLONE_NEWUSER: %w", err)
	}
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", c.pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if endErr := c.end(); err == nil && endErr != nil {
		unix.Close(ns)
		return endErr
	}
	if err != nil {
		return fmt.Errorf("open user namespace: %w", err)
	}
	defer unix.Close(ns)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
	if err := unix.MountSetattr(m, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr MOUNT_ATTR_IDMAP: %w", err)
	}
	return nil
}

func (k kernel) MountAPI() error {
	// move_mount is only asked whether it exists (a bad fd): a real one
	// would attach something.
	if err := unix.MoveMount(-1, "", -1, "", unix.MOVE_MOUNT_F_EMPTY_PATH); errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("move_mount: %w", err)
	}
	if k.rootless {
		if _, err := unix.Fsopen("", 0); errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("fsopen: %w", err)
		}
		return nil
	}
	m, err := detachedTmpfs()
	if err != nil {
		return err
	}
	unix.Close(m)
	// A non-recursive clone of / is a mount attached nowhere: closing
	// the fd drops it.
	t, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree OPEN_TREE_CLONE: %w", err)
	}
	return unix.Close(t)
}

func (k kernel) MountSetattr() error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if k.rootless {
		// No mount of its own to try it on: anything but ENOSYS for a
		// bad fd means the call exists.
		if err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &attr); errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("mount_setattr: %w", err)
		}
		return nil
	}
	m, err := detachedTmpfs()
	if err != nil {
		return err
	}
	defer unix.Close(m)
	if err := unix.MountSetattr(m, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

func (kernel) Openat2() error {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("openat2: %w", err)
	}
	return unix.Close(fd)
}

func (kernel) PidfdOpen() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	return unix.Close(fd)
}

// Clone3 passes a size below CLONE_ARGS_SIZE_VER0: a kernel with clone3
// refuses it with EINVAL before doing anything.
func (kernel) Clone3() error {
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if e == unix.EINVAL {
		return nil
	}
	return fmt.Errorf("clone3: %w", e)
}

func (k kernel) CloneIntoCgroup(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	c, err := k.start(0, 0, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd})
	if err != nil {
		return fmt.Errorf("clone3 CLONE_INTO_CGROUP: %w", err)
	}
	return c.end()
}

// IDMappedMounts tries an idmapped mount (of a detached tmpfs) as the
// caller, for `hull features`' mountExtensions.idmap.
func IDMappedMounts(rootless bool) bool {
	return kernel{rootless: rootless, uid: os.Geteuid(), gid: os.Getegid()}.IDMappedMount() == nil
}
