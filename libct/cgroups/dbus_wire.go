package cgroups

// A minimal D-Bus wire format (the "D-Bus Specification", Message
// Protocol): little-endian marshalling of the types the systemd driver
// sends and receives. Values map to Go as: y byte, b bool, n int16,
// q uint16, i int32, u uint32, x int64, t uint64, d float64, s string,
// o objectPath, g signature, v variant, a... []any (or []string, []byte,
// []uint32 when encoding), (...) and {..} []any.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// objectPath is a D-Bus object path ("o").
type objectPath string

// signature is a D-Bus type signature ("g").
type signature string

// variant is a D-Bus variant ("v"): a value with its own signature.
type variant struct {
	Sig   string
	Value any
}

// property is one systemd unit property, as StartTransientUnit and
// SetUnitProperties take them (a(sv)).
type property struct {
	Name  string
	Value variant
}

// alignOf is the alignment of the type that starts sig.
func alignOf(c byte) int {
	switch c {
	case 'y', 'g', 'v':
		return 1
	case 'n', 'q':
		return 2
	case 'b', 'i', 'u', 's', 'o', 'a', 'h':
		return 4
	case 'x', 't', 'd', '(', '{':
		return 8
	}
	return 1
}

// nextType splits the first complete type off sig.
func nextType(sig string) (string, string, error) {
	if sig == "" {
		return "", "", errors.New("dbus: empty signature")
	}
	switch sig[0] {
	case 'a':
		t, rest, err := nextType(sig[1:])
		if err != nil {
			return "", "", err
		}
		return "a" + t, rest, nil
	case '(', '{':
		closer := byte(')')
		if sig[0] == '{' {
			closer = '}'
		}
		depth := 0
		for i := 0; i < len(sig); i++ {
			switch sig[i] {
			case '(', '{':
				depth++
			case ')', '}':
				depth--
				if depth == 0 {
					if sig[i] != closer {
						return "", "", fmt.Errorf("dbus: bad signature %q", sig)
					}
					return sig[:i+1], sig[i+1:], nil
				}
			}
		}
		return "", "", fmt.Errorf("dbus: unbalanced signature %q", sig)
	}
	return sig[:1], sig[1:], nil
}

// splitTypes splits a signature into its complete types.
func splitTypes(sig string) ([]string, error) {
	var ts []string
	for sig != "" {
		t, rest, err := nextType(sig)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
		sig = rest
	}
	return ts, nil
}

// encoder appends marshalled values to buf; offsets count from the
// message start, which alignment is relative to.
type encoder struct{ buf []byte }

func (e *encoder) pad(n int) {
	for len(e.buf)%n != 0 {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) u32(v uint32) {
	e.pad(4)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, v)
}

// encode marshals v as type sig (one complete type).
func (e *encoder) encode(sig string, v any) error {
	bad := func() error { return fmt.Errorf("dbus: cannot encode %T as %q", v, sig) }
	switch sig[0] {
	case 'y':
		b, ok := v.(byte)
		if !ok {
			return bad()
		}
		e.buf = append(e.buf, b)
	case 'b':
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		x := uint32(0)
		if b {
			x = 1
		}
		e.u32(x)
	case 'n', 'q':
		var x uint16
		switch t := v.(type) {
		case int16:
			x = uint16(t)
		case uint16:
			x = t
		default:
			return bad()
		}
		e.pad(2)
		e.buf = binary.LittleEndian.AppendUint16(e.buf, x)
	case 'i', 'u', 'h':
		var x uint32
		switch t := v.(type) {
		case int32:
			x = uint32(t)
		case uint32:
			x = t
		default:
			return bad()
		}
		e.u32(x)
	case 'x', 't', 'd':
		var x uint64
		switch t := v.(type) {
		case int64:
			x = uint64(t)
		case uint64:
			x = t
		case float64:
			x = math.Float64bits(t)
		default:
			return bad()
		}
		e.pad(8)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, x)
	case 's', 'o':
		var s string
		switch t := v.(type) {
		case string:
			s = t
		case objectPath:
			s = string(t)
		default:
			return bad()
		}
		e.u32(uint32(len(s)))
		e.buf = append(append(e.buf, s...), 0)
	case 'g':
		var s string
		switch t := v.(type) {
		case string:
			s = t
		case signature:
			s = string(t)
		default:
			return bad()
		}
		if len(s) > 255 {
			return bad()
		}
		e.buf = append(append(append(e.buf, byte(len(s))), s...), 0)
	case 'v':
		vr, ok := v.(variant)
		if !ok {
			return bad()
		}
		if err := e.encode("g", vr.Sig); err != nil {
			return err
		}
		return e.encode(vr.Sig, vr.Value)
	case 'a':
		elem := sig[1:]
		var items []any
		switch t := v.(type) {
		case []any:
			items = t
		case []string:
			for _, s := range t {
				items = append(items, s)
			}
		case []byte:
			for _, b := range t {
				items = append(items, b)
			}
		case []uint32:
			for _, u := range t {
				items = append(items, u)
			}
		default:
			return bad()
		}
		e.u32(0)
		lenAt := len(e.buf) - 4
		e.pad(alignOf(elem[0]))
		start := len(e.buf)
		for _, it := range items {
			if err := e.encode(elem, it); err != nil {
				return err
			}
		}
		binary.LittleEndian.PutUint32(e.buf[lenAt:], uint32(len(e.buf)-start))
	case '(', '{':
		fields, ok := v.([]any)
		if !ok {
			return bad()
		}
		ts, err := splitTypes(sig[1 : len(sig)-1])
		if err != nil {
			return err
		}
		if len(ts) != len(fields) {
			return bad()
		}
		e.pad(8)
		for i, t := range ts {
			if err := e.encode(t, fields[i]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("dbus: unsupported type %q", sig)
	}
	return nil
}

// decoder reads marshalled values; off counts from the message start.
type decoder struct {
	buf []byte
	off int
}

var errShort = errors.New("dbus: message too short")

func (d *decoder) align(n int) error {
	for d.off%n != 0 {
		if d.off >= len(d.buf) {
			return errShort
		}
		d.off++
	}
	return nil
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || d.off+n > len(d.buf) {
		return nil, errShort
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.align(4); err != nil {
		return 0, err
	}
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// decode unmarshals one complete type.
func (d *decoder) decode(sig string) (any, error) {
	switch sig[0] {
	case 'y':
		b, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return b[0], nil
	case 'b':
		x, err := d.u32()
		return x != 0, err
	case 'n', 'q':
		if err := d.align(2); err != nil {
			return nil, err
		}
		b, err := d.take(2)
		if err != nil {
			return nil, err
		}
		x := binary.LittleEndian.Uint16(b)
		if sig[0] == 'n' {
			return int16(x), nil
		}
		return x, nil
	case 'i', 'u', 'h':
		x, err := d.u32()
		if sig[0] == 'i' {
			return int32(x), err
		}
		return x, err
	case 'x', 't', 'd':
		if err := d.align(8); err != nil {
			return nil, err
		}
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		x := binary.LittleEndian.Uint64(b)
		switch sig[0] {
		case 'x':
			return int64(x), nil
		case 'd':
			return math.Float64frombits(x), nil
		}
		return x, nil
	case 's', 'o':
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		b, err := d.take(int(n) + 1)
		if err != nil {
			return nil, err
		}
		if sig[0] == 'o' {
			return objectPath(b[:n]), nil
		}
		return string(b[:n]), nil
	case 'g':
		nb, err := d.take(1)
		if err != nil {
			return nil, err
		}
		b, err := d.take(int(nb[0]) + 1)
		if err != nil {
			return nil, err
		}
		return signature(b[:nb[0]]), nil
	case 'v':
		s, err := d.decode("g")
		if err != nil {
			return nil, err
		}
		vs := string(s.(signature))
		if t, rest, err := nextType(vs); err != nil || rest != "" || t == "" {
			return nil, fmt.Errorf("dbus: bad variant signature %q", vs)
		}
		v, err := d.decode(vs)
		return variant{Sig: vs, Value: v}, err
	case 'a':
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		if err := d.align(alignOf(sig[1])); err != nil {
			return nil, err
		}
		end := d.off + int(n)
		if end > len(d.buf) {
			return nil, errShort
		}
		items := []any{}
		for d.off < end {
			it, err := d.decode(sig[1:])
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
		return items, nil
	case '(', '{':
		if err := d.align(8); err != nil {
			return nil, err
		}
		ts, err := splitTypes(sig[1 : len(sig)-1])
		if err != nil {
			return nil, err
		}
		fields := make([]any, 0, len(ts))
		for _, t := range ts {
			f, err := d.decode(t)
			if err != nil {
				return nil, err
			}
			fields = append(fields, f)
		}
		return fields, nil
	}
	return nil, fmt.Errorf("dbus: unsupported type %q", sig)
}

// The message types and header field codes of the protocol.
const (
	msgMethodCall   = 1
	msgMethodReturn = 2
	msgError        = 3
	msgSignal       = 4

	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSender      = 7
	fieldSignature   = 8

	flagNoReplyExpected = 1
)

// message is one D-Bus message.
type message struct {
	typ                               byte
	flags                             byte
	serial, replySerial               uint32
	path                              objectPath
	iface, member, errName, dest, src string
	sig                               string
	body                              []any
}

// marshal encodes m with the given serial.
func (m *message) marshal(serial uint32) ([]byte, error) {
	var body encoder
	ts, err := splitTypes(m.sig)
	if err != nil {
		return nil, err
	}
	if len(ts) != len(m.body) {
		return nil, fmt.Errorf("dbus: %d values for signature %q", len(m.body), m.sig)
	}
	for i, t := range ts {
		if err := body.encode(t, m.body[i]); err != nil {
			return nil, err
		}
	}
	var fields []any
	add := func(code byte, sig string, v any) {
		fields = append(fields, []any{code, variant{Sig: sig, Value: v}})
	}
	if m.path != "" {
		add(fieldPath, "o", m.path)
	}
	if m.iface != "" {
		add(fieldInterface, "s", m.iface)
	}
	if m.member != "" {
		add(fieldMember, "s", m.member)
	}
	if m.errName != "" {
		add(fieldErrorName, "s", m.errName)
	}
	if m.replySerial != 0 {
		add(fieldReplySerial, "u", m.replySerial)
	}
	if m.dest != "" {
		add(fieldDestination, "s", m.dest)
	}
	if m.sig != "" {
		add(fieldSignature, "g", signature(m.sig))
	}
	e := encoder{buf: []byte{'l', m.typ, m.flags, 1}}
	e.u32(uint32(len(body.buf)))
	e.u32(serial)
	if err := e.encode("a(yv)", fields); err != nil {
		return nil, err
	}
	e.pad(8)
	return append(e.buf, body.buf...), nil
}

// unmarshalMessage decodes one whole message (header and body).
func unmarshalMessage(b []byte) (*message, error) {
	if len(b) < 16 || b[0] != 'l' {
		return nil, errors.New("dbus: not a little-endian message")
	}
	d := decoder{buf: b, off: 12}
	m := &message{typ: b[1], flags: b[2]}
	m.serial = binary.LittleEndian.Uint32(b[8:])
	fv, err := d.decode("a(yv)")
	if err != nil {
		return nil, err
	}
	for _, f := range fv.([]any) {
		pair := f.([]any)
		v := pair[1].(variant).Value
		switch pair[0].(byte) {
		case fieldPath:
			m.path, _ = v.(objectPath)
		case fieldInterface:
			m.iface, _ = v.(string)
		case fieldMember:
			m.member, _ = v.(string)
		case fieldErrorName:
			m.errName, _ = v.(string)
		case fieldReplySerial:
			m.replySerial, _ = v.(uint32)
		case fieldDestination:
			m.dest, _ = v.(string)
		case fieldSender:
			m.src, _ = v.(string)
		case fieldSignature:
			s, _ := v.(signature)
			m.sig = string(s)
		}
	}
	if err := d.align(8); err != nil && d.off != len(b) {
		return nil, err
	}
	ts, err := splitTypes(m.sig)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		v, err := d.decode(t)
		if err != nil {
			return nil, err
		}
		m.body = append(m.body, v)
	}
	return m, nil
}

// messageLen tells the total length of a message from its first 16 bytes.
func messageLen(hdr []byte) (int, error) {
	if len(hdr) < 16 || hdr[0] != 'l' {
		return 0, errors.New("dbus: not a little-endian message")
	}
	bodyLen := int(binary.LittleEndian.Uint32(hdr[4:]))
	fieldsLen := int(binary.LittleEndian.Uint32(hdr[12:]))
	n := 16 + fieldsLen
	n += (8 - n%8) % 8
	if bodyLen > 1<<27 || fieldsLen > 1<<26 {
		return 0, errors.New("dbus: message too large")
	}
	return n + bodyLen, nil
}
