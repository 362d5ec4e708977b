package libct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inPrivateMountNS runs f on a locked thread with its own mount and UTS
// namespaces (and fs attributes), so that what f mounts over /proc, and a
// hostname it might change, stay on that thread. The thread is never
// unlocked: it exits with the goroutine.
func inPrivateMountNS(t *testing.T, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS | unix.CLONE_NEWUTS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			errc <- fmt.Errorf("make / rslave: %w", err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestWriteProcFileOvermounted (CVE-2025-52881): a container config (or a
// hostile image with a crafted /proc) can mount a file, a tmpfs or
// another procfs file over the procfs file hull writes: a sysctl under
// /proc/sys, /proc/self/oom_score_adj, /proc/self/timens_offsets, or over
// /proc itself. writeProcFile must then fail, and the write must never
// land in the decoy. Each case first checks that a plain path-based write
// does land in the decoy, so that the attack is really set up.
func TestWriteProcFileOvermounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN) to mount over /proc in a private mount namespace")
	}
	pid := strconv.Itoa(os.Getpid()) // /proc/self is the thread group leader
	tests := []struct {
		name string
		rel  string // what writeProcFile writes, below /proc
		// plant mounts the decoy and returns the file a path-based
		// write of /proc/rel reaches, and what it holds.
		plant func(dir string) (decoy, was string, err error)
		want  string // the error of the guard that stops it first
	}{
		{"file over a sysctl", "sys/kernel/domainname", bindFile("/proc/sys/kernel/domainname"), "cross"},
		{"file over oom_score_adj", "self/oom_score_adj", bindFile("/proc/" + pid + "/oom_score_adj"), "cross"},
		{"file over timens_offsets", "self/timens_offsets", bindFile("/proc/" + pid + "/timens_offsets"), "cross"},
		{"tmpfs over /proc/sys", "sys/kernel/domainname", tmpfsOver("/proc/sys", "kernel/domainname"), "cross"},
		{"tmpfs over the process's /proc dir", "self/oom_score_adj", tmpfsOver("/proc/"+pid, "oom_score_adj"), "cross"},
		{"tmpfs over /proc", "sys/kernel/domainname", tmpfsOver("/proc", "sys/kernel/domainname"), "not a procfs mount"},
		{"another sysctl bound over the sysctl", "sys/kernel/domainname", func(string) (string, string, error) {
			// procfs itself, so fstatfs alone would not tell.
			if err := unix.Sethostname([]byte("hull-decoy")); err != nil {
				return "", "", err
			}
			err := unix.Mount("/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname", "", unix.MS_BIND, "")
			return "/proc/sys/kernel/hostname", "hull-decoy\n", err
		}, "cross"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			inPrivateMountNS(t, func() error {
				decoy, was, err := tt.plant(dir)
				if err != nil {
					return fmt.Errorf("plant the decoy: %w", err)
				}
				// Control: a path-based write lands in the decoy.
				if err := os.WriteFile("/proc/"+tt.rel, []byte("naive\n"), 0); err != nil {
					return fmt.Errorf("control write to /proc/%s: %w", tt.rel, err)
				}
				if b, _ := os.ReadFile(decoy); !strings.HasPrefix(string(b), "naive") {
					return fmt.Errorf("control: %s holds %q after a path-based write: the decoy is not in the way", decoy, b)
				}
				if err := os.WriteFile(decoy, []byte(was), 0); err != nil {
					return err
				}
				err = writeProcFile(tt.rel, "hull\n")
				if b, _ := os.ReadFile(decoy); string(b) != was {
					return fmt.Errorf("writeProcFile(%q) wrote into the decoy %s: it holds %q (error %v)", tt.rel, decoy, b, err)
				}
				// One of the guards refused it: the mount crossed
				// (RESOLVE_NO_XDEV), or a file or /proc not on procfs.
				if err == nil || !strings.Contains(errText(err), tt.want) &&
					!strings.Contains(err.Error(), "not on procfs") && !strings.Contains(err.Error(), "not a procfs mount") {
					return fmt.Errorf("writeProcFile(%q) = %v, want a guard's refusal (%q)", tt.rel, err, tt.want)
				}
				return nil
			})
		})
	}
}

// errText is err's message, with EXDEV (a mount crossed under
// RESOLVE_NO_XDEV) said as "cross".
func errText(err error) string {
	if errors.Is(err, unix.EXDEV) {
		return "cross " + err.Error()
	}
	return err.Error()
}

// bindFile returns a plant that binds a decoy file over target.
func bindFile(target string) func(dir string) (string, string, error) {
	return func(dir string) (string, string, error) {
		decoy := filepath.Join(dir, "decoy")
		if err := os.WriteFile(decoy, []byte("decoy\n"), 0o644); err != nil {
			return "", "", err
		}
		return decoy, "decoy\n", unix.Mount(decoy, target, "", unix.MS_BIND, "")
	}
}

// tmpfsOver returns a plant that mounts a tmpfs over target holding the
// decoy file rel.
func tmpfsOver(target, rel string) func(dir string) (string, string, error) {
	return func(string) (string, string, error) {
		if err := unix.Mount("tmpfs", target, "tmpfs", 0, ""); err != nil {
			return "", "", err
		}
		decoy := filepath.Join(target, rel)
		if err := os.MkdirAll(filepath.Dir(decoy), 0o755); err != nil {
			return "", "", err
		}
		return decoy, "decoy\n", os.WriteFile(decoy, []byte("decoy\n"), 0o644)
	}
}

// TestWriteProcFile: with nothing in the way, the write reaches procfs.
func TestWriteProcFile(t *testing.T) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeProcFile("self/oom_score_adj", strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("rewrite oom_score_adj %s: %v", b, err)
	}
	if err := writeProcFile("sys/kernel/no-such-sysctl", "1"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("unknown sysctl: %v, want ENOENT", err)
	}
}
