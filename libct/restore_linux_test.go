package libct

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSweepCriuRoots: the rootfs bind of a restore whose hull was killed
// is unmounted and its directory removed, without touching the rootfs; a
// live hull's is left alone.
func TestSweepCriuRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (bind mounts)")
	}
	root, rootfs := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(rootfs, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, criuRootPrefix+strconv.Itoa(dead.Process.Pid)+"-1")
	live := filepath.Join(root, criuRootPrefix+strconv.Itoa(os.Getpid())+"-1")
	for _, d := range []string{stale, live} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(rootfs, d, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = unix.Unmount(live, unix.MNT_DETACH) })
	sweepCriuRoots(root)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s: %v, want it removed", stale, err)
	}
	if _, err := os.Stat(filepath.Join(live, "keep")); err != nil {
		t.Errorf("live restore's bind touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "keep")); err != nil {
		t.Errorf("rootfs content lost: %v", err)
	}
}
