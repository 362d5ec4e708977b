package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// validateState checks a state document against schema/state-schema.json
// and the State section of runtime.md, returning every violation.
func validateState(raw map[string]any, id, bundle, wantStatus string, annotations map[string]string) []string {
	var errs []string
	str := func(k string) (string, bool) {
		v, ok := raw[k]
		if !ok {
			errs = append(errs, "missing required property "+k)
			return "", false
		}
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, k+" is not a string")
		}
		return s, isStr
	}
	if v, ok := str("ociVersion"); ok && !semver.MatchString(v) {
		errs = append(errs, "ociVersion "+strconv.Quote(v)+" is not SemVer")
	}
	if v, ok := str("id"); ok && v != id {
		errs = append(errs, "id is "+strconv.Quote(v)+", want "+id)
	}
	if v, ok := str("status"); ok && v != wantStatus {
		errs = append(errs, "status is "+strconv.Quote(v)+", want "+wantStatus)
	}
	if v, ok := str("bundle"); ok && v != bundle {
		errs = append(errs, "bundle is "+strconv.Quote(v)+", want the absolute path "+bundle)
	}
	if p, ok := raw["pid"]; ok {
		f, isNum := p.(float64)
		if !isNum || f != float64(int64(f)) || f < 0 {
			errs = append(errs, "pid is not a non-negative integer")
		}
		if (wantStatus == "created" || wantStatus == "running") && f <= 0 {
			errs = append(errs, "pid must be set when status is "+wantStatus)
		}
	} else if wantStatus == "created" || wantStatus == "running" {
		errs = append(errs, "pid is required when status is "+wantStatus)
	}
	if a, ok := raw["annotations"]; ok && a != nil {
		m, isMap := a.(map[string]any)
		if !isMap {
			errs = append(errs, "annotations is not an object")
		}
		for k, v := range m {
			if k == "" {
				errs = append(errs, "annotation with empty key")
			}
			if _, s := v.(string); !s {
				errs = append(errs, "annotation "+k+" is not a string")
			}
		}
		for k, v := range annotations {
			if got, _ := m[k].(string); got != v {
				errs = append(errs, fmt.Sprintf("annotation %s is %v, config says %q", k, m[k], v))
			}
		}
	} else if len(annotations) > 0 {
		errs = append(errs, "annotations missing though the config has some")
	}
	return errs
}

func checkState(t *testing.T, c *ctr, want string) int {
	t.Helper()
	_, raw, res := c.rt.State(c.id)
	if !record(t, "RT-STATE-RETURN", res.OK(), "state of a %s container: %v", want, res.Err) {
		return 0
	}
	errs := validateState(raw, c.id, c.b.Dir, want, c.b.Spec.Annotations)
	record(t, "RT-STATE-SCHEMA", len(errs) == 0, "state while %s: %v", want, errs)
	pid, _ := raw["pid"].(float64)
	return int(pid)
}

func TestLifecycle(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Annotations = map[string]string{"org.example.conformance": "lifecycle", "org.example.empty": ""}
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "touch /started; while true; do sleep 1; done"}
	c := newCtr(t, rt, b)
	res := c.create()
	record(t, "RT-CREATE-NEW", res.OK(), "create: %v %s", res.Err, trim(res.Stderr))
	record(t, "RT-OPS-SUPPORT", res.OK(), "create operation")
	if !res.OK() {
		t.FailNow()
	}
	pid := checkState(t, c, "created")
	record(t, "RT-STATE-STATUS", c.status() == "created", "status after create is %q", c.status())
	_, err := os.Stat(filepath.Join(b.Rootfs, "started"))
	record(t, "RT-LIFE-NO-PROGRAM", os.IsNotExist(err), "marker of the user program before start: %v (want: does not exist)", err)
	record(t, "RT-CREATE-ARGS-DEFERRED", os.IsNotExist(err), "marker of process.args before start: %v (want: does not exist)", err)
	if pid > 0 {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		record(t, "RT-STATE-RETURN", err == nil, "state pid %d of a created container exists in the runtime's pid namespace: %v", pid, err)
	}

	res = rt.Start(c.id)
	record(t, "RT-OPS-SUPPORT", res.OK(), "start operation: %v", res.Err)
	err = WaitFor(10*time.Second, "the program to run", func() bool {
		_, err := os.Stat(filepath.Join(b.Rootfs, "started"))
		return err == nil
	})
	record(t, "RT-START-RUN", err == nil, "after start: %v", err)
	record(t, "RT-LIFE-RUN", err == nil, "after start: %v", err)
	checkState(t, c, "running")
	record(t, "RT-SCOPE", c.status() == "running", "the creator can query and start its container")

	res = rt.Kill(c.id, "KILL")
	record(t, "RT-OPS-SUPPORT", res.OK(), "kill operation: %v", res.Err)
	err = c.waitStatus("stopped")
	record(t, "RT-KILL-SEND", err == nil, "SIGKILL stops a running container: %v", err)
	checkState(t, c, "stopped")

	res = rt.Delete(c.id, false)
	record(t, "RT-OPS-SUPPORT", res.OK(), "delete operation: %v %s", res.Err, trim(res.Stderr))
	_, _, res = rt.State(c.id)
	record(t, "RT-DELETE-RESOURCES", !res.OK(), "state after delete: ok=%v (want an error)", res.OK())
	_, err = os.Stat(b.Dir)
	record(t, "RT-DELETE-KEEP-FOREIGN", err == nil, "the bundle directory survives delete: %v", err)
}

func TestKillSignal(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "trap 'echo got > /signalled' USR1; touch /ready; while true; do sleep 0.05; done"}
	c := newCtr(t, rt, b)
	c.mustCreate()
	c.mustStart()
	if err := WaitFor(10*time.Second, "trap installed", func() bool {
		_, err := os.Stat(filepath.Join(b.Rootfs, "ready"))
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	res := rt.Kill(c.id, "USR1")
	err := WaitFor(10*time.Second, "SIGUSR1 handler to run", func() bool {
		_, err := os.Stat(filepath.Join(b.Rootfs, "signalled"))
		return err == nil
	})
	record(t, "RT-KILL-SEND", res.OK() && err == nil, "kill USR1: %v; handler: %v", res.Err, err)
	record(t, "RT-KILL-SEND", c.status() == "running", "a handled signal leaves the container running (status %q)", c.status())
}

func TestKillCreated(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	sleeper(b)
	c := newCtr(t, rt, b)
	c.mustCreate()
	res := rt.Kill(c.id, "KILL")
	err := c.waitStatus("stopped")
	record(t, "RT-KILL-SEND", res.OK() && err == nil, "SIGKILL to a created container: %v; %v", res.Err, err)
}

func TestDeleteResources(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	sleeper(b)
	shared := t.TempDir()
	keep := filepath.Join(shared, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(shared, "/shared"))
	b.Spec.Linux.CgroupsPath = "/conformance-" + strconv.Itoa(os.Getpid()) + "-delete"
	c := newCtr(t, rt, b)
	c.mustCreate()
	c.mustStart()
	pid := checkState(t, c, "running")
	dirs, err := CgroupDirs(pid)
	if err != nil || len(dirs) == 0 {
		t.Fatalf("cgroups of %d: %v %v", pid, dirs, err)
	}
	rt.Kill(c.id, "KILL")
	c.mustWaitStatus("stopped")
	res := rt.Delete(c.id, false)
	if !res.OK() {
		t.Fatalf("delete: %s", res)
	}
	var left []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
		}
	}
	record(t, "RT-DELETE-RESOURCES", len(left) == 0, "cgroups of the container left after delete: %v (want none)", left)
	record(t, "RT-LIFE-DESTROY", len(left) == 0, "cgroups of the container left after delete: %v (want none)", left)
	_, err = os.Stat(keep)
	record(t, "RT-DELETE-KEEP-FOREIGN", err == nil, "a file in a bind-mounted host directory survives delete: %v", err)
}
