//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestConcurrentDistinct runs full lifecycles on distinct ids in parallel:
// every call succeeds and nothing is left.
func TestConcurrentDistinct(t *testing.T) {
	n := envInt("CONCURRENCY", 16)
	ids := make([]string, n)
	bundles := make([]string, n)
	for i := range ids {
		ids[i] = newID("par-" + strconv.Itoa(i))
		bundles[i] = newBundle(t, ids[i], nil).dir
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*n)
	for i := range ids {
		wg.Add(1)
		go func(id, b string) {
			defer wg.Done()
			for _, args := range [][]string{
				{"create", "--bundle", b, id}, {"start", id}, {"state", id},
				{"kill", id, "KILL"},
			} {
				if r := testEnv.call(t, callOpts{timeout: 60 * time.Second}, args...); r.code != 0 || r.timedOut {
					errs <- r.String()
					return
				}
			}
			// Wait until stopped, then a plain delete must work.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				r := testEnv.call(t, callOpts{timeout: 30 * time.Second}, "state", id)
				if strings.Contains(r.stdout, `"stopped"`) {
					break
				}
			}
			if r := testEnv.call(t, callOpts{timeout: 60 * time.Second}, "delete", id); r.code != 0 || r.timedOut {
				errs <- r.String()
			}
		}(ids[i], bundles[i])
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("parallel lifecycle: %s", e)
	}
	cleanup(t, ids, bundles)
}

// race runs the calls at the same moment and returns their results.
func race(t *testing.T, calls ...[]string) []result {
	t.Helper()
	out := make([]result, len(calls))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, args := range calls {
		wg.Add(1)
		go func(i int, args []string) {
			defer wg.Done()
			<-gate
			out[i] = testEnv.call(t, callOpts{timeout: 60 * time.Second}, args...)
		}(i, args)
	}
	close(gate)
	wg.Wait()
	for _, r := range out {
		if r.timedOut {
			t.Errorf("hang: %v", r)
		}
	}
	return out
}

// clearFailure asserts that a losing call failed with one clear line that
// names one of words.
func clearFailure(t *testing.T, r result, words ...string) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if n := len(strings.Split(msg, "\n")); msg == "" || n != 1 {
		t.Errorf("losing call: want one error line, got %q (%v)", msg, r)
		return
	}
	for _, w := range words {
		if strings.Contains(msg, w) {
			return
		}
	}
	t.Errorf("losing call's error names none of %q: %v", words, r)
}

// TestRaceSameID races operations on one id; every outcome is one of the
// allowed ones, the loser says why, state.json is never corrupt and
// nothing is left.
func TestRaceSameID(t *testing.T) {
	rounds := envInt("RACE_ROUNDS", 5)
	gone := []string{"does not exist"}
	cases := []struct {
		name  string
		setup string // "", "created", "running", "stopped"
		calls func(id, b string) [][]string
		judge func(t *testing.T, id string, rs []result)
	}{
		{"two creates", "", func(id, b string) [][]string {
			return [][]string{{"create", "--bundle", b, id}, {"create", "--bundle", b, id}}
		}, func(t *testing.T, id string, rs []result) {
			wins := 0
			for _, r := range rs {
				if r.code == 0 {
					wins++
				} else {
					clearFailure(t, r, "already exists")
				}
			}
			if wins != 1 {
				t.Errorf("two creates of one id: %d succeeded, want exactly 1", wins)
			}
			if st, ok := stateOf(t, id); !ok || st.Status != "created" {
				t.Errorf("after the race: %+v (exists %v), want created", st, ok)
			}
		}},
		{"two deletes of a stopped container", "stopped", func(id, b string) [][]string {
			return [][]string{{"delete", id}, {"delete", id}}
		}, func(t *testing.T, id string, rs []result) {
			wins := 0
			for _, r := range rs {
				if r.code == 0 {
					wins++
				} else {
					clearFailure(t, r, gone...)
				}
			}
			if wins != 1 {
				t.Errorf("%d deletes succeeded, want exactly 1", wins)
			}
		}},
		{"two forced deletes of a running container", "running", func(id, b string) [][]string {
			return [][]string{{"delete", "--force", id}, {"delete", "--force", id}}
		}, func(t *testing.T, id string, rs []result) {
			for _, r := range rs {
				if r.code != 0 {
					t.Errorf("delete --force must succeed (a missing container is not an error): %v", r)
				}
			}
		}},
		{"kill during delete", "running", func(id, b string) [][]string {
			return [][]string{{"delete", "--force", id}, {"kill", id, "KILL"}}
		}, func(t *testing.T, id string, rs []result) {
			if rs[0].code != 0 {
				t.Errorf("delete --force: %v", rs[0])
			}
			if rs[1].code != 0 {
				clearFailure(t, rs[1], append(gone, "not running")...)
			}
		}},
		{"start during delete", "created", func(id, b string) [][]string {
			return [][]string{{"delete", "--force", id}, {"start", id}}
		}, func(t *testing.T, id string, rs []result) {
			if rs[0].code != 0 {
				t.Errorf("delete --force: %v", rs[0])
			}
			if rs[1].code != 0 {
				clearFailure(t, rs[1], append(gone, "stopped", "no longer waiting", "not created", "exited")...)
			}
		}},
		{"two starts", "created", func(id, b string) [][]string {
			return [][]string{{"start", id}, {"start", id}}
		}, func(t *testing.T, id string, rs []result) {
			wins := 0
			for _, r := range rs {
				if r.code == 0 {
					wins++
				} else {
					clearFailure(t, r, "running", "not created")
				}
			}
			if wins != 1 {
				t.Errorf("%d starts succeeded, want exactly 1", wins)
			}
			if st, _ := stateOf(t, id); st.Status != "running" {
				t.Errorf("after two starts: %s", st.Status)
			}
		}},
		{"create during forced delete", "", func(id, b string) [][]string {
			return [][]string{{"create", "--bundle", b, id}, {"delete", "--force", id}, {"state", id}}
		}, func(t *testing.T, id string, rs []result) {
			if rs[0].code != 0 {
				t.Errorf("create: %v", rs[0])
			}
			if rs[1].code != 0 {
				t.Errorf("delete --force: %v", rs[1])
			}
			if rs[2].code != 0 {
				clearFailure(t, rs[2], gone...)
			} else if !jsonValid([]byte(rs[2].stdout)) {
				t.Errorf("state during create printed broken JSON: %q", rs[2].stdout)
			}
			checkTruthful(t, id)
		}},
		{"exec during forced delete", "running", func(id, b string) [][]string {
			return [][]string{{"delete", "--force", id}, {"exec", id, "/bin/true"}, {"exec", id, "/bin/true"}}
		}, func(t *testing.T, id string, rs []result) {
			if rs[0].code != 0 {
				t.Errorf("delete --force: %v", rs[0])
			}
			for _, r := range rs[1:] {
				switch {
				case r.code == 0:
				case r.code == 128+9 && strings.TrimSpace(r.stderr) == "":
					// Started, then killed by the delete: runc's answer too.
				default:
					// "killed": the delete's SIGKILL reached the process
					// while it was on its way in.
					clearFailure(t, r, append(gone, "stopped", "no longer exists", "not running", "killed")...)
				}
			}
			// An exec that joined the cgroup after delete's kill, or
			// re-created it, would leave it behind: cleanup's leak check
			// looks for the cgroup.
		}},
		{"state and list during delete", "running", func(id, b string) [][]string {
			return [][]string{{"delete", "--force", id}, {"state", id}, {"list", "--format", "json"}, {"state", id}}
		}, func(t *testing.T, id string, rs []result) {
			if rs[0].code != 0 {
				t.Errorf("delete --force: %v", rs[0])
			}
			for _, r := range rs[1:] {
				if r.code != 0 {
					clearFailure(t, r, gone...)
				} else if !jsonValid([]byte(r.stdout)) {
					t.Errorf("%s printed broken JSON: %q", r.args[0], r.stdout)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for round := 0; round < rounds; round++ {
				id := newID(fmt.Sprintf("race%d-%s", round, c.name))
				b := newBundle(t, id, nil)
				switch c.setup {
				case "created", "running", "stopped":
					testEnv.mustHull(t, "create", "--bundle", b.dir, id)
					if c.setup != "created" {
						testEnv.mustHull(t, "start", id)
					}
					if c.setup == "stopped" {
						testEnv.mustHull(t, "kill", id, "KILL")
						waitFor(t, 10*time.Second, func() bool { st, _ := stateOf(t, id); return st.Status == "stopped" })
					}
				}
				rs := race(t, c.calls(id, b.dir)...)
				c.judge(t, id, rs)
				checkStateFile(t, id)
				if _, err := os.Stat(filepath.Join(testEnv.root, id)); err == nil {
					checkTruthful(t, id)
				}
				cleanup(t, []string{id}, []string{b.dir})
				if t.Failed() {
					return
				}
			}
		})
	}
}
