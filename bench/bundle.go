package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// makeBundles writes two bundles under dir that share one rootfs: "true"
// (args /bin/true) and "sleep" (args /bin/sleep 1000000). Both start from the
// config.json `runc spec` writes, with terminal false and an absolute
// root.path (runc refuses a symlinked rootfs), so every runtime reads the
// same file.
func makeBundles(dir, rootfs, specRuntime string) (trueBundle, sleepBundle string, err error) {
	base := filepath.Join(dir, "spec")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", "", fmt.Errorf("mkdir %s: %w", base, err)
	}
	out, err := exec.Command(specRuntime, "spec", "--bundle", base).CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("%s spec: %w: %s", specRuntime, err, out)
	}
	raw, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		return "", "", fmt.Errorf("read spec: %w", err)
	}
	trueBundle = filepath.Join(dir, "true")
	sleepBundle = filepath.Join(dir, "sleep")
	for _, b := range []struct {
		dir  string
		args []string
	}{
		{trueBundle, []string{"/bin/true"}},
		{sleepBundle, []string{"/bin/sleep", "1000000"}},
	} {
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			return "", "", fmt.Errorf("parse spec: %w", err)
		}
		proc, ok := c["process"].(map[string]any)
		if !ok {
			return "", "", fmt.Errorf("spec has no process object")
		}
		proc["terminal"] = false
		proc["args"] = b.args
		c["root"] = map[string]any{"path": rootfs, "readonly": true}
		data, err := json.MarshalIndent(c, "", "\t")
		if err != nil {
			return "", "", fmt.Errorf("encode config: %w", err)
		}
		if err := os.MkdirAll(b.dir, 0o755); err != nil {
			return "", "", fmt.Errorf("mkdir %s: %w", b.dir, err)
		}
		if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
			return "", "", fmt.Errorf("write config: %w", err)
		}
	}
	return trueBundle, sleepBundle, nil
}
