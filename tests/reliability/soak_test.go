//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoak runs SOAK_CYCLES create/start/delete cycles and SOAK_EXECS
// execs into a container kept by a foreground `hull run`, then wants zero
// leaked mounts, cgroups, state dirs, processes and zombies, no fd growth
// of the long-lived hull run and its container, and its RSS flat. The
// numbers go to the log and, when SOAK_REPORT is set, to that file.
func TestSoak(t *testing.T) {
	cycles := envInt("SOAK_CYCLES", 100)
	execs := envInt("SOAK_EXECS", 50)
	mountsBefore := len(mountLines([]string{testEnv.rootfs, testEnv.root}))
	t0 := time.Now()

	// The long-lived process: a foreground `hull run`.
	runID := newID("soak-run")
	rb := newBundle(t, runID, nil)
	var runRes result
	var wg sync.WaitGroup
	runPid := make(chan int, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		runRes = testEnv.call(t, callOpts{timeout: 30 * time.Minute, started: func(p *os.Process) { runPid <- p.Pid }},
			"run", "--bundle", rb.dir, runID)
	}()
	pid := <-runPid
	waitFor(t, 10*time.Second, func() bool { st, _ := stateOf(t, runID); return st.Status == "running" })
	st, ok := stateOf(t, runID)
	if !ok || st.Status != "running" {
		t.Fatalf("hull run did not bring %s up: %+v", runID, st)
	}
	// One exec to warm up, then measure.
	testEnv.mustHull(t, "exec", runID, "true")
	fdRun0, rss0, fdInit0 := mustFdCount(t, "hull run", pid), mustRSS(t, "hull run", pid), mustFdCount(t, "the container init", st.Pid)

	execStart := time.Now()
	var execFail int
	for i := 0; i < execs; i++ {
		r := testEnv.call(t, callOpts{timeout: 30 * time.Second}, "exec", runID, "ls", "/proc/self/fd")
		if r.code != 0 || r.timedOut {
			execFail++
			t.Errorf("exec %d: %v", i, r)
			continue
		}
		// 0 1 2, and the fd ls reads the directory with: nothing of hull's.
		if fds := strings.Fields(r.stdout); len(fds) > 4 {
			t.Errorf("exec %d: the process got fds %v, want only 0 1 2 (and ls's own)", i, fds)
		}
	}
	execDur := time.Since(execStart)
	fdRun1, rss1, fdInit1 := mustFdCount(t, "hull run", pid), mustRSS(t, "hull run", pid), mustFdCount(t, "the container init", st.Pid)
	// No zombie in the container: every exec'd process was reaped.
	r := testEnv.mustHull(t, "exec", runID, "sh", "-c", "cat /proc/[0-9]*/stat")
	zombies := 0
	for _, l := range strings.Split(r.stdout, "\n") {
		if i := strings.LastIndexByte(l, ')'); i > 0 && i+2 < len(l) && l[i+2] == 'Z' {
			zombies++
			t.Errorf("zombie in the container after %d execs: %s", execs, l)
		}
	}
	if fdRun1 != fdRun0 {
		t.Errorf("hull run's fds went from %d to %d over %d execs", fdRun0, fdRun1, execs)
	}
	if fdInit1 != fdInit0 {
		t.Errorf("the container init's fds went from %d to %d over %d execs", fdInit0, fdInit1, execs)
	}
	// RSS: a Go process settles within a few MB; growth beyond 16 MB over
	// the execs is a leak (hull run holds nothing per exec).
	if rss1-rss0 > 16*1024 {
		t.Errorf("hull run's RSS grew from %d kB to %d kB over %d execs", rss0, rss1, execs)
	}

	// Cycles, two at a time (engines call concurrently).
	cycleStart := time.Now()
	ids := make([]string, cycles)
	var mu sync.Mutex
	var cycleFail int
	sem := make(chan struct{}, 2)
	b := newBundle(t, "soak", nil)
	var cwg sync.WaitGroup
	for i := 0; i < cycles; i++ {
		ids[i] = newID("soak-" + strconv.Itoa(i))
		cwg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer cwg.Done()
			defer func() { <-sem }()
			for _, args := range [][]string{{"create", "--bundle", b.dir, id}, {"start", id}, {"delete", "--force", id}} {
				if r := testEnv.call(t, callOpts{timeout: 60 * time.Second}, args...); r.code != 0 || r.timedOut {
					mu.Lock()
					cycleFail++
					mu.Unlock()
					t.Errorf("cycle %s: %v", id, r)
					testEnv.call(t, callOpts{}, "delete", "--force", id)
					return
				}
			}
		}(ids[i])
	}
	cwg.Wait()
	cycleDur := time.Since(cycleStart)

	// Stop the long-lived container; hull run must exit with it.
	testEnv.mustHull(t, "kill", runID, "KILL")
	wg.Wait()
	if runRes.timedOut {
		t.Errorf("hull run did not exit after its container was killed: %v", runRes)
	}
	testEnv.call(t, callOpts{}, "delete", "--force", runID)
	checkClean(t, append(ids, runID), []string{b.dir, rb.dir})
	mountsAfter := len(mountLines([]string{testEnv.rootfs, testEnv.root}))
	if mountsAfter != mountsBefore {
		t.Errorf("mountinfo lines naming the rootfs or state root: %d before, %d after", mountsBefore, mountsAfter)
	}
	leftStates, _ := os.ReadDir(testEnv.root)

	report := fmt.Sprintf(`soak (%s, hull %s)
cycles: %d create/start/delete (2 in parallel), %d failed, %s (%.1f ms per cycle)
execs: %d into one container, %d failed, %s (%.1f ms per exec)
hull run (long-lived): fds %d -> %d, RSS %d kB -> %d kB; container init fds %d -> %d
zombies in the container: %d; orphans reaped by the test: %d
leaks after: state dirs %d, mountinfo lines %d -> %d, cgroups/processes: see test result (%v)
total: %s
`, time.Now().UTC().Format(time.RFC3339), testEnv.binary,
		cycles, cycleFail, cycleDur.Round(time.Millisecond), float64(cycleDur.Milliseconds())/float64(max(cycles, 1)),
		execs, execFail, execDur.Round(time.Millisecond), float64(execDur.Milliseconds())/float64(max(execs, 1)),
		fdRun0, fdRun1, rss0, rss1, fdInit0, fdInit1,
		zombies, reg.reaped(),
		len(leftStates), mountsBefore, mountsAfter, map[bool]string{true: "FAILED", false: "none"}[t.Failed()],
		time.Since(t0).Round(time.Millisecond))
	t.Log("\n" + report)
	if p := os.Getenv("SOAK_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(report), 0o644); err != nil {
			t.Errorf("SOAK_REPORT: %v", err)
		}
	}
}
