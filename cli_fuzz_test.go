package main

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Fuzz targets for the CLI's own parsers (seeds in testdata/fuzz/). Run
// one with `go test -run '^$' -fuzz '^FuzzParseSignal$' .`; without -fuzz,
// go test runs the seeds as regression tests.

// FuzzParseSignal: never panics; a signal it returns is 1..64; a number
// in range parses to itself and a known name round-trips.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"9", "KILL", "SIGKILL", "kill", "sigterm", "SIGRTMIN+3", "0", "65", "-9", "", "SIG", "SIGSIGKILL", "99999999999999999999", "1e3", " 9", "0x9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := parseSignal(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is more than one line: %q", err)
			}
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("parseSignal(%q) = %d, outside 1..64", s, sig)
		}
		if n, err := strconv.Atoi(s); err == nil && unix.Signal(n) != sig {
			t.Fatalf("parseSignal(%q) = %d, want %d", s, sig, n)
		}
		if name := unix.SignalName(sig); name != "" {
			if back, err := parseSignal(name); err != nil || back != sig {
				t.Fatalf("parseSignal(%q) = %d, %v: the name of %d does not round-trip", name, back, err, sig)
			}
		}
	})
}

// FuzzParseBytes: never panics; a size it returns is -1 or the exact
// value of the number times its suffix (no overflow: a size that does not
// fit in int64 must be an error, not a wrapped negative or small limit).
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"-1", "0", "1", "1k", "1K", "1kb", "1KiB", "10m", "2g", "1t", "512", "-2", "k", "", "1.5g", "9223372036854775807", "1p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err != nil {
			return
		}
		if n == -1 {
			if s != "-1" {
				t.Fatalf("parseBytes(%q) = -1 (unlimited) for something other than -1", s)
			}
			return
		}
		if n < 0 {
			t.Fatalf("parseBytes(%q) = %d: negative size", s, n)
		}
		// Recompute with big-enough arithmetic.
		t2 := strings.ToLower(s)
		t2 = strings.TrimSuffix(strings.TrimSuffix(t2, "b"), "i")
		mult := 1.0
		for suf, m := range map[string]float64{"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40} {
			if strings.HasSuffix(t2, suf) {
				mult, t2 = m, strings.TrimSuffix(t2, suf)
				break
			}
		}
		base, err := strconv.ParseInt(t2, 10, 64)
		if err != nil {
			return // a form this check does not model
		}
		if want := float64(base) * mult; want > math.MaxInt64 || math.Abs(want-float64(n)) > want/1e9+1 {
			t.Fatalf("parseBytes(%q) = %d, want %.0f (overflow)", s, n, want)
		}
	})
}

// FuzzParseUser: never panics; what it accepts formats back to itself.
func FuzzParseUser(f *testing.F) {
	for _, s := range []string{"0", "1000:1000", "0:0", ":", "", "root", "1:x", "4294967295", "4294967296", "1:2:3", "-1", "+1", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uid, gid, hasGid, err := parseUser(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is more than one line: %q", err)
			}
			return
		}
		u, _ := strconv.ParseUint(strings.SplitN(s, ":", 2)[0], 10, 32)
		if uint32(u) != uid {
			t.Fatalf("parseUser(%q) uid = %d, want %d", s, uid, u)
		}
		if hasGid != strings.Contains(s, ":") {
			t.Fatalf("parseUser(%q) hasGid = %v", s, hasGid)
		}
		if hasGid {
			g, _ := strconv.ParseUint(strings.SplitN(s, ":", 2)[1], 10, 32)
			if uint32(g) != gid {
				t.Fatalf("parseUser(%q) gid = %d, want %d", s, gid, g)
			}
		}
	})
}

// FuzzMergeResources: never panics on any pair of linux.resources
// documents; cur is never modified; a non-zero limit set in the update is
// in the result.
func FuzzMergeResources(f *testing.F) {
	f.Add([]byte(`{"memory":{"limit":1048576},"cpu":{"shares":512,"cpus":"0"},"pids":{"limit":100}}`),
		[]byte(`{"memory":{"limit":2097152,"swap":-1},"pids":{"limit":-1},"blockIO":{"weight":500}}`))
	f.Add([]byte(`{}`), []byte(`{"cpu":{"quota":-1,"period":100000},"unified":{"memory.high":"max"}}`))
	f.Add([]byte(`{"blockIO":{"weight":10,"weightDevice":[{"major":8,"minor":0,"weight":100}]}}`), []byte(`{"blockIO":{"leafWeight":20}}`))
	f.Add([]byte(`null`), []byte(`{"memory":{}}`))
	f.Fuzz(func(t *testing.T, curJSON, updJSON []byte) {
		var cur, upd specs.LinuxResources
		if json.Unmarshal(curJSON, &cur) != nil || json.Unmarshal(updJSON, &upd) != nil {
			return
		}
		before, _ := json.Marshal(&cur)
		out := mergeResources(&cur, &upd)
		after, _ := json.Marshal(&cur)
		if string(before) != string(after) {
			t.Fatalf("mergeResources modified cur:\nbefore %s\nafter  %s", before, after)
		}
		if out == nil {
			t.Fatal("mergeResources returned nil")
		}
		if m := upd.Memory; m != nil && m.Limit != nil && *m.Limit != 0 {
			if out.Memory == nil || out.Memory.Limit == nil || *out.Memory.Limit != *m.Limit {
				t.Fatalf("memory.limit %d of the update is not in the result", *m.Limit)
			}
		}
		if p := upd.Pids; p != nil && p.Limit != nil && *p.Limit != 0 {
			if out.Pids == nil || out.Pids.Limit == nil || *out.Pids.Limit != *p.Limit {
				t.Fatalf("pids.limit %d of the update is not in the result", *p.Limit)
			}
		}
		if c := upd.CPU; c != nil && c.Cpus != "" {
			if out.CPU == nil || out.CPU.Cpus != c.Cpus {
				t.Fatalf("cpu.cpus %q of the update is not in the result", c.Cpus)
			}
		}
		if len(upd.Unified) > 0 && !reflect.DeepEqual(out.Unified, upd.Unified) {
			t.Fatalf("unified of the update is not in the result")
		}
	})
}
