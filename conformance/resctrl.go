package conformance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FakeResctrl is a directory laid out as a resctrl mount, for hosts
// without one (no Intel RDT or AMD PQoS, or a kernel without resctrl).
// The runtime finds it through Wrap: in a mount namespace of its own, a
// file bound over /proc/<pid>/mountinfo lists it as a mount of type
// resctrl (a shell binds it over its own pid, then execs the runtime),
// and one bound over /proc/cpuinfo lists the RDT CPU flags (rdt_a, cat_l3,
// mba, cqm_*) that some runtimes look for. Nothing else changes for the
// runtime.
//
// A plain directory is not the kernel's resctrl: a group made with mkdir
// stays empty where the kernel gives it schemata, tasks and mon_groups.
// So the tests use groups set up beforehand (Group), as an administrator
// does with closID; the rules about groups the runtime makes itself need
// a real resctrl.
type FakeResctrl struct {
	Root string
	Wrap []string
}

// fakeRootSchemata is the root group's schemata, as the kernel prints it.
const fakeRootSchemata = "    L3:0=7ff\n    MB:0=100\n"

// NewFakeResctrl lays out the fake under dir.
func NewFakeResctrl(dir string) (*FakeResctrl, error) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, fmt.Errorf("unshare(1) (util-linux) is needed for the mount namespace: %w", err)
	}
	f := &FakeResctrl{Root: filepath.Join(dir, "resctrl")}
	files := map[string]string{
		"schemata":                 fakeRootSchemata,
		"tasks":                    "",
		"info/last_cmd_status":     "ok\n",
		"info/L3/cbm_mask":         "7ff\n",
		"info/L3/min_cbm_bits":     "1\n",
		"info/L3/num_closids":      "16\n",
		"info/MB/bandwidth_gran":   "10\n",
		"info/MB/min_bandwidth":    "10\n",
		"info/MB/num_closids":      "8\n",
		"info/MB/delay_linear":     "1\n",
		"info/L3_MON/num_rmids":    "224\n",
		"info/L3_MON/mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
	}
	for name, content := range files {
		if err := writeFileAll(filepath.Join(f.Root, name), content); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(f.Root, "mon_groups"), 0o755); err != nil {
		return nil, err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mountinfo := filepath.Join(dir, "mountinfo")
	line := "4242 1 0:4242 / " + f.Root + " rw,relatime shared:4242 - resctrl resctrl rw\n"
	if err := writeFileAll(mountinfo, string(mi)+line); err != nil {
		return nil, err
	}
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(ci), "\n") {
		if strings.HasPrefix(l, "flags") {
			l += " rdt_a cat_l3 mba cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local"
		}
		lines = append(lines, l)
	}
	cpuinfo := filepath.Join(dir, "cpuinfo")
	if err := writeFileAll(cpuinfo, strings.Join(lines, "\n")); err != nil {
		return nil, err
	}
	f.Wrap = []string{"unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount --bind "$0" /proc/$$/mountinfo && mount --bind "$1" /proc/cpuinfo && shift && exec "$@"`,
		mountinfo, cpuinfo}
	return f, nil
}

// Group makes the CTRL_MON group name as the kernel would, with this
// schemata, and returns its directory.
func (f *FakeResctrl) Group(name, schemata string) (string, error) {
	g := filepath.Join(f.Root, name)
	for file, content := range map[string]string{"schemata": schemata, "tasks": ""} {
		if err := writeFileAll(filepath.Join(g, file), content); err != nil {
			return "", err
		}
	}
	return g, os.Mkdir(filepath.Join(g, "mon_groups"), 0o755)
}

// Snapshot returns every file of the tree with its content, and every
// directory (content "<dir>"), to tell whether a runtime changed it.
func (f *FakeResctrl) Snapshot() map[string]string {
	out := map[string]string{}
	_ = filepath.Walk(f.Root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(f.Root, p)
		if fi.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		b, _ := os.ReadFile(p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func writeFileAll(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}
