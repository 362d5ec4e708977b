package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookKinds in the order runtime.md runs them over a create/start/delete.
var hookKinds = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// recordHook returns a hook that saves its stdin as DIR/KIND.json and
// appends KIND to DIR/order. dir is as the hook sees it: a host path, or a
// path inside the container for startContainer (which runs after pivot_root).
func recordHook(kind, dir string) specs.Hook {
	return specs.Hook{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `cat > "$0/$1.json"; echo "$1" >> "$0/order"`, dir, kind},
		Env:  []string{"PATH=/bin:/usr/bin"},
	}
}

// hookBundle returns a bundle running sleep with every hook kind recording
// into rootfs/hooks (returned as a host path).
func hookBundle(t *testing.T) (*bundle, string) {
	t.Helper()
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	host := b.rootfs("hooks")
	if err := os.MkdirAll(host, 0o777); err != nil {
		t.Fatal(err)
	}
	b.spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{recordHook("prestart", host)}, //nolint:staticcheck // deprecated, still run
		CreateRuntime:   []specs.Hook{recordHook("createRuntime", host)},
		CreateContainer: []specs.Hook{recordHook("createContainer", host)},
		StartContainer:  []specs.Hook{recordHook("startContainer", "/hooks")},
		Poststart:       []specs.Hook{recordHook("poststart", host)},
		Poststop:        []specs.Hook{recordHook("poststop", host)},
	}
	b.write(t)
	return b, host
}

// TestHooksStdin runs every hook kind over a whole lifecycle and checks the
// state JSON each one got on stdin. The create-phase hooks are where the
// "creating" status is observable.
func TestHooksStdin(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b, host := hookBundle(t)
	r.must("create", "--bundle", b.dir, id)
	pid := r.state(id).Pid
	r.must("start", id)
	r.waitStatus(id, "running")
	r.must("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	r.must("delete", id)

	wantStatus := map[string][]string{
		"prestart":        {"creating"},
		"createRuntime":   {"creating"},
		"createContainer": {"creating"},
		"startContainer":  {"created", "running"},
		"poststart":       {"created", "running"},
		"poststop":        {"stopped"},
	}
	for _, kind := range hookKinds {
		data, err := os.ReadFile(filepath.Join(host, kind+".json"))
		if err != nil {
			t.Errorf("%s hook did not run: %v", kind, err)
			continue
		}
		var st state
		if err := json.Unmarshal(data, &st); err != nil {
			t.Errorf("%s: stdin is not state JSON: %v: %q", kind, err, data)
			continue
		}
		if st.ID != id || st.Bundle != b.dir || !strings.HasPrefix(st.OCIVersion, "1.") {
			t.Errorf("%s: state %+v, want id %s, bundle %s, ociVersion 1.x", kind, st, id, b.dir)
		}
		switch kind {
		case "poststop":
		case "createContainer", "startContainer":
			// These run inside the container's PID namespace, where runc
			// reports the init as pid 1; the host pid is fine too.
			if st.Pid != pid && st.Pid != 1 {
				t.Errorf("%s: state pid %d, want %d or 1", kind, st.Pid, pid)
			}
		default:
			if st.Pid != pid {
				t.Errorf("%s: state pid %d, want %d", kind, st.Pid, pid)
			}
		}
		if !contains(wantStatus[kind], st.Status) {
			t.Errorf("%s: state status %q, want one of %v", kind, st.Status, wantStatus[kind])
		}
	}
}

// TestHooksOrder checks that each hook kind runs in its lifecycle step:
// prestart, createRuntime, createContainer during create; startContainer
// and poststart during start; poststop during delete.
func TestHooksOrder(t *testing.T) {
	t.Parallel()
	runcDeviation(t, "runc 1.1 runs poststart hooks during create, before the process runs (runc#1710, fixed by runc#5186)")
	r := newRuntime(t)
	id := newID(t)
	b, host := hookBundle(t)
	r.must("create", "--bundle", b.dir, id)
	checkOrder(t, host, hookKinds[:3])
	r.must("start", id)
	r.waitStatus(id, "running")
	checkOrder(t, host, hookKinds[:5])
	r.must("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	checkOrder(t, host, hookKinds[:5])
	r.must("delete", id)
	checkOrder(t, host, hookKinds)
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func checkOrder(t *testing.T, dir string, want []string) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, "order"))
	got := strings.Fields(string(data))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hooks ran %v, want %v", got, want)
	}
}

// TestHookArgsEnv checks that a hook gets exactly its args (argv[0]
// included) and its env.
func TestHookArgsEnv(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	out := filepath.Join(t.TempDir(), "hook.out")
	b := newBundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{
			Path: "/bin/sh",
			Args: []string{"custom-argv0", "-c", `{ tr '\0' ' ' < /proc/$$/cmdline; echo; echo "var=$HOOK_VAR"; } > "$0"`, out},
			Env:  []string{"HOOK_VAR=hook value", "PATH=/bin:/usr/bin"},
		}}}
	})
	r.must("create", "--bundle", b.dir, id)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "custom-argv0 -c ") || lines[1] != "var=hook value" {
		t.Errorf("hook saw %q, want argv[0] custom-argv0 and HOOK_VAR", data)
	}
}
