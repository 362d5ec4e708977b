package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bundle is an OCI bundle on disk: a directory with config.json and a
// busybox rootfs. Spec is written by Write; edit it freely before that.
type Bundle struct {
	Dir    string
	Rootfs string
	Spec   *specs.Spec
}

// RootfsSource says where the files of a test rootfs come from.
type RootfsSource struct {
	Busybox string // a static busybox binary
	Checker string // the static in-container checker, copied to /checker
}

// NewBundle builds a bundle in dir (which must exist and be empty) with a
// busybox rootfs and the default config from DefaultSpec.
func NewBundle(dir string, src RootfsSource, hostEnv []string) (*Bundle, error) {
	b := &Bundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs")}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"} {
		if err := os.MkdirAll(filepath.Join(b.Rootfs, d), 0o755); err != nil {
			return nil, fmt.Errorf("mkdir rootfs %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(b.Rootfs, "tmp"), 0o1777); err != nil {
		return nil, fmt.Errorf("chmod rootfs tmp: %w", err)
	}
	if err := copyFile(src.Busybox, filepath.Join(b.Rootfs, "bin/busybox"), 0o755); err != nil {
		return nil, err
	}
	if err := linkApplets(src.Busybox, b.Rootfs); err != nil {
		return nil, err
	}
	if src.Checker != "" {
		if err := copyFile(src.Checker, filepath.Join(b.Rootfs, "checker"), 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(b.Rootfs, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("write rootfs %s: %w", name, err)
		}
	}
	b.Spec = DefaultSpec(hostEnv)
	return b, nil
}

// linkApplets creates the busybox applet symlinks (bin/sh -> /bin/busybox...).
func linkApplets(busybox, rootfs string) error {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, p := range strings.Fields(string(out)) {
		dst := filepath.Join(rootfs, p)
		if p == "bin/busybox" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("mkdir for applet %s: %w", p, err)
		}
		if err := os.Symlink("/bin/busybox", dst); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink applet %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// Write serialises Spec to config.json in the bundle and a copy to
// /config.json in the rootfs, where the in-container checker reads it.
func (b *Bundle) Write() error {
	data, err := json.MarshalIndent(b.Spec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config.json: %w", err)
	}
	return b.WriteRaw(data)
}

// WriteRaw writes data verbatim as config.json (for tests of unknown
// properties that specs.Spec cannot express).
func (b *Bundle) WriteRaw(data []byte) error {
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		return fmt.Errorf("write config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.Rootfs, "config.json"), data, 0o644); err != nil {
		return fmt.Errorf("write rootfs config.json: %w", err)
	}
	return nil
}

// DefaultCaps is the capability set of the default process (the set that
// `runc spec` generates).
var DefaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// DefaultSpec returns a config close to what `runc spec` generates, with a
// writable rootfs and the host facts the checker compares against in env.
func DefaultSpec(hostEnv []string) *specs.Spec {
	caps := append([]string(nil), DefaultCaps...)
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: []string{"/checker"},
			Env: append([]string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			}, hostEnv...),
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "conformance",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}

// SetNamespace adds or replaces the namespace of type typ.
func (b *Bundle) SetNamespace(typ specs.LinuxNamespaceType, path string) {
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == typ {
			b.Spec.Linux.Namespaces[i].Path = path
			return
		}
	}
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

// RemoveNamespace drops the namespace of type typ.
func (b *Bundle) RemoveNamespace(typ specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, ns := range b.Spec.Linux.Namespaces {
		if ns.Type != typ {
			out = append(out, ns)
		}
	}
	b.Spec.Linux.Namespaces = out
}
