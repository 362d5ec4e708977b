package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sdnotifySource is a tiny static sd_notify client for the container
// (busybox has none): it sends its argument to $NOTIFY_SOCKET.
const sdnotifySource = `package main

import (
	"net"
	"os"
)

func main() {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(os.Args[1]))
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
`

// buildSdnotify builds the client into dir/bin/sdnotify.
func buildSdnotify(t *testing.T, rootfsBin string) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(sdnotifySource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module sdnotify\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(rootfsBin, "sdnotify"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// A failure, not a skip: the Go toolchain is a requirement of this
	// suite (it runs under go test), and a skip here would let the
	// NOTIFY_SOCKET protocol go untested without anyone noticing.
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the sd_notify client: %v: %s", err, out)
	}
}

// TestNotifySocket: with NOTIFY_SOCKET, the container gets a socket of its
// own, and start returns once the container said READY=1, having passed
// MAINPID and the message on to the caller's socket (runc's protocol,
// which Podman's --sdnotify=container relies on).
func TestNotifySocket(t *testing.T) {
	r := newRuntime(t)
	hostSock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: hostSock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := callOpts{shellPrefix: "NOTIFY_SOCKET=" + hostSock}

	// In a user namespace, init cannot reach the socket's directory under
	// the 0700 state root: hull opens it for init.
	userns := func(s *specs.Spec) {
		withNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		for i, m := range s.Mounts {
			if m.Destination == "/sys" {
				s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
	}{{"ready", nil}, {"ready in a user namespace", userns}} {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			b := newBundle(t, sh(`sleep 0.2; sdnotify "READY=1
STATUS=serving"; sleep 1000`), tc.edit)
			buildSdnotify(t, b.rootfs("bin"))
			if tc.edit != nil {
				// The image belongs to the container's root, as usual.
				if out, err := exec.Command("chown", "-R", "100000:100000", b.rootfs("")).CombinedOutput(); err != nil {
					t.Fatalf("chown rootfs: %v: %s", err, out)
				}
			}
			if res := r.callWith(env, "create", "--bundle", b.dir, id); res.code != 0 {
				t.Fatalf("create: %v", res)
			}
			if res := r.callWith(env, "start", id); res.code != 0 {
				t.Fatalf("start: %v", res)
			}
			pid := r.state(id).Pid
			var got []string
			buf := make([]byte, 4096)
			for len(got) < 2 {
				_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := ln.Read(buf)
				if err != nil {
					t.Fatalf("host socket got %q, then: %v", got, err)
				}
				got = append(got, string(buf[:n]))
			}
			// runc 1.1 sends READY first, hull MAINPID first (so that
			// systemd knows the main pid when it sees READY): either order.
			joined := strings.Join(got, "|")
			if !strings.Contains(joined, "MAINPID="+itoa(pid)+"\n") {
				t.Errorf("messages %q lack MAINPID=%d", got, pid)
			}
			if !strings.Contains(joined, "READY=1") {
				t.Errorf("messages %q lack the container's READY=1", got)
			}
		})
	}

	t.Run("exits before ready", func(t *testing.T) {
		runcDeviation(t, "runc 1.1 start succeeds when the container exits without READY=1")
		id := newID(t)
		b := newBundle(t, []string{"true"}, nil)
		if res := r.callWith(env, "create", "--bundle", b.dir, id); res.code != 0 {
			t.Fatalf("create: %v", res)
		}
		res := r.callWith(env, "start", id)
		if res.code == 0 {
			t.Fatal("start succeeded though the container never notified READY=1")
		}
		if !strings.Contains(res.stderr, "READY") {
			t.Errorf("stderr %q does not say READY was missing", res.stderr)
		}
	})
}
