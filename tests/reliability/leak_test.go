//go:build reliability

package reliability

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leaks lists what is left on the host of the containers ids (bundles are
// their bundle directories): state directories, cgroups, mounts, and
// processes (live children of this subreaper that are not running calls,
// and any process carrying RELTEST=<id>).
func leaks(ids, bundles []string) []string {
	var out []string
	for _, id := range ids {
		if _, err := os.Lstat(filepath.Join(testEnv.root, id)); err == nil {
			ents, _ := os.ReadDir(filepath.Join(testEnv.root, id))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			out = append(out, "state dir "+filepath.Join(testEnv.root, id)+" ["+strings.Join(names, " ")+"]")
		}
		for _, d := range cgroupDirs(id) {
			out = append(out, "cgroup "+d)
		}
	}
	out = append(out, rootLeftovers()...)
	for _, l := range mountLines(append(append([]string{}, ids...), bundles...)) {
		out = append(out, "mount "+l)
	}
	reg.reap()
	for _, pid := range children() {
		if reg.tracked(pid) {
			continue
		}
		if st, err := procState(pid); err == nil && st != 'Z' {
			out = append(out, "process "+strconv.Itoa(pid)+" "+strconv.Quote(cmdline(pid))+" (orphan reparented to the test)")
		}
	}
	for _, pid := range markedProcs(ids) {
		out = append(out, "process "+strconv.Itoa(pid)+" "+strconv.Quote(cmdline(pid))+" (container process, parent "+strconv.Itoa(procPPid(pid))+")")
	}
	return out
}

// rootLeftovers lists what under the state root is no container's state
// directory: a file, or a hidden entry (hull's seccomp compile cache was
// one, issue 20). A create's ".new-*" directory exists only until its
// rename (and a killed create's is swept by the next create).
func rootLeftovers() []string {
	ents, _ := os.ReadDir(testEnv.root)
	var out []string
	for _, e := range ents {
		if e.IsDir() && (!strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), ".new-")) {
			continue
		}
		out = append(out, "state root entry "+filepath.Join(testEnv.root, e.Name())+" (no container's state)")
	}
	return out
}

// checkClean fails the test if anything of ids is left. Processes may
// take a moment to go after delete returns, so it retries for 3s.
func checkClean(t testing.TB, ids, bundles []string) {
	t.Helper()
	var l []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		l = leaks(ids, bundles)
		if len(l) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range l {
		t.Errorf("leak: %s", s)
	}
	if len(l) > 0 {
		scrub(ids)
	}
}

// scrub removes what a failed case leaked, so that the next case starts
// clean: it kills leaked processes, removes cgroups and state dirs.
func scrub(ids []string) {
	for _, pid := range children() {
		if !reg.tracked(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, pid := range markedProcs(ids) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(100 * time.Millisecond)
	reg.reap()
	for _, id := range ids {
		dirs := cgroupDirs(id)
		// Deepest first.
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = filepath.WalkDir(dirs[i], func(string, fs.DirEntry, error) error { return nil })
			_ = os.Remove(dirs[i])
		}
		_ = os.RemoveAll(filepath.Join(testEnv.root, id))
	}
	ents, _ := os.ReadDir(testEnv.root)
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), ".new-") {
			_ = os.RemoveAll(filepath.Join(testEnv.root, e.Name()))
		}
	}
}

// cgroupDirs returns the directories under every hierarchy whose name
// contains id.
func cgroupDirs(id string) []string {
	var found []string
	hs, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hs {
		_ = filepath.WalkDir(h, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Contains(d.Name(), id) {
				found = append(found, p)
				return fs.SkipDir
			}
			return nil
		})
	}
	return found
}

// mountLines returns the lines of this mount namespace's mountinfo that
// mention any of words.
func mountLines(words []string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{"cannot read mountinfo: " + err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, w := range words {
			if w != "" && strings.Contains(sc.Text(), w) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	return out
}

// markedProcs returns the live processes whose environment holds
// RELTEST=<id> for one of ids.
func markedProcs(ids []string) []int {
	if len(ids) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want["RELTEST="+id] = true
	}
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || len(b) == 0 {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if want[kv] {
				if st, err := procState(pid); err == nil && st != 'Z' {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

// fdCount is the number of open fds of pid (-1 if unreadable).
func fdCount(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// mustFdCount is fdCount for a measurement the test relies on: an
// unreadable count fails the test (two -1 readings would compare equal and
// hide any leak).
func mustFdCount(t testing.TB, what string, pid int) int {
	t.Helper()
	n := fdCount(pid)
	if n < 0 {
		t.Errorf("cannot count the fds of %s (pid %d): /proc/%d/fd unreadable", what, pid, pid)
	}
	return n
}

// mustRSS is rssKB for a measurement the test relies on.
func mustRSS(t testing.TB, what string, pid int) int {
	t.Helper()
	n := rssKB(pid)
	if n < 0 {
		t.Errorf("cannot read the RSS of %s (pid %d) from /proc/%d/status", what, pid, pid)
	}
	return n
}

// rssKB is pid's resident set size in kB (VmRSS), -1 if unreadable.
func rssKB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return -1
}

// cleanup deletes ids with --force (ignoring failures: checkClean judges)
// and then checks that nothing is left.
func cleanup(t testing.TB, ids []string, bundles []string) {
	t.Helper()
	for _, id := range ids {
		r := testEnv.call(t, callOpts{timeout: 30 * time.Second}, "delete", "--force", id)
		if r.timedOut {
			t.Errorf("hang: %v", r)
		}
	}
	checkClean(t, ids, bundles)
}
