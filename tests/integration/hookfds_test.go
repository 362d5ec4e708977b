package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fdHook returns a hook that writes the fds it has open from 3 on (the
// shell's own, tested without opening anything) to out.
func fdHook(out string) specs.Hook {
	return specs.Hook{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `l=""; for fd in 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do [ -e /proc/self/fd/$fd ] && l="$l $fd"; done; echo "fds:$l" > "$0"`, out},
		Env:  []string{"PATH=/bin:/usr/bin"},
	}
}

// TestHookFds: the hooks the container's init runs (createContainer,
// before pivot_root; startContainer, after it) get stdio and nothing else:
// not the sync socket, the console socket, the exec FIFOs, or the fds
// preserved for the process.
func TestHookFds(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, terminal := range []bool{false, true} {
		name := map[bool]string{false: "stdio", true: "terminal"}[terminal]
		t.Run(name, func(t *testing.T) {
			id := newID(t)
			b := newBundle(t, []string{"true"}, nil)
			host := b.rootfs("hookout")
			if err := os.MkdirAll(host, 0o777); err != nil {
				t.Fatal(err)
			}
			b.spec.Process.Terminal = terminal
			b.spec.Hooks = &specs.Hooks{
				CreateContainer: []specs.Hook{fdHook(filepath.Join(host, "createContainer"))},
				StartContainer:  []specs.Hook{fdHook("/hookout/startContainer")},
			}
			b.write(t)
			args := []string{"create", "--preserve-fds", "1", "--bundle", b.dir, id}
			if terminal {
				cs := newConsoleReceiver(t)
				args = append(args[:1], append([]string{"--console-socket", cs.path}, args[1:]...)...)
				defer func() { _ = cs }()
				go func() { cs.receive(t) }()
			}
			if res := r.callWith(callOpts{extraFiles: []*os.File{null}}, args...); res.code != 0 {
				t.Fatalf("create: %v", res)
			}
			r.must("start", id)
			r.waitStatus(id, "stopped")
			for _, kind := range []string{"createContainer", "startContainer"} {
				b, err := os.ReadFile(filepath.Join(host, kind))
				if err != nil {
					t.Fatalf("%s hook: %v", kind, err)
				}
				if got := strings.TrimSpace(string(b)); got != "fds:" {
					t.Errorf("%s hook has fds open beyond stdio: %q", kind, got)
				}
			}
		})
	}
}
