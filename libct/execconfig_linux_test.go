package libct

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

// TestExecConfigFields: every field of configs.Config is either read by
// Exec (decoded by execConfig) or skipped by it, by a decision made here:
// a field added to Config fails this test until it is put in one list.
func TestExecConfigFields(t *testing.T) {
	kept := map[string]bool{
		"ociVersion": true, "bundle": true, "rootfs": true, "readonly": true, "noPivotRoot": true,
		"noNewKeyring": true, "rootPropagation": true, "hostname": true, "domainname": true,
		"namespaces": true, "uidMappings": true, "gidMappings": true, "mountLabel": true,
		"personality": true, "seccomp": true, "process": true, "memoryPolicy": true, "annotations": true,
	}
	skipped := map[string]bool{}
	et := reflect.TypeOf(execConfig{})
	for i := 1; i < et.NumField(); i++ {
		skipped[strings.Split(et.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	ct := reflect.TypeOf(configs.Config{})
	names := map[string]bool{}
	for i := 0; i < ct.NumField(); i++ {
		name := strings.Split(ct.Field(i).Tag.Get("json"), ",")[0]
		names[name] = true
		if kept[name] == skipped[name] {
			t.Errorf("configs.Config field %s (%q): kept %v, skipped %v; want exactly one", ct.Field(i).Name, name, kept[name], skipped[name])
		}
	}
	for name := range skipped {
		if !names[name] {
			t.Errorf("execConfig skips %q, which configs.Config does not have", name)
		}
	}
}

// TestExecConfigDecodes: what Exec reads comes out as the full decode has
// it; the skipped fields are empty.
func TestExecConfigDecodes(t *testing.T) {
	full := configs.Config{
		Version: "1.2.0", Bundle: "/b", Rootfs: "/b/rootfs", Hostname: "h",
		Namespaces:  []configs.Namespace{{Type: configs.NEWPID}, {Type: configs.NEWNS, Path: "/proc/1/ns/mnt"}},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
		MountLabel:  "l",
		Seccomp:     &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}},
		Process:     &configs.Process{Args: []string{"sh"}, Env: []string{"A=1"}, Cwd: "/", NoNewPrivileges: true},
		Annotations: map[string]string{"a": "b"},
		Mounts:      []*configs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Sysctl:      map[string]string{"net.ipv4.ip_forward": "1"},
		MaskedPaths: []string{"/proc/kcore"},
		Hooks:       &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}}},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}},
	}
	b, err := json.Marshal(&full)
	if err != nil {
		t.Fatal(err)
	}
	var v execConfig
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	want := full
	want.Mounts, want.Sysctl, want.MaskedPaths, want.Hooks, want.TimeOffsets = nil, nil, nil, nil, nil
	if !reflect.DeepEqual(v.Config, want) {
		t.Errorf("exec view\n%+v\nwant\n%+v", v.Config, want)
	}
}
