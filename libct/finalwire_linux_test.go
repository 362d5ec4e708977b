package libct

import (
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// wireInputs are programs of every kind, for the round trip.
func wireInputs() map[string]programInput {
	tty := fullProcess()
	tty.Terminal, tty.ConsoleSize = true, &specs.Box{Height: 24, Width: 80}
	tty.Landlock = &configs.Landlock{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_EXECUTE,
		PathBeneath: []configs.LandlockPathBeneath{
			{AllowedAccess: unix.LANDLOCK_ACCESS_FS_READ_FILE, Paths: []string{"/usr", "/etc"}},
			{AllowedAccess: 0, Paths: []string{"/skipped"}},
			{AllowedAccess: unix.LANDLOCK_ACCESS_FS_EXECUTE, Paths: []string{"/bin"}},
		}}
	return map[string]programInput{
		"exec, everything": {proc: tty, filter: notifyFilter, preserve: 2, lastCap: 40,
			memPolicy: &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1, 1 << 63}}},
		"exec, plain": {proc: &configs.Process{Args: []string{"true"}, Cwd: "/"}, lastCap: 40},
		"init": {proc: fullProcess(), init: true, newCgroupNS: true, newTimeNS: true, keyring: "_ses.c1",
			timeOffsets: map[string]specs.LinuxTimeOffset{"boottime": {Secs: 7}}, startHooks: []byte(`{"hooks":[]}`),
			personality: &specs.LinuxPersonality{Domain: specs.PerLinux32}, filter: testFilter, lastCap: 40},
	}
}

// TestWireRoundTrip: a program decoded from its wire form is the program
// (with the ruleset reduced to the kernel's Landlock ABI, as both
// executors apply it).
func TestWireRoundTrip(t *testing.T) {
	for name, in := range wireInputs() {
		t.Run(name, func(t *testing.T) {
			prog, err := finalProgram(in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := encodeProgram(prog, 5)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeProgram(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(prog) {
				t.Fatalf("%d steps back, %d sent", len(back), len(prog))
			}
			for i := range prog {
				want := prog[i]
				if want.op == opSetgroups && want.ids == nil {
					want.ids = []uint64{}
				}
				if want.op == opLandlock {
					want.landlock = decodedLandlock(want.landlock)
				}
				if !reflect.DeepEqual(back[i], want) {
					t.Errorf("step %d:\n got %#v\nwant %#v", i, back[i], want)
				}
			}
			// Encoding is stable: what was decoded encodes to the same bytes.
			again, err := encodeProgram(back, 5)
			if err != nil || !slices.Equal(again, b) {
				t.Errorf("re-encoded program differs (%v)", err)
			}
		})
	}
}

// decodedLandlock is l as it comes back from the wire: rules that allow
// nothing keep their place but lose their paths.
func decodedLandlock(l *configs.Landlock) *configs.Landlock {
	out := *l
	out.PathBeneath = nil
	for _, r := range l.PathBeneath {
		if r.AllowedAccess == 0 {
			r = configs.LandlockPathBeneath{}
		}
		out.PathBeneath = append(out.PathBeneath, r)
	}
	return &out
}

// wireOf is a valid program's wire form, and the offset of its step i.
func wireOf(t *testing.T) ([]byte, func(i int) int) {
	t.Helper()
	prog, err := finalProgram(wireInputs()["exec, everything"])
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeProgram(prog, 5)
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) int {
		off := progHeader
		e := binary.NativeEndian
		for k := 0; k < i; k++ {
			nids, nstrs, plen := int(e.Uint16(b[off+2:])), int(e.Uint16(b[off+4:])), int(e.Uint32(b[off+8:]))
			off += progRecord + 8*nids + plen
			for s := 0; s < nstrs; s++ {
				off = (off + 4 + int(e.Uint32(b[off:])) + 1 + 7) &^ 7
			}
		}
		return off
	}
	return b, at
}

// malformedPrograms are wire programs that both decoders must refuse,
// each built from a valid one.
func malformedPrograms(t *testing.T) map[string][]byte {
	good, at := wireOf(t)
	e := binary.NativeEndian
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	n := int(e.Uint32(good[4:]))
	last := at(n - 1)
	str0 := at(index(mustDecode(t, good), opChdir)) + progRecord // chdir's string
	return map[string][]byte{
		"bad magic":      edit(func(b []byte) []byte { b[0] = 'X'; return b }),
		"no steps":       edit(func(b []byte) []byte { e.PutUint32(b[4:], 0); return b }),
		"257 steps":      edit(func(b []byte) []byte { e.PutUint32(b[4:], 257); return b }),
		"one step less":  edit(func(b []byte) []byte { e.PutUint32(b[4:], uint32(n-1)); return b }),
		"one step more":  edit(func(b []byte) []byte { e.PutUint32(b[4:], uint32(n+1)); return b }),
		"header padding": edit(func(b []byte) []byte { b[12] = 1; return b }),
		"unknown op":     edit(func(b []byte) []byte { e.PutUint16(b[at(1):], uint16(opCount)); return b }),
		"op zero":        edit(func(b []byte) []byte { e.PutUint16(b[at(1):], 0); return b }),
		"record padding": edit(func(b []byte) []byte { b[at(1)+6] = 1; return b }),
		"too many ids for capset": edit(func(b []byte) []byte {
			e.PutUint16(b[at(index(mustDecode(t, good), opCapset))+2:], 3)
			return b
		}),
		"payload not 8-aligned": edit(func(b []byte) []byte {
			e.PutUint32(b[at(index(mustDecode(t, good), opSeccomp))+8:], 12)
			return b
		}),
		"sched_attr of another size": edit(func(b []byte) []byte {
			e.PutUint32(b[at(index(mustDecode(t, good), opScheduler))+8:], 48)
			return b
		}),
		"string longer than the program": edit(func(b []byte) []byte { e.PutUint32(b[str0:], 1<<30); return b }),
		"string without its NUL": edit(func(b []byte) []byte {
			b[str0+4+len("/work")] = 'x'
			return b
		}),
		"NUL inside a string": edit(func(b []byte) []byte { b[str0+4+1] = 0; return b }),
		"truncated":           edit(func(b []byte) []byte { b = b[:len(b)-8]; e.PutUint32(b[8:], uint32(len(b))); return b }),
		"bytes after the last step": edit(func(b []byte) []byte {
			b = append(b, make([]byte, 8)...)
			e.PutUint32(b[8:], uint32(len(b)))
			return b
		}),
		"execve without args": edit(func(b []byte) []byte { e.PutUint64(b[last+16:], 0); return b }),
		"execve not last": edit(func(b []byte) []byte {
			// The last two steps swapped: rlimit after execve.
			r := slices.Clone(b[at(n-2):last])
			x := slices.Clone(b[last:])
			return append(append(b[:at(n-2)], x...), r...)
		}),
	}
}

func mustDecode(t *testing.T, b []byte) []step {
	t.Helper()
	p, err := decodeProgram(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecodeRefuses: every malformed program is refused, naming where.
func TestDecodeRefuses(t *testing.T) {
	for name, b := range malformedPrograms(t) {
		t.Run(name, func(t *testing.T) {
			_, err := decodeProgram(b)
			if !errors.Is(err, errMalformed) {
				t.Fatalf("decoded: %v", err)
			}
		})
	}
}

// TestShapesInC: final.c's operand table is finalwire_linux.go's, and its
// op enum lists opCode's names in value order.
func TestShapesInC(t *testing.T) {
	src, err := os.ReadFile("nsenter/final.c")
	if err != nil {
		t.Fatal(err)
	}
	c := string(src)
	enum := c[strings.Index(c, "enum op {"):]
	enum = enum[len("enum op {"):strings.Index(enum, "}")]
	names := strings.FieldsFunc(strings.Replace(enum, "= 1", "", 1), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	value := map[string]opCode{}
	for i, n := range names {
		value[n] = opCode(i + 1)
	}
	if len(names) != int(opCount) || value["OP_COUNT"] != opCount {
		t.Fatalf("final.c has %d ops, Go %d: %v", len(names)-1, opCount-1, names)
	}
	snake := regexp.MustCompile(`([a-z])([A-Z])`)
	for op := opWriteProc; op < opCount; op++ {
		if want := "OP_" + strings.ToUpper(snake.ReplaceAllString(op.String(), "${1}_$2")); names[op-1] != want {
			t.Errorf("op %d is %s in Go, %s in final.c", op, want, names[op-1])
		}
	}
	got := map[opCode]shape{}
	for _, m := range regexp.MustCompile(`\[(OP_\w+)\] = S\(([^)]*)\)`).FindAllStringSubmatch(c, -1) {
		var n []int
		for _, f := range strings.Split(m[2], ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			n = append(n, v)
		}
		got[value[m[1]]] = shape{ids: [2]int{n[0], n[1]}, strs: [2]int{n[2], n[3]}, payload: [2]int{n[4], n[5]}}
	}
	for op := opWriteProc; op < opCount; op++ {
		if got[op] != shapes[op] {
			t.Errorf("%s: final.c %+v, Go %+v", op, got[op], shapes[op])
		}
	}
}

func FuzzDecodeProgram(f *testing.F) {
	for _, in := range wireInputs() {
		prog, err := finalProgram(in)
		if err != nil {
			f.Fatal(err)
		}
		b, err := encodeProgram(prog, 5)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		prog, err := decodeProgram(b)
		if err != nil {
			return
		}
		if _, err := encodeProgram(prog, 5); err != nil && !strings.Contains(err.Error(), "landlock") {
			t.Errorf("a decoded program does not encode: %v", err)
		}
	})
}
