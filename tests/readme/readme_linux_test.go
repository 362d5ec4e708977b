package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blockTimeout bounds one README block. The first one may install Debian
// packages (make deps) when they are missing, so it is generous.
const blockTimeout = 5 * time.Minute

// rewrite replaces text of the README's blocks before they run.
type rewrite struct {
	old  string
	new  func(e *runEnv) string
	why  string
	path bool // old is a host path: blocks may name only rewritten ones
}

// rewrites keeps the doc test off the host's shared places: the state of
// /run/hull (other users' containers) and fixed directories a user of the
// README may have. Nothing else of a block is changed.
var rewrites = []rewrite{
	{old: "./hull ", new: func(e *runEnv) string { return "./hull --root " + e.root + " " }, why: "a private state root instead of /run/hull"},
	{old: "/tmp/hull-demo", new: func(e *runEnv) string { return filepath.Join(e.tmp, "hull-demo") }, why: "the first command's bundle", path: true},
	{old: "/srv/c1", new: func(e *runEnv) string { return filepath.Join(e.tmp, "c1") }, why: "the walk through's bundle", path: true},
	// hull network makes its bridge in the host's network namespace: one
	// the test owns, so that a user's hull0 (or its subnet) is never met.
	{old: "--network bridge", new: func(*runEnv) string {
		return "--network bridge --network-bridge hullreadme0 --network-subnet 10.199.99.0/24"
	}, why: "a bridge and subnet of the test's own"},
	{old: "10.99.0.", new: func(*runEnv) string { return "10.199.99." }, why: "the gateway of that subnet"},
}

// hostPath finds absolute paths under the places a block must not write to
// unless a rewrite moves them.
var hostPath = regexp.MustCompile(`(?:^|[\s"'=])(/(?:tmp|srv|var|run|home|opt|mnt)/[^\s"';&|)]*)`)

// runEnv is what one block runs with.
type runEnv struct {
	repo string // repository root: the blocks' working directory
	tmp  string // private temporary directory, removed afterwards
	root string // hull --root for the block
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("repository root %s: %v", dir, err)
	}
	return dir
}

// script is the block as bash runs it: a prelude on line 1, then blank
// lines, so that bash's $LINENO is the README's line number.
func script(b block, e *runEnv) (string, error) {
	for _, m := range hostPath.FindAllStringSubmatch(b.text, -1) {
		ok := false
		for _, r := range rewrites {
			if r.path && strings.HasPrefix(m[1], r.old) {
				ok = true
			}
		}
		if !ok {
			return "", fmt.Errorf("the block names the host path %s, which the doc test would change: add a rewrite for it in tests/readme", m[1])
		}
	}
	text := b.text
	for _, r := range rewrites {
		text = strings.ReplaceAll(text, r.old, r.new(e))
	}
	prelude := `set -eo pipefail; trap 'echo "README.md:$LINENO: exit status $?" >&2' ERR`
	return prelude + "\n" + strings.Repeat("\n", b.line-1) + text, nil
}

// cleanup deletes every container left under e.root, fails the test for
// each one (a README block must clean up after itself), and removes e.tmp.
func cleanup(t *testing.T, b block, e *runEnv) {
	hull := filepath.Join(e.repo, "hull")
	if _, err := os.Stat(e.root); err == nil {
		out, err := exec.Command(hull, "--root", e.root, "list", "-q").Output()
		if err != nil {
			t.Errorf("README.md:%d: cleanup: hull list: %v", b.line, err)
		}
		for _, id := range strings.Fields(string(out)) {
			t.Errorf("README.md:%d: the block left container %q behind", b.line, id)
			if o, err := exec.Command(hull, "--root", e.root, "delete", "--force", id).CombinedOutput(); err != nil {
				t.Errorf("README.md:%d: cleanup: delete --force %s: %v: %s", b.line, id, err, o)
			}
		}
	}
	if err := os.RemoveAll(e.tmp); err != nil {
		t.Errorf("README.md:%d: cleanup: %v", b.line, err)
	}
}

// run runs one block and checks its exit status and its expect markers.
func run(t *testing.T, b block, repo string) {
	tmp, err := os.MkdirTemp("", "hull-readme-")
	if err != nil {
		t.Fatal(err)
	}
	e := &runEnv{repo: repo, tmp: tmp, root: filepath.Join(tmp, "state")}
	t.Cleanup(func() { cleanup(t, b, e) })
	sh, err := script(b, e)
	if err != nil {
		t.Fatalf("README.md:%d: %v", b.line, err)
	}
	file := filepath.Join(tmp, "block.sh")
	if err := os.WriteFile(file, []byte(sh), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", file)
	cmd.Dir = repo
	// The README asks for Go in /usr/local/go/bin on PATH.
	cmd.Env = append(os.Environ(), "PATH=/usr/local/go/bin:"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A container started by the block holds its stdout: do not wait for
	// it forever once bash is gone.
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()

	report := func() string {
		return fmt.Sprintf("\n--- block as run (README lines %d-%d) ---\n%s\n--- stdout ---\n%s--- stderr ---\n%s",
			b.line+1, b.line+strings.Count(b.text, "\n"), strings.TrimLeft(sh[strings.Index(sh, "\n"):], "\n"), stdout.String(), stderr.String())
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("README.md:%d: the block did not finish within %v%s", b.line, blockTimeout, report())
	case err != nil:
		t.Fatalf("README.md:%d: the block failed: %v%s", b.line, err, report())
	}
	for _, x := range b.expects {
		if !x.re.MatchString(stdout.String()) {
			t.Errorf("README.md:%d: stdout does not match %q (expect marker on line %d)%s", b.line, x.re, x.line, report())
		}
	}
}

// TestReadme runs the README's sh blocks, in order.
func TestReadme(t *testing.T) {
	repo := repoRoot(t)
	md, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks(string(md))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(blocks) == 0 {
		t.Fatal("README.md: no ```sh blocks found")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the README's commands are run as root")
	}
	for _, b := range blocks {
		t.Run(fmt.Sprintf("line_%d", b.line), func(t *testing.T) {
			if b.skip != "" {
				t.Skipf("README.md:%d: no-test: %s", b.line, b.skip)
			}
			run(t, b, repo)
		})
	}
}

// TestMakeTargets checks that the make targets the README names but the
// doc test cannot run (make test runs this very test; make install writes
// to /usr/local) exist: make -n fails on an unknown target.
func TestMakeTargets(t *testing.T) {
	repo := repoRoot(t)
	for _, target := range []string{"test", "install", "man", "deps", "hull"} {
		cmd := exec.Command("make", "-n", target)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("make -n %s: %v: %s", target, err, out)
		}
	}
}

func TestScript(t *testing.T) {
	e := &runEnv{tmp: "/x", root: "/x/state"}
	tests := []struct {
		name    string
		b       block
		want    map[int]string // script line -> content
		wantErr string
	}{
		{
			name: "lines keep their README numbers",
			b:    block{line: 5, text: "true\nfalse\n"},
			want: map[int]string{6: "true", 7: "false"},
		},
		{
			name: "hull gets a private root, fixed paths move",
			b:    block{line: 1, text: "./hull run --bundle /tmp/hull-demo demo\nmkdir -p /srv/c1\n"},
			want: map[int]string{2: "./hull --root /x/state run --bundle /x/hull-demo demo", 3: "mkdir -p /x/c1"},
		},
		{
			name:    "a host path without a rewrite is refused",
			b:       block{line: 1, text: "rm -rf /var/lib/thing\n"},
			wantErr: "host path /var/lib/thing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh, err := script(tt.b, e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("script: err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(sh, "\n")
			for n, want := range tt.want {
				if n > len(lines) || lines[n-1] != want {
					t.Errorf("script line %d: got %q, want %q\n%s", n, lines[min(n, len(lines))-1], want, sh)
				}
			}
		})
	}
}
