package specconv

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runcSpec runs `runc spec [args]` in a temporary directory and returns the
// config.json it writes, with ociVersion set to ours (runc writes the spec
// version it was built with).
func runcSpec(t *testing.T, args ...string) []byte {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/runc"); err2 != nil {
			t.Skip("runc not installed: cannot compare with `runc spec`")
		}
		runc = "/usr/sbin/runc"
	}
	dir := t.TempDir()
	cmd := exec.Command(runc, append([]string{"spec"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec %v: %v: %s", args, err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Version = specs.Version
	return indent(t, &s)
}

func indent(t *testing.T, s *specs.Spec) []byte {
	t.Helper()
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExampleMatchesRunc(t *testing.T) {
	want := runcSpec(t)
	if got := indent(t, Example()); !bytes.Equal(got, want) {
		t.Fatalf("Example() differs from `runc spec`:\n%s\nwant:\n%s", got, want)
	}
}

func TestToRootlessMatchesRunc(t *testing.T) {
	want := runcSpec(t, "--rootless")
	s := Example()
	ToRootless(s)
	if got := indent(t, s); !bytes.Equal(got, want) {
		t.Fatalf("ToRootless(Example()) differs from `runc spec --rootless`:\n%s\nwant:\n%s", got, want)
	}
}

// TestExampleFresh: Example returns a new spec each time, so callers may
// change it.
func TestExampleFresh(t *testing.T) {
	a := Example()
	a.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	a.Mounts[3].Options[0] = "suid"
	ToRootless(a)
	b := Example()
	if b.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" || b.Mounts[3].Options[0] != "nosuid" || len(b.Linux.Namespaces) != 5 {
		t.Fatal("Example shares state between calls")
	}
	if b.Version != "1.3.0" {
		t.Fatalf("ociVersion %q", b.Version)
	}
}

func TestToRootlessIDs(t *testing.T) {
	s := Example()
	toRootless(s, 1000, 1001)
	if s.Linux.UIDMappings[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 1000, Size: 1}) ||
		s.Linux.GIDMappings[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 1001, Size: 1}) {
		t.Fatalf("mappings %+v %+v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Fatal("network namespace kept")
		}
	}
	for _, o := range s.Mounts[2].Options {
		if o == "gid=5" {
			t.Fatal("gid=5 kept on /dev/pts")
		}
	}
}
