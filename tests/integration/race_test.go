package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// raceContainers is how many containers each race test creates and
// deletes while the swap runs.
const raceContainers = 60

// hostTree lists dir recursively (relative path, mode, content of regular
// files): what the attacker aims at must not change.
func hostTree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := rel + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e += " " + string(b)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// sharedHostDir makes the host directory the attacker aims at (a marker
// file and sub/ holding another) and makes it a shared mount, so that a
// mount a container misplaces on it (or under it) propagates back here,
// where the test sees it: the containers run with rootfsPropagation
// rshared.
func sharedHostDir(t *testing.T) string {
	t.Helper()
	host := filepath.Join(t.TempDir(), "host")
	if err := os.MkdirAll(host+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	writeHost(t, host+"/marker", "host marker\n")
	writeHost(t, host+"/sub/inner", "host inner\n")
	if err := unix.Mount(host, host, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", host, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever leaked onto it goes with it.
		_ = unix.Unmount(host, unix.MNT_DETACH)
	})
	return host
}

// swapper exchanges a (a directory) and b (a symlink to the host
// directory) with renameat2(RENAME_EXCHANGE) in a tight loop, on its own
// thread, until the returned stop is called.
func swapper(t *testing.T, a, b string) (stop func() int) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var n int
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for {
			select {
			case <-done:
				return
			default:
			}
			if unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE) == nil {
				n++
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return n }
}

// TestMountRaceSymlinkExchange creates and deletes containers while a
// directory on the path of their mount destinations is swapped, in a tight
// loop, with a symlink to a host directory holding a marker: under the
// image's /vol (CVE-2021-30465: a destination swapped for a symlink
// mounts over the host) and in a volume shared with another container
// (CVE-2024-45310: the racing volume makes the runtime create files on the
// host). Each container mounts over an existing directory under the
// swapped path and creates new mount points there (new names each round),
// and one bind's source is in the swapped path. After every round the
// host directory is unchanged and nothing is mounted on or under it; a
// round may fail (a lookup that meets the symlink is refused), with one
// clean error and nothing left. The symlink must really have been met:
// resolved inside the rootfs, it leaves its path there.
func TestMountRaceSymlinkExchange(t *testing.T) {
	// Debian's runc 1.1.5 loses this race: it mkdirs a new mount point
	// in the host directory (new<N>) within a few dozen containers.
	runcDeviation(t, "runc 1.1.5 creates mount points on the host in this race (CVE-2024-45310, fixed in runc 1.1.14)")
	for _, volume := range []bool{false, true} {
		name := map[bool]string{false: "destination under the image's swapped /vol", true: "shared volume"}[volume]
		t.Run(name, func(t *testing.T) {
			host := sharedHostDir(t)
			was := hostTree(t, host)
			src := t.TempDir()
			writeHost(t, src+"/file", "source\n")
			r := newRuntime(t)
			b := newBundle(t, []string{"true"}, nil)
			var a, swapped, base string // base: where the swapped path is in the container
			if volume {
				vol := t.TempDir()
				a, swapped, base = vol+"/a", vol+"/a.swap", "/shared/a"
			} else {
				a, swapped, base = b.rootfs("vol"), b.rootfs("vol.swap"), "/vol"
			}
			if err := os.MkdirAll(a+"/sub", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(host, swapped); err != nil {
				t.Fatal(err)
			}
			stop := swapper(t, a, swapped)
			failed, sample := 0, ""
			for round := 0; round < raceContainers; round++ {
				b.spec.Linux.RootfsPropagation = "rshared"
				b.spec.Mounts = defaultSpec(nil).Mounts
				if volume {
					b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/shared", Type: "bind", Source: filepath.Dir(a), Options: []string{"rbind"}})
				}
				b.spec.Mounts = append(b.spec.Mounts,
					specs.Mount{Destination: base + "/sub", Type: "tmpfs", Source: "tmpfs"},
					specs.Mount{Destination: fmt.Sprintf("%s/new%d/deep", base, round), Type: "bind", Source: src, Options: []string{"bind"}},
					specs.Mount{Destination: fmt.Sprintf("%s/file%d", base, round), Type: "bind", Source: src + "/file", Options: []string{"bind"}},
					specs.Mount{Destination: "/from-swapped", Type: "bind", Source: a, Options: []string{"bind"}},
				)
				b.write(t)
				id := newID(t)
				before := snapshot(t, b.dir)
				res := r.callReaped("run", "--bundle", b.dir, id)
				if res.code != 0 {
					failed++
					checkFailure(t, res, nil, nil)
					sample = strings.TrimSpace(res.stderr)
				}
				r.call("delete", "-f", id)
				checkNoLeaks(t, r, id, b.dir, before)
				for _, l := range mountLines(t, host) {
					if f := strings.Fields(l); len(f) > 4 && f[4] != host {
						t.Fatalf("round %d: escape: mounted on the host: %s", round, l)
					}
				}
				if now := hostTree(t, host); now != was {
					t.Fatalf("round %d: escape: the host directory changed:\n%s\nwas:\n%s", round, now, was)
				}
			}
			swaps := stop()
			t.Logf("%d containers, %d refused by a lookup that met the symlink (e.g. %q), %d exchanges", raceContainers, failed, sample, swaps)
			// An absolute symlink resolved inside the rootfs: its target's
			// path was made there, by one round or another.
			if _, err := os.Lstat(b.rootfs(host)); err != nil && failed == 0 {
				t.Fatalf("no round met the symlink (%v): the race did not happen, the test proves nothing", err)
			}
		})
	}
}
