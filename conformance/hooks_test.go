package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// hookScript logs one line "TAG mnt-ns net-ns uts-ns" to LOGDIR/hooklog and
// saves its stdin (the state) to LOGDIR/state-TAG.json, then exits CODE.
const hookScript = `#!/bin/sh
# usage: hook.sh TAG LOGDIR [CODE]
cat > "$2/state-$1.json"
echo "$1 $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/uts)" >> "$2/hooklog"
exit ${3:-0}
`

var hookKinds = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// hookEnv is given to every hook: runtimes run hooks with exactly hook.env.
var hookEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// hookFixture installs the hook script on the host (outside the rootfs, so
// it resolves only in the runtime namespace) and in the rootfs (for
// startContainer, whose path resolves in the container namespace).
type hookFixture struct {
	hostScript string
	logDir     string // host path of the log directory (the rootfs)
}

func newHookFixture(t *testing.T, b *Bundle) hookFixture {
	t.Helper()
	host := filepath.Join(b.Dir, "hooks", "hook.sh")
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{host, filepath.Join(b.Rootfs, "conformance-hook.sh")} {
		if err := os.WriteFile(p, []byte(hookScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return hookFixture{hostScript: host, logDir: b.Rootfs}
}

// hook returns a hook of kind that logs under tag and exits code.
func (h hookFixture) hook(kind, tag string, code int) specs.Hook {
	if kind == "startContainer" {
		return specs.Hook{Path: "/conformance-hook.sh", Args: []string{"hook.sh", tag, "/", fmt.Sprint(code)}, Env: hookEnv}
	}
	return specs.Hook{Path: h.hostScript, Args: []string{"hook.sh", tag, h.logDir, fmt.Sprint(code)}, Env: hookEnv}
}

func addHook(hs *specs.Hooks, kind string, h specs.Hook) {
	switch kind {
	case "prestart":
		hs.Prestart = append(hs.Prestart, h) //nolint:staticcheck // prestart is deprecated but still a MUST
	case "createRuntime":
		hs.CreateRuntime = append(hs.CreateRuntime, h)
	case "createContainer":
		hs.CreateContainer = append(hs.CreateContainer, h)
	case "startContainer":
		hs.StartContainer = append(hs.StartContainer, h)
	case "poststart":
		hs.Poststart = append(hs.Poststart, h)
	case "poststop":
		hs.Poststop = append(hs.Poststop, h)
	}
}

type hookLine struct{ tag, mnt, net, uts string }

func (h hookFixture) lines() []hookLine {
	b, _ := os.ReadFile(filepath.Join(h.logDir, "hooklog"))
	var out []hookLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		for len(f) < 4 {
			f = append(f, "")
		}
		if f[0] != "" {
			out = append(out, hookLine{f[0], f[1], f[2], f[3]})
		}
	}
	return out
}

func tags(ls []hookLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.tag)
	}
	return out
}

func supportedHooks() ([]string, map[string]string) {
	var kinds []string
	skipped := map[string]string{}
	for _, k := range hookKinds {
		if ok, why := featureListed(func(f *features.Features) []string { return f.Hooks }, k); ok {
			kinds = append(kinds, k)
		} else {
			skipped[k] = why
		}
	}
	return kinds, skipped
}

func nsLink(pid int, ns string) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	return l
}

func TestHooks(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	h := newHookFixture(t, b)
	kinds, skipped := supportedHooks()
	for k, why := range skipped {
		suite.report.Add(Entry{Clause: "FEAT-HOOKS", Test: t.Name() + "/" + k, Result: Skip, Message: why})
	}
	b.Spec.Hooks = &specs.Hooks{}
	for _, k := range kinds {
		addHook(b.Spec.Hooks, k, h.hook(k, k+"-1", 0))
		addHook(b.Spec.Hooks, k, h.hook(k, k+"-2", 0))
	}
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "echo process >> /hooklog; while true; do sleep 1; done"}
	c := newCtr(t, rt, b)
	res := c.create()
	record(t, "FEAT-HOOKS", res.OK(), "create with hooks %v: %v %s", kinds, res.Err, trim(res.Stderr))
	if !res.OK() {
		t.FailNow()
	}
	afterCreate := tags(h.lines())
	st, _, _ := rt.State(c.id)
	pid := st.Pid
	containerMnt, hostMnt := nsLink(pid, "mnt"), nsLink(os.Getpid(), "mnt")
	containerUts, hostUts := nsLink(pid, "uts"), nsLink(os.Getpid(), "uts")

	c.mustStart()
	afterStart := tags(h.lines())
	if err := c.waitStatus("running"); err != nil {
		t.Fatal(err)
	}
	WaitFor(5e9, "the process to log", func() bool { return strings.Contains(strings.Join(tags(h.lines()), " "), "process") })
	rt.Kill(c.id, "KILL")
	c.mustWaitStatus("stopped")
	beforeDelete := tags(h.lines())
	if res := rt.Delete(c.id, false); !res.OK() {
		t.Fatalf("delete: %s", res)
	}
	all := h.lines()
	afterDelete := tags(all)

	has := func(list []string, tag string) bool {
		for _, x := range list {
			if x == tag {
				return true
			}
		}
		return false
	}
	index := func(tag string) int {
		for i, x := range afterDelete {
			if x == tag {
				return i
			}
		}
		return -1
	}
	inKinds := func(k string) bool { return has(kinds, k) }
	invoked := map[string]string{"prestart": "RT-LIFE-PRESTART", "createRuntime": "RT-LIFE-CREATERUNTIME",
		"createContainer": "RT-LIFE-CREATECONTAINER", "startContainer": "RT-LIFE-STARTCONTAINER",
		"poststart": "RT-LIFE-POSTSTART", "poststop": "RT-LIFE-POSTSTOP"}
	for _, k := range kinds {
		record(t, invoked[k], has(afterDelete, k+"-1") && has(afterDelete, k+"-2"), "%s hooks ran: log %v", k, afterDelete)
		record(t, "FEAT-HOOKS", has(afterDelete, k+"-1"), "%s is listed in features and ran: log %v", k, afterDelete)
		i1, i2 := index(k+"-1"), index(k+"-2")
		record(t, "CFG-HOOKS-ORDER", i1 >= 0 && i1 < i2, "%s hooks run in the listed order: log %v", k, afterDelete)
	}
	for _, k := range []string{"prestart", "createRuntime", "createContainer"} {
		if inKinds(k) {
			id := map[string]string{"prestart": "CFG-HOOK-PRESTART-WHEN", "createRuntime": "CFG-HOOK-CREATERUNTIME-WHEN", "createContainer": "CFG-HOOK-CREATECONTAINER-WHEN"}[k]
			record(t, id, has(afterCreate, k+"-1") && !has(afterCreate, "startContainer-1"), "%s hooks are done when create returns: log after create %v", k, afterCreate)
		}
	}
	if inKinds("prestart") && inKinds("createRuntime") {
		record(t, "CFG-HOOK-PRESTART-FIRST", index("prestart-2") < index("createRuntime-1"), "log %v", afterDelete)
	}
	if inKinds("createRuntime") && inKinds("createContainer") {
		record(t, "CFG-HOOK-CREATECONTAINER-AFTER", index("createRuntime-2") < index("createContainer-1"), "log %v", afterDelete)
	}
	if inKinds("startContainer") {
		record(t, "CFG-HOOK-STARTCONTAINER-WHEN", has(afterStart, "startContainer-2") && index("startContainer-2") < index("process") && !has(afterCreate, "startContainer-1"),
			"startContainer runs in start, before the program: after create %v, after start %v", afterCreate, afterStart)
	}
	if inKinds("poststart") {
		record(t, "CFG-HOOK-POSTSTART-WHEN", has(afterStart, "poststart-2") && !has(afterCreate, "poststart-1"),
			"poststart hooks run in start, after the program is executed: log after create %v, after start %v", afterCreate, afterStart)
	}
	if inKinds("poststop") {
		record(t, "CFG-HOOK-POSTSTOP-WHEN", has(afterDelete, "poststop-2") && !has(beforeDelete, "poststop-1"),
			"poststop hooks run in delete: before delete %v, after %v", beforeDelete, afterDelete)
	}

	// Namespaces and path resolution.
	runtimeNS := map[string]bool{"prestart": true, "createRuntime": true, "poststart": true, "poststop": true}
	nsClause := map[string]string{"prestart": "CFG-HOOK-PRESTART-NS", "createRuntime": "CFG-HOOK-CREATERUNTIME-NS",
		"createContainer": "CFG-HOOK-CREATECONTAINER-NS", "startContainer": "CFG-HOOK-STARTCONTAINER-NS",
		"poststart": "CFG-HOOK-POSTSTART-NS", "poststop": "CFG-HOOK-POSTSTOP-NS"}
	pathClause := map[string]string{"prestart": "CFG-HOOK-PRESTART-PATH", "createRuntime": "CFG-HOOK-CREATERUNTIME-PATH",
		"createContainer": "CFG-HOOK-CREATECONTAINER-PATH", "startContainer": "CFG-HOOK-STARTCONTAINER-PATH",
		"poststart": "CFG-HOOK-POSTSTART-PATH", "poststop": "CFG-HOOK-POSTSTOP-PATH"}
	for _, l := range all {
		k, _, _ := strings.Cut(l.tag, "-")
		if l.tag == "process" || !strings.HasSuffix(l.tag, "-1") {
			continue
		}
		if runtimeNS[k] {
			ok := l.mnt == hostMnt && l.uts == hostUts
			record(t, nsClause[k], ok, "%s hook namespaces mnt %s uts %s, runtime's mnt %s uts %s", k, l.mnt, l.uts, hostMnt, hostUts)
			record(t, "CFG-HOOK-RUNTIME-NS", ok, "%s hook namespaces mnt %s uts %s, runtime's %s %s", k, l.mnt, l.uts, hostMnt, hostUts)
		} else {
			ok := l.mnt == containerMnt && l.uts == containerUts
			record(t, nsClause[k], ok, "%s hook namespaces mnt %s uts %s, container's mnt %s uts %s", k, l.mnt, l.uts, containerMnt, containerUts)
			record(t, "CFG-HOOK-CONTAINER-NS", ok, "%s hook namespaces mnt %s uts %s, container's %s %s", k, l.mnt, l.uts, containerMnt, containerUts)
		}
	}
	// Path resolution: every hook but startContainer lives at a host path
	// outside the rootfs; startContainer's path exists only in the rootfs.
	// A hook whose path was resolved in the wrong namespace never runs.
	for _, k := range kinds {
		ran := has(afterDelete, k+"-1")
		where, generic := "host-only path "+h.hostScript, "CFG-HOOK-PATH-RUNTIME-NS"
		if k == "startContainer" {
			where, generic = "container-only path /conformance-hook.sh", "CFG-HOOK-PATH-CONTAINER-NS"
		}
		record(t, pathClause[k], ran, "%s hook at %s ran: %v", k, where, ran)
		record(t, generic, ran, "%s hook at %s ran: %v", k, where, ran)
	}

	// State on stdin.
	for _, k := range kinds {
		data, err := os.ReadFile(filepath.Join(h.logDir, "state-"+k+"-1.json"))
		var st specs.State
		if err == nil {
			err = json.Unmarshal(data, &st)
		}
		ok := err == nil && st.ID == c.id && st.Bundle == b.Dir && semver.MatchString(st.Version) && st.Status != ""
		if k != "poststop" {
			ok = ok && st.Pid > 0
		}
		record(t, "CFG-HOOKS-STDIN", ok, "%s hook stdin: %q (err %v)", k, trim(string(data)), err)
	}
}

// TestHookFailures checks what a failing hook of each kind does to the
// operation and the container (runtime.md lifecycle steps 3-13).
func TestHookFailures(t *testing.T) {
	kinds, _ := supportedHooks()
	clause := map[string]string{"prestart": "RT-LIFE-PRESTART-FAIL", "createRuntime": "RT-LIFE-CREATERUNTIME-FAIL",
		"createContainer": "RT-LIFE-CREATECONTAINER-FAIL", "startContainer": "RT-LIFE-STARTCONTAINER-FAIL",
		"poststart": "RT-LIFE-POSTSTART-FAIL", "poststop": "RT-LIFE-POSTSTOP-FAIL"}
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			rt := newRuntime(t)
			b := newBundle(t)
			h := newHookFixture(t, b)
			b.Spec.Hooks = &specs.Hooks{}
			addHook(b.Spec.Hooks, k, h.hook(k, k+"-fails", 1))
			if k == "poststop" {
				addHook(b.Spec.Hooks, k, h.hook(k, k+"-after", 0))
			} else if k != "poststart" && k != "startContainer" {
				addHook(b.Spec.Hooks, "poststop", h.hook("poststop", "poststop-cleanup", 0))
			}
			b.Spec.Process.Args = []string{"/bin/sh", "-c", "touch /ran; while true; do sleep 1; done"}
			c := newCtr(t, rt, b)
			ran := func() bool { _, err := os.Stat(filepath.Join(b.Rootfs, "ran")); return err == nil }
			switch k {
			case "prestart", "createRuntime", "createContainer":
				res := c.create()
				record(t, clause[k], !res.OK(), "create with a failing %s hook: err=%v", k, res.Err)
				_, _, st := rt.State(c.id)
				record(t, clause[k], !st.OK() || c.status() == "stopped", "after a failing %s hook the container is %q (want stopped or gone)", k, c.status())
				lt := tags(h.lines())
				record(t, clause[k], strings.Contains(strings.Join(lt, " "), "poststop-cleanup"),
					"lifecycle continues at step 12-13 (poststop) after a failing %s hook: log %v", k, lt)
			case "startContainer", "poststart":
				if res := c.create(); !res.OK() {
					// A runtime that runs poststart too early (see
					// CFG-HOOK-POSTSTART-WHEN) fails create instead.
					record(t, clause[k], true, "create failed on the failing %s hook: %v", k, res.Err)
					_, _, st := rt.State(c.id)
					record(t, clause[k], !st.OK(), "after create failed on a %s hook the container exists: %v (want false)", k, st.OK())
					return
				}
				res := rt.Start(c.id)
				record(t, clause[k], !res.OK(), "start with a failing %s hook: err=%v", k, res.Err)
				err := WaitFor(5e9, "container stopped or gone", func() bool { s := c.status(); return s == "stopped" || s == "" })
				record(t, clause[k], err == nil, "after a failing %s hook the container is %q (want stopped or gone)", k, c.status())
				if k == "startContainer" {
					record(t, clause[k], !ran(), "the program ran after a failing startContainer hook: %v (want false)", ran())
				}
			case "poststop":
				c.mustCreate()
				rt.Kill(c.id, "KILL")
				c.mustWaitStatus("stopped")
				res := rt.Delete(c.id, false)
				record(t, clause[k], res.OK(), "delete with a failing poststop hook only warns: err=%v %s", res.Err, trim(res.Stderr))
				lt := tags(h.lines())
				record(t, clause[k], strings.Contains(strings.Join(lt, " "), "poststop-after"), "the remaining poststop hooks run: log %v", lt)
				_, _, st := rt.State(c.id)
				record(t, "RT-WARNINGS-CONTINUE", !st.OK(), "delete continued after the poststop warning (state of deleted container ok=%v)", st.OK())
			}
		})
	}
}
