package integration

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// hostSnapshot is what a failed runtime call must leave unchanged.
type hostSnapshot struct {
	mounts map[string]bool // mountinfo lines mentioning the bundle
	pids   map[int]bool    // all live pids
	// parallel: other tests may be starting containers meanwhile, so
	// orphaned runtime inits are not necessarily ours.
	parallel bool
}

// snapshot records the host state relevant to a leak check of bundle.
func snapshot(t *testing.T, bundleDir string) hostSnapshot {
	t.Helper()
	s := hostSnapshot{mounts: map[string]bool{}, pids: map[int]bool{}}
	for _, l := range mountLines(t, bundleDir) {
		s.mounts[l] = true
	}
	for _, pid := range allPids() {
		s.pids[pid] = true
	}
	return s
}

// snapshotParallel is snapshot for tests that run in parallel with others.
func snapshotParallel(t *testing.T, bundleDir string) hostSnapshot {
	t.Helper()
	s := snapshot(t, bundleDir)
	s.parallel = true
	return s
}

// checkNoLeaks asserts that nothing of container id (bundle bundleDir) is
// left on the host: no state dir under the root, no mount, no process, no
// cgroup.
func checkNoLeaks(t *testing.T, r *rt, id, bundleDir string, before hostSnapshot) {
	t.Helper()
	if id != "" {
		_, err := os.Lstat(filepath.Join(r.root, id))
		if !os.IsNotExist(err) && !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("leak: state dir %s exists (%v)", filepath.Join(r.root, id), err)
		}
	}
	for _, l := range mountLines(t, bundleDir) {
		if !before.mounts[l] {
			t.Errorf("leak: mount %s", l)
		}
	}
	for _, pid := range allPids() {
		if before.pids[pid] || pid == os.Getpid() {
			continue
		}
		cmd := procCmdline(pid)
		switch {
		case id != "" && strings.Contains(cmd, id),
			bundleDir != "" && strings.Contains(cmd, bundleDir):
			t.Errorf("leak: process %d %q", pid, cmd)
		case !before.parallel && isRuntimeInit(pid, cmd) && orphaned(pid):
			t.Errorf("leak: runtime init process %d %q", pid, cmd)
		}
	}
	if id != "" {
		if dirs := cgroupDirs(id); len(dirs) > 0 {
			t.Errorf("leak: %d cgroups named after %s: %s", len(dirs), id, strings.Join(dirs, " "))
		}
	}
}

// isRuntimeInit reports whether pid looks like the runtime's own init
// (`hull init`, `runc init`) left behind by a failed create.
func isRuntimeInit(pid int, cmdline string) bool {
	f := strings.Fields(cmdline)
	if len(f) < 2 || f[1] != "init" {
		return false
	}
	base := filepath.Base(f[0])
	if base == filepath.Base(testEnv.binary) || f[0] == "/proc/self/exe" {
		return true
	}
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return strings.Contains(exe, filepath.Base(testEnv.binary))
}

// orphaned reports whether pid's parent is init or this test process: a
// runtime init left by a failed call is reparented, while one that another
// runtime invocation on the host is still driving has that as its parent.
func orphaned(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return false
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid == 1 || ppid == os.Getpid()
}

// mountLines returns the lines of /proc/self/mountinfo that mention dir.
func mountLines(t *testing.T, dir string) []string {
	t.Helper()
	if dir == "" {
		return nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), dir) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupDirs returns the directories under every cgroup hierarchy
// (/sys/fs/cgroup/*/, v1 and v2) whose name contains id.
func cgroupDirs(id string) []string {
	var found []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	seen := map[string]bool{}
	for _, h := range hierarchies {
		_ = filepath.WalkDir(h, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if !d.IsDir() {
				return nil
			}
			if p != h && p != "/sys/fs/cgroup" && filepath.Dir(p) == "/sys/fs/cgroup" {
				return fs.SkipDir // another hierarchy, walked on its own
			}
			if strings.Contains(d.Name(), id) && !seen[p] {
				seen[p] = true
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}
