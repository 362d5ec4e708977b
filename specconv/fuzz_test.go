package specconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConvert feeds arbitrary config.json documents through LoadSpec and
// Convert: they must never panic, and every error must be one line. Seeds
// are in testdata/fuzz/FuzzConvert plus Example() and its rootless form.
func FuzzConvert(f *testing.F) {
	for _, rootless := range []bool{false, true} {
		s := Example()
		if rootless {
			ToRootless(s)
		}
		data, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bundle := newBundle(f)
	config := filepath.Join(bundle, "config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(config, data, 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := LoadSpec(bundle)
		if err != nil {
			oneLine(t, err)
			return
		}
		for _, o := range []Options{{Bundle: bundle}, {Bundle: bundle, Rootless: true, Systemd: true, NoPivotRoot: true}} {
			if _, err := Convert(spec, o); err != nil {
				oneLine(t, err)
			}
		}
	})
}

func oneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("error is more than one line: %q", err)
	}
}
