package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// conn is a NETLINK_ROUTE socket bound in one network namespace: a netlink
// socket talks to the namespace it was created in, whatever namespace the
// thread using it is in later.
type conn struct {
	fd  int
	seq uint32
}

// dial opens a rtnetlink socket in the network namespace ns (an open
// /proc/PID/ns/net or bind-mounted namespace file). The socket is made on
// a thread of its own that enters ns and comes back; if it cannot come
// back the thread is never unlocked, so the Go runtime ends it with the
// goroutine instead of reusing it in the wrong namespace.
func dial(ns *os.File) (*conn, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("setns to %s: %w", ns.Name(), err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		if serr != nil {
			ch <- result{-1, fmt.Errorf("netlink socket: %w", serr)}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	c := &conn{fd: r.fd}
	// Errors carry the kernel's message (extended ACK), and not the whole
	// request echoed back (capped ACK).
	_ = unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(c.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(c.fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	return c, nil
}

func (c *conn) Close() error { return unix.Close(c.fd) }

// nlError is a request the kernel refused: its errno and, with extended
// ACKs, its reason.
type nlError struct {
	errno unix.Errno
	msg   string
}

func (e *nlError) Error() string {
	if e.msg != "" {
		return e.errno.Error() + " (" + e.msg + ")"
	}
	return e.errno.Error()
}

func (e *nlError) Unwrap() error { return e.errno }

// request sends one message and returns the payloads of the replies (for a
// dump, every part of it), after the kernel's ACK or NLMSG_DONE.
func (c *conn) request(typ, flags uint16, body []byte) ([][]byte, error) {
	c.seq++
	seq := c.seq
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	msg = append(msg, body...)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], seq)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out [][]byte
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue // an answer to an earlier request
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("netlink: short error message")
				}
				errno := -int32(ne.Uint32(m.Data))
				if errno == 0 {
					return out, nil
				}
				return nil, &nlError{errno: unix.Errno(errno), msg: extAckMessage(m)}
			default:
				out = append(out, append([]byte(nil), m.Data...))
			}
		}
	}
}

// extAckMessage reads NLMSGERR_ATTR_MSG from an error message that carries
// extended-ACK attributes (after the errno and the capped request header).
func extAckMessage(m syscall.NetlinkMessage) string {
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 {
		return ""
	}
	off := 4 + unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 && len(m.Data) >= off {
		off += int(binary.NativeEndian.Uint32(m.Data[4:])) - unix.SizeofNlMsghdr
	}
	if off > len(m.Data) {
		return ""
	}
	for typ, v := range parseAttrs(m.Data[off:]) {
		if typ == unix.NLMSGERR_ATTR_MSG {
			return cString(v)
		}
	}
	return ""
}

// attr appends one rtattr to b, padded to 4 bytes.
func attr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	h := make([]byte, unix.SizeofRtAttr)
	binary.NativeEndian.PutUint16(h[0:], uint16(l))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h...)
	b = append(b, data...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func attrString(b []byte, typ uint16, s string) []byte { return attr(b, typ, append([]byte(s), 0)) }

func attrU32(b []byte, typ uint16, v uint32) []byte {
	d := make([]byte, 4)
	binary.NativeEndian.PutUint32(d, v)
	return attr(b, typ, d)
}

// parseAttrs returns the attributes of b by type (of one given twice, the
// last; this code reads none that repeat).
func parseAttrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ unix.NLA_F_NESTED
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		out[typ] = b[unix.SizeofRtAttr:l]
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ifinfo is the struct ifinfomsg of a link message.
type ifinfo struct {
	family        uint8
	typ           uint16
	index         int32
	flags, change uint32
}

func (i ifinfo) bytes() []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = i.family
	binary.NativeEndian.PutUint16(b[2:], i.typ)
	binary.NativeEndian.PutUint32(b[4:], uint32(i.index))
	binary.NativeEndian.PutUint32(b[8:], i.flags)
	binary.NativeEndian.PutUint32(b[12:], i.change)
	return b
}

func parseIfinfo(b []byte) (ifinfo, map[uint16][]byte, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return ifinfo{}, nil, errors.New("netlink: short link message")
	}
	i := ifinfo{
		family: b[0],
		typ:    binary.NativeEndian.Uint16(b[2:]),
		index:  int32(binary.NativeEndian.Uint32(b[4:])),
		flags:  binary.NativeEndian.Uint32(b[8:]),
		change: binary.NativeEndian.Uint32(b[12:]),
	}
	return i, parseAttrs(b[unix.SizeofIfInfomsg:]), nil
}
