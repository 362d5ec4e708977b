package rootfs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// The tests here race for real against the path resolution of MountAll:
// while it sets the mounts up, another thread exchanges a directory and a
// symlink to a host directory with renameat2(RENAME_EXCHANGE) in a tight
// loop, so that any component of a destination may be either at any
// instant. Each round is a fresh mount namespace; after it, nothing may be
// mounted on or created in the host directory (CVE-2021-30465: a
// destination swapped for a symlink mounts over the host; CVE-2024-45310:
// a racing shared volume makes the runtime create files on the host).

const raceRounds = 500

// swapLoop exchanges a and b until stop is closed and returns how many
// exchanges it made. It runs on its own OS thread.
func swapLoop(a, b string, stop <-chan struct{}, n *atomic.Int64, done *sync.WaitGroup) {
	defer done.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE) == nil {
			n.Add(1)
		}
	}
}

// treeOf lists dir recursively: each entry's relative path, type and, for
// a regular file, its content.
func treeOf(dir string) (string, error) {
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
	sort.Strings(out)
	return strings.Join(out, "\n"), err
}

// raceLayout is one race: the config, the pair to swap, the host
// directory the symlink points at, and where a symlink resolved inside the
// rootfs (as it must be) leaves its trace.
type raceLayout struct {
	root    string
	mounts  func(round int) []*configs.Mount // new names each round: every round creates
	a, b    string                           // exchanged: a directory and a symlink to host
	host    string
	shadow  string // <rootfs>/<host>: made when the symlink is met and resolved inside
	hostWas string // treeOf(host) before
}

// newHostDir makes the host directory the attacker aims at: a marker file
// and a subdirectory that a destination names.
func newHostDir(t *testing.T) string {
	t.Helper()
	host := filepath.Join(t.TempDir(), "host")
	for _, d := range []string{host, host + "/sub"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range map[string]string{host + "/marker": "host marker\n", host + "/sub/inner": "host inner\n"} {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

// swapPair makes dir (with sub/) and link -> target next to it.
func swapPair(t *testing.T, dir, link, target string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func raceLayouts(t *testing.T) map[string]func(relative bool) *raceLayout {
	src := t.TempDir()
	srcFile := filepath.Join(src, "file")
	if err := os.WriteFile(srcFile, []byte("source\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := func(host, from string, relative bool) string {
		if !relative {
			return host
		}
		return strings.Repeat("../", strings.Count(from, "/")+2) + strings.TrimPrefix(host, "/")
	}
	return map[string]func(bool) *raceLayout{
		// CVE-2021-30465: the image's /vol is swapped while the mounts
		// whose destinations are under it are set up: an existing
		// mount point (/vol/sub), a directory and a file to create.
		"destination under a swapped directory": func(relative bool) *raceLayout {
			host := newHostDir(t)
			root := newRootfs(t)
			a, b := filepath.Join(root, "vol"), filepath.Join(root, "vol.swap")
			swapPair(t, a, b, target(host, b, relative))
			return &raceLayout{root: root, mounts: func(r int) []*configs.Mount {
				return []*configs.Mount{
					{Source: "tmpfs", Destination: "/vol/sub", Type: "tmpfs"},
					{Source: src, Destination: fmt.Sprintf("/vol/new%d/deep", r), Type: "bind", Bind: true},
					{Source: srcFile, Destination: fmt.Sprintf("/vol/newfile%d", r), Type: "bind", Bind: true},
				}
			}, a: a, b: b, host: host, shadow: filepath.Join(root, host)}
		},
		// CVE-2024-45310: a volume shared with another container, which
		// swaps a directory in it; this container's mounts have
		// destinations under that directory (to mount over, and to
		// create) and one has its source there.
		"shared volume": func(relative bool) *raceLayout {
			host := newHostDir(t)
			root := newRootfs(t)
			vol := filepath.Join(t.TempDir(), "volume")
			a, b := filepath.Join(vol, "a"), filepath.Join(vol, "a.swap")
			swapPair(t, a, b, target(host, b, relative))
			return &raceLayout{root: root, mounts: func(r int) []*configs.Mount {
				return []*configs.Mount{
					{Source: vol, Destination: "/shared", Type: "bind", Bind: true, Recursive: true},
					{Source: "tmpfs", Destination: "/shared/a/sub", Type: "tmpfs"},
					{Source: src, Destination: fmt.Sprintf("/shared/a/new%d/deep", r), Type: "bind", Bind: true},
					{Source: srcFile, Destination: fmt.Sprintf("/shared/a/file%d", r), Type: "bind", Bind: true},
					{Source: a, Destination: "/from-volume", Type: "bind", Bind: true},
				}
			}, a: a, b: b, host: host, shadow: filepath.Join(root, host)}
		},
	}
}

// race runs up to rounds rounds of Prepare + mountAll through s, each in
// a fresh mount namespace, with the pair swapping. It returns the first
// escape it sees (empty if none), how many rounds failed (a lost race may
// make a lookup fail: that is fine) and the number of exchanges.
func race(t *testing.T, l *raceLayout, s sysOps, rounds int) (escape string, failed int, swaps int64) {
	t.Helper()
	var err error
	if l.hostWas, err = treeOf(l.host); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go swapLoop(l.a, l.b, stop, &n, &wg)
	defer func() { close(stop); wg.Wait() }()
	for r := 0; r < rounds && escape == ""; r++ {
		c := &configs.Config{Rootfs: l.root, Mounts: l.mounts(r)}
		inMountNS(t, func() error {
			if err := prepare(realSys{}, c); err != nil {
				return err
			}
			if mountAll(s, c, nil) != nil {
				failed++
			}
			infos, err := threadMounts()
			if err != nil {
				return err
			}
			for _, mi := range infos {
				if mi.Mountpoint == l.host || strings.HasPrefix(mi.Mountpoint, l.host+"/") {
					escape = fmt.Sprintf("round %d: %s mounted on the host at %s", r, mi.FSType, mi.Mountpoint)
					return nil
				}
			}
			if now, err := treeOf(l.host); err != nil || now != l.hostWas {
				escape = fmt.Sprintf("round %d: the host directory changed (%v):\n%s\nwas:\n%s", r, err, now, l.hostWas)
			}
			return nil
		})
	}
	return escape, failed, n.Load()
}

// TestMountRaceSymlinkExchange: with the real resolver (openat2
// RESOLVE_IN_ROOT, creation with RESOLVE_NO_SYMLINKS) no round mounts on
// or creates anything in the host directory, and the symlink was really
// met mid-setup (it was resolved inside the rootfs at least once).
func TestMountRaceSymlinkExchange(t *testing.T) {
	needRoot(t)
	for name, layout := range raceLayouts(t) {
		for _, relative := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, relative symlink %v", name, relative), func(t *testing.T) {
				l := layout(relative)
				escape, failed, swaps := race(t, l, realSys{}, raceRounds)
				if escape != "" {
					t.Fatalf("escape: %s", escape)
				}
				t.Logf("%d rounds, %d failed a lookup, %d exchanges", raceRounds, failed, swaps)
				if _, err := os.Lstat(l.shadow); err != nil {
					t.Fatalf("the resolver never met the symlink (%v): the race did not happen, the test proves nothing", err)
				}
			})
		}
	}
}

// weakSys is a broken resolver: openInRoot is a plain openat of the path
// below root, which follows an absolute symlink (and "..") out of it. It
// stands for what the race tests must catch.
type weakSys struct{ realSys }

func (weakSys) openInRoot(root int, p string, flags int) (int, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	return unix.Openat(root, rel, flags|unix.O_CLOEXEC, 0)
}

// TestMountRaceCatchesWeakResolver proves the race tests can fail: with a
// resolver that follows symlinks out of the rootfs, the same race mounts
// on (or creates in) the host directory within a few rounds.
func TestMountRaceCatchesWeakResolver(t *testing.T) {
	needRoot(t)
	for name, layout := range raceLayouts(t) {
		t.Run(name, func(t *testing.T) {
			l := layout(false)
			escape, _, _ := race(t, l, weakSys{}, 10*raceRounds)
			if escape == "" {
				t.Fatalf("a resolver that follows symlinks out of the rootfs was not caught in %d rounds", 10*raceRounds)
			}
			t.Logf("caught: %s", escape)
		})
	}
}
