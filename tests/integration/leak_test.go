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

// checkNoLeaks asserts that nothing of container id (bundle bundleDir) is
// left on the host: no state dir under the root, no mount, no process
// naming the id or bundle, no cgroup. (Processes a failed call leaves
// behind under other names are caught by the reaper: see callReaped.)
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
		if (id != "" && strings.Contains(cmd, id)) || (bundleDir != "" && strings.Contains(cmd, bundleDir)) {
			t.Errorf("leak: process %d %q", pid, cmd)
		}
	}
	if id != "" {
		if dirs := cgroupDirs(id); len(dirs) > 0 {
			t.Errorf("leak: %d cgroups named after %s: %s", len(dirs), id, strings.Join(dirs, " "))
		}
	}
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
