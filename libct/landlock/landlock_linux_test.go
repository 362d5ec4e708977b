package landlock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/libct/configs"
)

// childEnv makes the test binary a child that applies the ruleset in
// $LANDLOCK_TEST_RULESET and then tries what $LANDLOCK_TEST_TRY lists:
// Landlock confines a thread for good, so each case runs in its own
// process.
const childEnv = "LANDLOCK_TEST_RULESET"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child applies the ruleset and prints, for each "write:PATH" or
// "connect:ADDR" try, "ok" or the error.
func child() int {
	runtime.LockOSThread() // Landlock confines this thread only
	var l configs.Landlock
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &l); err != nil {
		fmt.Println("bad ruleset:", err)
		return 2
	}
	var warn bytes.Buffer
	if err := Apply(&l, &warn); err != nil {
		fmt.Println("apply:", err)
		return 1
	}
	if warn.Len() > 0 {
		fmt.Print("warn: ", warn.String())
	}
	for _, try := range strings.Fields(os.Getenv("LANDLOCK_TEST_TRY")) {
		kind, arg, _ := strings.Cut(try, ":")
		var err error
		switch kind {
		case "write":
			err = os.WriteFile(arg, []byte("x"), 0o644)
		case "connect":
			var c net.Conn
			if c, err = net.Dial("tcp", arg); err == nil {
				c.Close()
			}
		}
		var errno syscall.Errno
		switch {
		case errors.As(err, &errno):
			fmt.Printf("%s: %v\n", try, errno)
		case err != nil:
			fmt.Printf("%s: %v\n", try, err)
		default:
			fmt.Printf("%s: ok\n", try)
		}
	}
	return 0
}

func needLandlock(t *testing.T, abi int) {
	t.Helper()
	v, err := ABI()
	if err != nil || v < abi {
		t.Skipf("needs Landlock ABI %d (this kernel: %d, %v)", abi, v, err)
	}
}

func runChild(t *testing.T, l *configs.Landlock, tries ...string) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b), "LANDLOCK_TEST_TRY="+strings.Join(tries, " "))
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "apply:") {
		t.Fatalf("child: %v: %s", err, out)
	}
	return string(out)
}

func TestApplyFilesystem(t *testing.T) {
	needLandlock(t, 1)
	dir := t.TempDir()
	allowed, denied := filepath.Join(dir, "allowed"), filepath.Join(dir, "denied")
	for _, d := range []string{allowed, denied} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rights := uint64(write | 1<<8) // write_file, make_reg
	for _, tc := range []struct {
		name  string
		l     configs.Landlock
		tries []string
		want  []string
	}{
		{
			name: "write beneath an allowed dir only",
			l: configs.Landlock{HandledAccessFS: rights, PathBeneath: []configs.LandlockPathBeneath{
				{AllowedAccess: rights, Paths: []string{allowed}},
			}},
			tries: []string{"write:" + allowed + "/f", "write:" + denied + "/f"},
			want:  []string{"write:" + allowed + "/f: ok", "write:" + denied + "/f: permission denied"},
		},
		{
			name: "a file rule keeps only file rights",
			l: configs.Landlock{HandledAccessFS: rights, PathBeneath: []configs.LandlockPathBeneath{
				{AllowedAccess: rights, Paths: []string{"/dev/null"}},
			}},
			tries: []string{"write:/dev/null", "write:" + allowed + "/g"},
			want:  []string{"write:/dev/null: ok", "write:" + allowed + "/g: permission denied"},
		},
		{
			name: "best effort skips a missing path",
			l: configs.Landlock{HandledAccessFS: rights, PathBeneath: []configs.LandlockPathBeneath{
				{AllowedAccess: rights, Paths: []string{"/no/such/dir", allowed}},
			}},
			tries: []string{"write:" + allowed + "/h"},
			want:  []string{`warn: hull: warning: process.landlock.rules.pathBeneath[0].paths[0] "/no/such/dir" skipped: no such file or directory`, "write:" + allowed + "/h: ok"},
		},
		{
			name: "a missing path fails with disableBestEffort",
			l: configs.Landlock{HandledAccessFS: rights, DisableBestEffort: true, PathBeneath: []configs.LandlockPathBeneath{
				{AllowedAccess: rights, Paths: []string{allowed, "/no/such/dir"}},
			}},
			want: []string{`apply: process.landlock.rules.pathBeneath[0].paths[1] "/no/such/dir": no such file or directory`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runChild(t, &tc.l, tc.tries...)
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestApplyNetwork(t *testing.T) {
	needLandlock(t, 4)
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		addrs = append(addrs, ln.Addr().String())
	}
	_, p, _ := net.SplitHostPort(addrs[0])
	var port uint16
	fmt.Sscan(p, &port)
	l := configs.Landlock{HandledAccessNet: conn, NetPort: []configs.LandlockNetPort{{AllowedAccess: conn, Ports: []uint16{port}}}}
	out := runChild(t, &l, "connect:"+addrs[0], "connect:"+addrs[1])
	for _, w := range []string{"connect:" + addrs[0] + ": ok", "connect:" + addrs[1] + ": permission denied"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
