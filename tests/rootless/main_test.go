// Package rootless tests hull's unprivileged containers end to end: user
// namespaces started by root, rootless hull run by a real unprivileged
// user with subordinate ids, and idmapped mounts. The tests run as root:
// they create the user (and its /etc/subuid and /etc/subgid ranges) and
// remove it at the end, and run hull as that user through setpriv.
package rootless

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testUser is the unprivileged user the rootless tests run hull as.
type testUser struct {
	name     string
	uid, gid int
	// sub is the first of subCount subordinate uids and gids.
	sub, subCount int
}

// env is set once by TestMain and read-only afterwards.
type env struct {
	binary string    // hull under test
	rootfs string    // cached busybox rootfs (scripts/mkrootfs.sh)
	user   *testUser // nil when it could not be created (see skipReason)
	// skipReason says why root-only tests, or user tests, cannot run.
	notRoot, noUser string
}

var testEnv env

const userName = "hullrltest"

func TestMain(m *testing.M) {
	e, cleanup := setup()
	testEnv = e
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func setup() (env, func()) {
	var e env
	nop := func() {}
	if os.Geteuid() != 0 {
		e.notRoot = fmt.Sprintf("needs root to create the test user (running as uid %d)", os.Geteuid())
		e.noUser = e.notRoot
		return e, nop
	}
	repo := repoRoot()
	e.binary = os.Getenv("HULL_BINARY")
	if e.binary == "" {
		e.binary = filepath.Join(repo, "hull")
	}
	if _, err := os.Stat(e.binary); err != nil {
		e.notRoot = fmt.Sprintf("needs the hull binary (make hull, or HULL_BINARY): %v", err)
		e.noUser = e.notRoot
		return e, nop
	}
	out, err := exec.Command(filepath.Join(repo, "scripts", "mkrootfs.sh")).Output()
	if err != nil {
		e.notRoot = fmt.Sprintf("needs a busybox rootfs (scripts/mkrootfs.sh: %v)", err)
		e.noUser = e.notRoot
		return e, nop
	}
	e.rootfs = strings.TrimSpace(string(out))
	u, err := createUser(userName)
	if err != nil {
		e.noUser = "cannot create an unprivileged user with subordinate ids: " + err.Error()
		return e, nop
	}
	e.user = u
	return e, func() {
		if out, err := exec.Command("userdel", "-f", u.name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "rootless: userdel %s: %v: %s\n", u.name, err, out)
		}
	}
}

// createUser (re)creates name without a home directory and gives it the
// next free 65536 subordinate uids and gids above every existing range.
func createUser(name string) (*testUser, error) {
	for _, tool := range []string{"useradd", "usermod", "userdel", "setpriv", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s: %w (Debian: passwd, util-linux, uidmap)", tool, err)
		}
	}
	_ = exec.Command("userdel", "-f", name).Run() // a leftover of a killed run
	const count = 65536
	sub := 1 << 20
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		end, err := maxSubEnd(f)
		if err != nil {
			return nil, err
		}
		if end > sub {
			sub = (end/count + 1) * count
		}
	}
	// -K ..._COUNT=0: no automatic range, the one below is known.
	if out, err := exec.Command("useradd", "-M", "-U", "-s", "/usr/sbin/nologin",
		"-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("useradd: %v: %s", err, out)
	}
	r := fmt.Sprintf("%d-%d", sub, sub+count-1)
	if out, err := exec.Command("usermod", "--add-subuids", r, "--add-subgids", r, name).CombinedOutput(); err != nil {
		_ = exec.Command("userdel", "-f", name).Run()
		return nil, fmt.Errorf("usermod: %v: %s", err, out)
	}
	id := func(flag string) (int, error) {
		out, err := exec.Command("id", flag, name).Output()
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(out)))
	}
	uid, err1 := id("-u")
	gid, err2 := id("-g")
	if err1 != nil || err2 != nil {
		_ = exec.Command("userdel", "-f", name).Run()
		return nil, fmt.Errorf("id %s: %v %v", name, err1, err2)
	}
	return &testUser{name: name, uid: uid, gid: gid, sub: sub, subCount: count}, nil
}

// maxSubEnd returns one past the highest id of any range in a subuid(5) file.
func maxSubEnd(file string) (int, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	end := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 {
			continue
		}
		s, err1 := strconv.Atoi(p[1])
		n, err2 := strconv.Atoi(p[2])
		if err1 == nil && err2 == nil && s+n > end {
			end = s + n
		}
	}
	return end, sc.Err()
}

func needRoot(t *testing.T) {
	t.Helper()
	if testEnv.notRoot != "" {
		t.Skip(testEnv.notRoot)
	}
}

func needUser(t *testing.T) *testUser {
	t.Helper()
	needRoot(t)
	if testEnv.user == nil {
		t.Skip(testEnv.noUser)
	}
	return testEnv.user
}

// bundle makes a bundle directory (world-traversable, so the test user
// can reach it) holding a copy of the rootfs owned by uid:gid and the
// config written by write.
func bundle(t *testing.T, uid, gid int) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's parents are 0700.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", testEnv.rootfs, filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), dir).CombinedOutput(); err != nil {
		t.Fatalf("chown bundle: %v: %s", err, out)
	}
	return dir
}

// xdgDir makes the test user's $XDG_RUNTIME_DIR (0700, its own).
func xdgDir(t *testing.T, u *testUser) string {
	t.Helper()
	dir := bundle(t, u.uid, u.gid) // a traversable, owned directory
	xdg := filepath.Join(dir, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(xdg, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return xdg
}

// result is one hull run: its exit status and both outputs.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs cmd with its output in files, not pipes: a container's init
// inherits them, and a pipe would stay open after create returns.
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	dir := t.TempDir()
	o, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	e, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cmd.Stdout, cmd.Stderr = o, e
	err = cmd.Run()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(e.Name())
	r := result{stdout: string(ob), stderr: string(eb)}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// hullAsRoot runs hull as root with its state under root.
func hullAsRoot(t *testing.T, dir, state string, args ...string) result {
	t.Helper()
	cmd := exec.Command(testEnv.binary, append([]string{"--root", state}, args...)...)
	cmd.Dir = dir
	return run(t, cmd)
}

// hullAs runs hull as u (setpriv drops every capability with the uid
// change), in dir, with only the environment a login would give.
func hullAs(t *testing.T, u *testUser, xdg, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid),
		"--init-groups", "--", testEnv.binary}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/", "XDG_RUNTIME_DIR=" + xdg}
	return run(t, cmd)
}

func must(t *testing.T, r result, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
	return r
}

// readSpec and writeSpec edit a bundle's config.json.
func readSpec(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func writeSpec(t *testing.T, dir string, s *specs.Spec, uid, gid int) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// hostUID returns the uid of pid as the host sees it (`ps -o uid=`).
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	out, err := exec.Command("ps", "-o", "uid=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("ps -p %d: %v", pid, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ps -p %d: %q", pid, out)
	}
	return n
}

// statePid reads the pid from `hull state` output.
func statePid(t *testing.T, r result) int {
	t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state: %v: %s", err, r)
	}
	return st.Pid
}

// mapText formats maps as /proc/PID/uid_map does, for comparison with
// whitespace collapsed.
func mapText(m []specs.LinuxIDMapping) string {
	var lines []string
	for _, e := range m {
		lines = append(lines, fmt.Sprintf("%d %d %d", e.ContainerID, e.HostID, e.Size))
	}
	return strings.Join(lines, "\n")
}

func collapse(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// owners parses lines of `stat -c '%u:%g %n'` into name -> "uid:gid".
func owners(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if ids, name, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			m[name] = ids
		}
	}
	return m
}
