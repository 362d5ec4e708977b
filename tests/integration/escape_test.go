package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMountSymlinkEscape puts a symlink in the image that points outside the
// rootfs and mounts through it. The runtime may refuse (an error, leaving
// nothing behind) or resolve the symlink inside the rootfs; it must never
// create or mount anything at the host target (CVE-2015-3627-style escapes).
func TestMountSymlinkEscape(t *testing.T) {
	cases := []struct {
		name   string
		target func(hostDir string) string // the symlink's target
		dest   string                      // mount destination through /evil
	}{
		{"absolute symlink, dir", func(h string) string { return h }, "/evil/newdir"},
		{"relative symlink, dir", func(h string) string { return "../../../../../../../../.." + h }, "/evil/newdir"},
		{"absolute symlink, file", func(h string) string { return h }, "/evil/newfile"},
		{"symlink as the destination", func(h string) string { return h }, "/evil"},
		// No symlink needed: dot-dot in the destination itself.
		{"dot-dot destination", func(h string) string { return "/nowhere" }, "/../../../../../../../..HOSTDIR/newdir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hostDir := t.TempDir() // must stay empty and unmounted
			src := t.TempDir()
			srcFile := filepath.Join(src, "marker")
			writeHost(t, srcFile, "inside\n")
			source, check := src, "/marker"
			if strings.HasSuffix(tc.dest, "file") {
				source, check = srcFile, ""
			}
			dest := strings.ReplaceAll(tc.dest, "HOSTDIR", hostDir)
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, sh(`cat `+dest+check+` > /out; exit 0`), func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{
					Destination: dest, Type: "bind", Source: source, Options: []string{"bind"},
				})
			})
			if err := os.Symlink(tc.target(hostDir), b.rootfs("evil")); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, b.dir)
			hostMounts := mountLines(t, hostDir)
			res := r.callReaped("run", "--bundle", b.dir, id)
			switch {
			case res.code == 0:
				// Resolved inside the rootfs: the mount is visible there.
				out, _ := os.ReadFile(b.rootfs("out"))
				if string(out) != "inside\n" {
					t.Errorf("container read %q through the symlink, want the mount", out)
				}
			default:
				checkFailure(t, res, nil, nil)
				checkNoLeaks(t, r, id, b.dir, before)
			}
			entries, _ := os.ReadDir(hostDir)
			if len(entries) != 0 {
				t.Errorf("escape: host dir %s gained %v", hostDir, names(entries))
			}
			if got := mountLines(t, hostDir); len(got) != len(hostMounts) {
				t.Errorf("escape: host dir %s has mounts %v", hostDir, got)
			}
			if fi, err := os.Lstat(hostDir); err != nil || !fi.IsDir() {
				t.Errorf("escape: host dir %s changed: %v", hostDir, err)
			}
		})
	}
}
