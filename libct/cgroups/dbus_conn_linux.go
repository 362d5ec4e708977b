package cgroups

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// dbusConn is a connection to a D-Bus peer: the system bus, or systemd's
// private socket (a direct peer connection: no bus, so no Hello).
type dbusConn struct {
	c       net.Conn
	r       *bufio.Reader
	serial  uint32
	name    string     // unique name on a bus
	pending []*message // messages read while waiting for something else
}

// dbusError is an error reply of a D-Bus call.
type dbusError struct {
	Name    string // "org.freedesktop.systemd1.UnitExists"
	Message string
}

// Error formats the error's name and message.
func (e *dbusError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// busSocketPath turns a D-Bus address ("unix:path=/run/dbus/x" or
// "unix:abstract=name") into a socket path for net.Dial.
func busSocketPath(addr string) (string, error) {
	for _, a := range strings.Split(addr, ";") {
		rest, ok := strings.CutPrefix(a, "unix:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "path":
				return v, nil
			case "abstract":
				return "@" + v, nil
			}
		}
	}
	return "", fmt.Errorf("dbus address %q: no unix path", addr)
}

// dialDBus connects to the socket at path, authenticates with EXTERNAL
// (the kernel vouches for our uid) and, on a bus, says Hello.
func dialDBus(path string, bus bool, timeout time.Duration) (*dbusConn, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("dbus: connect %s: %w", path, err)
	}
	d := &dbusConn{c: c}
	if err := d.auth(timeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("dbus: authenticate on %s: %w", path, err)
	}
	d.r = bufio.NewReader(c)
	if bus {
		reply, err := d.call(timeout, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "")
		if err != nil {
			c.Close()
			return nil, err
		}
		if len(reply.body) == 1 {
			d.name, _ = reply.body[0].(string)
		}
	}
	return d, nil
}

// auth runs the SASL exchange: a NUL byte, AUTH EXTERNAL with the uid in
// hex, OK, BEGIN.
func (d *dbusConn) auth(timeout time.Duration) error {
	_ = d.c.SetDeadline(time.Now().Add(timeout))
	defer d.c.SetDeadline(time.Time{})
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid())))
	if _, err := io.WriteString(d.c, "\x00AUTH EXTERNAL "+uid+"\r\n"); err != nil {
		return err
	}
	// Read the reply byte by byte: what follows BEGIN is binary and must
	// not be swallowed by a buffer.
	var line []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(line), "\r\n") {
		if _, err := d.c.Read(b); err != nil {
			return err
		}
		line = append(line, b[0])
		if len(line) > 512 {
			return errors.New("auth reply too long")
		}
	}
	if !strings.HasPrefix(string(line), "OK ") {
		return fmt.Errorf("refused: %q", strings.TrimSpace(string(line)))
	}
	_, err := io.WriteString(d.c, "BEGIN\r\n")
	return err
}

// Close closes the connection.
func (d *dbusConn) Close() error { return d.c.Close() }

// send writes m with a fresh serial and returns the serial.
func (d *dbusConn) send(m *message) (uint32, error) {
	d.serial++
	b, err := m.marshal(d.serial)
	if err != nil {
		return 0, err
	}
	if _, err := d.c.Write(b); err != nil {
		return 0, fmt.Errorf("dbus: send %s: %w", m.member, err)
	}
	return d.serial, nil
}

// read reads the next message from the wire.
func (d *dbusConn) read() (*message, error) {
	hdr, err := d.r.Peek(16)
	if err != nil {
		return nil, fmt.Errorf("dbus: read: %w", err)
	}
	n, err := messageLen(hdr)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("dbus: read: %w", err)
	}
	return unmarshalMessage(b)
}

// next returns the first pending or incoming message that match accepts,
// keeping the others pending, within timeout.
func (d *dbusConn) next(timeout time.Duration, match func(*message) bool) (*message, error) {
	for i, m := range d.pending {
		if match(m) {
			d.pending = append(d.pending[:i], d.pending[i+1:]...)
			return m, nil
		}
	}
	_ = d.c.SetReadDeadline(time.Now().Add(timeout))
	defer d.c.SetReadDeadline(time.Time{})
	for {
		m, err := d.read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("dbus: no answer within %s", timeout)
			}
			return nil, err
		}
		if match(m) {
			return m, nil
		}
		if len(d.pending) < 1024 {
			d.pending = append(d.pending, m)
		}
	}
}

// call invokes a method and waits for its reply; an error reply is
// returned as a *dbusError.
func (d *dbusConn) call(timeout time.Duration, dest string, path objectPath, iface, member, sig string, args ...any) (*message, error) {
	serial, err := d.send(&message{typ: msgMethodCall, dest: dest, path: path, iface: iface, member: member, sig: sig, body: args})
	if err != nil {
		return nil, err
	}
	reply, err := d.next(timeout, func(m *message) bool {
		return (m.typ == msgMethodReturn || m.typ == msgError) && m.replySerial == serial
	})
	if err != nil {
		return nil, fmt.Errorf("dbus: %s.%s: %w", iface, member, err)
	}
	if reply.typ == msgError {
		e := &dbusError{Name: reply.errName}
		if len(reply.body) > 0 {
			e.Message, _ = reply.body[0].(string)
		}
		return nil, fmt.Errorf("dbus: %s.%s: %w", iface, member, e)
	}
	return reply, nil
}
