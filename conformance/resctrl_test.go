package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// TestFakeResctrl checks the fake resctrl against the kernel's rules it
// claims to follow (FakeResctrl's doc), through the mount, as a runtime
// sees it. It needs no runtime.
func TestFakeResctrl(t *testing.T) {
	if why := FuseAvailable(); why != "" {
		t.Skipf("no FUSE: %s", why)
	}
	f, err := NewFakeResctrl(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	p := func(rel string) string { return filepath.Join(f.Root, rel) }
	write := func(rel, s string) error {
		fd, err := os.OpenFile(p(rel), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		_, err = fd.WriteString(s)
		if cerr := fd.Close(); err == nil {
			err = cerr
		}
		return err
	}
	read := func(rel string) string {
		b, err := os.ReadFile(p(rel))
		if err != nil {
			t.Fatalf("read %s: %v", rel, err)
		}
		return string(b)
	}
	self := strconv.Itoa(os.Getpid())

	steps := []struct {
		name string
		do   func() error
		want syscall.Errno // 0: success
	}{
		{"mkdir group", func() error { return os.Mkdir(p("g"), 0o755) }, 0},
		{"mkdir group again", func() error { return os.Mkdir(p("g"), 0o755) }, syscall.EEXIST},
		{"mkdir in info", func() error { return os.Mkdir(p("info/x"), 0o755) }, syscall.EPERM},
		{"mkdir in a group", func() error { return os.Mkdir(p("g/x"), 0o755) }, syscall.EPERM},
		{"schemata without newline", func() error { return write("g/schemata", "L3:0=f") }, syscall.EINVAL},
		{"schemata unknown resource", func() error { return write("g/schemata", "L2:0=f\n") }, syscall.EINVAL},
		{"schemata unknown domain", func() error { return write("g/schemata", "L3:1=f\n") }, syscall.EINVAL},
		{"schemata non-contiguous mask", func() error { return write("g/schemata", "L3:0=505\n") }, syscall.EINVAL},
		{"schemata mask too wide", func() error { return write("g/schemata", "L3:0=fff\n") }, syscall.EINVAL},
		{"schemata bandwidth too low", func() error { return write("g/schemata", "MB:0=5\n") }, syscall.EINVAL},
		{"schemata domain twice", func() error { return write("g/schemata", "L3:0=f\nL3:0=f0\n") }, syscall.EINVAL},
		{"schemata L3", func() error { return write("g/schemata", "L3:0=0f0\n") }, 0},
		{"schemata MB, rounded up", func() error { return write("g/schemata", "  MB:0=45\n") }, 0},
		{"tasks of a missing pid", func() error { return write("g/tasks", "999999999") }, syscall.ESRCH},
		{"tasks", func() error { return write("g/tasks", self) }, 0},
		{"mkdir MON group", func() error { return os.Mkdir(p("g/mon_groups/m"), 0o755) }, 0},
		{"MON tasks from its group", func() error { return write("g/mon_groups/m/tasks", self) }, 0},
		{"mkdir root MON group", func() error { return os.Mkdir(p("mon_groups/r"), 0o755) }, 0},
		{"MON tasks from another group", func() error { return write("mon_groups/r/tasks", self) }, syscall.EINVAL},
		{"MON limit reached", func() error { f.SetMonGroupLimit(2); return os.Mkdir(p("g/mon_groups/n"), 0o755) }, syscall.ENOSPC},
		{"unlink a file", func() error { return os.Remove(p("g/tasks")) }, syscall.EPERM},
		{"rmdir info", func() error { return syscall.Rmdir(p("info")) }, syscall.EPERM},
		{"write info", func() error { return write("info/L3/cbm_mask", "1") }, syscall.EACCES},
	}
	for _, s := range steps {
		err := s.do()
		var got syscall.Errno
		if err != nil && !errors.As(err, &got) {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Errorf("%s: got %v, want errno %d (%v)", s.name, err, s.want, s.want)
		}
	}
	f.SetMonGroupLimit(-1)

	for _, e := range []string{"schemata", "tasks", "cpus", "mon_groups", "mon_data/mon_L3_00/llc_occupancy"} {
		if _, err := os.Stat(p("g/" + e)); err != nil {
			t.Errorf("new group: %v", err)
		}
	}
	for _, e := range []string{"tasks", "mon_data"} {
		if _, err := os.Stat(p("g/mon_groups/m/" + e)); err != nil {
			t.Errorf("new MON group: %v", err)
		}
	}
	if got, want := read("g/schemata"), "    L3:0=0f0\n    MB:0= 50\n"; got != want {
		t.Errorf("g/schemata = %q, want %q", got, want)
	}
	if got, want := read("schemata"), "    L3:0=7ff\n    MB:0=100\n"; got != want {
		t.Errorf("root schemata = %q, want %q (unchanged)", got, want)
	}
	if got := read("g/tasks"); got != self+"\n" {
		t.Errorf("g/tasks = %q, want our pid", got)
	}
	if got := read("info/last_cmd_status"); got != "Out of RMIDs\n" {
		t.Errorf("last_cmd_status = %q, want the reason of the last failure", got)
	}
	if got, want := f.Writes("g"), []string{"L3:0=f", "L2:0=f\n", "L3:1=f\n", "L3:0=505\n", "L3:0=fff\n", "MB:0=5\n", "L3:0=f\nL3:0=f0\n", "L3:0=0f0\n", "  MB:0=45\n"}; !slices.Equal(got, want) {
		t.Errorf("Writes(g) = %q, want %q", got, want)
	}
	if err := syscall.Rmdir(p("g")); err != nil {
		t.Fatalf("rmdir g (with a MON group and a task): %v", err)
	}
	if f.Exists("g") || f.Exists("g/mon_groups/m") {
		t.Errorf("rmdir g left g or its MON group")
	}
	if _, err := os.Stat(p("g")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after rmdir, stat g: %v", err)
	}
	if got := f.Tasks("g"); !slices.Equal(got, []int{999999999, os.Getpid()}) {
		t.Errorf("Tasks(g) after rmdir = %v", got)
	}
	if err := os.Mkdir(p("g"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := read("g/schemata"), "    L3:0=7ff\n    MB:0=100\n"; got != want {
		t.Errorf("a new g's schemata = %q, want the root's %q", got, want)
	}
}
