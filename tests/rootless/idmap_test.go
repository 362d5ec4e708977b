package rootless

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
)

// fileID is the on-disk owner of the shared files: unmapped in the
// container's user namespace, so a plain bind shows it as nobody.
const fileID = 1234

// idmapFeature reads mountExtensions.idmap.enabled from `hull features`.
func idmapFeature(t *testing.T) bool {
	t.Helper()
	r := must(t, hullAsRoot(t, t.TempDir(), t.TempDir(), "features"), "features")
	var f features.Features
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("features: %v", err)
	}
	if f.Linux == nil || f.Linux.MountExtensions == nil || f.Linux.MountExtensions.IDMap == nil || f.Linux.MountExtensions.IDMap.Enabled == nil {
		t.Fatalf("features has no mountExtensions.idmap.enabled:\n%s", r.stdout)
	}
	return *f.Linux.MountExtensions.IDMap.Enabled
}

// sharedDir is a host directory with a file owned by fileID and, mounted
// on sub/, a tmpfs with another: what a recursive bind takes along.
func sharedDir(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	if err := os.Chmod(src, 0o777); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(src, "sub")
	for _, f := range []string{filepath.Join(src, "f"), sub} {
		if f == sub {
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0777"); err != nil {
				t.Fatalf("mount tmpfs on %s: %v", sub, err)
			}
			t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
			f = filepath.Join(sub, "g")
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, fileID, fileID); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestIDMapMount: idmapped mounts in a user namespace started by root,
// seen from inside and outside: a file whose on-disk owner is not mapped
// shows as that id through an idmapped bind and as nobody through a plain
// one; what the container's root writes there is root's on disk; idmap
// leaves a submount alone, ridmap maps it too. features must say so.
func TestIDMapMount(t *testing.T) {
	needRoot(t)
	enabled := idmapFeature(t)
	src := sharedDir(t)
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostBase, Size: 65536}}
	dir := bundle(t, hostBase, hostBase)
	must(t, hullAsRoot(t, dir, t.TempDir(), "spec"), "hull spec")
	s := readSpec(t, dir)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings, s.Linux.GIDMappings = maps, maps
	s.Process.Terminal = false
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"rbind"}},
		specs.Mount{Destination: "/idm", Type: "bind", Source: src, Options: []string{"rbind"}, UIDMappings: maps, GIDMappings: maps},
		// idmap without mappings: the container's own.
		specs.Mount{Destination: "/idmopt", Type: "bind", Source: src, Options: []string{"rbind", "idmap"}},
		specs.Mount{Destination: "/ridm", Type: "bind", Source: src, Options: []string{"rbind", "ridmap"}},
	)
	s.Process.Args = []string{"sh", "-c", "touch /idm/byroot && stat -c '%u:%g %n' /plain/f /plain/sub/g /idm/f /idm/sub/g /idmopt/f /idmopt/sub/g /ridm/f /ridm/sub/g /idm/byroot"}
	writeSpec(t, dir, s, 0, 0)
	r := hullAsRoot(t, dir, t.TempDir(), "run", "idm")
	if !enabled {
		// features says no: then the run must fail, and say why.
		if r.code == 0 || !strings.Contains(r.stderr, "idmap") {
			t.Fatalf("features says idmap is off, but the run did not fail naming it: %s", r)
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("features says idmap is enabled, but the run failed: %s", r)
	}
	got := owners(r.stdout)
	nobody, mapped := "65534:65534", fmt.Sprintf("%d:%d", fileID, fileID)
	for _, tc := range []struct{ path, want string }{
		{"/plain/f", nobody},
		{"/plain/sub/g", nobody},
		{"/idm/f", mapped},
		{"/idm/sub/g", nobody}, // not recursive: the tmpfs is not idmapped
		{"/idmopt/f", mapped},
		{"/idmopt/sub/g", nobody},
		{"/ridm/f", mapped},
		{"/ridm/sub/g", mapped},
		{"/idm/byroot", "0:0"},
	} {
		if got[tc.path] != tc.want {
			t.Errorf("%s owned by %q inside, want %s\n%s", tc.path, got[tc.path], tc.want, r)
		}
	}
	// The container's root (host uid 300000) wrote through the idmapped
	// mount: on disk that is root.
	if o := statOwner(t, filepath.Join(src, "byroot")); o != "0:0" {
		t.Errorf("/idm/byroot is %s on the host, want 0:0", o)
	}
}

// TestIDMapRefused: idmapped mounts where they cannot work fail at
// create with an error naming the mount.
func TestIDMapRefused(t *testing.T) {
	u := needUser(t)
	src := t.TempDir()
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("rootless", func(t *testing.T) {
		xdg := xdgDir(t, u)
		dir := rootlessBundle(t, u, xdg, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"}})
		}, "true")
		r := hullAs(t, u, xdg, dir, "run", "idm")
		if r.code == 0 || !strings.Contains(r.stderr, "idmapped mounts need privileges") || !strings.Contains(r.stderr, "mounts[") {
			t.Fatalf("want a refusal naming the mount: %s", r)
		}
	})
	t.Run("filesystem-without-idmap", func(t *testing.T) {
		// procfs does not support idmapped mounts (no FS_ALLOW_IDMAP).
		dir := bundle(t, hostBase, hostBase)
		must(t, hullAsRoot(t, dir, t.TempDir(), "spec"), "hull spec")
		s := readSpec(t, dir)
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = rootGIDMaps, rootGIDMaps
		s.Process.Terminal = false
		s.Process.Args = []string{"true"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/idm", Type: "bind", Source: "/proc/sys/kernel", Options: []string{"bind", "idmap"}})
		writeSpec(t, dir, s, 0, 0)
		state := t.TempDir()
		r := hullAsRoot(t, dir, state, "run", "idmproc")
		if r.code == 0 || !strings.Contains(r.stderr, "/proc/sys/kernel") {
			t.Fatalf("want a failure naming the source: %s", r)
		}
		t.Logf("refused: %s", strings.TrimSpace(r.stderr))
		if ents, _ := os.ReadDir(state); len(ents) > 0 {
			t.Errorf("state left: %v", ents)
		}
	})
}
