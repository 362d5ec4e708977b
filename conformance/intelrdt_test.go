package conformance

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestIntelRdt checks linux.intelRdt against a fake resctrl tree (see
// FakeResctrl): the runtime is shown a mount of type resctrl that is a
// plain directory. So only the rules about groups set up beforehand are
// checked here (closID with or without schemas, "/", unset); the rules
// about a group the runtime makes (closID unset, a missing closID with a
// schema, schemata writes, MON groups) need the kernel's resctrl, which
// fills a new group with its files.
func TestIntelRdt(t *testing.T) {
	if ResctrlMounted() {
		skipClause(t, "CL-INTELRDT-TASKS", "this host has a real resctrl mount, which runtimes would find before the fake tree (host probe)")
	}
	requireSuite(t)
	f, err := NewFakeResctrl(t.TempDir())
	if err != nil {
		skipClause(t, "CL-INTELRDT-TASKS", "no fake resctrl: %v", err)
	}
	// A runtime whose features do not enable intelRdt may refuse it.
	claim := ""
	if ft := suite.features; ft != nil && ft.Linux != nil && ft.Linux.IntelRdt != nil && ft.Linux.IntelRdt.Enabled != nil && *ft.Linux.IntelRdt.Enabled {
		claim = "enable intelRdt"
	}
	// run creates a sleeping container with rdt under the fake and
	// returns it (created, or failed: see res).
	run := func(t *testing.T, rdt *specs.LinuxIntelRdt) (*ctr, Result) {
		t.Helper()
		rt := newRuntime(t)
		rt.Wrap = f.Wrap
		b := newBundle(t)
		sleeper(b)
		b.Spec.Linux.IntelRdt = rdt
		c := newCtr(t, rt, b)
		return c, c.create()
	}
	// joined checks that the last pid written to the fake tasks file of
	// a group is the container's init, or a process that has exited
	// since (a runtime may write the pid of a process that then forks
	// init, which inherits its group; the fake file keeps one pid).
	joined := func(t *testing.T, c *ctr, tasks string) (bool, string) {
		st, _, res := c.rt.State(c.id)
		if !res.OK() {
			return false, "state: " + res.String()
		}
		b, err := os.ReadFile(tasks)
		if err != nil {
			return false, err.Error()
		}
		got := strings.TrimSpace(string(b))
		pid, err := strconv.Atoi(got)
		if err != nil || pid <= 0 {
			return false, "tasks holds " + strconv.Quote(got) + ", no pid"
		}
		if pid == st.Pid {
			return true, "tasks holds init's pid " + got
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return true, "tasks holds pid " + got + ", which has exited (init is " + itoa(st.Pid) + ", its child)"
		}
		return false, "tasks holds pid " + got + ", a live process that is not init (" + itoa(st.Pid) + ")"
	}

	t.Run("preconfigured", func(t *testing.T) {
		g, err := f.Group("conf-gold", "    L3:0=0ff\n    MB:0= 70\n")
		if err != nil {
			t.Fatal(err)
		}
		before := f.Snapshot()
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-gold"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-PRECONFIGURED-ASSIGN", res, "linux.intelRdt with closID of a pre-configured group", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, filepath.Join(g, "tasks"))
		record(t, "CL-INTELRDT-TASKS", ok, "closID conf-gold: %s", msg)
		record(t, "CL-INTELRDT-PRECONFIGURED-ASSIGN", ok, "closID conf-gold: %s", msg)
		after := f.Snapshot()
		var written []string
		for _, p := range []string{"schemata", "conf-gold/schemata"} {
			if after[p] != before[p] {
				written = append(written, p)
			}
		}
		record(t, "CL-INTELRDT-NO-SCHEMA-NO-WRITE", len(written) == 0, "no schema asked for; schemata files changed: %v", written)
		c.rt.Kill(c.id, "KILL")
		res = c.rt.Delete(c.id, true)
		_, err = os.Stat(g)
		record(t, "CL-INTELRDT-KEEP", res.OK() && err == nil, "after delete (%v), the closID group: %v", res.Err, err)
	})

	t.Run("preconfigured-missing", func(t *testing.T) {
		_, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-none"})
		_, err := os.Stat(filepath.Join(f.Root, "conf-none"))
		record(t, "CL-INTELRDT-PRECONFIGURED", !res.OK() && err != nil,
			"closID of a group that does not exist, no schema: create err=%v (want an error), group made=%v", res.Err, err == nil)
	})

	t.Run("root-clos", func(t *testing.T) {
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "/"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-ROOT-CLOS", res, "linux.intelRdt with closID \"/\"", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, filepath.Join(f.Root, "tasks"))
		record(t, "CL-INTELRDT-ROOT-CLOS", ok, "closID \"/\", the root group: %s", msg)
	})

	t.Run("existing-same-schema", func(t *testing.T) {
		g, err := f.Group("conf-silver", "    L3:0=0ff\n    MB:0=100\n")
		if err != nil {
			t.Fatal(err)
		}
		// The kernel prints masks zero-padded: 0ff is ff.
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-silver", L3CacheSchema: "L3:0=ff"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-COMPARE", res, "linux.intelRdt with closID of an existing group whose schemata matches L3:0=ff", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, filepath.Join(g, "tasks"))
		record(t, "CL-INTELRDT-TASKS", ok, "closID conf-silver: %s", msg)
	})

	t.Run("existing-other-schema", func(t *testing.T) {
		if _, err := f.Group("conf-bronze", "    L3:0=00f\n    MB:0=100\n"); err != nil {
			t.Fatal(err)
		}
		_, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-bronze", L3CacheSchema: "L3:0=ff"})
		record(t, "CL-INTELRDT-COMPARE", !res.OK(), "closID of an existing group with L3:0=00f, config L3:0=ff: create err=%v (want an error)", res.Err)
	})

	t.Run("unset", func(t *testing.T) {
		before := f.Snapshot()
		c, res := run(t, nil)
		if !res.OK() {
			t.Fatalf("create: %s", res)
		}
		c.mustStart()
		c.rt.Kill(c.id, "KILL")
		c.rt.Delete(c.id, true)
		after := f.Snapshot()
		var changed []string
		for p, v := range after {
			if before[p] != v {
				changed = append(changed, p)
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok {
				changed = append(changed, p+" (removed)")
			}
		}
		record(t, "CL-INTELRDT-UNSET", len(changed) == 0, "no linux.intelRdt: the resctrl tree changed: %v", changed)
	})
}
