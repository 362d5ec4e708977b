package specconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// withLandlock returns the Example config.json with process.landlock set
// to the JSON text ll.
func withLandlock(t *testing.T, ll string) []byte {
	t.Helper()
	b, err := json.Marshal(Example())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(ll), &v); err != nil {
		t.Fatalf("test case JSON %s: %v", ll, err)
	}
	doc["process"].(map[string]any)["landlock"] = v
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLandlockConvert(t *testing.T) {
	doc := withLandlock(t, `{
		"ruleset": {"handledAccessFS": ["write_file", "make_reg", "truncate"], "handledAccessNetwork": ["connect_tcp"]},
		"rules": {
			"pathBeneath": [{"allowedAccess": ["write_file", "make_reg"], "paths": ["/tmp/", "/var//log"]}],
			"netPort": [{"allowedAccess": ["connect_tcp"], "ports": [443, 0, 65535]}]
		},
		"disableBestEffort": true
	}`)
	spec, err := ParseSpec(doc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Convert(spec, Options{Bundle: newBundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := &configs.Landlock{
		HandledAccessFS:  unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_TRUNCATE,
		HandledAccessNet: unix.LANDLOCK_ACCESS_NET_CONNECT_TCP,
		PathBeneath: []configs.LandlockPathBeneath{{
			AllowedAccess: unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_REG,
			Paths:         []string{"/tmp", "/var/log"},
		}},
		NetPort:           []configs.LandlockNetPort{{AllowedAccess: unix.LANDLOCK_ACCESS_NET_CONNECT_TCP, Ports: []uint16{443, 0, 65535}}},
		DisableBestEffort: true,
	}
	if !reflect.DeepEqual(c.Process.Landlock, want) {
		t.Errorf("got %+v\nwant %+v", c.Process.Landlock, want)
	}

	// Without the property, and for a process built in memory: none.
	spec, err = ParseSpec(withLandlock(t, `null`))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Convert(spec, Options{Bundle: newBundle(t)}); err != nil || c.Process.Landlock != nil {
		t.Errorf("null landlock: %+v, %v", c.Process.Landlock, err)
	}
	if c, err := Convert(&Spec{Spec: Example()}, Options{Bundle: newBundle(t)}); err != nil || c.Process.Landlock != nil {
		t.Errorf("Example: %+v, %v", c.Process.Landlock, err)
	}
}

func TestLandlockErrors(t *testing.T) {
	for _, tc := range []struct {
		name, ll, want string
	}{
		{"unknown fs right", `{"ruleset": {"handledAccessFS": ["write_file", "wrte_file"]}}`,
			`process.landlock.ruleset.handledAccessFS[1]: unknown access right "wrte_file" (known: execute, write_file, read_file`},
		{"fs right among network ones", `{"ruleset": {"handledAccessNetwork": ["read_file"]}}`,
			`process.landlock.ruleset.handledAccessNetwork[0]: unknown access right "read_file" (known: bind_tcp, connect_tcp)`},
		{"right not a string", `{"ruleset": {"handledAccessFS": [1]}}`,
			`process.landlock.ruleset.handledAccessFS[0]: cannot unmarshal number into string`},
		{"empty ruleset", `{"ruleset": {"handledAccessFS": []}}`,
			`process.landlock.ruleset: handles no access right`},
		{"no ruleset", `{"rules": {}}`, `process.landlock.ruleset: handles no access right`},
		{"misspelt property", `{"ruleset": {"handledAccessFs": ["write_file"]}}`,
			`process.landlock.ruleset.handledAccessFs: unknown property: did you mean "handledAccessFS"?`},
		{"unknown property", `{"ruleset": {"handledAccessFS": ["write_file"]}, "scoped": []}`,
			`process.landlock.scoped: unknown property (known: ruleset, rules, disableBestEffort)`},
		{"landlock not an object", `["write_file"]`, `process.landlock: cannot unmarshal array into object`},
		{"disableBestEffort string", `{"ruleset": {"handledAccessFS": ["write_file"]}, "disableBestEffort": "yes"}`,
			`process.landlock.disableBestEffort: cannot unmarshal string into boolean`},
		{"relative path", `{"ruleset": {"handledAccessFS": ["write_file"]}, "rules": {"pathBeneath": [{"allowedAccess": ["write_file"], "paths": ["/tmp", "tmp"]}]}}`,
			`process.landlock.rules.pathBeneath[0].paths[1]: "tmp" is not an absolute path`},
		{"no paths", `{"ruleset": {"handledAccessFS": ["write_file"]}, "rules": {"pathBeneath": [{"allowedAccess": ["write_file"]}]}}`,
			`process.landlock.rules.pathBeneath[0].paths: at least one path is required`},
		{"allows nothing", `{"ruleset": {"handledAccessFS": ["write_file"]}, "rules": {"pathBeneath": [{"paths": ["/tmp"]}]}}`,
			`process.landlock.rules.pathBeneath[0].allowedAccess: at least one access right is required`},
		{"allows what is not handled", `{"ruleset": {"handledAccessFS": ["write_file"]}, "rules": {"pathBeneath": [{"allowedAccess": ["write_file", "read_file", "read_dir"], "paths": ["/tmp"]}]}}`,
			`process.landlock.rules.pathBeneath[0].allowedAccess: read_file, read_dir not in ruleset.handledAccessFS`},
		{"port too big", `{"ruleset": {"handledAccessNetwork": ["bind_tcp"]}, "rules": {"netPort": [{"allowedAccess": ["bind_tcp"], "ports": [80, 65536]}]}}`,
			`process.landlock.rules.netPort[0].ports[1]: 65536 is not a TCP port (0 to 65535)`},
		{"port negative", `{"ruleset": {"handledAccessNetwork": ["bind_tcp"]}, "rules": {"netPort": [{"allowedAccess": ["bind_tcp"], "ports": [-1]}]}}`,
			`process.landlock.rules.netPort[0].ports[0]: -1 is not a TCP port`},
		{"port string", `{"ruleset": {"handledAccessNetwork": ["bind_tcp"]}, "rules": {"netPort": [{"allowedAccess": ["bind_tcp"], "ports": ["80"]}]}}`,
			`process.landlock.rules.netPort[0].ports[0]: cannot unmarshal string into a port number`},
		{"net rule not handled", `{"ruleset": {"handledAccessFS": ["write_file"]}, "rules": {"netPort": [{"allowedAccess": ["connect_tcp"], "ports": [80]}]}}`,
			`process.landlock.rules.netPort[0].allowedAccess: connect_tcp not in ruleset.handledAccessNetwork`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec(withLandlock(t, tc.ll))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one starting %q", err, tc.want)
			}
		})
	}
}

// The property's name is case-sensitive: a "Landlock" would otherwise be
// ignored and the container run unconfined.
func TestLandlockNameCase(t *testing.T) {
	doc := strings.Replace(string(withLandlock(t, `{"ruleset": {"handledAccessFS": ["write_file"]}}`)), `"landlock"`, `"Landlock"`, 1)
	_, err := ParseSpec([]byte(doc))
	want := `process.Landlock: unknown property: did you mean "landlock"?`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// exec --process reads a process object: field names are relative to it.
func TestLandlockLoadProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "process.json")
	write := func(doc string) {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"args": ["sh"], "cwd": "/", "landlock": {"ruleset": {"handledAccessFS": ["make_dir"]}, "rules": {"pathBeneath": [{"allowedAccess": ["make_dir"], "paths": ["/srv"]}]}}}`)
	p, err := LoadProcess(path)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ConvertProcess("process", p)
	if err != nil {
		t.Fatal(err)
	}
	if l := cp.Landlock; l == nil || l.HandledAccessFS != unix.LANDLOCK_ACCESS_FS_MAKE_DIR || len(l.PathBeneath) != 1 || l.PathBeneath[0].Paths[0] != "/srv" {
		t.Errorf("landlock %+v", cp.Landlock)
	}
	write(`{"args": ["sh"], "cwd": "/", "landlock": {"ruleset": {"handledAccessFS": ["mkdir"]}}}`)
	_, err = LoadProcess(path)
	want := path + `: landlock.ruleset.handledAccessFS[0]: unknown access right "mkdir"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
}
