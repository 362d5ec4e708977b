package specconv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadSpecMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadSpec(dir)
	want := filepath.Join(dir, "config.json") + ": no such file or directory"
	if err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v, want %q (and fs.ErrNotExist)", err, want)
	}
	if err := os.Mkdir(filepath.Join(dir, "config.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSpec(dir); err == nil || !strings.HasSuffix(err.Error(), "config.json: is a directory") {
		t.Fatalf("error %v, want one about a directory", err)
	}
}

func TestLoadSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "invalid JSON at line 1, column 1 (byte 0): unexpected end of JSON input"},
		{"truncated", "{\"process\": {\n  \"user\": }", "invalid JSON at line 2, column 11"},
		{"bad char", "{\n\"ociVersion\": 'x'}", "invalid JSON at line 2, column 15 (byte 16): invalid character '\\'' looking for beginning of value"},
		{"trailing", `{"ociVersion":"1.0.0"} x`, "invalid JSON at line 1, column 24 (byte 23): invalid character 'x' after top-level value"},
		{"null", " null ", "the document is null, expected a JSON object"},
		{"array", `[{}]`, "the document is an array, expected a JSON object"},
		{"string", `"x"`, "the document is a string, expected a JSON object"},
		{"uid string", `{"process":{"user":{"uid":"0"}}}`, "process.user.uid: cannot unmarshal string into uint32"},
		{"uid negative", `{"process":{"user":{"uid":-1}}}`, "process.user.uid: cannot unmarshal number -1 into uint32"},
		{"uid too big", `{"process":{"user":{"gid":4294967296}}}`, "process.user.gid: cannot unmarshal number 4294967296 into uint32"},
		{"args string", `{"process":{"args":"sh"}}`, "process.args: cannot unmarshal string into array"},
		{"arg number", `{"process":{"args":["sh", 1]}}`, "process.args[1]: cannot unmarshal number into string"},
		{"mount dest", `{"mounts":[{"destination":"/a"},{"destination":5}]}`, "mounts[1].destination: cannot unmarshal number into string"},
		{"mount option", `{"mounts":[{"destination":"/a"},{"destination":"x","options":["a",{}]}]}`, "mounts[1].options[1]: cannot unmarshal object into string"},
		{"sysctl value", `{"linux":{"sysctl":{"net.ipv4.ip_forward":1}}}`, `linux.sysctl["net.ipv4.ip_forward"]: cannot unmarshal number into string`},
		{"float", `{"linux":{"resources":{"memory":{"limit":1.5}}}}`, "linux.resources.memory.limit: cannot unmarshal number 1.5 into int64"},
		{"root bool", `{"root":true}`, "root: cannot unmarshal bool into object"},
		{"terminal", `{"process":{"terminal":"yes"}}`, "process.terminal: cannot unmarshal string into boolean"},
		{"ns type", `{"linux":{"namespaces":[{"type":"pid"},{"type":["net"]}]}}`, "linux.namespaces[1].type: cannot unmarshal array into string"},
		{"after inexact key", `{"Process":{},"process":{"args":[1]}}`, "process.args[0]: cannot unmarshal number into string"},
		{"device weight", `{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":"8"}]}}}}`, "linux.resources.blockIO.weightDevice[0].major: cannot unmarshal string into int64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeConfig(t, tc.doc)
			_, err := LoadSpec(dir)
			want := filepath.Join(dir, "config.json") + ": " + tc.want
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v\nwant %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is more than one line: %q", err)
			}
		})
	}
}

func TestLoadSpecUnknownAndCase(t *testing.T) {
	// Unknown properties are ignored (config.md, Extensibility); a key
	// that differs from a known one only in case is unknown too.
	dir := writeConfig(t, `{
		"ociVersion": "1.0.0",
		"futureThing": {"x": [1, 2]},
		"Process": {"args": ["wrong"]},
		"process": {"args": ["right"], "ARGS": ["wrong"], "cwd": "/", "user": {"uid": 1, "UID": 2}},
		"root": {"path": "rootfs", "extra": true},
		"annotations": {"Key": "v", "key": "w"}
	}`)
	s, err := LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Process == nil || len(s.Process.Args) != 1 || s.Process.Args[0] != "right" || s.Process.User.UID != 1 {
		t.Fatalf("process %+v", s.Process)
	}
	if s.Annotations["Key"] != "v" || s.Annotations["key"] != "w" {
		t.Fatalf("annotations %v: map keys must stay as they are", s.Annotations)
	}
	if s.Root == nil || s.Root.Path != "rootfs" {
		t.Fatalf("root %+v", s.Root)
	}
}

func TestLoadProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, []byte(`{"args":["ls"],"cwd":"/","user":{"uid":"x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProcess(path); err == nil || err.Error() != path+": user.uid: cannot unmarshal string into uint32" {
		t.Fatalf("error %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"args":["ls"],"cwd":"/","user":{"uid":5}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProcess(path)
	if err != nil || p.User.UID != 5 || p.Args[0] != "ls" {
		t.Fatalf("process %+v, %v", p, err)
	}
}

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec([]byte(`{"ociVersion":"1.2.0","hostname":"h"}`))
	if err != nil || s.Version != "1.2.0" || s.Hostname != "h" {
		t.Fatalf("spec %+v, %v", s, err)
	}
}
