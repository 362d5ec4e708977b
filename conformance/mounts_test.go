package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootReadonly(t *testing.T) {
	b := newBundle(t)
	b.Spec.Root.Readonly = true
	runChecker(t, b, "root")
}

func TestMountsRelativeDestination(t *testing.T) {
	b := newBundle(t)
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "relative-mnt", Type: "tmpfs", Source: "tmpfs"})
	runChecker(t, b, "mounts")
}

func TestMountsOrder(t *testing.T) {
	b := newBundle(t)
	host := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Nested mounts only work in the listed order: /mnt/outer must exist
	// before /mnt/outer/inner is mounted on it.
	b.Spec.Mounts = append(b.Spec.Mounts,
		specs.Mount{Destination: "/mnt/outer", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/mnt/outer/inner", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro"}},
		specsBind(filepath.Join(host, "a"), "/mnt/z-bind"),
		specsBind(filepath.Join(host, "b"), "/mnt/a-bind"),
	)
	runChecker(t, b, "mounts")
}

// bindOnly are options that make sense only on a bind mount.
var bindOnly = map[string]bool{
	"bind": true, "rbind": true, "private": true, "rprivate": true, "shared": true, "rshared": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
}

// TestMountOptions mounts one filesystem per option string (every MUST option
// of config.md and every option the runtime's features output lists) and
// checks, from inside, the flag it must set where mountinfo shows it.
func TestMountOptions(t *testing.T) {
	opts := map[string]bool{}
	for _, o := range mustMountOptions {
		opts[o] = true
	}
	if suite.features != nil {
		for _, o := range suite.features.MountOptions {
			opts[o] = true
		}
	}
	var names []string
	for o := range opts {
		names = append(names, o)
	}
	sortStrings(names)
	for _, o := range names {
		t.Run(o, func(t *testing.T) {
			clause := "FEAT-MOUNT-OPTIONS"
			isMust := false
			for _, m := range mustMountOptions {
				if m == o {
					clause, isMust = MountOptionClause(o), true
				}
			}
			if suite.features != nil && !contains(suite.features.MountOptions, o) && !isMust {
				skipClause(t, clause, "not listed in features")
			}
			if o == "idmap" || o == "ridmap" {
				skipClause(t, clause, "%s needs mount uidMappings in a user namespace: see TestIdmapMount", o)
			}
			rt := newRuntime(t)
			b := newBundle(t)
			m := specs.Mount{Destination: "/mnt/opt", Type: "tmpfs", Source: "tmpfs", Options: []string{o}}
			recursive := strings.HasPrefix(o, "r") && o != "relatime" && o != "remount" && o != "rw" && o != "ro"
			if bindOnly[o] || recursive {
				src := sourceWithSubmount(t)
				m = specs.Mount{Destination: "/mnt/opt", Type: "bind", Source: src, Options: []string{"rbind", o}}
				want := "present"
				if o == "bind" {
					want = "absent" // bind is not recursive
				}
				if o == "bind" || o == "rbind" {
					m.Options = []string{o}
				}
				b.Spec.Process.Env = append(b.Spec.Process.Env, "CHECK_SUBMOUNT=/mnt/opt/sub:"+want)
				if o == "slave" || o == "rslave" || o == "shared" || o == "rshared" {
					b.Spec.Linux.RootfsPropagation = "shared"
				}
			}
			if o == "remount" {
				// remount changes the flags of an existing mount: remount
				// the bind mount of a host directory read-only.
				src := t.TempDir()
				b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/mnt/opt", Type: "bind", Source: src, Options: []string{"rbind"}})
				m = specs.Mount{Destination: "/mnt/opt", Type: "bind", Source: src, Options: []string{"rbind", "remount", "ro"}}
			}
			b.Spec.Mounts = append(b.Spec.Mounts, m)
			b.Spec.Process.Args = []string{"/checker", "mounts"}
			b.Spec.Process.Env = append(b.Spec.Process.Env, "CHECK_MOUNT=/mnt/opt")
			c := newCtr(t, rt, b)
			res := c.create()
			record(t, clause, res.OK(), "create with mount option %q: %v %s", o, res.Err, trim(res.Stderr))
			if clause != "FEAT-MOUNT-OPTIONS" && suite.features != nil && contains(suite.features.MountOptions, o) {
				record(t, "FEAT-MOUNT-OPTIONS", res.OK(), "listed option %q accepted: %v", o, res.Err)
			}
			if !res.OK() {
				return
			}
			c.mustStart()
			c.mustWaitStatus("stopped")
			c.recordChecker()
		})
	}
}

func TestRootfsPropagation(t *testing.T) {
	for _, p := range []string{"private", "shared", "slave", "unbindable"} {
		t.Run(p, func(t *testing.T) {
			rt := newRuntime(t)
			b := newBundle(t)
			if p == "slave" && !MountShared(b.Dir) {
				skipClause(t, "CL-ROOTFS-PROPAGATION", "the host mount holding the bundle is not shared, so a slave rootfs has no master to show (host probe)")
			}
			b.Spec.Linux.RootfsPropagation = p
			b.Spec.Process.Args = []string{"/checker", "propagation"}
			c := newCtr(t, rt, b)
			res := c.create()
			record(t, "CL-ROOTFS-PROPAGATION", res.OK(), "create with rootfsPropagation %s: %v %s", p, res.Err, trim(res.Stderr))
			if !res.OK() {
				return
			}
			c.mustStart()
			c.mustWaitStatus("stopped")
			c.recordChecker()
		})
	}
}

func TestMaskedReadonlyPaths(t *testing.T) {
	b := newBundle(t)
	b.Spec.Linux.MaskedPaths = append(b.Spec.Linux.MaskedPaths, "/etc/conformance-secret", "/conformance-dir")
	b.Spec.Linux.ReadonlyPaths = append(b.Spec.Linux.ReadonlyPaths, "/conformance-ro")
	for _, d := range []string{"conformance-dir", "conformance-ro"} {
		if err := os.MkdirAll(filepath.Join(b.Rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/conformance-secret", "conformance-dir/file"} {
		if err := os.WriteFile(filepath.Join(b.Rootfs, f), []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runChecker(t, b, "masked", "readonly")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// sourceWithSubmount returns a host directory with a tmpfs mounted on its
// "sub" directory (unmounted at cleanup), to tell recursive from
// non-recursive bind mounts and options.
func sourceWithSubmount(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", sub, err)
	}
	t.Cleanup(func() { syscall.Unmount(sub, syscall.MNT_DETACH) })
	return src
}
