package conformance

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FakeResctrl is a resctrl filesystem for hosts without one (no Intel RDT
// or AMD PQoS in the CPU, or a kernel without resctrl): a FUSE filesystem
// served by the test process and mounted for real, which behaves as the
// kernel's does (Documentation/filesystems/resctrl.rst) for what the
// runtime-spec asks of a runtime:
//
//   - mkdir at the top level makes a CTRL_MON group holding schemata
//     (the root group's values), tasks, cpus, mon_groups/ and mon_data/;
//     past info/*/num_closids groups it fails with ENOSPC;
//   - mkdir in a mon_groups directory makes a MON group (tasks,
//     mon_data/); past the limit SetMonGroupLimit sets it fails with
//     ENOSPC, as the kernel's does when no RMID is left;
//   - rmdir removes a group whatever it holds (its tasks go back to the
//     parent); other directories and files cannot be removed (EPERM);
//   - a write to schemata needs its trailing newline, is checked (known
//     resource and domain, a contiguous mask within cbm_mask, a bandwidth
//     within [min_bandwidth, 100]) and applied as a whole or refused
//     with EINVAL and a reason in info/last_cmd_status;
//   - a write to tasks takes one pid, which must exist (ESRCH); a MON
//     group only takes a task of its parent CTRL_MON group (EINVAL).
//
// Every mkdir, rmdir and write is recorded (Mark, OpsSince), as is every write to a
// schemata file (Writes, per group, in order) and every pid written to a
// tasks file (Tasks), so that a test can tell what the runtime did.
//
// The runtime still needs Wrap to find it: runtimes take the mount of
// type "resctrl" in their mountinfo, and a FUSE mount's type is
// "fuse.resctrl". So in a mount namespace of the runtime's own, a copy
// of the mountinfo with that one type renamed is bound over
// /proc/<pid>/mountinfo (a shell binds it over its own pid, then execs
// the runtime), and a copy of /proc/cpuinfo with the RDT CPU flags
// (rdt_a, cat_l3, mba, cqm_*) that some runtimes look for over
// /proc/cpuinfo. Everything under Root is the filesystem itself.
type FakeResctrl struct {
	Root string
	Wrap []string

	server *fuse.Server

	mu       sync.Mutex
	groups   map[string]*rdtGroup // by path under Root: "" is the root group
	member   map[int]string       // pid -> CTRL_MON group; absent: root or inherited
	monOf    map[int]string       // pid -> MON group
	monLimit int                  // MON groups allowed; < 0: no limit
	status   string               // info/last_cmd_status
	ops      []string
}

// rdtGroup is a CTRL_MON group (schemata set) or a MON group.
type rdtGroup struct {
	schemata map[string]map[int]uint64 // resource -> domain -> value
	writes   []string
	tasks    []int
}

const (
	fakeCBMMask  = 0x7ff // info/L3/cbm_mask: 11 bits
	fakeClosIDs  = 16    // info/*/num_closids, the root group included
	fakeMinBW    = 10
	fakeBWGran   = 10
	fakeResNames = 6 // the kernel pads resource names to the widest (L3CODE)
)

// fakeInfo is the info directory: what the resources and monitoring
// offer (the root group's schemata is every mask bit, 100% bandwidth).
var fakeInfo = map[string]string{
	"L3/cbm_mask":         fmt.Sprintf("%x\n", fakeCBMMask),
	"L3/min_cbm_bits":     "1\n",
	"L3/num_closids":      fmt.Sprintf("%d\n", fakeClosIDs),
	"L3/shareable_bits":   "0\n",
	"MB/bandwidth_gran":   fmt.Sprintf("%d\n", fakeBWGran),
	"MB/min_bandwidth":    fmt.Sprintf("%d\n", fakeMinBW),
	"MB/num_closids":      fmt.Sprintf("%d\n", fakeClosIDs),
	"MB/delay_linear":     "1\n",
	"L3_MON/num_rmids":    "224\n",
	"L3_MON/mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
}

// FuseAvailable says why a FakeResctrl cannot be mounted here, or "".
func FuseAvailable() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse (the fuse kernel module)"
	}
	if os.Geteuid() != 0 {
		return "mounting FUSE with mount(2) needs root"
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return "no unshare(1) (util-linux) for the runtime's mount namespace"
	}
	return ""
}

// NewFakeResctrl mounts the fake at dir/resctrl and writes the files Wrap
// binds under dir. Close unmounts it.
func NewFakeResctrl(dir string) (*FakeResctrl, error) {
	if why := FuseAvailable(); why != "" {
		return nil, errors.New(why)
	}
	f := &FakeResctrl{
		Root:     filepath.Join(dir, "resctrl"),
		groups:   map[string]*rdtGroup{"": {schemata: map[string]map[int]uint64{"L3": {0: fakeCBMMask}, "MB": {0: 100}}}},
		member:   map[int]string{},
		monOf:    map[int]string{},
		monLimit: -1,
		status:   "ok\n",
	}
	if err := os.Mkdir(f.Root, 0o755); err != nil {
		return nil, err
	}
	zero := time.Duration(0)
	srv, err := fs.Mount(f.Root, &rdtDir{f: f, kind: dirRoot}, &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			Name: "resctrl", FsName: "resctrl", DirectMountStrict: true, DisableXAttrs: true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mount the fake resctrl (FUSE) on %s: %w", f.Root, err)
	}
	f.server = srv
	if err := f.writeWrap(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *FakeResctrl) writeWrap(dir string) error {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var lines []string
	found := false
	for _, l := range strings.Split(strings.TrimSuffix(string(mi), "\n"), "\n") {
		if fs := strings.Fields(l); len(fs) > 4 && fs[4] == f.Root {
			l = strings.Replace(l, " - fuse.resctrl ", " - resctrl ", 1)
			found = true
		}
		lines = append(lines, l)
	}
	if !found {
		return fmt.Errorf("the fake resctrl mount %s is not in /proc/self/mountinfo", f.Root)
	}
	mountinfo := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(mountinfo, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return err
	}
	lines = nil
	for _, l := range strings.Split(string(ci), "\n") {
		if strings.HasPrefix(l, "flags") {
			l += " rdt_a cat_l3 mba cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local"
		}
		lines = append(lines, l)
	}
	cpuinfo := filepath.Join(dir, "cpuinfo")
	if err := os.WriteFile(cpuinfo, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	f.Wrap = []string{"unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount --bind "$0" /proc/$$/mountinfo && mount --bind "$1" /proc/cpuinfo && shift && exec "$@"`,
		mountinfo, cpuinfo}
	return nil
}

// Close unmounts the fake. A mount namespace that still holds a copy of
// the mount (a runtime or container left behind) keeps the server busy:
// then the mount is detached and the server left to end with it.
func (f *FakeResctrl) Close() error {
	done := make(chan error, 1)
	go func() { done <- f.server.Unmount() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("unmount %s: still in use; detached: %v", f.Root, syscall.Unmount(f.Root, syscall.MNT_DETACH))
	}
}

// Group makes the CTRL_MON group name through the mount, as an
// administrator would, writes schemata to it, and returns its directory.
// The write is left out of Writes (not out of the operations: take a
// Mark after Group).
func (f *FakeResctrl) Group(name, schemata string) (string, error) {
	g := filepath.Join(f.Root, name)
	if err := os.Mkdir(g, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(g, "schemata"), []byte(schemata), 0o644); err != nil {
		return "", fmt.Errorf("%w (%s)", err, f.LastStatus())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[name].writes = nil
	return g, nil
}

// SetMonGroupLimit makes mkdir of a MON group fail with ENOSPC once n
// MON groups exist (n < 0: no limit). The kernel's limit is its RMIDs,
// which CTRL_MON groups use too; this one counts MON groups only, so that
// a test can run out of them and still make CTRL_MON groups.
func (f *FakeResctrl) SetMonGroupLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.monLimit = n
}

// MonGroups counts the MON groups.
func (f *FakeResctrl) MonGroups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.groups {
		if isMonKey(k) {
			n++
		}
	}
	return n
}

// Exists says whether group (a path under Root: "g", "g/mon_groups/m")
// exists.
func (f *FakeResctrl) Exists(group string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[group] != nil
}

// Writes returns every write to group's schemata file, in order, kept
// after the group is removed.
func (f *FakeResctrl) Writes(group string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.record(group).writes)
}

// Tasks returns every pid written to group's tasks file, in order.
func (f *FakeResctrl) Tasks(group string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.record(group).tasks)
}

// Mark returns the position in the record of mkdir, rmdir and write
// calls now, for OpsSince.
func (f *FakeResctrl) Mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

// OpsSince returns the mkdir, rmdir and write calls made since Mark
// returned m, as "mkdir g", "rmdir g/mon_groups/m", "write g/schemata".
func (f *FakeResctrl) OpsSince(m int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops[m:])
}

// LastStatus is info/last_cmd_status.
func (f *FakeResctrl) LastStatus() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.TrimSpace(f.status)
}

// record returns group, or the record of a removed one: removed groups
// keep their history under "-" + path (the last one of that name).
func (f *FakeResctrl) record(group string) *rdtGroup {
	if g := f.groups[group]; g != nil {
		return g
	}
	if g := f.groups["-"+group]; g != nil {
		return g
	}
	return &rdtGroup{}
}

func isMonKey(k string) bool {
	return !strings.HasPrefix(k, "-") && (strings.HasPrefix(k, "mon_groups/") || strings.Contains(k, "/mon_groups/"))
}

// monParent is the CTRL_MON group of a MON group's path.
func monParent(k string) string {
	p, _, _ := strings.Cut(k, "mon_groups/")
	return strings.TrimSuffix(p, "/")
}

// ctrlOf is the CTRL_MON group of pid: where it was written last, else
// where its nearest such ancestor was (a task inherits its group at
// fork; the fake cannot tell whether the move came before the fork and
// assumes it did), else the root group.
func (f *FakeResctrl) ctrlOf(pid int) string {
	for p, i := pid, 0; p > 1 && i < 64; i++ {
		if g, ok := f.member[p]; ok {
			return g
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			break
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			break
		}
		p, _ = strconv.Atoi(fields[1])
	}
	return ""
}

func (f *FakeResctrl) fail(errno syscall.Errno, format string, args ...any) syscall.Errno {
	f.status = fmt.Sprintf(format, args...) + "\n"
	return errno
}

// mkdir makes the group key (called with f.mu held).
func (f *FakeResctrl) mkdir(key string, mon bool) syscall.Errno {
	f.ops = append(f.ops, "mkdir "+key)
	f.status = "ok\n"
	if f.groups[key] != nil {
		return syscall.EEXIST
	}
	n := 0
	for k := range f.groups {
		if !strings.HasPrefix(k, "-") && isMonKey(k) == mon {
			n++
		}
	}
	if mon {
		if f.monLimit >= 0 && n >= f.monLimit {
			return f.fail(syscall.ENOSPC, "Out of RMIDs")
		}
		f.groups[key] = &rdtGroup{}
		return 0
	}
	if n >= fakeClosIDs {
		return f.fail(syscall.ENOSPC, "Out of CLOSIDs")
	}
	g := &rdtGroup{schemata: map[string]map[int]uint64{}}
	for r, ds := range f.groups[""].schemata {
		g.schemata[r] = map[int]uint64{}
		for d, v := range ds {
			g.schemata[r][d] = v
		}
	}
	f.groups[key] = g
	return 0
}

// rmdir removes the group key and, for a CTRL_MON group, its MON groups;
// their tasks go back to the parent (called with f.mu held).
func (f *FakeResctrl) rmdir(key string) {
	f.ops = append(f.ops, "rmdir "+key)
	for k, g := range f.groups {
		if k == key || (!isMonKey(key) && !strings.HasPrefix(k, "-") && isMonKey(k) && monParent(k) == key) {
			f.groups["-"+k] = g
			delete(f.groups, k)
		}
	}
	for pid, g := range f.member {
		if g == key {
			delete(f.member, pid)
		}
	}
	for pid, g := range f.monOf {
		if g == key || monParent(g) == key {
			delete(f.monOf, pid)
		}
	}
}

// writeSchemata applies a write to key's schemata as the kernel's
// rdtgroup_schemata_write does (called with f.mu held).
func (f *FakeResctrl) writeSchemata(key string, data string) syscall.Errno {
	g := f.groups[key]
	f.ops = append(f.ops, "write "+filepath.Join(key, "schemata"))
	g.writes = append(g.writes, data)
	f.status = "ok\n"
	if data == "" || !strings.HasSuffix(data, "\n") {
		return syscall.EINVAL // before the kernel clears last_cmd_status
	}
	staged := map[string]map[int]uint64{}
	for _, l := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		name, doms, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok {
			return f.fail(syscall.EINVAL, "Missing ':'")
		}
		if g.schemata[name] == nil {
			return f.fail(syscall.EINVAL, "Unknown or unsupported resource name '%s'", name)
		}
		for _, d := range strings.Split(doms, ";") {
			id, val, _ := strings.Cut(d, "=")
			n, err := strconv.Atoi(strings.TrimSpace(id))
			if _, known := g.schemata[name][n]; err != nil || !known {
				return f.fail(syscall.EINVAL, "Missing '=' or non-numeric domain id")
			}
			if _, dup := staged[name][n]; dup {
				return f.fail(syscall.EINVAL, "Duplicate domain %d", n)
			}
			v, errno := f.parseValue(name, strings.TrimSpace(val))
			if errno != 0 {
				return errno
			}
			if staged[name] == nil {
				staged[name] = map[int]uint64{}
			}
			staged[name][n] = v
		}
	}
	for r, ds := range staged {
		for d, v := range ds {
			g.schemata[r][d] = v
		}
	}
	return 0
}

func (f *FakeResctrl) parseValue(res, val string) (uint64, syscall.Errno) {
	if res == "MB" {
		bw, err := strconv.ParseUint(val, 10, 32)
		if err != nil || bw < fakeMinBW || bw > 100 {
			return 0, f.fail(syscall.EINVAL, "MB value %s out of range [%d,%d]", val, fakeMinBW, 100)
		}
		return (bw + fakeBWGran - 1) / fakeBWGran * fakeBWGran, 0
	}
	m, err := strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 32)
	if err != nil {
		return 0, f.fail(syscall.EINVAL, "Non-hex character in the mask %s", val)
	}
	low := m & -m
	switch {
	case m == 0 || m&^fakeCBMMask != 0:
		return 0, f.fail(syscall.EINVAL, "Mask out of range")
	case (m+low)&m != 0:
		return 0, f.fail(syscall.EINVAL, "The mask %x has non-consecutive 1-bits", m)
	}
	return m, 0
}

// writeTasks moves a pid into key (called with f.mu held).
func (f *FakeResctrl) writeTasks(key, data string) syscall.Errno {
	g := f.groups[key]
	f.ops = append(f.ops, "write "+filepath.Join(key, "tasks"))
	f.status = "ok\n"
	pid, err := strconv.Atoi(strings.TrimSpace(data))
	if err != nil || pid < 0 {
		return syscall.EINVAL
	}
	g.tasks = append(g.tasks, pid)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); pid == 0 || err != nil {
		return f.fail(syscall.ESRCH, "No task %d", pid)
	}
	if isMonKey(key) {
		if f.ctrlOf(pid) != monParent(key) {
			return f.fail(syscall.EINVAL, "Can't move task to different control group")
		}
		f.monOf[pid] = key
		return 0
	}
	if f.ctrlOf(pid) != key {
		delete(f.monOf, pid)
	}
	f.member[pid] = key
	return 0
}

// readTasks lists the live tasks of key (called with f.mu held).
func (f *FakeResctrl) readTasks(key string) string {
	var b strings.Builder
	seen := map[int]bool{}
	for _, pid := range f.groups[key].tasks {
		in := f.member[pid] == key
		if isMonKey(key) {
			in = f.monOf[pid] == key
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); in && err == nil && !seen[pid] {
			seen[pid] = true
			fmt.Fprintf(&b, "%d\n", pid)
		}
	}
	return b.String()
}

// readSchemata prints key's schemata as the kernel does: names padded
// to the widest, masks zero-padded to the mask's width, bandwidths
// space-padded to 3 (called with f.mu held).
func (f *FakeResctrl) readSchemata(key string) string {
	var b strings.Builder
	for _, r := range []string{"L3", "MB"} {
		ds := f.groups[key].schemata[r]
		fmt.Fprintf(&b, "%*s:", fakeResNames, r)
		for i, d := range slices.Sorted(mapKeys(ds)) {
			if i > 0 {
				b.WriteString(";")
			}
			if r == "MB" {
				fmt.Fprintf(&b, "%d=%3d", d, ds[d])
			} else {
				fmt.Fprintf(&b, "%d=%03x", d, ds[d])
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func mapKeys[V any](m map[int]V) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
