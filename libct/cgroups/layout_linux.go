package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the cgroup filesystems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Mode is the cgroup layout of a host.
type Mode int

// The layouts: v1 controllers only; v1 controllers plus a cgroup2 mount at
// <root>/unified ("hybrid", as systemd sets up); pure cgroup v2.
const (
	Legacy Mode = iota + 1
	Hybrid
	Unified
)

// String names the layout as in the kernel and systemd docs.
func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "unified"
	}
	return "unknown"
}

// DetectMode tells the layout under root (DefaultRoot when empty) from one or
// two statfs calls.
func DetectMode(root string) (Mode, error) {
	if root == "" {
		root = DefaultRoot
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Unified, nil
	}
	if err := unix.Statfs(filepath.Join(root, "unified"), &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Hybrid, nil
	}
	return Legacy, nil
}

// hierarchy is one mounted cgroup hierarchy as this process sees it.
type hierarchy struct {
	// controllers are the hierarchy's controllers ("cpu", "cpuacct", or
	// "name=systemd"); none for the unified hierarchy.
	controllers []string
	// mountpoint is where it is mounted; mountRoot the directory of the
	// hierarchy that is mounted there ("/" unless a subtree was bound).
	mountpoint, mountRoot string
	// own is this process's cgroup in the hierarchy (from /proc/self/cgroup).
	own string
}

// dir returns the directory under the mount for a cgroup path that is
// relative to the hierarchy's root.
func (h *hierarchy) dir(cgpath string) string {
	if h.mountRoot != "/" && h.mountRoot != "" {
		if rel, ok := strings.CutPrefix(cgpath, h.mountRoot); ok && (rel == "" || rel[0] == '/') {
			cgpath = rel
		}
	}
	return filepath.Join(h.mountpoint, cgpath)
}

// ownCgroups parses a /proc/PID/cgroup file into hierarchy id lines:
// controllers and path. The unified hierarchy's line has no controllers.
func ownCgroups(data []byte) ([]hierarchy, error) {
	var hs []hierarchy
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 {
			continue
		}
		parts := strings.SplitN(string(line), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse /proc/self/cgroup line %q: want 3 fields", line)
		}
		h := hierarchy{own: parts[2]}
		if parts[1] != "" {
			h.controllers = strings.Split(parts[1], ",")
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// mountEntry is the part of a mountinfo line the cgroup code needs.
type mountEntry struct {
	root, mountpoint, fstype string
	superOpts                []string
}

// parseMountinfo reads the cgroup and cgroup2 mounts of a mountinfo file.
func parseMountinfo(data []byte) ([]mountEntry, error) {
	var ms []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " - cgroup") {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			return nil, fmt.Errorf("parse mountinfo line %q", line)
		}
		if g[0] != "cgroup" && g[0] != "cgroup2" {
			continue
		}
		ms = append(ms, mountEntry{
			root:       unescapeMountinfo(f[3]),
			mountpoint: unescapeMountinfo(f[4]),
			fstype:     g[0],
			superOpts:  strings.Split(g[2], ","),
		})
	}
	return ms, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space)
// in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// v1Hierarchies matches the caller's /proc/self/cgroup lines to the cgroup
// mounts of /proc/self/mountinfo. It returns the v1 hierarchies by
// controller name (co-mounted controllers share one entry) and the
// unified hierarchy, if mounted. Only mounts under root are considered, so
// that a second mount of a hierarchy elsewhere does not confuse it.
func v1Hierarchies(root string, cgroupData, mountinfoData []byte) (map[string]*hierarchy, *hierarchy, error) {
	own, err := ownCgroups(cgroupData)
	if err != nil {
		return nil, nil, err
	}
	mounts, err := parseMountinfo(mountinfoData)
	if err != nil {
		return nil, nil, err
	}
	under := func(p string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	byCtrl := make(map[string]*hierarchy)
	var unified *hierarchy
	for i := range own {
		h := &own[i]
		if len(h.controllers) == 0 {
			for _, m := range mounts {
				if m.fstype == "cgroup2" && under(m.mountpoint) {
					h.mountpoint, h.mountRoot = m.mountpoint, m.root
					unified = h
					break
				}
			}
			continue
		}
		for _, m := range mounts {
			if m.fstype != "cgroup" || !under(m.mountpoint) || !hasAll(m.superOpts, h.controllers) {
				continue
			}
			h.mountpoint, h.mountRoot = m.mountpoint, m.root
			break
		}
		if h.mountpoint == "" {
			continue // not mounted here: nothing to join
		}
		for _, c := range h.controllers {
			byCtrl[c] = h
		}
	}
	return byCtrl, unified, nil
}

func hasAll(opts, want []string) bool {
	for _, w := range want {
		found := false
		for _, o := range opts {
			if o == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ownUnifiedPath returns the unified hierarchy's path of a /proc/PID/cgroup
// file (the "0::" line).
func ownUnifiedPath(cgroupData []byte) (string, error) {
	hs, err := ownCgroups(cgroupData)
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if len(h.controllers) == 0 && h.own != "" {
			return h.own, nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// readProcSelf reads a file of /proc/self.
func readProcSelf(name string) ([]byte, error) {
	data, err := os.ReadFile("/proc/self/" + name)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/%s: %w", name, err)
	}
	return data, nil
}

// fastV1Hierarchies finds the hierarchies without reading mountinfo, which
// costs more than everything else New does: hosts set up by systemd or
// cgroupfs-mount mount each v1 hierarchy whole at <root>/<controllers, comma
// separated> (a named one at <root>/<name>) and, on a hybrid host, the
// unified one at <root>/unified. ok is false when that does not hold (a
// mount point that is not a cgroup filesystem, or the caller's own cgroup
// not found under it, as when a subtree is mounted in a container): the
// caller then parses mountinfo.
func fastV1Hierarchies(root string, cgroupData []byte, hybrid bool) (map[string]*hierarchy, *hierarchy, bool) {
	own, err := ownCgroups(cgroupData)
	if err != nil {
		return nil, nil, false
	}
	byCtrl := make(map[string]*hierarchy, len(own))
	var unified *hierarchy
	for i := range own {
		h := &own[i]
		var name string
		switch {
		case len(h.controllers) == 0:
			if !hybrid {
				continue
			}
			name = "unified"
		case strings.HasPrefix(h.controllers[0], "name="):
			if h.controllers[0] != "name=systemd" {
				continue // not joined: no need to find it
			}
			name = "systemd"
		default:
			name = strings.Join(h.controllers, ",")
		}
		// One statfs(2) of the caller's own cgroup directory tells both
		// that it is there and that a cgroup filesystem holds it.
		mp := filepath.Join(root, name)
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(mp, h.own), &st); err != nil {
			return nil, nil, false
		}
		want := int64(unix.CGROUP_SUPER_MAGIC)
		if name == "unified" {
			want = unix.CGROUP2_SUPER_MAGIC
		}
		if int64(st.Type) != want {
			return nil, nil, false
		}
		h.mountpoint, h.mountRoot = mp, "/"
		if name == "unified" {
			unified = h
			continue
		}
		for _, c := range h.controllers {
			byCtrl[c] = h
		}
	}
	return byCtrl, unified, true
}
