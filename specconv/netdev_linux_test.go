package specconv

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

func dev(host, name string) configs.NetDevice { return configs.NetDevice{HostName: host, Name: name} }

func TestConvertNetDevices(t *testing.T) {
	withNet := &configs.Config{Namespaces: []configs.Namespace{{Type: configs.NEWNET}}}
	joined := &configs.Config{Namespaces: []configs.Namespace{{Type: configs.NEWNET, Path: "/var/run/netns/x"}}}
	type nd = map[string]specs.LinuxNetDevice
	tests := []struct {
		name     string
		in       nd
		c        *configs.Config
		rootless bool
		want     []configs.NetDevice
		wantErr  string
	}{
		{"none", nil, withNet, false, nil, ""},
		{"spec example", nd{"eth0": {Name: "container_eth0"}}, withNet, false, []configs.NetDevice{dev("eth0", "container_eth0")}, ""},
		{"keep name, sorted", nd{"eth1": {}, "eth0": {}}, withNet, false, []configs.NetDevice{dev("eth0", "eth0"), dev("eth1", "eth1")}, ""},
		{"template", nd{"eth0": {Name: "net%d"}, "eth1": {Name: "net%d"}}, joined, false,
			[]configs.NetDevice{dev("eth0", "net%d"), dev("eth1", "net%d")}, ""},
		{"swap names", nd{"eth0": {Name: "eth1"}, "eth1": {Name: "eth0"}}, withNet, false,
			[]configs.NetDevice{dev("eth0", "eth1"), dev("eth1", "eth0")}, ""},
		{"15 bytes", nd{"abcdefghijklmno": {}}, withNet, false, []configs.NetDevice{dev("abcdefghijklmno", "abcdefghijklmno")}, ""},
		{"no netns", nd{"eth0": {}}, &configs.Config{}, false, nil, "no network namespace"},
		{"rootless", nd{"eth0": {}}, withNet, true, nil, "rootless"},
		{"16 bytes", nd{"abcdefghijklmnop": {}}, withNet, false, nil, "IFNAMSIZ"},
		{"new name 16 bytes", nd{"eth0": {Name: "abcdefghijklmnop"}}, withNet, false, nil, `["eth0"].name`},
		{"slash", nd{"a/b": {}}, withNet, false, nil, "no '/'"},
		{"colon", nd{"eth0": {Name: "eth0:1"}}, withNet, false, nil, "':'"},
		{"dot", nd{".": {}}, withNet, false, nil, "not an interface name"},
		{"percent in host name", nd{"eth%d": {}}, withNet, false, nil, "has no place"},
		{"two templates", nd{"eth0": {Name: "a%d%d"}}, withNet, false, nil, "exactly one %d"},
		{"bad template", nd{"eth0": {Name: "a%s"}}, withNet, false, nil, "exactly one %d"},
		{"host lo", nd{"lo": {Name: "lo0"}}, withNet, false, nil, "loopback"},
		{"to lo", nd{"eth0": {Name: "lo"}}, withNet, false, nil, "own loopback"},
		{"same new name", nd{"eth0": {Name: "x"}, "eth1": {Name: "x"}}, withNet, false, nil, `linux.netDevices["eth1"]: would be named "x"`},
		{"rename onto kept", nd{"eth0": {}, "eth1": {Name: "eth0"}}, withNet, false, nil, `would be named "eth0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertNetDevices(tt.in, tt.c, tt.rootless)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "linux.netDevices") {
					t.Fatalf("convert = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("convert = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConvertSystemdProperties checks that the org.systemd.property.*
// annotations are kept, sorted, for the systemd driver, and ignored (as by
// runc) with the fs driver, even when they would not parse.
func TestConvertSystemdProperties(t *testing.T) {
	ann := map[string]string{
		"org.systemd.property.TimeoutStopSec": "uint64 10",
		"org.systemd.property.CollectMode":    "'inactive-or-failed'",
		"io.kubernetes.pod":                   "x",
	}
	s := Example()
	s.Annotations = ann
	s.Linux.CgroupsPath = "system.slice:hull:x"
	c, err := Convert(&Spec{Spec: s}, Options{ID: "x", Bundle: newBundle(t), Systemd: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []configs.SystemdProperty{{Name: "CollectMode", Value: "'inactive-or-failed'"}, {Name: "TimeoutStopSec", Value: "uint64 10"}}
	if !reflect.DeepEqual(c.Cgroup.SystemdProperties, want) {
		t.Fatalf("SystemdProperties = %v, want %v", c.Cgroup.SystemdProperties, want)
	}
	s = Example()
	s.Annotations = map[string]string{"org.systemd.property.X": "not a variant"}
	c, err = Convert(&Spec{Spec: s}, Options{ID: "x", Bundle: newBundle(t)})
	if err != nil {
		t.Fatalf("fs driver: %v", err)
	}
	if len(c.Cgroup.SystemdProperties) != 0 {
		t.Fatalf("fs driver kept %v", c.Cgroup.SystemdProperties)
	}
}
