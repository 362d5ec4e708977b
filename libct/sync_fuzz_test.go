package libct

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSyncDecode feeds arbitrary bytes to the sync protocol's decoder, as
// a broken or hostile peer on the socketpair would: it must never panic,
// must stop at the first error, and a stageError made from what it
// decoded must read as one line (it becomes hull's one-line error).
func FuzzSyncDecode(f *testing.F) {
	f.Add([]byte(`{"type":"ready"}`))
	f.Add([]byte(`{"type":"error","stage":"pivot_root","error":"invalid argument"}`))
	f.Add([]byte(`{"type":"seccompFd","fd":7}{"type":"hooks"}`))
	f.Add([]byte(`{"type":"config","init":{"mode":"init","id":"c1","config":{},"process":{"args":["sh"]}}}`))
	f.Add([]byte(`{"type":"error","error":"a\nb"}`))
	f.Add([]byte(`{"type":`))
	f.Add([]byte(`{"fd":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &syncPipe{dec: json.NewDecoder(bytes.NewReader(data))}
		for i := 0; i < 64; i++ {
			m, err := p.recv()
			if err != nil {
				return
			}
			if m.Type == syncError {
				se := &stageError{Stage: m.Stage, Err: m.Err}
				_ = se.Error()
			}
		}
	})
}

// FuzzSyncRoundTrip: every message the parent or child can send decodes
// to itself on the other end, also with hostile stage and error text.
func FuzzSyncRoundTrip(f *testing.F) {
	f.Add("error", "mount", "mount proc on /proc: permission denied", 0)
	f.Add("seccompFd", "", "", 9)
	f.Add("ready", "", "", 0)
	f.Add("error", "stage\x00with nul", "\xff\xfe invalid utf-8", -1)
	f.Fuzz(func(t *testing.T, typ, stage, errText string, fd int) {
		var buf bytes.Buffer
		p := &syncPipe{enc: json.NewEncoder(&buf), dec: json.NewDecoder(&buf)}
		in := syncMsg{Type: syncType(typ), Stage: stage, Err: errText, Fd: fd}
		if err := p.send(in); err != nil {
			t.Fatalf("send %+v: %v", in, err)
		}
		out, err := p.recv()
		if err != nil {
			t.Fatalf("recv of %+v: %v", in, err)
		}
		// JSON carries strings as UTF-8: invalid bytes become U+FFFD.
		want := in
		want.Type = syncType(validUTF8(typ))
		want.Stage = validUTF8(stage)
		want.Err = validUTF8(errText)
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("round trip: sent %+v, got %+v", want, out)
		}
	})
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// FuzzDecodeBootstrap: the Go decoder of envBootstrap never panics, and
// what it accepts encodes back to something it decodes to the same.
func FuzzDecodeBootstrap(f *testing.F) {
	f.Add("sync=3 fds=6 preserve=1 fifo=5 errfifo=6 ns_net=7 flags=1 mnt=2:8")
	f.Add("sync=3 fds=3 mnt=0:4 mnt=0:5")
	f.Add("sync=99999999999 ns_pid=0")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeBootstrap(s)
		if err != nil {
			return
		}
		again, err := decodeBootstrap(b.encode())
		if err != nil {
			t.Fatalf("re-decode of %q (from %q): %v", b.encode(), s, err)
		}
		if !reflect.DeepEqual(again, b) {
			t.Fatalf("%q: decoded %+v, re-decoded %+v", s, b, again)
		}
	})
}
