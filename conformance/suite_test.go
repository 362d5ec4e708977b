package conformance

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

var (
	flagRuntime = flag.String("runtime", "", "path of the runtime under test (default $RUNTIME)")
	flagReport  = flag.String("report", "", "also write the report as JSON to this file")
	flagBusybox = flag.String("busybox", "/bin/busybox", "static busybox used for test rootfs")
	flagChecker = flag.String("checker", "", "prebuilt static checker binary (default: build the embedded one)")
	flagGo      = flag.String("go", "go", "go tool used to build the checker")
	flagStrict  = flag.Bool("strict", false, "report known deviations (DEVIATIONS.md) as failures")
	flagAllow   = flag.String("allow", "", "the runtime's allow-list: failures it keeps on purpose, with reasons (see README.md)")
	flagTimeout = flag.Duration("call-timeout", DefaultTimeout, "timeout of each runtime invocation")
	flagJSON    = flag.Bool("test.json", false, "emit go test -json events (re-runs this binary under `go tool test2json`)")
	flagVersion = flag.String("oci-version", "", "ociVersion written into bundles (default: the runtime's features ociVersionMax, else "+specs.Version+")")
)

// suite is the state shared by all tests of one run; it is set once in
// TestMain before any test runs and only read afterwards (the report has
// its own lock).
var suite struct {
	runtime  string
	rootfs   RootfsSource
	hostEnv  []string
	report   *Report
	features *features.Features
	featErr  error
	allow    []*Allowance
	setupErr error
	seq      atomic.Int64
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *flagJSON {
		os.Exit(runJSON())
	}
	suite.report = &Report{}
	suite.runtime = *flagRuntime
	if suite.runtime == "" {
		suite.runtime = os.Getenv("RUNTIME")
	}
	tmp := ""
	suite.setupErr = setup(&tmp)
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	if staleAllowances() && code == 0 {
		code = 1
	}
	if len(suite.report.Entries()) > 0 {
		fmt.Println()
		suite.report.Print(os.Stdout, suite.runtime)
		if *flagReport != "" {
			if err := suite.report.WriteJSON(*flagReport, suite.runtime); err != nil {
				fmt.Fprintln(os.Stderr, "conformance:", err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// setup resolves the runtime, builds the checker in a temporary directory
// (returned in *tmp for removal) and reads the runtime's features.
func setup(tmpOut *string) error {
	if suite.runtime == "" {
		return fmt.Errorf("no runtime given: pass -runtime PATH or set RUNTIME")
	}
	tmp, err := os.MkdirTemp("", "conformance-")
	if err != nil {
		return err
	}
	*tmpOut = tmp
	p, err := exec.LookPath(suite.runtime)
	if err != nil {
		return fmt.Errorf("runtime %s: %w", suite.runtime, err)
	}
	suite.runtime, _ = filepath.Abs(p)
	if *flagAllow != "" {
		if suite.allow, err = ParseAllowList(*flagAllow); err != nil {
			return err
		}
	}
	if _, err := os.Stat(*flagBusybox); err != nil {
		return fmt.Errorf("busybox for the test rootfs: %w (apt-get install busybox-static)", err)
	}
	suite.rootfs.Busybox = *flagBusybox
	suite.rootfs.Checker = *flagChecker
	if suite.rootfs.Checker == "" {
		if suite.rootfs.Checker, err = BuildChecker(*flagGo, tmp); err != nil {
			return err
		}
	}
	suite.hostEnv = HostEnv()
	rt := &Runtime{Path: suite.runtime, Root: filepath.Join(tmp, "features-root"), Timeout: *flagTimeout}
	raw, err := rt.Features()
	if err != nil {
		suite.featErr = err
		return nil
	}
	var f features.Features
	if err := json.Unmarshal(raw, &f); err != nil {
		suite.featErr = fmt.Errorf("decode features: %w", err)
		return nil
	}
	suite.features = &f
	return nil
}

// staleAllowances prints the allow-list entries that matched no failure.
// After a full run (no -test.run) they fail it: the runtime no longer
// needs them, and a list nobody prunes hides the next failure.
func staleAllowances() bool {
	full := flag.Lookup("test.run").Value.String() == ""
	stale := false
	for _, a := range suite.allow {
		if a.Used() {
			continue
		}
		if full {
			fmt.Printf("conformance: allow-list %s:%d (%s, %s) matched no failure: remove it\n", *flagAllow, a.Line, a.Clause, a.Test)
			stale = true
		} else {
			fmt.Printf("conformance: allow-list %s:%d (%s, %s) matched no failure in this partial run\n", *flagAllow, a.Line, a.Clause, a.Test)
		}
	}
	return stale
}

// requireSuite stops a test whose suite setup failed (no runtime, no
// busybox, checker build failure).
func requireSuite(t *testing.T) {
	t.Helper()
	if suite.setupErr != nil {
		t.Fatalf("suite setup: %v", suite.setupErr)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the conformance suite must run as root")
	}
}

// CheckerClause is the report's name for failures of the suite's own
// checks rather than of a spec clause: the in-container checker could not
// read its config, or a check group checked nothing.
const CheckerClause = "CHECKER"

// record adds an assertion to the report; a failure fails the test unless
// it is a documented known deviation (and -strict is off).
func record(t *testing.T, id string, ok bool, format string, args ...any) bool {
	t.Helper()
	c, known := LookupClause(id)
	if !known {
		c = Clause{ID: id}
	}
	msg := fmt.Sprintf(format, args...)
	e := Entry{Clause: id, Level: c.Level, Section: c.Section, Test: t.Name(), Result: Pass, Message: msg}
	if !known && id != CheckerClause {
		e.Result, e.Message = Fail, "unknown clause id: "+msg
		ok = false
	}
	if !ok {
		e.Result = Fail
		if a, allowed := matchAllowance(suite.allow, id, t.Name(), msg); allowed && known {
			e.Result = Allowed
			e.Message = msg + " [allowed: " + a.Reason + "]"
			t.Logf("allowed failure %s: %s", id, e.Message)
		} else if d, dev := MatchDeviation(id, t.Name(), msg); dev && !*flagStrict && known {
			e.Result = Deviation
			e.Message = msg + " [known deviation: " + d.Note + "]"
			t.Logf("known deviation %s: %s", id, e.Message)
		} else {
			t.Errorf("%s (%s %s): %s", id, c.Level, c.Section, msg)
		}
	}
	suite.report.Add(e)
	return ok
}

// skipClause records a skip for clause id and skips the test.
func skipClause(t *testing.T, id, format string, args ...any) {
	t.Helper()
	c, _ := LookupClause(id)
	msg := fmt.Sprintf(format, args...)
	suite.report.Add(Entry{Clause: id, Level: c.Level, Section: c.Section, Test: t.Name(), Result: Skip, Message: msg})
	t.Skipf("%s: %s", id, msg)
}

func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	requireSuite(t)
	return &Runtime{Path: suite.runtime, Root: t.TempDir(), Timeout: *flagTimeout}
}

func newBundle(t *testing.T) *Bundle {
	t.Helper()
	requireSuite(t)
	dir := t.TempDir()
	// t.TempDir makes 0700 directories; ids mapped into a user namespace
	// must be able to reach the rootfs.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBundle(dir, suite.rootfs, suite.hostEnv)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	// features.md: the runtime MUST accept ociVersionMax, so bundles
	// claim it (a runtime may refuse versions newer than it knows).
	switch {
	case *flagVersion != "":
		b.Spec.Version = *flagVersion
	case suite.features != nil && suite.features.OCIVersionMax != "":
		b.Spec.Version = suite.features.OCIVersionMax
	}
	return b
}

// ctr is one container under test; its cleanup (registered on creation)
// kills and force-deletes it whatever state the test left it in.
type ctr struct {
	t      *testing.T
	rt     *Runtime
	b      *Bundle
	id     string
	stdout *os.File
	stderr *os.File
	cgdirs []string // host cgroup directories of the container, seen after create
}

func newCtr(t *testing.T, rt *Runtime, b *Bundle) *ctr {
	t.Helper()
	id := fmt.Sprintf("conf-%d-%d", os.Getpid(), suite.seq.Add(1))
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	c := &ctr{t: t, rt: rt, b: b, id: id, stdout: stdout, stderr: stderr}
	t.Cleanup(func() {
		rt.Kill(id, "KILL")
		rt.Delete(id, true)
		stdout.Close()
		stderr.Close()
		c.checkCgroupsGone()
	})
	return c
}

// noteCgroups remembers the container's cgroups (from its init's
// /proc/PID/cgroup) so cleanup can check that they are gone.
func (c *ctr) noteCgroups() {
	st, _, res := c.rt.State(c.id)
	if !res.OK() || st.Pid <= 0 {
		return
	}
	if dirs, err := CgroupDirs(st.Pid); err == nil {
		c.cgdirs = dirs
	}
}

// checkCgroupsGone runs after the container was deleted: every cgroup it had
// must be gone (runtime.md Delete). Leftovers are reported and removed so a
// leaking runtime does not leave the host dirty.
func (c *ctr) checkCgroupsGone() {
	var left []string
	for _, d := range c.cgdirs {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
			os.Remove(d) // rmdir: succeeds only on an empty cgroup
		}
	}
	if len(left) > 0 {
		record(c.t, "RT-DELETE-RESOURCES", false, "cgroups of deleted container %s left behind: %v", c.id, left)
	}
}

// create writes the bundle's config and runs create.
func (c *ctr) create() Result {
	c.t.Helper()
	if err := c.b.Write(); err != nil {
		c.t.Fatal(err)
	}
	res := c.rt.Create(c.id, c.b.Dir, CreateOpts{Stdio: &Stdio{Stdout: c.stdout, Stderr: c.stderr}})
	if res.OK() {
		c.noteCgroups()
	}
	return res
}

func (c *ctr) mustCreate() {
	c.t.Helper()
	if res := c.create(); !res.OK() {
		c.t.Fatalf("create: %s", res)
	}
}

func (c *ctr) mustStart() {
	c.t.Helper()
	if res := c.rt.Start(c.id); !res.OK() {
		c.t.Fatalf("start: %s", res)
	}
}

func (c *ctr) status() string { return c.rt.Status(c.id) }

// waitStatus polls state until the container reaches status s.
func (c *ctr) waitStatus(s string) error {
	return WaitFor(10*time.Second, c.id+" to be "+s, func() bool { return c.status() == s })
}

func (c *ctr) mustWaitStatus(s string) {
	c.t.Helper()
	if err := c.waitStatus(s); err != nil {
		c.t.Fatalf("%v (last status %q)", err, c.status())
	}
}

func (c *ctr) output() (string, string) {
	return readBack(c.stdout), readBack(c.stderr)
}

// sleeper makes the container's process a long-running shell loop.
func sleeper(b *Bundle) {
	b.Spec.Process.Args = []string{"/bin/sh", "-c", "while true; do sleep 1; done"}
}

// runChecker runs the in-container checker with the given check groups in
// a container made from b, records every line it prints, and returns
// whether it ran to completion with no failed check.
func runChecker(t *testing.T, b *Bundle, groups ...string) bool {
	t.Helper()
	rt := newRuntime(t)
	b.Spec.Process.Args = append([]string{"/checker"}, groups...)
	c := newCtr(t, rt, b)
	c.mustCreate()
	c.mustStart()
	c.mustWaitStatus("stopped")
	return c.recordChecker()
}

func (c *ctr) recordChecker() bool {
	t := c.t
	t.Helper()
	stdout, stderr := c.output()
	done, failed := false, false
	// Per check group (between "GROUP name" and "END name failures"):
	// its passes and skips. A group that passed nothing and failed nothing
	// checked nothing: it fails, or a check that cannot fail would read
	// as conformance.
	group, passes, skips := "", 0, 0
	for _, l := range strings.Split(stdout+"\n"+stderr, "\n") {
		l = strings.TrimRight(l, "\r")
		if l == "DONE" {
			done = true
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) < 2 {
			continue
		}
		msg := ""
		if len(f) == 3 {
			msg = f[2]
		}
		switch f[0] {
		case "GROUP":
			group, passes, skips = f[1], 0, 0
		case "END":
			if f[1] == group && passes == 0 && strings.TrimSpace(msg) == "0" {
				record(t, CheckerClause, false, "check group %q passed no check (%d skipped): it proved nothing", group, skips)
				failed = true
			}
			group = ""
		case "PASS":
			passes++
			record(t, f[1], true, "%s", msg)
		case "FAIL":
			record(t, f[1], false, "%s", msg)
			failed = true
		case "SKIP":
			skips++
			c2, _ := LookupClause(f[1])
			suite.report.Add(Entry{Clause: f[1], Level: c2.Level, Section: c2.Section, Test: t.Name(), Result: Skip, Message: msg})
		}
	}
	if !done {
		t.Errorf("checker did not finish: stdout %q stderr %q", trim(stdout), trim(stderr))
	}
	return done && !failed
}

// hasFeature reports whether the runtime's features output lists v in the
// list returned by get; with no features output it assumes support.
func featureListed(get func(*features.Features) []string, v string) (bool, string) {
	if suite.features == nil {
		return true, ""
	}
	for _, x := range get(suite.features) {
		if x == v {
			return true, ""
		}
	}
	return false, fmt.Sprintf("the runtime's features output does not list %q", v)
}

// runJSON re-runs this test binary in test2json mode under
// `go tool test2json`, which turns its output into go test -json events.
func runJSON() int {
	var args []string
	for _, a := range os.Args[1:] {
		if a == "-test.json" || a == "--test.json" || strings.HasPrefix(a, "-test.json=") {
			continue
		}
		args = append(args, a)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	cmd := exec.Command(*flagGo, append([]string{"tool", "test2json", "-t", "-p", "conformance", self, "-test.v=test2json"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "conformance: go tool test2json:", err)
		return 2
	}
	return 0
}
