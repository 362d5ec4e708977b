package hostcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// parseRelease reads major and minor from a kernel release such as
// "6.18.44-fc-v857".
func parseRelease(rel string) (major, minor int, ok bool) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	end := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(parts[1])
	}
	minor, err2 := strconv.Atoi(parts[1][:end])
	return major, minor, err1 == nil && err2 == nil
}

// parseFilesystems returns the filesystem types of /proc/filesystems.
func parseFilesystems(data []byte) map[string]bool {
	fs := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			fs[f[len(f)-1]] = true
		}
	}
	return fs
}

// procCgroup is a line of /proc/cgroups.
type procCgroup struct {
	name      string
	hierarchy int
	enabled   bool
}

// parseProcCgroups reads /proc/cgroups (subsys_name hierarchy num_cgroups
// enabled); hierarchy 0 is a controller on no v1 hierarchy.
func parseProcCgroups(data []byte) []procCgroup {
	var out []procCgroup
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		h, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		out = append(out, procCgroup{name: f[0], hierarchy: h, enabled: f[3] == "1"})
	}
	return out
}

// selfCgroup is a line of /proc/self/cgroup: "id:controllers:path".
type selfCgroup struct {
	id          int
	controllers []string
	path        string
}

func parseSelfCgroup(data []byte) []selfCgroup {
	var out []selfCgroup
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		var ctrls []string
		if f[1] != "" {
			ctrls = strings.Split(f[1], ",")
		}
		out = append(out, selfCgroup{id: id, controllers: ctrls, path: f[2]})
	}
	return out
}

// Cgroup modes, as `hull check` names them.
const (
	modeNone   = "none"
	modeV1     = "v1"
	modeHybrid = "hybrid"
	modeV2     = "v2"
)

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	// controllers of a v1 hierarchy ("cpu", "name=systemd"), or of the
	// cgroup2 mount (its cgroup.controllers).
	controllers []string
	v2          bool
	mountpoint  string
	// mountRoot is the hierarchy's directory mounted there ("/" usually).
	mountRoot string
	// own is the caller's cgroup in it, from /proc/self/cgroup.
	own string
}

// dir is the directory of the caller's own cgroup, below the mount.
func (h *hierarchy) dir() string {
	p := h.own
	if h.mountRoot != "/" && h.mountRoot != "" {
		if rel, ok := strings.CutPrefix(p, h.mountRoot); ok && (rel == "" || rel[0] == '/') {
			p = rel
		}
	}
	return strings.TrimSuffix(h.mountpoint+p, "/")
}

// name is how the report names the hierarchy.
func (h *hierarchy) name() string {
	if h.v2 {
		return "cgroup2"
	}
	return strings.Join(h.controllers, ",")
}

// cgroupLayout is what a host's cgroup mounts look like to the caller.
type cgroupLayout struct {
	mode string
	// v1 are the v1 hierarchies with controllers (or a name=), v2 the
	// cgroup2 mount if any.
	v1 []*hierarchy
	v2 *hierarchy
	// unmounted are controllers the kernel has enabled that no mounted
	// hierarchy offers.
	unmounted []string
}

// readFunc reads a file of the host (under the checked root).
type readFunc func(path string) ([]byte, error)

// parseCgroupLayout works out the layout from mountinfo, /proc/self/cgroup
// and /proc/cgroups; read fetches cgroup.controllers of the cgroup2 mount.
// The first mount of each hierarchy wins, as the kernel shows one
// hierarchy once per bind.
func parseCgroupLayout(mountinfoData, selfData, procData []byte, read readFunc) (*cgroupLayout, error) {
	mounts, err := mountinfo.GetMountsFromReader(bytes.NewReader(mountinfoData), func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	self := parseSelfCgroup(selfData)
	own := func(ctrls []string, v2 bool) string {
		for _, s := range self {
			if v2 && s.id == 0 && len(s.controllers) == 0 {
				return s.path
			}
			if !v2 && len(s.controllers) > 0 && slices.Equal(sorted(s.controllers), sorted(ctrls)) {
				return s.path
			}
		}
		return "/"
	}
	l := &cgroupLayout{}
	seen := map[string]bool{}
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			if l.v2 != nil {
				continue
			}
			h := &hierarchy{v2: true, mountpoint: m.Mountpoint, mountRoot: m.Root, own: own(nil, true)}
			if b, err := read(m.Mountpoint + "/cgroup.controllers"); err == nil {
				h.controllers = strings.Fields(string(b))
			}
			l.v2 = h
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if isController(o) {
				ctrls = append(ctrls, o)
			}
		}
		key := strings.Join(sorted(ctrls), ",")
		if len(ctrls) == 0 || seen[key] {
			continue
		}
		seen[key] = true
		l.v1 = append(l.v1, &hierarchy{controllers: ctrls, mountpoint: m.Mountpoint, mountRoot: m.Root, own: own(ctrls, false)})
	}
	resource := 0 // v1 hierarchies with a resource controller, not only a name=
	have := map[string]bool{}
	for _, h := range l.v1 {
		for _, c := range h.controllers {
			have[c] = true
			if !strings.HasPrefix(c, "name=") {
				resource++
			}
		}
	}
	if l.v2 != nil {
		for _, c := range l.v2.controllers {
			have[c] = true
		}
	}
	switch {
	case resource > 0 && l.v2 != nil:
		l.mode = modeHybrid
	case resource > 0:
		l.mode = modeV1
	case l.v2 != nil:
		l.mode = modeV2
	default:
		l.mode = modeNone
	}
	for _, pc := range parseProcCgroups(procData) {
		// On a v2-only host /proc/cgroups lists every controller with
		// hierarchy 0; those not in cgroup.controllers are not usable.
		if pc.enabled && !have[pc.name] {
			l.unmounted = append(l.unmounted, pc.name)
		}
	}
	return l, nil
}

// isController tells a v1 mount option that names a controller (or a
// named hierarchy) from the generic options (rw, relatime, ...).
func isController(opt string) bool {
	switch opt {
	case "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
		"blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug":
		return true
	}
	return strings.HasPrefix(opt, "name=")
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// controllerUse says what part of a config.json a controller serves.
var controllerUse = map[string]string{
	"cpu":      "linux.resources.cpu shares/quota",
	"cpuacct":  "CPU usage in hull events --stats",
	"cpuset":   "linux.resources.cpu.cpus/mems",
	"memory":   "linux.resources.memory",
	"pids":     "linux.resources.pids",
	"blkio":    "linux.resources.blockIO",
	"io":       "linux.resources.blockIO",
	"hugetlb":  "linux.resources.hugepageLimits",
	"net_cls":  "linux.resources.network.classID",
	"net_prio": "linux.resources.network.priorities",
	"devices":  "linux.resources.devices (v1)",
	"freezer":  "hull pause/resume (v1)",
	"rdma":     "linux.resources.rdma",
	// perf_event, misc and debug serve nothing in config.json.
}

// idRange is a range of subordinate ids.
type idRange struct{ start, count uint64 }

// parseSubID returns the ranges of /etc/subuid or /etc/subgid
// ("name-or-id:start:count") that belong to user name or uid.
func parseSubID(data []byte, name string, uid int) []idRange {
	var out []idRange
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(uid)) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 64)
		count, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, idRange{start, count})
	}
	return out
}

// formatRanges writes ranges as "100000-165535 (65536 ids)".
func formatRanges(rs []idRange) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d-%d (%d ids)", r.start, r.start+r.count-1, r.count))
	}
	return strings.Join(parts, ", ")
}

// lsmNames maps the LSM_ID_* of lsm_list_modules(2) to the names of
// /sys/kernel/security/lsm.
var lsmNames = map[uint64]string{
	100: "capability", 101: "selinux", 102: "smack", 103: "tomoyo",
	104: "apparmor", 105: "yama", 106: "loadpin", 107: "safesetid",
	108: "lockdown", 109: "bpf", 110: "landlock", 111: "ima", 112: "evm",
	113: "ipe",
}

// parseLSMList splits /sys/kernel/security/lsm ("capability,landlock,...").
func parseLSMList(data []byte) []string {
	var out []string
	for _, s := range strings.Split(strings.TrimSpace(string(data)), ",") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
