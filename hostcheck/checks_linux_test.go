package hostcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeProbe answers the kernel tries from a table.
type fakeProbe struct {
	release  string
	ns       map[string]error // missing key: ok
	seccomp  error
	flags    map[uint]error
	lsms     []string // nil: lsm_list_modules is ENOSYS
	landlock error
	abi      int              // Landlock ABI version when landlock is nil; 0 is 4
	calls    map[string]error // IDMappedMount, MountAPI, ... by name
	intoCg   []string         // dirs CloneIntoCgroup was asked for
}

func (f *fakeProbe) Release() (string, error) { return f.release, nil }
func (f *fakeProbe) Namespace(name string) error {
	return f.ns[name]
}
func (f *fakeProbe) SeccompMode() (int, error)  { return 0, f.seccomp }
func (f *fakeProbe) SeccompFlag(bit uint) error { return f.flags[bit] }
func (f *fakeProbe) LSMs() ([]string, error) {
	if f.lsms == nil {
		return nil, unix.ENOSYS
	}
	return f.lsms, nil
}
func (f *fakeProbe) Landlock() (int, error) {
	if f.landlock != nil {
		return 0, f.landlock
	}
	if f.abi != 0 {
		return f.abi, nil
	}
	return 4, nil
}
func (f *fakeProbe) IDMappedMount() error { return f.calls["idmap"] }
func (f *fakeProbe) MountAPI() error      { return f.calls["mountapi"] }
func (f *fakeProbe) MountSetattr() error  { return f.calls["mount_setattr"] }
func (f *fakeProbe) Openat2() error       { return f.calls["openat2"] }
func (f *fakeProbe) PidfdOpen() error     { return f.calls["pidfd"] }
func (f *fakeProbe) Clone3() error        { return f.calls["clone3"] }
func (f *fakeProbe) CloneIntoCgroup(dir string) error {
	f.intoCg = append(f.intoCg, dir)
	return f.calls["into_cgroup"]
}

// writeTree makes a fake root: files by path (a trailing / is a directory).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.Contains(p, "/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// hybridHost is this project's host: v1 hybrid, hugetlb on cgroup2, no
// securityfs, no AppArmor/SELinux, no systemd, empty /etc/subuid.
func hybridHost() map[string]string {
	return map[string]string{
		"/proc/self/mountinfo":                      miRoot + miCgTmpfs + miV1CPU + miV1Memory + miV1Pids + miV1Named + miHybridV2,
		"/proc/self/cgroup":                         "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n",
		"/proc/cgroups":                             procCgroupsV1,
		"/proc/filesystems":                         "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\nnodev\tdevpts\nnodev\tmqueue\nnodev\toverlay\n\text4\n",
		"/proc/sys/user/max_user_namespaces":        "96364\n",
		"/proc/sys/kernel/seccomp/actions_avail":    "kill_process kill_thread trap errno user_notif trace log allow\n",
		"/sys/fs/cgroup/cpu,cpuacct/":               "",
		"/sys/fs/cgroup/memory/process_api/abc/":    "",
		"/sys/fs/cgroup/pids/":                      "",
		"/sys/fs/cgroup/systemd/":                   "",
		"/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n",
		"/sys/kernel/security/":                     "",
		"/etc/subuid":                               "",
		"/etc/subgid":                               "",
	}
}

// v2Host is a Debian/Fedora-like guest: cgroup v2 with systemd, AppArmor
// or SELinux as the case adds, subordinate ids for alice.
func v2Host() map[string]string {
	return map[string]string{
		"/proc/self/mountinfo":                   miRoot + miV2 + "60 23 0:7 / /sys/kernel/security rw - securityfs securityfs rw\n",
		"/proc/self/cgroup":                      "0::/user.slice/user-1000.slice/session-1.scope\n",
		"/proc/cgroups":                          "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nmemory\t0\t1\t1\npids\t0\t1\t1\n",
		"/proc/filesystems":                      "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup2\nnodev\tdevpts\nnodev\tmqueue\n",
		"/proc/sys/user/max_user_namespaces":     "63000\n",
		"/proc/sys/kernel/seccomp/actions_avail": "kill_process kill_thread trap errno trace log allow\n",
		"/sys/fs/cgroup/cgroup.controllers":      "cpu memory pids\n",
		"/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/cgroup.controllers": "memory pids\n",
		"/run/systemd/system/":     "",
		"/etc/subuid":              "alice:100000:65536\n",
		"/etc/subgid":              "alice:100000:65536\n",
		"/usr/bin/newuidmap":       "",
		"/sys/kernel/security/lsm": "lockdown,capability,landlock,yama,apparmor",
	}
}

func TestRunFakeHosts(t *testing.T) {
	type want map[string]string // check name -> status, or "status: detail substring"
	for _, tc := range []struct {
		name   string
		files  func() map[string]string
		edit   func(files map[string]string, p *fakeProbe)
		caller *Caller
		want   want
		canRun bool
	}{
		{
			name:  "hybrid host as root",
			files: hybridHost,
			want: want{
				"kernel":             OK,
				"cgroup layout":      "limited: hybrid: v1 cpu,cpuacct memory pids name=systemd under /sys/fs/cgroup; cgroup2 at /sys/fs/cgroup/unified with hugetlb",
				"cgroup controllers": "limited: enabled but mounted nowhere: net_cls",
				"cgroup delegation":  "ok: memory /process_api/abc",
				"systemd":            Missing,
				"apparmor":           "missing: not enabled",
				"selinux":            "missing: no selinuxfs",
				"lsm":                "limited: cannot list",
				"CLONE_INTO_CGROUP":  "limited: this host is hybrid",
				"/etc/subuid":        "missing: no range for root",
				"overlayfs":          OK,
				"pid namespace":      "ok: clone CLONE_NEWPID",
				"net namespace":      "ok: unshare CLONE_NEWNET",
				"user namespace":     "ok: user.max_user_namespaces=96364",
				"seccomp":            OK,
			},
			canRun: true,
		},
		{
			name:  "v2 host with AppArmor and systemd, rootless caller",
			files: v2Host,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/sys/module/apparmor/parameters/enabled"] = "Y\n"
				f["/sys/kernel/security/apparmor/"] = ""
			},
			caller: &Caller{UID: 1000, GID: 1000, Name: "alice"},
			want: want{
				"cgroup layout":      "ok: v2 (unified) at /sys/fs/cgroup",
				"cgroup controllers": "ok: cpu memory pids",
				"cgroup delegation":  "ok: delegated controllers: memory pids",
				"systemd":            OK,
				"apparmor":           "ok: enabled",
				"lsm":                "ok: apparmor (/sys/kernel/security/lsm)",
				"seccomp":            "limited: missing: user_notif",
				"CLONE_INTO_CGROUP":  "ok: session-1.scope",
				"/etc/subuid":        "ok: alice: 100000-165535 (65536 ids)",
				"/etc/subgid":        "ok: alice: 100000-165535",
				"newuidmap":          "limited: neither setuid",
				"newgidmap":          Missing,
				"pid namespace":      "ok: clone CLONE_NEWPID",
				"net namespace":      "ok: clone CLONE_NEWNET",
			},
			canRun: true,
		},
		{
			name:  "SELinux enforcing, AppArmor active but securityfs not mounted",
			files: v2Host,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/self/mountinfo"] = miRoot + miV2 + "61 23 0:21 / /sys/fs/selinux rw - selinuxfs selinuxfs rw\n"
				f["/sys/fs/selinux/enforce"] = "1"
				p.lsms = []string{"capability", "selinux", "apparmor"}
			},
			want: want{
				"selinux":  "ok: enforcing (selinuxfs at /sys/fs/selinux)",
				"apparmor": "limited: securityfs is not mounted",
				"lsm":      "ok: capability,selinux,apparmor (lsm_list_modules)",
			},
			canRun: true,
		},
		{
			name:  "SELinux permissive",
			files: v2Host,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/self/mountinfo"] = miRoot + miV2 + "61 23 0:21 / /sys/fs/selinux rw - selinuxfs selinuxfs rw\n"
				f["/sys/fs/selinux/enforce"] = "0"
			},
			want:   want{"selinux": "ok: permissive"},
			canRun: true,
		},
		{
			name:  "no pid namespaces",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				p.ns = map[string]error{"pid": unix.EINVAL, "time": unix.EINVAL}
			},
			want: want{
				"pid namespace":  "missing: clone CLONE_NEWPID: invalid argument",
				"time namespace": "missing: unshare CLONE_NEWTIME",
			},
			canRun: false,
		},
		{
			name:  "user namespaces capped at 0: root can run, rootless cannot",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/sys/user/max_user_namespaces"] = "0\n"
			},
			want:   want{"user namespace": "missing: (none may be created)"},
			canRun: true,
		},
		{
			name:  "user namespaces capped at 0, rootless",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/sys/user/max_user_namespaces"] = "0\n"
			},
			caller: &Caller{UID: 1000, GID: 1000, Name: "alice"},
			want:   want{"user namespace": Missing, "cgroup delegation": "ok"},
			canRun: false,
		},
		{
			name:  "Debian's unprivileged_userns_clone=0",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/sys/kernel/unprivileged_userns_clone"] = "0\n"
			},
			want:   want{"user namespace": "limited: (root only)"},
			canRun: true,
		},
		{
			name:  "old kernel",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				p.release = "5.10.0-28-amd64"
				p.calls = map[string]error{"mount_setattr": unix.ENOSYS, "idmap": unix.ENOSYS}
			},
			want: want{
				"kernel":          "missing: 5.10.0-28-amd64 (older than 5.12)",
				"mount_setattr":   "missing: function not implemented",
				"idmapped mounts": Missing,
			},
			canRun: false,
		},
		{
			name:  "caller's cgroup gone (not writable) as root",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/self/cgroup"] = "9:name=systemd:/\n8:pids:/\n4:memory:/gone\n1:cpu,cpuacct:/\n0::/\n"
			},
			want:   want{"cgroup delegation": "limited: not writable: memory /gone (/sys/fs/cgroup/memory/gone: no such file or directory)"},
			canRun: true,
		},
		{
			name:  "no cgroups mounted, no overlay, no devpts",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				f["/proc/self/mountinfo"] = miRoot
				f["/proc/filesystems"] = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tmqueue\n"
			},
			want: want{
				"cgroup layout": "missing: no cgroup or cgroup2 filesystem mounted",
				"filesystems":   "missing: not in /proc/filesystems: devpts",
				"overlayfs":     Missing,
			},
			canRun: false,
		},
		{
			name:  "seccomp flags and Landlock",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				p.flags = map[uint]error{
					unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER: unix.EINVAL,
				}
				p.landlock = unix.EOPNOTSUPP
			},
			want: want{
				"seccomp flags": "limited: unknown to the kernel: WAIT_KILLABLE_RECV",
				"landlock":      "missing: not enabled",
			},
			canRun: true,
		},
		{
			name:  "Landlock without TCP rules",
			files: hybridHost,
			edit:  func(f map[string]string, p *fakeProbe) { p.abi = 3 },
			want: want{
				"landlock": "limited: ABI version 3: without ioctl_dev, bind_tcp, connect_tcp",
			},
			canRun: true,
		},
		{
			name:  "Landlock newer than hull",
			files: hybridHost,
			edit:  func(f map[string]string, p *fakeProbe) { p.abi = 7 },
			want: want{
				"landlock": "ok: ABI version 7: every process.landlock right",
			},
			canRun: true,
		},
		{
			name:  "no seccomp",
			files: hybridHost,
			edit: func(f map[string]string, p *fakeProbe) {
				p.seccomp = unix.EINVAL
			},
			want:   want{"seccomp": "missing: invalid argument"},
			canRun: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files()
			p := &fakeProbe{release: "6.18.44-fc-v857"}
			if tc.edit != nil {
				tc.edit(files, p)
			}
			root := writeTree(t, files)
			caller := tc.caller
			if caller == nil {
				caller = &Caller{UID: 0, GID: 0, Name: "root"}
			}
			r := Run(Options{Root: root, Probe: p, Caller: caller, Path: "/usr/bin:/bin"})
			for name, w := range tc.want {
				c := r.Find(name)
				if c == nil {
					t.Errorf("no check %q", name)
					continue
				}
				status, detail, _ := strings.Cut(w, ": ")
				if c.Status != status || !strings.Contains(c.Detail, detail) {
					t.Errorf("%s = %s: %s; want %s: ...%s...", name, c.Status, c.Detail, status, detail)
				}
			}
			if r.CanRun != tc.canRun {
				t.Errorf("CanRun = %v, want %v", r.CanRun, tc.canRun)
			}
			for _, c := range r.Checks {
				if c.Impact == "" {
					t.Errorf("%s has no impact", c.Name)
				}
				switch c.Status {
				case OK, Limited, Missing:
				default:
					t.Errorf("%s has status %q", c.Name, c.Status)
				}
			}
		})
	}
}

func TestCloneIntoCgroupAsksForTheCallersCgroup(t *testing.T) {
	root := writeTree(t, v2Host())
	p := &fakeProbe{release: "6.1.0"}
	Run(Options{Root: root, Probe: p, Caller: &Caller{Name: "root"}})
	want := filepath.Join(root, "/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope")
	if len(p.intoCg) != 1 || p.intoCg[0] != want {
		t.Errorf("CloneIntoCgroup asked for %q, want [%s]", p.intoCg, want)
	}
}

func TestReportOutput(t *testing.T) {
	files := hybridHost()
	root := writeTree(t, files)
	p := &fakeProbe{release: "6.18.44-fc-v857", ns: map[string]error{"mnt": unix.EPERM}}
	r := Run(Options{Root: root, Probe: p, Caller: &Caller{Name: "root"}})

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("report JSON does not decode: %v\n%s", err, js.String())
	}
	if back.CanRun || len(back.Checks) != len(r.Checks) || back.Kernel != "6.18.44-fc-v857" {
		t.Errorf("decoded report differs: canRun %v, %d checks, kernel %q", back.CanRun, len(back.Checks), back.Kernel)
	}
	if !strings.Contains(js.String(), `"name": "mnt namespace",`+"\n"+`      "status": "missing"`) {
		t.Errorf("JSON lacks the failed mnt namespace:\n%s", js.String())
	}

	var txt bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	out := txt.String()
	for _, want := range []string{
		"hull check: kernel 6.18.44-fc-v857, checked as root\n",
		"\nmissing * mnt namespace ",
		"-> no container at all: hull needs a mount namespace for the rootfs\n",
		"hull cannot run a default container on this host: missing mnt namespace.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	// An ok line gets no impact line.
	if strings.Contains(out, "-> configs with an ipc namespace") {
		t.Errorf("impact shown for an ok check:\n%s", out)
	}
}
