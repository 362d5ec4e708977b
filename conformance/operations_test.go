package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bringTo creates a container from a sleeper bundle and moves it to status.
func bringTo(t *testing.T, rt *Runtime, status string) *ctr {
	t.Helper()
	b := newBundle(t)
	sleeper(b)
	c := newCtr(t, rt, b)
	c.mustCreate()
	if status == "created" {
		return c
	}
	c.mustStart()
	c.mustWaitStatus("running")
	if status == "running" {
		return c
	}
	if res := rt.Kill(c.id, "KILL"); !res.OK() {
		t.Fatalf("kill: %s", res)
	}
	c.mustWaitStatus("stopped")
	return c
}

// snapshot is what an operation that errors must leave unchanged.
type snapshot struct {
	status string
	pid    int
}

func snap(c *ctr) snapshot {
	st, _, res := c.rt.State(c.id)
	if !res.OK() {
		return snapshot{status: "<state failed>"}
	}
	return snapshot{string(st.Status), st.Pid}
}

func TestOperationErrors(t *testing.T) {
	cases := []struct {
		clause string
		status string
		op     string
	}{
		{"RT-START-NOT-CREATED", "running", "start"},
		{"RT-START-NOT-CREATED", "stopped", "start"},
		{"RT-KILL-NOT-LIVE", "stopped", "kill"},
		{"RT-DELETE-NOT-STOPPED", "created", "delete"},
		{"RT-DELETE-NOT-STOPPED", "running", "delete"},
		{"RT-CREATE-DUP-ID", "created", "create"},
		{"RT-CREATE-DUP-ID", "running", "create"},
		{"RT-CREATE-DUP-ID", "stopped", "create"},
	}
	for _, tc := range cases {
		t.Run(tc.op+"-"+tc.status, func(t *testing.T) {
			rt := newRuntime(t)
			c := bringTo(t, rt, tc.status)
			before := snap(c)
			var res Result
			switch tc.op {
			case "start":
				res = rt.Start(c.id)
			case "kill":
				res = rt.Kill(c.id, "KILL")
			case "delete":
				res = rt.Delete(c.id, false)
			case "create":
				b := newBundle(t)
				sleeper(b)
				if err := b.Write(); err != nil {
					t.Fatal(err)
				}
				res = rt.Create(c.id, b.Dir, CreateOpts{})
			}
			record(t, tc.clause, !res.OK(), "%s on a %s container: err=%v", tc.op, tc.status, res.Err)
			if tc.op == "create" {
				record(t, "RT-STATE-ID-UNIQUE", !res.OK(), "a second container with id %s", c.id)
			}
			// A stopped container stays stopped whatever happens; wait a
			// moment's worth of polling for a created/running one to change.
			after := snap(c)
			if before.status != "stopped" {
				WaitFor(300*time.Millisecond, "no change", func() bool { after = snap(c); return after != before })
			}
			record(t, tc.clause, after == before, "%s on a %s container: before %+v after %+v (want unchanged)", tc.op, tc.status, before, after)
			record(t, "RT-ERRORS-NO-CHANGE", after == before, "failed %s: before %+v after %+v", tc.op, before, after)
		})
	}
}

func TestMissingID(t *testing.T) {
	ops := []struct {
		clause string
		args   []string
	}{
		{"RT-STATE-NOID", []string{"state"}},
		{"RT-START-NOID", []string{"start"}},
		{"RT-KILL-NOID", []string{"kill"}},
		{"RT-DELETE-NOID", []string{"delete"}},
		{"RT-CREATE-NOARGS", []string{"create"}},
	}
	for _, op := range ops {
		t.Run(op.args[0], func(t *testing.T) {
			rt := newRuntime(t)
			b := newBundle(t)
			if err := b.Write(); err != nil {
				t.Fatal(err)
			}
			args := op.args
			if op.args[0] == "create" {
				args = append(args, "--bundle", b.Dir)
			}
			res := rt.Run(args...)
			record(t, op.clause, !res.OK(), "%s without a container id: err=%v", op.args[0], res.Err)
		})
	}
}

func TestUnknownID(t *testing.T) {
	ops := []struct {
		clause string
		args   []string
	}{
		{"RT-STATE-UNKNOWN", []string{"state", "conf-does-not-exist"}},
		{"RT-START-NOT-CREATED", []string{"start", "conf-does-not-exist"}},
		{"RT-KILL-NOT-LIVE", []string{"kill", "conf-does-not-exist", "KILL"}},
		{"RT-DELETE-NOT-STOPPED", []string{"delete", "conf-does-not-exist"}},
	}
	for _, op := range ops {
		t.Run(op.args[0], func(t *testing.T) {
			rt := newRuntime(t)
			res := rt.Run(op.args...)
			record(t, op.clause, !res.OK(), "%s of a container that does not exist: err=%v", op.args[0], res.Err)
		})
	}
}

// TestCreateErrors feeds create configurations it cannot apply and checks
// that it errors and leaves nothing behind: no container (state fails), no
// cgroup, and the id is free for a valid container afterwards.
func TestCreateErrors(t *testing.T) {
	cases := []struct {
		name   string
		clause string
		probe  func() string // non-empty: skip reason from a host probe
		edit   func(t *testing.T, b *Bundle)
	}{
		{"missing-root", "CFG-ROOT-PATH", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Root.Path = "no-such-rootfs"
		}},
		{"duplicate-rlimit", "CFG-RLIMIT-DUP", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Process.Rlimits = append(b.Spec.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 512, Soft: 512})
		}},
		{"invalid-rlimit", "CFG-RLIMIT-INVALID", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Process.Rlimits = append(b.Spec.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_CONFORMANCE", Hard: 1, Soft: 1})
		}},
		{"duplicate-namespace", "CL-NS-DUP", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace})
		}},
		{"namespace-path-wrong-type", "CL-NS-PATH-TYPE", nil, func(t *testing.T, b *Bundle) {
			b.SetNamespace(specs.IPCNamespace, "/proc/self/ns/uts")
		}},
		{"invalid-namespace-type", "CFG-VALID-VALUES", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: "conformance"})
		}},
		{"relative-cwd", "CFG-PROC-CWD-ABS", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Process.Cwd = "tmp"
		}},
		{"device-mismatch", "CL-DEVICES-MISMATCH", nil, func(t *testing.T, b *Bundle) {
			if err := os.WriteFile(filepath.Join(b.Rootfs, "conformance-dev"), []byte("not a device"), 0o644); err != nil {
				t.Fatal(err)
			}
			b.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/conformance-dev", Type: "c", Major: 1, Minor: 3}}
		}},
		{"seccomp-errno-on-kill", "CL-SECCOMP-ERRNO-UNSUPPORTED", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kexec_load"}, Action: specs.ActKill, ErrnoRet: uintp(5)}}}
		}},
		{"intelrdt-without-resctrl", "CL-INTELRDT-NO-RESCTRL", func() string {
			if ResctrlMounted() {
				return "resctrl is mounted on this host"
			}
			return ""
		}, func(t *testing.T, b *Bundle) {
			b.Spec.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "conformance"}
		}},
		{"invalid-device-type", "CFG-VALID-VALUES", nil, func(t *testing.T, b *Bundle) {
			b.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/conformance", Type: "x", Major: 1, Minor: 3}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.probe != nil {
				if why := tc.probe(); why != "" {
					skipClause(t, tc.clause, "%s", why)
				}
			}
			rt := newRuntime(t)
			b := newBundle(t)
			sleeper(b)
			cgPath := fmt.Sprintf("/conformance-%d-%s", os.Getpid(), tc.name)
			b.Spec.Linux.CgroupsPath = cgPath
			tc.edit(t, b)
			c := newCtr(t, rt, b)
			res := c.create()
			record(t, tc.clause, !res.OK(), "create with %s: err=%v stderr=%q", tc.name, res.Err, trim(res.Stderr))
			record(t, "RT-LIFE-CREATE-ERROR", !res.OK(), "create with %s: err=%v", tc.name, res.Err)
			if res.OK() {
				return
			}
			_, _, st := rt.State(c.id)
			record(t, "RT-CREATE-CANNOT-APPLY", !st.OK(), "after a failed create, state %s: ok=%v (want an error: no container)", c.id, st.OK())
			var left []string
			for _, root := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if _, err := os.Stat(root + cgPath); err == nil {
					left = append(left, root+cgPath)
				}
			}
			record(t, "RT-ERRORS-NO-CHANGE", len(left) == 0 && !st.OK(), "failed create left cgroups %v (want none), container exists=%v", left, st.OK())
			// The id must be free again: a valid container can take it.
			good := newBundle(t)
			sleeper(good)
			if err := good.Write(); err != nil {
				t.Fatal(err)
			}
			res = rt.Create(c.id, good.Dir, CreateOpts{})
			record(t, "RT-ERRORS-NO-CHANGE", res.OK(), "creating a valid container with the id of the failed create: %v %s", res.Err, trim(res.Stderr))
		})
	}
}

func TestConfigFrozenAfterCreate(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "echo original > /out"}
	c := newCtr(t, rt, b)
	c.mustCreate()
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "echo modified > /out"}
	b.Spec.Hostname = "modified"
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	c.mustStart()
	c.mustWaitStatus("stopped")
	out, err := os.ReadFile(filepath.Join(b.Rootfs, "out"))
	got := strings.TrimSpace(string(out))
	record(t, "RT-LIFE-CONFIG-FROZEN", err == nil && got == "original", "config.json rewritten after create; the process wrote %q (err %v)", got, err)
}

func TestStartWithoutProcess(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Process = nil
	c := newCtr(t, rt, b)
	res := c.create()
	if !res.OK() {
		// Refusing the bundle at create is also an error before the
		// program could run; start then has nothing to start.
		recordRefusal(t, "RT-START-NO-PROCESS", res, "a config without process", "", "process")
		return
	}
	res = rt.Start(c.id)
	record(t, "RT-START-NO-PROCESS", !res.OK(), "start of a container without process: err=%v", res.Err)
}

func TestUnknownProperties(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Annotations = map[string]string{"org.example.conformance.unknown": "value", "com.example.other": "x"}
	data, err := jsonWithExtras(b.Spec, map[string]any{
		"conformanceUnknownTop": map[string]any{"a": 1},
	}, map[string]any{"conformanceUnknownLinux": []int{1, 2}}, map[string]any{"conformanceUnknownProcess": "x"})
	if err != nil {
		t.Fatal(err)
	}
	b.Spec.Process.Args = []string{"/checker", "process"}
	data, _ = jsonWithExtras(b.Spec, map[string]any{"conformanceUnknownTop": map[string]any{"a": 1}},
		map[string]any{"conformanceUnknownLinux": []int{1, 2}}, map[string]any{"conformanceUnknownProcess": "x"})
	if err := b.WriteRaw(data); err != nil {
		t.Fatal(err)
	}
	c := newCtr(t, rt, b)
	res := rt.Create(c.id, b.Dir, CreateOpts{Stdio: &Stdio{Stdout: c.stdout, Stderr: c.stderr}})
	record(t, "CFG-EXTENSIBILITY", res.OK(), "create with unknown properties: %v %s", res.Err, trim(res.Stderr))
	if !res.OK() {
		return
	}
	_, raw, _ := rt.State(c.id)
	errs := validateState(raw, c.id, b.Dir, "created", b.Spec.Annotations)
	record(t, "CFG-ANNOTATIONS-UNKNOWN", len(errs) == 0, "unknown annotation keys: %v", errs)
	c.mustStart()
	c.mustWaitStatus("stopped")
	c.recordChecker()
	_ = strconv.Itoa
}

// TestEmptyArgs: process.args needs at least one entry on Linux; a runtime
// must refuse the config at create or at the latest at start.
func TestEmptyArgs(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Process.Args = []string{}
	c := newCtr(t, rt, b)
	res := c.create()
	if !res.OK() {
		recordRefusal(t, "CFG-VALID-VALUES", res, "empty process.args", "", "args")
		return
	}
	res = rt.Start(c.id)
	record(t, "CFG-VALID-VALUES", !res.OK(), "start with empty process.args: err=%v", res.Err)
}
