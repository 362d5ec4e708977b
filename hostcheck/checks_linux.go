package hostcheck

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/landlock"
)

// Caller is who the report is for: root gets the checks of `hull spec`,
// anyone else those of `hull spec --rootless`.
type Caller struct {
	UID, GID int
	// Name is the user name, matched in /etc/subuid and /etc/subgid.
	Name string
}

// Options are the inputs of Run. The zero value checks this host for
// this process.
type Options struct {
	// Root is prepended to every host file read (/proc, /sys, /etc,
	// /run and the PATH searched): "" is the real root. Tests point it at
	// a fake tree and give a fake Probe.
	Root string
	// Probe makes the kernel tries; nil is the running kernel.
	Probe Prober
	// Caller is the user checked for; nil is this process's effective
	// uid and gid.
	Caller *Caller
	// Path is the colon-separated list searched for newuidmap,
	// newgidmap and criu; "" is $PATH, or a standard one.
	Path string
}

// defaultPath is searched when neither Options.Path nor $PATH is set.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// checker holds what the checks of one Run share.
type checker struct {
	opts     Options
	probe    Prober
	caller   Caller
	rootless bool
	r        *Report
	cgroups  *cgroupLayout
	lsms     []string // nil when unknown
}

// Run checks the host and returns the report. It does not fail: a check
// that cannot be made is a line saying why.
func Run(opts Options) *Report {
	c := &checker{opts: opts}
	if opts.Caller != nil {
		c.caller = *opts.Caller
	} else {
		c.caller = Caller{UID: os.Geteuid(), GID: os.Getegid()}
		if u, err := user.LookupId(strconv.Itoa(c.caller.UID)); err == nil {
			c.caller.Name = u.Username
		}
	}
	c.rootless = c.caller.UID != 0
	c.probe = opts.Probe
	if c.probe == nil {
		c.probe = kernel{rootless: c.rootless, uid: c.caller.UID, gid: c.caller.GID}
	}
	c.r = &Report{UID: c.caller.UID, Rootless: c.rootless}
	c.kernel()
	c.namespaces()
	c.cgroupChecks()
	c.filesystems()
	c.seccomp()
	c.lsm()
	c.syscalls()
	c.idmapTools()
	c.r.finish()
	return c.r
}

// path is p under the checked root.
func (c *checker) path(p string) string {
	if c.opts.Root == "" {
		return p
	}
	return filepath.Join(c.opts.Root, p)
}

func (c *checker) read(p string) ([]byte, error) { return os.ReadFile(c.path(p)) }

func (c *checker) kernel() {
	rel, err := c.probe.Release()
	c.r.Kernel = rel
	ch := Check{Name: "kernel", Required: true}
	major, minor, ok := parseRelease(rel)
	switch {
	case err != nil:
		ch.Status, ch.Detail = Missing, err.Error()
	case !ok:
		ch.Status, ch.Detail = Limited, fmt.Sprintf("%s: cannot read a version from it", rel)
	case major > 5 || major == 5 && minor >= 12:
		ch.Status, ch.Detail = OK, rel
	default:
		ch.Status, ch.Detail = Missing, rel+" (older than 5.12)"
	}
	ch.Impact = "hull needs Linux 5.12 or later (openat2, the new mount API, mount_setattr)"
	c.r.add(ch)
}

// nsImpact says what goes without each namespace type.
var nsImpact = map[string]string{
	"mnt":    "no container at all: hull needs a mount namespace for the rootfs",
	"uts":    "configs with a uts namespace (all default ones) fail; hostname cannot be set",
	"ipc":    "configs with an ipc namespace (all default ones) fail",
	"pid":    "configs with a pid namespace (all default ones) fail",
	"net":    "configs with a network namespace (the default for root) fail; containers must share the host network",
	"user":   "rootless containers and uid/gid mappings (linux.uidMappings) are refused",
	"cgroup": "configs with a cgroup namespace fail; containers see host cgroup paths",
	"time":   "configs with a time namespace (linux.timeOffsets) fail",
}

func (c *checker) namespaces() {
	// hull spec: pid, net, ipc, uts, mnt; --rootless drops net, adds user.
	required := map[string]bool{"mnt": true, "pid": true, "ipc": true, "uts": true, "net": !c.rootless, "user": c.rootless}
	for _, ns := range []string{"mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"} {
		ch := Check{Name: ns + " namespace", Required: required[ns], Impact: nsImpact[ns]}
		how := "unshare " + nsFlagNames[ns]
		switch {
		case ns == "time":
			how = "clone, then unshare " + nsFlagNames[ns]
		case c.rootless || ns == "mnt" || ns == "pid" || ns == "user":
			how = "clone " + nsFlagNames[ns]
		}
		if err := c.probe.Namespace(ns); err != nil {
			ch.Status, ch.Detail = Missing, fmt.Sprintf("%s: %v", how, err)
		} else {
			ch.Status, ch.Detail = OK, "created one ("+how+")"
		}
		if ns == "user" {
			c.userns(&ch)
		}
		c.r.add(ch)
	}
}

// userns adds user.max_user_namespaces and the distribution knobs for
// unprivileged user namespaces to the user namespace check.
func (c *checker) userns(ch *Check) {
	b, err := c.read("/proc/sys/user/max_user_namespaces")
	if err != nil {
		return
	}
	maxNS := strings.TrimSpace(string(b))
	ch.Detail += "; user.max_user_namespaces=" + maxNS
	if maxNS == "0" {
		ch.Status = Missing
		ch.Detail += " (none may be created)"
		return
	}
	if n, err := strconv.Atoi(maxNS); err == nil && n < 16 && ch.Status == OK {
		ch.Status = Limited
		ch.Detail += " (a few containers at most)"
	}
	// Debian's kernel.unprivileged_userns_clone and Ubuntu's AppArmor
	// restriction stop only unprivileged callers.
	if b, err := c.read("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
		ch.Detail += "; kernel.unprivileged_userns_clone=0"
		if c.rootless {
			ch.Status = Missing
		} else if ch.Status == OK {
			ch.Status = Limited
			ch.Detail += " (root only)"
		}
	}
	if b, err := c.read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); err == nil && strings.TrimSpace(string(b)) == "1" {
		ch.Detail += "; kernel.apparmor_restrict_unprivileged_userns=1"
		if !c.rootless && ch.Status == OK {
			ch.Status = Limited
			ch.Detail += " (root only)"
		}
	}
}

func (c *checker) cgroupChecks() {
	mi, err1 := c.read("/proc/self/mountinfo")
	self, err2 := c.read("/proc/self/cgroup")
	pc, _ := c.read("/proc/cgroups")
	layout := Check{Name: "cgroup layout", Required: !c.rootless}
	if err := errors.Join(err1, err2); err != nil {
		layout.Status, layout.Detail = Missing, err.Error()
		layout.Impact = "hull cannot place containers in cgroups"
		c.r.add(layout)
		return
	}
	l, err := parseCgroupLayout(mi, self, pc, c.read)
	if err != nil {
		layout.Status, layout.Detail = Missing, err.Error()
		c.r.add(layout)
		return
	}
	c.cgroups = l
	var v1 []string
	for _, h := range l.v1 {
		v1 = append(v1, h.name())
	}
	switch l.mode {
	case modeNone:
		layout.Status, layout.Detail = Missing, "no cgroup or cgroup2 filesystem mounted"
		layout.Impact = "hull cannot place containers in cgroups or limit their resources"
	case modeV2:
		layout.Status = OK
		layout.Detail = "v2 (unified) at " + l.v2.mountpoint
		layout.Impact = "hull uses cgroup v2"
	case modeV1:
		layout.Status = Limited
		layout.Detail = fmt.Sprintf("v1 (legacy): %s under %s", strings.Join(v1, " "), filepath.Dir(l.v1[0].mountpoint))
		layout.Impact = "hull uses the v1 controllers; linux.resources.unified is refused; rootless containers get no cgroups"
	case modeHybrid:
		layout.Status = Limited
		ctrls := strings.Join(l.v2.controllers, " ")
		if ctrls == "" {
			ctrls = "no controllers"
		}
		layout.Detail = fmt.Sprintf("hybrid: v1 %s under %s; cgroup2 at %s with %s",
			strings.Join(v1, " "), filepath.Dir(l.v1[0].mountpoint), l.v2.mountpoint, ctrls)
		layout.Impact = "hull uses the v1 controllers, and the cgroup2 mount for the controllers it holds; linux.resources.unified only for those; rootless containers get no cgroups"
	}
	c.r.add(layout)
	if l.mode == modeNone {
		return
	}
	ctl := Check{Name: "cgroup controllers", Status: OK, Impact: "every controller the kernel has is usable"}
	var have []string
	for _, h := range l.v1 {
		for _, name := range h.controllers {
			if !strings.HasPrefix(name, "name=") {
				have = append(have, name)
			}
		}
	}
	if l.v2 != nil && l.mode != modeV1 {
		have = append(have, l.v2.controllers...)
	}
	ctl.Detail = strings.Join(have, " ")
	if len(l.unmounted) > 0 {
		ctl.Detail += "; enabled but mounted nowhere: " + strings.Join(l.unmounted, " ")
		var uses []string
		for _, u := range l.unmounted {
			if use := controllerUse[u]; use != "" {
				uses = append(uses, use+" ("+u+")")
			}
		}
		if len(uses) > 0 {
			ctl.Status = Limited
			ctl.Impact = "configs that set these cannot be honoured: " + strings.Join(uses, ", ")
		}
	}
	c.r.add(ctl)
	c.delegation(l)
	c.systemd()
}

// delegation tells whether the caller may create cgroups below its own:
// hull nests containers under the caller's cgroup, as runc does.
func (c *checker) delegation(l *cgroupLayout) {
	ch := Check{Name: "cgroup delegation", Required: !c.rootless}
	var hs []*hierarchy
	if l.mode != modeV2 {
		hs = append(hs, l.v1...)
	}
	if l.v2 != nil && (l.mode == modeV2 || len(l.v2.controllers) > 0) {
		hs = append(hs, l.v2)
	}
	var ok, no []string
	var firstErr error
	for _, h := range hs {
		dir := h.dir()
		name := h.name()
		if h.own != "/" {
			name += " " + h.own
		}
		if err := unix.Access(c.path(dir), unix.W_OK); err != nil {
			no = append(no, name)
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", dir, err)
			}
			continue
		}
		ok = append(ok, name)
	}
	parts := []string{}
	if len(ok) > 0 {
		parts = append(parts, "writable: "+strings.Join(ok, ", "))
	}
	if len(no) > 0 {
		parts = append(parts, fmt.Sprintf("not writable: %s (%v)", strings.Join(no, ", "), firstErr))
	}
	ch.Detail = strings.Join(parts, "; ")
	if l.mode == modeV2 {
		if b, err := c.read(l.v2.dir() + "/cgroup.controllers"); err == nil {
			ch.Detail += "; delegated controllers: " + strings.Join(strings.Fields(string(b)), " ")
		}
	}
	switch {
	case len(no) == 0:
		ch.Status = OK
	case len(ok) == 0:
		ch.Status = Missing
	default:
		ch.Status = Limited
	}
	if c.rootless {
		ch.Impact = "rootless containers run without cgroup limits, as with runc (configs that set resources fail)"
	} else {
		ch.Impact = "hull cannot create the container's cgroups in the hierarchies named"
	}
	c.r.add(ch)
}

// systemd tells whether --systemd-cgroup can work: sd_booted(3)'s test.
func (c *checker) systemd() {
	ch := Check{Name: "systemd", Impact: "--systemd-cgroup cannot be used; the default cgroupfs driver works"}
	if fi, err := os.Stat(c.path("/run/systemd/system")); err == nil && fi.IsDir() {
		ch.Status, ch.Detail = OK, "booted with systemd (/run/systemd/system)"
	} else {
		ch.Status, ch.Detail = Missing, "not booted with systemd (no /run/systemd/system)"
	}
	c.r.add(ch)
}

// defaultFilesystems are those a default container mounts.
var defaultFilesystems = []string{"proc", "sysfs", "tmpfs", "devpts", "mqueue"}

func (c *checker) filesystems() {
	b, err := c.read("/proc/filesystems")
	fs := parseFilesystems(b)
	ch := Check{Name: "filesystems", Required: true, Impact: "the default mounts of config.json fail"}
	var miss []string
	for _, f := range defaultFilesystems {
		if !fs[f] {
			miss = append(miss, f)
		}
	}
	if !fs["cgroup"] && !fs["cgroup2"] {
		miss = append(miss, "cgroup")
	}
	switch {
	case err != nil:
		ch.Status, ch.Detail = Missing, err.Error()
	case len(miss) > 0:
		ch.Status, ch.Detail = Missing, "not in /proc/filesystems: "+strings.Join(miss, " ")
	default:
		ch.Status, ch.Detail = OK, strings.Join(defaultFilesystems, " ")+" cgroup"
	}
	c.r.add(ch)
	ov := Check{Name: "overlayfs", Impact: "config.json mounts of type overlay fail (engines using the overlay snapshotter need it)"}
	if fs["overlay"] {
		ov.Status, ov.Detail = OK, "overlay in /proc/filesystems"
	} else {
		ov.Status, ov.Detail = Missing, "not in /proc/filesystems (a module not loaded yet? modprobe overlay)"
	}
	c.r.add(ov)
}

// seccompActions are the actions_avail hull can put in a filter.
var seccompActions = []string{"kill_process", "kill_thread", "trap", "errno", "user_notif", "trace", "log", "allow"}

// seccompFlags are the filter flags, each with the flags it needs.
var seccompFlags = []struct {
	name string
	bit  uint
}{
	{"SECCOMP_FILTER_FLAG_TSYNC", unix.SECCOMP_FILTER_FLAG_TSYNC},
	{"SECCOMP_FILTER_FLAG_LOG", unix.SECCOMP_FILTER_FLAG_LOG},
	{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{"SECCOMP_FILTER_FLAG_NEW_LISTENER", unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
	{"SECCOMP_FILTER_FLAG_TSYNC_ESRCH", unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_TSYNC},
	{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
}

func (c *checker) seccomp() {
	ch := Check{Name: "seccomp", Impact: "configs with linux.seccomp fail; containers run without a syscall filter"}
	mode, err := c.probe.SeccompMode()
	if err != nil {
		ch.Status, ch.Detail = Missing, err.Error()
		c.r.add(ch)
		return
	}
	ch.Status, ch.Detail = OK, "filters supported"
	if mode != 0 {
		ch.Detail = fmt.Sprintf("hull itself runs under seccomp mode %d (container filters stack on it)", mode)
	}
	if b, err := c.read("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		avail := strings.Fields(string(b))
		var miss []string
		for _, a := range seccompActions {
			if !slices.Contains(avail, a) {
				miss = append(miss, a)
			}
		}
		ch.Detail += "; actions: " + strings.Join(avail, " ")
		if len(miss) > 0 {
			ch.Status = Limited
			ch.Detail += "; missing: " + strings.Join(miss, " ")
			ch.Impact = "filters using the missing actions fail to load"
			if slices.Contains(miss, "user_notif") {
				ch.Impact += " (SCMP_ACT_NOTIFY: linux.seccomp.listenerPath cannot work)"
			}
		}
	}
	c.r.add(ch)
	fl := Check{Name: "seccomp flags"}
	var ok, no []string
	for _, f := range seccompFlags {
		if err := c.probe.SeccompFlag(f.bit); err != nil {
			no = append(no, strings.TrimPrefix(f.name, "SECCOMP_FILTER_FLAG_"))
		} else {
			ok = append(ok, strings.TrimPrefix(f.name, "SECCOMP_FILTER_FLAG_"))
		}
	}
	fl.Detail = strings.Join(ok, " ")
	switch {
	case len(no) == 0:
		fl.Status = OK
	case len(ok) == 0:
		fl.Status, fl.Detail = Missing, "the kernel knows none"
	default:
		fl.Status = Limited
		fl.Detail += "; unknown to the kernel: " + strings.Join(no, " ")
	}
	fl.Impact = "configs asking for the unknown linux.seccomp.flags fail (NEW_LISTENER is SCMP_ACT_NOTIFY's)"
	c.r.add(fl)
}

func (c *checker) lsm() {
	lsms, err := c.probe.LSMs()
	src := "lsm_list_modules"
	if err != nil {
		src = "/sys/kernel/security/lsm"
		if b, ferr := c.read(src); ferr == nil {
			lsms, err = parseLSMList(b), nil
		}
	}
	ch := Check{Name: "lsm", Impact: "nothing: hull uses only AppArmor and SELinux, below"}
	if err != nil {
		ch.Status, ch.Detail = Limited, "cannot list the active LSMs (no lsm_list_modules, securityfs not mounted)"
	} else {
		c.lsms = lsms
		ch.Status, ch.Detail = OK, strings.Join(lsms, ",")+" ("+src+")"
	}
	c.r.add(ch)
	c.apparmor()
	c.selinux()
	c.landlock()
}

// active tells whether an LSM is active, when the list is known.
func (c *checker) active(name string) (yes, known bool) {
	if c.lsms == nil {
		return false, false
	}
	return slices.Contains(c.lsms, name), true
}

func (c *checker) apparmor() {
	ch := Check{Name: "apparmor", Impact: "configs with process.apparmorProfile fail; containers run without an AppArmor profile"}
	b, err := c.read("/sys/module/apparmor/parameters/enabled")
	enabled := err == nil && strings.HasPrefix(string(b), "Y")
	if yes, known := c.active("apparmor"); known {
		enabled = yes
	}
	_, serr := os.Stat(c.path("/sys/kernel/security/apparmor"))
	switch {
	case !enabled:
		ch.Status, ch.Detail = Missing, "not enabled in this kernel"
	case serr != nil:
		// hull's check for AppArmor is securityfs's apparmor directory.
		ch.Status, ch.Detail = Limited, "enabled, but securityfs is not mounted at /sys/kernel/security"
		ch.Impact = "hull cannot see AppArmor and refuses profiles: mount -t securityfs securityfs /sys/kernel/security"
	default:
		ch.Status, ch.Detail = OK, "enabled"
	}
	c.r.add(ch)
}

func (c *checker) selinux() {
	ch := Check{Name: "selinux", Impact: "configs with process.selinuxLabel or linux.mountLabel fail; containers run unlabeled"}
	mnt := ""
	if mi, err := c.read("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - selinuxfs ") {
				mnt = f[4]
				break
			}
		}
	}
	yes, known := c.active("selinux")
	switch {
	case mnt != "":
		b, err := c.read(mnt + "/enforce")
		switch strings.TrimSpace(string(b)) {
		case "1":
			ch.Status, ch.Detail = OK, "enabled, enforcing (selinuxfs at "+mnt+")"
		case "0":
			ch.Status, ch.Detail = OK, "enabled, permissive: denials are only logged (selinuxfs at "+mnt+")"
		default:
			ch.Status, ch.Detail = Limited, fmt.Sprintf("selinuxfs at %s, enforce unreadable: %v", mnt, err)
		}
	case known && yes:
		ch.Status, ch.Detail = Limited, "active, but no selinuxfs mounted (no policy loaded?)"
		ch.Impact = "hull sees SELinux as disabled and refuses labels"
	default:
		ch.Status, ch.Detail = Missing, "not enabled (no selinuxfs mounted)"
	}
	c.r.add(ch)
}

// landlock reports what process.landlock gets here: every right hull
// knows, some (an older ABI: the rest are dropped with a warning, or fail
// with disableBestEffort), or none.
func (c *checker) landlock() {
	ch := Check{Name: "landlock", Impact: "configs with process.landlock run without it (with a warning), or fail with disableBestEffort"}
	abi, err := c.probe.Landlock()
	switch {
	case err == nil && abi >= landlock.LatestABI:
		ch.Status, ch.Detail = OK, fmt.Sprintf("ABI version %d: every process.landlock right (filesystem and TCP ports)", abi)
	case err == nil:
		fs, net := landlock.Supported(landlock.LatestABI)
		hfs, hnet := landlock.Supported(abi)
		lack := append(landlock.Names(landlock.FSRights, fs&^hfs), landlock.Names(landlock.NetRights, net&^hnet)...)
		ch.Status, ch.Detail = Limited, fmt.Sprintf("ABI version %d: without %s", abi, strings.Join(lack, ", "))
		ch.Impact = "process.landlock rights of newer ABIs are dropped with a warning, or fail with disableBestEffort"
	case errors.Is(err, unix.EOPNOTSUPP):
		ch.Status, ch.Detail = Missing, "built in but not enabled (not in the lsm= boot list)"
	default:
		ch.Status, ch.Detail = Missing, fmt.Sprintf("landlock_create_ruleset: %v", err)
	}
	c.r.add(ch)
}

// status turns a try's error into a status: ENOSYS (and EPERM from a
// seccomp filter that hides the call, as Docker's did for clone3) is
// missing, lacking privilege to try it is limited.
func status(err error) string {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		return Limited
	}
	return Missing
}

func (c *checker) syscalls() {
	try := func(name, ok string, err error, required bool, impact string) {
		ch := Check{Name: name, Status: status(err), Detail: ok, Required: required, Impact: impact}
		if err != nil {
			ch.Detail = err.Error()
		}
		c.r.add(ch)
	}
	onlyRoot := func(tried string) string {
		if c.rootless {
			return "present (tried only as root; hull uses it in the container's user namespace)"
		}
		return tried
	}
	try("mount API", onlyRoot("fsopen, fsmount, open_tree OPEN_TREE_CLONE, move_mount"), c.probe.MountAPI(), true,
		"hull cannot set up a rootfs: it mounts by fd (open_tree, move_mount, fsmount), never by a path looked up again")
	try("mount_setattr", onlyRoot("mount_setattr MOUNT_ATTR_RDONLY on a detached tmpfs"), c.probe.MountSetattr(), true,
		"hull cannot set up a rootfs: binds get their flags and read-only bits with mount_setattr")
	idmap := c.probe.IDMappedMount()
	if c.rootless && idmap != nil && status(idmap) == Limited {
		idmap = fmt.Errorf("tried only as root: %w", idmap)
	}
	try("idmapped mounts", "mount_setattr MOUNT_ATTR_IDMAP on a detached tmpfs", idmap, false,
		"mounts with uidMappings/gidMappings (idmapped mounts) fail")
	try("openat2", "openat2 RESOLVE_IN_ROOT", c.probe.Openat2(), true,
		"hull cannot set up a rootfs: every path in it is resolved with openat2(RESOLVE_IN_ROOT) (CVE-2021-30465)")
	try("pidfd", "pidfd_open", c.probe.PidfdOpen(), false,
		"configs with linux.seccomp.listenerPath fail: the notify fd is taken from init with pidfd_getfd")
	try("clone3", "clone3", c.probe.Clone3(), false,
		"nothing hull needs (Go falls back to clone(2)); CLONE_INTO_CGROUP cannot be used")
	ch := Check{Name: "CLONE_INTO_CGROUP", Impact: "hull moves init into its cgroups through cgroup.procs right after clone (as it does on every host today)"}
	switch {
	case c.cgroups == nil || c.cgroups.mode != modeV2:
		mode := modeNone
		if c.cgroups != nil {
			mode = c.cgroups.mode
		}
		ch.Status, ch.Detail = Limited, "needs cgroup v2 for the container's controllers; this host is "+mode
	default:
		err := c.probe.CloneIntoCgroup(c.path(c.cgroups.v2.dir()))
		ch.Status, ch.Detail = status(err), "clone3 CLONE_INTO_CGROUP into "+c.cgroups.v2.dir()
		if err != nil {
			ch.Detail = err.Error()
		}
	}
	c.r.add(ch)
}

// lookPath finds an executable in the search path, under the root.
func (c *checker) lookPath(name string) (string, os.FileInfo) {
	p := c.opts.Path
	if p == "" {
		p = os.Getenv("PATH")
	}
	if p == "" {
		p = defaultPath
	}
	for _, dir := range filepath.SplitList(p) {
		if dir == "" {
			continue
		}
		full := filepath.Join(dir, name)
		if fi, err := os.Stat(c.path(full)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return full, fi
		}
	}
	return "", nil
}

func (c *checker) idmapTools() {
	scope := "rootless containers"
	if !c.rootless {
		scope = "only for rootless use (root writes any mapping itself): rootless containers"
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		ch := Check{Name: tool, Impact: scope + " can map only the caller's own id, not a range"}
		p, fi := c.lookPath(tool)
		switch {
		case p == "":
			ch.Status, ch.Detail = Missing, "not found in PATH (Debian: apt install uidmap)"
		case fi.Mode()&os.ModeSetuid != 0:
			ch.Status, ch.Detail = OK, p+" (setuid)"
		default:
			if sz, err := unix.Getxattr(c.path(p), "security.capability", nil); err == nil && sz > 0 {
				ch.Status, ch.Detail = OK, p+" (file capabilities)"
			} else {
				ch.Status, ch.Detail = Limited, p+" is neither setuid nor given file capabilities"
			}
		}
		c.r.add(ch)
	}
	for _, f := range []string{"subuid", "subgid"} {
		ch := Check{Name: "/etc/" + f, Impact: scope + " get no subordinate ids to map"}
		who := c.caller.Name
		if who == "" {
			who = "uid " + strconv.Itoa(c.caller.UID)
		}
		b, err := c.read("/etc/" + f)
		// Both files are keyed by login name or uid (subgid(5)).
		rs := parseSubID(b, c.caller.Name, c.caller.UID)
		switch {
		case err != nil && errors.Is(err, os.ErrNotExist):
			ch.Status, ch.Detail = Missing, "/etc/"+f+" does not exist"
		case err != nil:
			ch.Status, ch.Detail = Missing, err.Error()
		case len(rs) == 0:
			ch.Status, ch.Detail = Missing, "no range for "+who
		default:
			ch.Status, ch.Detail = OK, who+": "+formatRanges(rs)
		}
		c.r.add(ch)
	}
	ch := Check{Name: "criu", Impact: "nothing today: hull has no checkpoint/restore commands; they would need criu"}
	if p, _ := c.lookPath("criu"); p != "" {
		ch.Status, ch.Detail = OK, p
	} else {
		ch.Status, ch.Detail = Missing, "not found in PATH"
	}
	c.r.add(ch)
}
