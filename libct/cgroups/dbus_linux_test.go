package cgroups

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDBusMessageRoundTrip(t *testing.T) {
	props := []any{
		[]any{"Description", variant{"s", "hull container x"}},
		[]any{"PIDs", variant{"au", []any{uint32(42)}}},
		[]any{"Delegate", variant{"b", true}},
		[]any{"MemoryMax", variant{"t", uint64(1 << 30)}},
		[]any{"AllowedCPUs", variant{"ay", []any{byte(5)}}},
		[]any{"DeviceAllow", variant{"a(ss)", []any{[]any{"/dev/null", "rwm"}}}},
		[]any{"IOReadBandwidthMax", variant{"a(st)", []any{[]any{"/dev/vda", uint64(1000)}}}},
		[]any{"CPUWeight", variant{"t", uint64(100)}},
		[]any{"Nice", variant{"i", int32(-5)}},
	}
	m := &message{typ: msgMethodCall, dest: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
		iface: "org.freedesktop.systemd1.Manager", member: "StartTransientUnit", sig: "ssa(sv)a(sa(sv))",
		body: []any{"hull-x.scope", "replace", props, []any{}}}
	b, err := m.marshal(7)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := messageLen(b[:16]); err != nil || n != len(b) {
		t.Fatalf("messageLen = %d, %v; want %d", n, err, len(b))
	}
	got, err := unmarshalMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.serial != 7 || got.member != m.member || got.path != m.path || got.dest != m.dest || got.sig != m.sig {
		t.Fatalf("header = %+v", got)
	}
	if !reflect.DeepEqual(got.body, m.body) {
		t.Fatalf("body round trip:\n got %#v\nwant %#v", got.body, m.body)
	}
}

func TestDBusEncodeErrors(t *testing.T) {
	tests := []struct {
		sig string
		v   any
	}{
		{"s", 5}, {"u", "x"}, {"a(ss)", []any{[]any{"only one"}}}, {"v", "not a variant"}, {"(", nil},
	}
	for _, tt := range tests {
		var e encoder
		if err := func() (err error) {
			defer func() {
				if recover() != nil {
					err = errors.New("panic")
				}
			}()
			return e.encode(tt.sig, tt.v)
		}(); err == nil {
			t.Errorf("encode(%q, %#v): want an error", tt.sig, tt.v)
		}
	}
	if _, err := unmarshalMessage([]byte("B\x01\x00\x01")); err == nil {
		t.Errorf("big-endian/short message: want an error")
	}
}

// startBus runs a private dbus-daemon and returns its socket path.
func startBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed")
	}
	conf := "/usr/share/dbus-1/session.conf"
	if _, err := os.Stat(conf); err != nil {
		t.Skip("no dbus session.conf")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	if !strings.Contains(line, sock) {
		t.Fatalf("dbus-daemon address %q", line)
	}
	return sock
}

func TestDBusOnRealDaemon(t *testing.T) {
	sock := startBus(t)
	c, err := dialDBus(sock, true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.name, ":") {
		t.Fatalf("unique name %q after Hello", c.name)
	}
	reply, err := c.call(5*time.Second, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range reply.body[0].([]any) {
		names = append(names, n.(string))
	}
	if !slices.Contains(names, "org.freedesktop.DBus") || !slices.Contains(names, c.name) {
		t.Errorf("ListNames = %v", names)
	}
	_, err = c.call(5*time.Second, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NoSuchMethod", "")
	var de *dbusError
	if !errors.As(err, &de) || !strings.Contains(de.Name, "UnknownMethod") {
		t.Errorf("unknown method: %v, want an UnknownMethod dbusError", err)
	}
}

func TestBusSocketPath(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket"},
		{"unix:abstract=/tmp/dbus-x,guid=1", "@/tmp/dbus-x"},
		{"tcp:host=x;unix:path=/a", "/a"},
	}
	for _, tt := range tests {
		if got, err := busSocketPath(tt.addr); err != nil || got != tt.want {
			t.Errorf("busSocketPath(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	if _, err := busSocketPath("tcp:host=x"); err == nil {
		t.Errorf("tcp only: want an error")
	}
}
