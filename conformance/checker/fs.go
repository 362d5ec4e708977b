package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

func checkRoot(c *checker) {
	if c.spec.Root == nil || !c.spec.Root.Readonly {
		return
	}
	mi, err := readMountinfo()
	if err != nil {
		c.fail("CFG-ROOT-READONLY", "read mountinfo: %v", err)
		return
	}
	e, ok := topMount(mi, "/")
	c.expect("CFG-ROOT-READONLY", ok && e.VFS["ro"], "root.readonly is true, / is mounted %v", e.VFS)
	err = os.WriteFile("/.conformance-ro-probe", []byte("x"), 0o644)
	c.expect("CFG-ROOT-READONLY", errors.Is(err, syscall.EROFS), "writing a file in / gives %v, want EROFS", err)
}

// optionCheck says how a mount option shows in mountinfo: which option
// field (vfs, super or optional), which token, present or absent.
type optionCheck struct {
	family  string
	field   string
	token   string
	present bool
}

var optionChecks = map[string][]optionCheck{
	"ro":          {{"ro", "vfs", "ro", true}},
	"rw":          {{"ro", "vfs", "rw", true}},
	"nosuid":      {{"suid", "vfs", "nosuid", true}},
	"suid":        {{"suid", "vfs", "nosuid", false}},
	"nodev":       {{"dev", "vfs", "nodev", true}},
	"dev":         {{"dev", "vfs", "nodev", false}},
	"noexec":      {{"exec", "vfs", "noexec", true}},
	"exec":        {{"exec", "vfs", "noexec", false}},
	"noatime":     {{"atime", "vfs", "noatime", true}},
	"relatime":    {{"atime", "vfs", "relatime", true}},
	"strictatime": {{"atime", "vfs", "relatime", false}, {"atime", "vfs", "noatime", false}},
	"nodiratime":  {{"diratime", "vfs", "nodiratime", true}},
	"diratime":    {{"diratime", "vfs", "nodiratime", false}},
	"sync":        {{"sync", "super", "sync", true}},
	"async":       {{"sync", "super", "sync", false}},
	"dirsync":     {{"dirsync", "super", "dirsync", true}},
	"lazytime":    {{"lazytime", "super", "lazytime", true}},
	"nolazytime":  {{"lazytime", "super", "lazytime", false}},
	"shared":      {{"prop", "optional", "shared:", true}},
	"rshared":     {{"prop", "optional", "shared:", true}},
	"private":     {{"prop", "optional", "shared:", false}, {"prop", "optional", "master:", false}},
	"rprivate":    {{"prop", "optional", "shared:", false}, {"prop", "optional", "master:", false}},
	"unbindable":  {{"prop", "optional", "unbindable", true}},
	"runbindable": {{"prop", "optional", "unbindable", true}},
	"slave":       {{"prop", "optional", "shared:", false}},
	"rslave":      {{"prop", "optional", "shared:", false}},
}

func (o optionCheck) holds(e mountEntry) bool {
	switch o.field {
	case "vfs":
		return e.VFS[o.token] == o.present
	case "super":
		return e.Super[o.token] == o.present
	default:
		return hasOptional(e, o.token) == o.present
	}
}

// clauseForOption returns the mount-option clause, or the generic one for
// options that config.md's table does not mark MUST.
func clauseForOption(opt string) string {
	switch opt {
	case "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
		"iversion", "lazytime", "loud", "noatime", "nodev", "nodiratime", "noexec",
		"noiversion", "nolazytime", "norelatime", "nostrictatime", "nosuid",
		"private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
		"rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
		"suid", "sync", "unbindable":
		return "CFG-MOUNTOPT-" + strings.ToUpper(opt)
	}
	return "CFG-MOUNTS-APPLY"
}

func checkMounts(c *checker) {
	mi, err := readMountinfo()
	if err != nil {
		c.fail("CFG-MOUNTS-APPLY", "read mountinfo: %v", err)
		return
	}
	// mountinfo lists a namespace's mounts in the order they were made
	// (kernel >= 6.8 sorts them by the 64-bit unique mount id; older ones
	// keep insertion order); mount ids themselves are recycled, so the
	// position is compared, not the id.
	index := map[int]int{}
	for i, e := range mi {
		index[e.ID] = i
	}
	only := os.Getenv("CHECK_MOUNT")
	lastIdx, lastDest := -1, ""
	for _, m := range c.spec.Mounts {
		dest := cleanDest(m.Destination)
		if only != "" && dest != only {
			continue
		}
		id := "CFG-MOUNTS-APPLY"
		if !strings.HasPrefix(m.Destination, "/") {
			id = "CFG-MOUNTS-RELATIVE"
		}
		e, ok := topMount(mi, dest)
		c.expect(id, ok, "mount %s (config destination %q) is in /proc/self/mountinfo", dest, m.Destination)
		if !ok {
			continue
		}
		bind := false
		for _, o := range m.Options {
			bind = bind || o == "bind" || o == "rbind"
		}
		// A cgroup v1 "cgroup" mount cannot be one filesystem when the
		// controllers are separate hierarchies; runtimes put a tmpfs there
		// and mount each hierarchy below it, so its type is not compared.
		if !bind && m.Type != "" && m.Type != "cgroup" {
			c.expect("CFG-MOUNTS-APPLY", e.FSType == m.Type, "mount %s has type %q, config says %q", dest, e.FSType, m.Type)
		}
		switch idx := index[e.ID]; {
		case only != "":
		case idx > lastIdx:
			c.pass("CFG-MOUNTS-ORDER", "mount %s (mountinfo line %d) comes after %s", dest, idx, lastDest)
		case idx == lastIdx:
			// the same mount again (a remount of it): no order to check.
		default:
			c.fail("CFG-MOUNTS-ORDER", "mount %s (mountinfo line %d) was mounted before %s (line %d), config lists it after", dest, idx, lastDest, lastIdx)
		}
		if only == "" {
			lastIdx, lastDest = index[e.ID], dest
		}
		// The last option of each family wins; a recursive option (rro,
		// rnosuid, rshared...) is checked on the mount and every submount.
		type choice struct {
			opt, base string
			rec       bool
		}
		final := map[string]choice{}
		var order []string
		for _, o := range m.Options {
			base, rec := o, false
			if b, ok := recursiveBase[o]; ok {
				base, rec = b, true
			}
			for _, oc := range optionChecks[base] {
				if _, seen := final[oc.family]; !seen {
					order = append(order, oc.family)
				}
				final[oc.family] = choice{o, base, rec}
			}
		}
		targets := []mountEntry{e}
		for _, fam := range order {
			ch := final[fam]
			if ch.rec {
				targets = append(targets, submounts(mi, dest)...)
				break
			}
		}
		for _, fam := range order {
			ch := final[fam]
			for _, t := range targets {
				if t.Point != dest && !ch.rec {
					continue
				}
				for _, oc := range optionChecks[ch.base] {
					if oc.family != fam {
						continue
					}
					c.expect(clauseForOption(ch.opt), oc.holds(t), "mount %s option %q: want %s %q present=%v; mountinfo has %s %v %s",
						t.Point, ch.opt, oc.field, oc.token, oc.present, strings.Join(keys(t.VFS), ","), t.Optional, t.SuperRaw)
				}
			}
		}
		if sub := os.Getenv("CHECK_SUBMOUNT"); sub != "" && only == dest {
			p, want, _ := strings.Cut(sub, ":")
			_, present := topMount(mi, p)
			opt := "bind"
			if want == "present" {
				opt = "rbind"
			}
			c.expect(clauseForOption(opt), present == (want == "present"), "submount %s of the source is in the container: %v, want %s", p, present, want)
		}
	}
}

// recursiveBase maps the recursive mount options (mount_setattr(2) with
// AT_RECURSIVE) to the option they apply to the whole tree.
var recursiveBase = map[string]string{
	"rro": "ro", "rrw": "rw", "rnosuid": "nosuid", "rsuid": "suid", "rnodev": "nodev", "rdev": "dev",
	"rnoexec": "noexec", "rexec": "exec", "rnoatime": "noatime", "rrelatime": "relatime",
	"rstrictatime": "strictatime", "rnodiratime": "nodiratime", "rdiratime": "diratime",
	"rnosymfollow": "nosymfollow", "rsymfollow": "symfollow",
	"rshared": "shared", "rprivate": "private", "rslave": "slave", "runbindable": "unbindable",
}

// submounts returns the top mounts strictly below dest.
func submounts(mi []mountEntry, dest string) []mountEntry {
	var out []mountEntry
	seen := map[string]bool{}
	for i := len(mi) - 1; i >= 0; i-- {
		e := mi[i]
		if strings.HasPrefix(e.Point, dest+"/") && !seen[e.Point] {
			seen[e.Point] = true
			out = append(out, e)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func checkMasked(c *checker) {
	if c.spec.Linux == nil {
		return
	}
	for _, p := range c.spec.Linux.MaskedPaths {
		st, err := os.Stat(p)
		if err != nil {
			c.skip("CL-MASKED-PATHS", "%s does not exist in the container: %v", p, err)
			continue
		}
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			c.expect("CL-MASKED-PATHS", err != nil || len(ents) == 0, "masked directory %s lists %d entries", p, len(ents))
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			c.pass("CL-MASKED-PATHS", "masked file %s cannot be opened: %v", p, err)
			continue
		}
		buf := make([]byte, 64)
		n, _ := f.Read(buf)
		f.Close()
		c.expect("CL-MASKED-PATHS", n == 0, "masked file %s reads %d bytes", p, n)
	}
}

func checkReadonly(c *checker) {
	if c.spec.Linux == nil {
		return
	}
	mi, err := readMountinfo()
	if err != nil {
		c.fail("CL-READONLY-PATHS", "read mountinfo: %v", err)
		return
	}
	for _, p := range c.spec.Linux.ReadonlyPaths {
		if _, err := os.Stat(p); err != nil {
			c.skip("CL-READONLY-PATHS", "%s does not exist in the container: %v", p, err)
			continue
		}
		e, ok := containingMount(mi, p)
		c.expect("CL-READONLY-PATHS", ok && e.VFS["ro"], "readonly path %s is on mount %s with options %v", p, e.Point, keys(e.VFS))
	}
}

func devNumbers(st *syscall.Stat_t) (int64, int64) {
	d := uint64(st.Rdev)
	major := int64((d>>8)&0xfff | (d>>32)&^0xfff)
	minor := int64(d&0xff | (d>>12)&^0xff)
	return major, minor
}

func checkDevices(c *checker) {
	type dev struct {
		path         string
		major, minor int64
	}
	defaults := []dev{{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
		{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}}
	for _, d := range defaults {
		var st syscall.Stat_t
		err := syscall.Stat(d.path, &st)
		ma, mi := devNumbers(&st)
		c.expect("CL-DEFAULT-DEVICES", err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFCHR && ma == d.major && mi == d.minor,
			"%s: err %v, char %v, %d:%d, want char %d:%d", d.path, err, st.Mode&syscall.S_IFMT == syscall.S_IFCHR, ma, mi, d.major, d.minor)
	}
	var st syscall.Stat_t
	err := syscall.Stat("/dev/ptmx", &st)
	c.expect("CL-DEFAULT-DEVICES", err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFCHR, "/dev/ptmx: %v", err)
	if c.spec.Process != nil && c.spec.Process.Terminal {
		err := syscall.Stat("/dev/console", &st)
		c.expect("CL-DEFAULT-DEVICES", err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFCHR, "/dev/console with terminal: %v", err)
	}
	if c.spec.Linux == nil {
		return
	}
	types := map[string]uint32{"c": syscall.S_IFCHR, "u": syscall.S_IFCHR, "b": syscall.S_IFBLK, "p": syscall.S_IFIFO}
	for _, d := range c.spec.Linux.Devices {
		var st syscall.Stat_t
		if err := syscall.Lstat(d.Path, &st); err != nil {
			c.fail("CL-DEVICES", "device %s: %v", d.Path, err)
			continue
		}
		c.expect("CL-DEVICES", st.Mode&syscall.S_IFMT == types[d.Type], "device %s has file type %o, config type %q", d.Path, st.Mode&syscall.S_IFMT, d.Type)
		if d.Type != "p" {
			ma, mi := devNumbers(&st)
			c.expect("CL-DEVICES", ma == d.Major && mi == d.Minor, "device %s is %d:%d, config says %d:%d", d.Path, ma, mi, d.Major, d.Minor)
		}
		if d.FileMode != nil {
			c.expect("CL-DEVICES", st.Mode&0o7777 == *d.FileMode&0o7777, "device %s mode %o, config says %o", d.Path, st.Mode&0o7777, *d.FileMode)
		}
		if d.UID != nil {
			c.expect("CL-DEVICES", st.Uid == *d.UID, "device %s uid %d, config says %d", d.Path, st.Uid, *d.UID)
		}
		if d.GID != nil {
			c.expect("CL-DEVICES", st.Gid == *d.GID, "device %s gid %d, config says %d", d.Path, st.Gid, *d.GID)
		}
	}
}

func checkDevLinks(c *checker) {
	links := [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}}
	for _, l := range links {
		if _, err := os.Lstat(l[0]); err != nil {
			c.skip("RL-DEV-SYMLINKS", "source %s does not exist", l[0])
			continue
		}
		got, err := os.Readlink(l[1])
		c.expect("RL-DEV-SYMLINKS", err == nil && got == l[0], "%s -> %q (err %v), want %s", l[1], got, err, l[0])
	}
}

func checkRootPropagation(c *checker) {
	if c.spec.Linux == nil || c.spec.Linux.RootfsPropagation == "" {
		return
	}
	mi, err := readMountinfo()
	if err != nil {
		c.fail("CL-ROOTFS-PROPAGATION", "read mountinfo: %v", err)
		return
	}
	e, _ := topMount(mi, "/")
	prop := c.spec.Linux.RootfsPropagation
	var ok bool
	switch prop {
	case "shared":
		ok = hasOptional(e, "shared:")
	case "slave":
		ok = hasOptional(e, "master:") && !hasOptional(e, "shared:")
	case "private":
		ok = !hasOptional(e, "shared:") && !hasOptional(e, "master:")
	case "unbindable":
		ok = hasOptional(e, "unbindable")
	default:
		c.fail("CL-ROOTFS-PROPAGATION", "unknown rootfsPropagation %q", prop)
		return
	}
	c.expect("CL-ROOTFS-PROPAGATION", ok, "rootfsPropagation %s: / has optional fields %v", prop, e.Optional)
}

var _ = fmt.Sprint

// checkDefaultFilesystems looks for the filesystems config-linux.md says
// SHOULD be available in every container.
func checkDefaultFilesystems(c *checker) {
	mi, err := readMountinfo()
	if err != nil {
		c.fail("CL-DEFAULT-FILESYSTEMS", "read mountinfo: %v", err)
		return
	}
	for _, fs := range [][2]string{{"/proc", "proc"}, {"/sys", "sysfs"}, {"/dev/pts", "devpts"}, {"/dev/shm", "tmpfs"}} {
		e, ok := topMount(mi, fs[0])
		c.expect("CL-DEFAULT-FILESYSTEMS", ok && e.FSType == fs[1], "%s is mounted as %q, want %s", fs[0], e.FSType, fs[1])
	}
}
