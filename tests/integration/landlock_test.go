package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hullFeature skips a test of something only hull has (runc 1.1 has no
// process.landlock, no `network` command): on another runtime it could
// only fail.
func hullFeature(t *testing.T, what string) {
	t.Helper()
	if !hullOnly() {
		t.Skipf("%s is hull's own: nothing to compare with on %s", what, testEnv.binary)
	}
}

// needLandlock skips without Landlock in the kernel, naming it.
func needLandlock(t *testing.T) {
	t.Helper()
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 || int(v) < 1 {
		t.Skipf("needs Landlock in the kernel (landlock_create_ruleset: %v)", e)
	}
}

// withLandlockJSON rewrites the bundle's config.json with process.landlock
// set to ll (runtime-spec's Go types have no such field).
func (b *bundle) withLandlockJSON(t *testing.T, ll string) {
	t.Helper()
	b.write(t)
	path := filepath.Join(b.dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(ll), &v); err != nil {
		t.Fatalf("landlock JSON: %v", err)
	}
	doc["process"].(map[string]any)["landlock"] = v
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeOnlyTmp handles the rights that create and write files, and allows
// them only beneath /tmp.
const writeOnlyTmp = `{
	"ruleset": {"handledAccessFS": ["write_file", "make_reg", "truncate"]},
	"rules": {"pathBeneath": [{"allowedAccess": ["write_file", "make_reg", "truncate"], "paths": ["/tmp"]}]}
}`

// tryWrites writes /tmp/<tag> (allowed) and /<tag> (denied), and says
// which worked.
func tryWrites(tag string) string {
	return "echo x > /tmp/" + tag + " && echo allowed " + tag + "; " +
		"echo x > /" + tag + " 2>/dev/null && echo WROTE /" + tag + " || echo denied " + tag
}

// TestLandlock runs a container whose process.landlock allows writes only
// beneath /tmp: a write there works, one to / is denied (root, with every
// capability it has, included), for the container's process and for
// exec'd ones.
func TestLandlock(t *testing.T) {
	hullFeature(t, "process.landlock")
	needLandlock(t)
	r := newRuntime(t)

	t.Run("run", func(t *testing.T) {
		b := newBundle(t, sh(tryWrites("ll-run")), nil)
		b.withLandlockJSON(t, writeOnlyTmp)
		res := r.must("run", "--bundle", b.dir, newID(t))
		for _, w := range []string{"allowed ll-run", "denied ll-run"} {
			if !strings.Contains(res.stdout, w+"\n") {
				t.Errorf("output lacks %q: %v", w, res)
			}
		}
		if _, err := os.Stat(b.rootfs("ll-run")); !os.IsNotExist(err) {
			t.Errorf("the denied write reached the rootfs: %v", err)
		}
		if _, err := os.Stat(b.rootfs("tmp/ll-run")); err != nil {
			t.Errorf("the allowed write is not in the rootfs: %v", err)
		}
	})

	b := newBundle(t, []string{"sleep", "1000"}, nil)
	b.withLandlockJSON(t, writeOnlyTmp)
	id := newID(t)
	r.must("run", "--detach", "--bundle", b.dir, id)

	t.Run("exec inherits the container's ruleset", func(t *testing.T) {
		res := r.must("exec", id, "sh", "-c", tryWrites("exec"))
		for _, w := range []string{"allowed exec", "denied exec"} {
			if !strings.Contains(res.stdout, w+"\n") {
				t.Errorf("output lacks %q: %v", w, res)
			}
		}
	})

	t.Run("exec --process with its own ruleset", func(t *testing.T) {
		// This one may write beneath /srv (made here) but not /tmp.
		if err := os.MkdirAll(b.rootfs("srv"), 0o755); err != nil {
			t.Fatal(err)
		}
		proc := `{"args": ["sh", "-c", "echo x > /srv/p && echo allowed srv; echo x > /tmp/p 2>/dev/null && echo WROTE /tmp/p || echo denied tmp"],
			"cwd": "/", "env": ["PATH=/bin"],
			"landlock": {"ruleset": {"handledAccessFS": ["write_file", "make_reg"]},
			             "rules": {"pathBeneath": [{"allowedAccess": ["write_file", "make_reg"], "paths": ["/srv"]}]}}}`
		path := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(path, []byte(proc), 0o644); err != nil {
			t.Fatal(err)
		}
		res := r.must("exec", "--process", path, id)
		for _, w := range []string{"allowed srv", "denied tmp"} {
			if !strings.Contains(res.stdout, w+"\n") {
				t.Errorf("output lacks %q: %v", w, res)
			}
		}
	})
}

// TestLandlockErrors: bad process.landlock input fails naming the field,
// and leaves nothing; a missing path is skipped with a warning under best
// effort and fails the start with disableBestEffort.
func TestLandlockErrors(t *testing.T) {
	hullFeature(t, "process.landlock")
	needLandlock(t)
	r := newRuntime(t)
	missing := `{"ruleset": {"handledAccessFS": ["write_file", "make_reg"]},
		"rules": {"pathBeneath": [{"allowedAccess": ["write_file", "make_reg"], "paths": ["/tmp", "/no/such/dir"]}]}%s}`

	for _, tc := range []struct {
		name, ll string
		want     []string
	}{
		{"unknown access right", `{"ruleset": {"handledAccessFS": ["write_file", "wrte_file"]}}`,
			[]string{`process.landlock.ruleset.handledAccessFS[1]: unknown access right "wrte_file"`}},
		{"relative path", `{"ruleset": {"handledAccessFS": ["make_dir"]}, "rules": {"pathBeneath": [{"allowedAccess": ["make_dir"], "paths": ["tmp"]}]}}`,
			[]string{`process.landlock.rules.pathBeneath[0].paths[0]: "tmp" is not an absolute path`}},
		{"misspelt property", `{"ruleset": {"handledAccessFs": ["write_file"]}}`,
			[]string{`process.landlock.ruleset.handledAccessFs: unknown property: did you mean "handledAccessFS"?`}},
		{"missing path with disableBestEffort", strings.Replace(missing, "%s", `, "disableBestEffort": true`, 1),
			[]string{"landlock", `process.landlock.rules.pathBeneath[0].paths[1] "/no/such/dir": no such file or directory`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, sh("echo ran"), nil)
			b.withLandlockJSON(t, tc.ll)
			id := newID(t)
			before := snapshot(t, b.dir)
			res := r.callReaped("run", "--bundle", b.dir, id)
			checkFailure(t, res, []string{"landlock"}, tc.want)
			if strings.Contains(res.stdout, "ran") {
				t.Errorf("the process ran: %v", res)
			}
			checkNoLeaks(t, r, id, b.dir, before)
		})
	}

	t.Run("missing path with best effort", func(t *testing.T) {
		b := newBundle(t, sh(tryWrites("be")), nil)
		b.withLandlockJSON(t, strings.Replace(missing, "%s", "", 1))
		res := r.must("run", "--bundle", b.dir, newID(t))
		want := `hull: warning: process.landlock.rules.pathBeneath[0].paths[1] "/no/such/dir" skipped: no such file or directory`
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks the warning %q: %v", want, res)
		}
		for _, w := range []string{"allowed be", "denied be"} {
			if !strings.Contains(res.stdout, w+"\n") {
				t.Errorf("output lacks %q: %v", w, res)
			}
		}
	})

	t.Run("exec --process with a bad ruleset", func(t *testing.T) {
		id, _ := running(t, r)
		path := filepath.Join(t.TempDir(), "process.json")
		proc := `{"args": ["true"], "cwd": "/", "landlock": {"ruleset": {"handledAccessNetwork": ["connect_udp"]}}}`
		if err := os.WriteFile(path, []byte(proc), 0o644); err != nil {
			t.Fatal(err)
		}
		res := r.call("exec", "--process", path, id)
		checkFailure(t, res, []string{"landlock"}, []string{`landlock.ruleset.handledAccessNetwork[0]: unknown access right "connect_udp"`})
	})
}
