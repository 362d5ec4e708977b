package cgroups

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// A rootless container with the systemd driver lives in the user's own
// systemd instance (user@UID.service), as runc's does: hull reaches it
// over the user's bus, the unit's cgroup is under the manager's
// (/user.slice/user-UID.slice/user@UID.service/user.slice/hull-ID.scope
// by default), and systemd delegates it (Delegate=yes) to the user, who
// may then write its files. Moving a process into it from outside the
// user's instance (a shell of a login session, a system service that ran
// hull as the user) needs write access to cgroup.procs of the common
// ancestor, which is root's: there systemd moves the process instead
// (AttachProcessesToUnit, systemd 248), the user instance asking the
// system one.

// userBusAddress is the address of the user's bus: $DBUS_SESSION_BUS_ADDRESS,
// else the socket $XDG_RUNTIME_DIR/bus that dbus-user-session (or
// dbus-broker) and systemd --user provide.
func userBusAddress() (string, error) {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a, nil
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		return "", errors.New("no user bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set (the user's systemd instance runs from a login, or with loginctl enable-linger)")
	}
	sock := filepath.Join(rt, "bus")
	if _, err := os.Stat(sock); err != nil {
		return "", fmt.Errorf("no user bus at %s (XDG_RUNTIME_DIR): %w", sock, unwrapPathError(err))
	}
	return "unix:path=" + sock, nil
}

// busOwnerUID is the uid to present to the user's bus (SASL EXTERNAL):
// the caller's, as the bus sees it. In a user namespace (rootlesskit, a
// user-namespaced hull) that is the outer uid of uid_map, one level up,
// where the user's bus runs; runc asks busctl for it.
func busOwnerUID() int {
	uid := os.Getuid()
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	if outer, ok := mapUID(b, uid); ok {
		return outer
	}
	return uid
}

// mapUID maps uid inside a user namespace to its parent's through a
// uid_map file ("inside outside count" per line).
func mapUID(uidMap []byte, uid int) (int, bool) {
	sc := bufio.NewScanner(bytes.NewReader(uidMap))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		out, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if u := uint64(uid); u >= in && u-in < n {
			return int(out + u - in), true
		}
	}
	return 0, false
}

// dialUserSystemd connects to the caller's systemd user instance over the
// user's bus, authenticating as busOwnerUID. go-systemd's own user
// connection authenticates as os.Getuid(), which fails in a user
// namespace; like runc, hull dials the bus itself.
func dialUserSystemd(ctx context.Context) (*systemdDbus.Conn, error) {
	addr, err := userBusAddress()
	if err != nil {
		return nil, fmt.Errorf("connect to the user's systemd instance: %w", err)
	}
	uid := strconv.Itoa(busOwnerUID())
	c, err := systemdDbus.NewConnection(func() (*dbus.Conn, error) {
		conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(uid)}); err != nil {
			conn.Close()
			return nil, fmt.Errorf("authenticate as uid %s: %w", uid, err)
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect to the user's systemd instance over %s: %w", addr, err)
	}
	return c, nil
}

// managerCgroup asks systemd for its own cgroup (the manager's
// ControlGroup property: "/user.slice/user-1000.slice/user@1000.service"
// for a user instance), within the timeout.
func (m *systemdManager) managerCgroup(c *systemdDbus.Conn) (string, error) {
	type result struct {
		v   string
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, err := c.GetManagerProperty("ControlGroup")
		got <- result{v, err}
	}()
	var r result
	select {
	case r = <-got:
	case <-time.After(m.timeout):
		return "", fmt.Errorf("the manager's ControlGroup: timed out after %v", m.timeout)
	}
	if r.err != nil {
		return "", fmt.Errorf("the manager's ControlGroup: %w", r.err)
	}
	// GetManagerProperty gives GVariant text: a quoted string.
	cg, err := strconv.Unquote(r.v)
	if err != nil || !strings.HasPrefix(cg, "/") || strings.Contains(cg, "/../") || strings.HasSuffix(cg, "/..") {
		return "", fmt.Errorf("the manager's ControlGroup: unexpected value %s", r.v)
	}
	return cg, nil
}

// userFS makes the fs manager of a rootless unit, whose cgroup is under
// the user manager's own (asked over c: the driver talks to systemd in
// Apply, never in New).
func (m *systemdManager) userFS(c *systemdDbus.Conn) error {
	cg, err := m.managerCgroup(c)
	if err != nil {
		return err
	}
	m.fs = &v2Manager{root: m.root, dir: filepath.Join(m.root, cg, m.path), res: withoutDevices(m.res), rootless: true}
	return nil
}

// attach moves pid into the unit's cgroup, or its sub-cgroup sub ("" or
// "/a/b"), through systemd's AttachProcessesToUnit: for a process that
// hull may not move itself (see above). systemd reports the kernel's
// EBUSY (a cgroup with controllers enabled for its children) as
// System.Error.EBUSY: it is returned wrapping unix.EBUSY, so that exec
// falls back to the init's cgroup as with a write of its own.
func (m *systemdManager) attach(sub string, pid int) error {
	c, err := m.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	err = c.AttachProcessesToUnit(ctx, m.unit, sub, []uint32{uint32(pid)})
	switch {
	case err == nil:
		return nil
	case isDBusError(err, "System.Error.EBUSY"):
		return fmt.Errorf("systemd AttachProcessesToUnit %s%s: %w: %w", m.unit, sub, unix.EBUSY, err)
	case isDBusError(err, "org.freedesktop.DBus.Error.UnknownMethod"):
		return fmt.Errorf("systemd AttachProcessesToUnit %s%s: systemd has no such method (it came in systemd 248): %w", m.unit, sub, err)
	}
	return fmt.Errorf("systemd AttachProcessesToUnit %s%s: %w", m.unit, sub, err)
}
