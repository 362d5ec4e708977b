package conformance

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestIntelRdt checks linux.intelRdt against a fake resctrl filesystem
// (FakeResctrl): a FUSE mount that makes groups, fills them and records
// writes as the kernel's resctrl would, shown to the runtime as a mount
// of type resctrl.
func TestIntelRdt(t *testing.T) {
	if ResctrlMounted() {
		skipClause(t, "CL-INTELRDT-TASKS", "this host has a real resctrl mount, which runtimes would find before the fake one (host probe)")
	}
	requireSuite(t)
	if why := FuseAvailable(); why != "" {
		skipClause(t, "CL-INTELRDT-TASKS", "no fake resctrl without FUSE: %s (host probe)", why)
	}
	f, err := NewFakeResctrl(t.TempDir())
	if err != nil {
		t.Fatalf("fake resctrl: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("fake resctrl: %v", err)
		}
	})
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
	// joined checks that the last pid written to the tasks file of group
	// is the container's init, or a process that has exited since (a
	// runtime may write the pid of a process that then forks init,
	// which inherits its group).
	joined := func(t *testing.T, c *ctr, group string) (bool, string) {
		st, _, res := c.rt.State(c.id)
		if !res.OK() {
			return false, "state: " + res.String()
		}
		pids := f.Tasks(group)
		if len(pids) == 0 {
			return false, "no pid written to " + group + "/tasks"
		}
		pid := pids[len(pids)-1]
		if pid == st.Pid {
			return true, "tasks got init's pid " + itoa(pid)
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return true, "tasks got pid " + itoa(pid) + ", which has exited (init is " + itoa(st.Pid) + ", its child)"
		}
		return false, "tasks got pid " + itoa(pid) + ", a live process that is not init (" + itoa(st.Pid) + ")"
	}
	// lines returns the schemata lines written to group, in order, each
	// write split at its newlines, spaces trimmed.
	lines := func(group string) []string {
		var out []string
		for _, w := range f.Writes(group) {
			for l := range strings.Lines(w) {
				if l = strings.TrimSpace(l); l != "" {
					out = append(out, l)
				}
			}
		}
		return out
	}
	remove := func(c *ctr) Result {
		c.rt.Kill(c.id, "KILL")
		return c.rt.Delete(c.id, true)
	}

	t.Run("preconfigured", func(t *testing.T) {
		if _, err := f.Group("conf-gold", "L3:0=0ff\nMB:0=70\n"); err != nil {
			t.Fatal(err)
		}
		m := f.Mark()
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-gold"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-PRECONFIGURED-ASSIGN", res, "linux.intelRdt with closID of a pre-configured group", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, "conf-gold")
		record(t, "CL-INTELRDT-TASKS", ok, "closID conf-gold: %s", msg)
		record(t, "CL-INTELRDT-PRECONFIGURED-ASSIGN", ok, "closID conf-gold: %s", msg)
		var written []string
		for _, op := range f.OpsSince(m) {
			if strings.HasSuffix(op, "/schemata") || op == "write schemata" {
				written = append(written, op)
			}
		}
		record(t, "CL-INTELRDT-NO-SCHEMA-NO-WRITE", len(written) == 0, "no schema asked for; schemata writes: %v", written)
		res = remove(c)
		record(t, "CL-INTELRDT-KEEP", res.OK() && f.Exists("conf-gold"), "after delete (%v), the closID group conf-gold exists=%v", res.Err, f.Exists("conf-gold"))
	})

	t.Run("preconfigured-missing", func(t *testing.T) {
		m := f.Mark()
		_, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-none"})
		record(t, "CL-INTELRDT-PRECONFIGURED", !res.OK() && !f.Exists("conf-none"),
			"closID of a group that does not exist, no schema: create err=%v (want an error), group exists=%v, operations %v", res.Err, f.Exists("conf-none"), f.OpsSince(m))
	})

	t.Run("root-clos", func(t *testing.T) {
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "/"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-ROOT-CLOS", res, "linux.intelRdt with closID \"/\"", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, "")
		record(t, "CL-INTELRDT-ROOT-CLOS", ok, "closID \"/\", the root group: %s", msg)
	})

	t.Run("existing-same-schema", func(t *testing.T) {
		if _, err := f.Group("conf-silver", "L3:0=0ff\nMB:0=100\n"); err != nil {
			t.Fatal(err)
		}
		// The kernel prints masks zero-padded: 0ff is ff.
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-silver", L3CacheSchema: "L3:0=ff"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-COMPARE", res, "linux.intelRdt with closID of an existing group whose schemata matches L3:0=ff", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, "conf-silver")
		record(t, "CL-INTELRDT-TASKS", ok, "closID conf-silver: %s", msg)
	})

	t.Run("existing-other-schema", func(t *testing.T) {
		if _, err := f.Group("conf-bronze", "L3:0=00f\nMB:0=100\n"); err != nil {
			t.Fatal(err)
		}
		_, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-bronze", L3CacheSchema: "L3:0=ff"})
		record(t, "CL-INTELRDT-COMPARE", !res.OK(), "closID of an existing group with L3:0=00f, config L3:0=ff: create err=%v (want an error)", res.Err)
	})

	t.Run("unset", func(t *testing.T) {
		m := f.Mark()
		c, res := run(t, nil)
		if !res.OK() {
			t.Fatalf("create: %s", res)
		}
		c.mustStart()
		remove(c)
		ops := f.OpsSince(m)
		record(t, "CL-INTELRDT-UNSET", len(ops) == 0, "no linux.intelRdt: the runtime did %v in resctrl", ops)
	})

	t.Run("own-group", func(t *testing.T) {
		// closID unset: the group is the container's, with both schemas.
		c, res := run(t, &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=0f0", MemBwSchema: "MB:0=50"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-CREATE-ID", res, "linux.intelRdt with l3CacheSchema and memBwSchema, no closID", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, c.id)
		record(t, "CL-INTELRDT-CREATE-ID", f.Exists(c.id) && ok, "no closID: group %s exists=%v; %s", c.id, f.Exists(c.id), msg)
		got := lines(c.id)
		l3, mb := slices.Index(got, "L3:0=0f0"), slices.Index(got, "MB:0=50")
		record(t, "CL-INTELRDT-SCHEMA-BOTH", l3 >= 0 && mb >= 0, "l3CacheSchema L3:0=0f0 and memBwSchema MB:0=50: lines written to %s/schemata: %q", c.id, got)
		if l3 >= 0 && mb >= 0 {
			record(t, "CL-INTELRDT-SCHEMA-ORDER", l3 < mb && mb == len(got)-1, "lines written to %s/schemata: %q (want L3:0=0f0 first and MB:0=50 last)", c.id, got)
		}
		if res := remove(c); !res.OK() {
			t.Fatalf("delete: %s", res)
		}
		record(t, "CL-INTELRDT-REMOVE", !f.Exists(c.id), "no closID: after delete, the group %s the runtime made exists=%v", c.id, f.Exists(c.id))
	})

	t.Run("new-closid", func(t *testing.T) {
		// closID names no group and a schema is set: the runtime makes it.
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-new", MemBwSchema: "MB:0=70"})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-CREATE-CLOS", res, "linux.intelRdt with the closID of a missing group and memBwSchema", claim, "intelRdt")
			return
		}
		ok, msg := joined(t, c, "conf-new")
		record(t, "CL-INTELRDT-CREATE-CLOS", f.Exists("conf-new") && ok, "closID conf-new, missing, with memBwSchema: group exists=%v; %s", f.Exists("conf-new"), msg)
		got := lines("conf-new")
		record(t, "CL-INTELRDT-SCHEMA-EITHER", slices.Contains(got, "MB:0=70"), "memBwSchema MB:0=70 alone: lines written to conf-new/schemata: %q", got)
		res = remove(c)
		record(t, "CL-INTELRDT-KEEP", res.OK() && f.Exists("conf-new"), "after delete (%v), the closID group conf-new (made by the runtime) exists=%v", res.Err, f.Exists("conf-new"))
	})

	t.Run("schemata", func(t *testing.T) {
		want := []string{"L3:0=03f", "MB:0=30"}
		c, res := run(t, &specs.LinuxIntelRdt{Schemata: want})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-SCHEMATA", res, "linux.intelRdt.schemata", claim, "intelRdt", "schemata")
			return
		}
		got := lines(c.id)
		ok := true
		for _, w := range want {
			ok = ok && slices.Contains(got, w)
		}
		record(t, "CL-INTELRDT-SCHEMATA", ok, "schemata %q: lines written to %s/schemata: %q", want, c.id, got)
	})

	// monitoring checks enableMonitoring in the group of closID ("":
	// the container's own).
	monitoring := func(t *testing.T, closID string) {
		m := f.Mark()
		c, res := run(t, &specs.LinuxIntelRdt{ClosID: closID, EnableMonitoring: true})
		if !res.OK() {
			recordRefusal(t, "CL-INTELRDT-MON", res, "linux.intelRdt.enableMonitoring", claim, "intelRdt", "enableMonitoring")
			return
		}
		parent := closID
		if parent == "" {
			parent = c.id
		}
		var made []string
		for _, op := range f.OpsSince(m) {
			if k, ok := strings.CutPrefix(op, "mkdir "); ok && isMonKey(k) && f.Exists(k) {
				made = append(made, k)
			}
		}
		ok, msg := false, "no MON group made"
		if len(made) == 1 {
			ok, msg = joined(t, c, made[0])
		}
		record(t, "CL-INTELRDT-MON", len(made) == 1 && ok, "enableMonitoring: MON groups made %v; %s", made, msg)
		want := parent + "/mon_groups/" + c.id
		record(t, "CL-INTELRDT-MON-NAME", slices.Equal(made, []string{want}), "enableMonitoring: MON groups made %v, want %s", made, want)
		if res := remove(c); !res.OK() {
			t.Fatalf("delete: %s", res)
		}
		var left []string
		for _, k := range made {
			if f.Exists(k) {
				left = append(left, k)
			}
		}
		record(t, "CL-INTELRDT-MON-DELETE", len(made) > 0 && len(left) == 0, "after delete: MON groups made %v, left %v", made, left)
	}
	t.Run("monitoring", func(t *testing.T) { monitoring(t, "") })
	t.Run("monitoring-closid", func(t *testing.T) {
		if _, err := f.Group("conf-mon", "L3:0=7ff\nMB:0=100\n"); err != nil {
			t.Fatal(err)
		}
		monitoring(t, "conf-mon")
	})

	t.Run("monitoring-exhausted", func(t *testing.T) {
		// No RMID left: mkdir of a MON group fails with ENOSPC.
		if _, err := f.Group("conf-full", "L3:0=7ff\nMB:0=100\n"); err != nil {
			t.Fatal(err)
		}
		f.SetMonGroupLimit(f.MonGroups())
		defer f.SetMonGroupLimit(-1)
		m := f.Mark()
		_, res := run(t, &specs.LinuxIntelRdt{ClosID: "conf-full", EnableMonitoring: true})
		var tried []string
		for _, op := range f.OpsSince(m) {
			if k, ok := strings.CutPrefix(op, "mkdir "); ok && isMonKey(k) {
				tried = append(tried, k)
			}
		}
		record(t, "CL-INTELRDT-MON-FAIL", !res.OK() && len(tried) > 0,
			"enableMonitoring with no MON group left to make (mkdir fails with ENOSPC): create err=%v (want an error), MON group mkdirs %v", res.Err, tried)
	})
}
