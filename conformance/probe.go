package conformance

import (
	"fmt"
	"os"
	"strings"
)

// NamespaceFiles maps the spec's namespace types to /proc/PID/ns entries.
var NamespaceFiles = map[string]string{
	"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
	"uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time",
}

// NamespaceInode returns the inode identifying the namespace at path (for
// example /proc/self/ns/net), as readlink shows it: "net:[4026531840]".
func NamespaceInode(path string) (string, error) {
	l, err := os.Readlink(path)
	if err != nil {
		return "", fmt.Errorf("readlink %s: %w", path, err)
	}
	if i := strings.Index(l, "["); i >= 0 {
		return strings.Trim(l[i:], "[]"), nil
	}
	return "", fmt.Errorf("unexpected namespace link %q at %s", l, path)
}

// HostEnv returns the runtime-namespace facts the in-container checker
// compares against: namespace inodes, the bounding set, oom_score_adj.
func HostEnv() []string {
	var env []string
	for _, f := range NamespaceFiles {
		if ino, err := NamespaceInode("/proc/self/ns/" + f); err == nil {
			env = append(env, "HOSTNS_"+f+"="+ino)
		}
	}
	if v, err := statusField("/proc/self/status", "CapBnd"); err == nil {
		env = append(env, "HOST_CAPBND="+v)
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		env = append(env, "HOST_OOM="+strings.TrimSpace(string(b)))
	}
	return env
}

func statusField(path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

// CgroupV1 reports whether controller ctrl is mounted as a cgroup v1
// hierarchy on this host.
func CgroupV1(ctrl string) bool {
	_, err := os.Stat("/sys/fs/cgroup/" + ctrl + "/tasks")
	return err == nil
}

// CgroupV2Unified reports whether the host runs cgroup v2 in unified mode
// (cgroup2 mounted at /sys/fs/cgroup).
func CgroupV2Unified() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// ResctrlMounted reports whether a resctrl filesystem is mounted.
func ResctrlMounted() bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && strings.Contains(string(b), " - resctrl ")
}

// CgroupDirs returns the host directories of the cgroups process pid is in,
// one per mounted hierarchy (found through the host's mountinfo).
func CgroupDirs(pid int) ([]string, error) {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue // not a cgroup of the container's own
		}
		ctrl := strings.Split(parts[1], ",")[0]
		for _, m := range strings.Split(string(mi), "\n") {
			f := strings.Fields(m)
			sep := -1
			for i, x := range f {
				if x == "-" {
					sep = i
					break
				}
			}
			if sep < 0 || sep+3 >= len(f) {
				continue
			}
			fstype, super := f[sep+1], ","+f[sep+3]+","
			v2 := parts[1] == "" && fstype == "cgroup2"
			v1 := ctrl != "" && fstype == "cgroup" && strings.Contains(super, ","+ctrl+",")
			if (v1 || v2) && f[3] == "/" {
				dirs = append(dirs, f[4]+parts[2])
				break
			}
		}
	}
	return dirs, nil
}

// MountShared reports whether the host mount holding path has shared
// propagation (a "shared:N" optional field in mountinfo).
func MountShared(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	best, shared := -1, false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 7 {
			continue
		}
		mp := f[4]
		if mp == path || mp == "/" || strings.HasPrefix(path, mp+"/") {
			if len(mp) >= best {
				best = len(mp)
				shared = false
				for _, o := range f[6:] {
					if o == "-" {
						break
					}
					if strings.HasPrefix(o, "shared:") {
						shared = true
					}
				}
			}
		}
	}
	return shared
}
