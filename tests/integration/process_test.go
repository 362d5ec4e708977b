package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// insideCase runs script in a container (edited by edit) and expects every
// line of want in its output (exact line match), none of notWant, and exit 0.
type insideCase struct {
	name    string
	edit    func(*specs.Spec)
	script  string
	want    []string
	notWant []string
	// files are written into the rootfs (path inside it -> content) first.
	files map[string]string
	// runArgs are extra flags for `run` (e.g. --no-pivot).
	runArgs []string
	// check, when set, inspects the output further.
	check func(t *testing.T, stdout string)
	// runcDeviation, when set, names a documented runc bug that hull fixes;
	// the case is skipped on runc only.
	runcDeviation string
}

func runInside(t *testing.T, cases []insideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.runcDeviation != "" {
				runcDeviation(t, tc.runcDeviation)
			}
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, sh(tc.script), tc.edit)
			for p, content := range tc.files {
				b.writeFile(t, p, content)
			}
			args := append(append([]string{"run"}, tc.runArgs...), "--bundle", b.dir, id)
			res := r.call(args...)
			if res.code != 0 {
				t.Fatalf("container failed: %v", res)
			}
			if tc.check != nil {
				tc.check(t, res.stdout)
			}
			lines := strings.Split(res.stdout, "\n")
			for _, w := range tc.want {
				if !hasLine(lines, w) {
					t.Errorf("output lacks line %q:\n%s", w, res.stdout)
				}
			}
			for _, w := range tc.notWant {
				if hasLine(lines, w) {
					t.Errorf("output has line %q:\n%s", w, res.stdout)
				}
			}
		})
	}
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.TrimRight(l, " \t\r") == want {
			return true
		}
	}
	return false
}

// TestProcess checks the process attributes config.json asks for.
func TestProcess(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name:   "pid1",
			script: `echo pid=$$; echo ppid=$PPID`,
			want:   []string{"pid=1", "ppid=0"},
		},
		{
			name:   "hostname",
			edit:   func(s *specs.Spec) { s.Hostname = "box-one" },
			script: `hostname; cat /proc/sys/kernel/hostname`,
			want:   []string{"box-one"},
		},
		{
			name:          "domainname",
			edit:          func(s *specs.Spec) { s.Domainname = "example.test" },
			script:        `cat /proc/sys/kernel/domainname`,
			want:          []string{"example.test"},
			runcDeviation: "runc 1.1 ignores process domainname (support landed in runc 1.2)",
		},
		{
			name: "env",
			edit: func(s *specs.Spec) {
				s.Process.Env = append(s.Process.Env, "FOO=bar baz", "EMPTY=")
			},
			script: `env | sort`,
			want: []string{
				"FOO=bar baz", "EMPTY=", "TERM=xterm",
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				// runc sets HOME from /etc/passwd when the config does not.
				"HOME=/root",
			},
		},
		{
			name:   "cwd",
			edit:   func(s *specs.Spec) { s.Process.Cwd = "/home/user" },
			script: `pwd`,
			want:   []string{"/home/user"},
		},
		{
			name: "user",
			edit: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}}
			},
			script: `grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\t ' ' '`,
			want:   []string{"Uid: 1000 1000 1000 1000", "Gid: 1000 1000 1000 1000", "Groups: 10 20"},
		},
		{
			name:   "root user has no supplementary groups but its own",
			script: `grep -E '^(Uid|Gid):' /proc/self/status | tr -s '\t ' ' '`,
			want:   []string{"Uid: 0 0 0 0", "Gid: 0 0 0 0"},
		},
		{
			name: "umask",
			edit: func(s *specs.Spec) {
				m := uint32(0o027)
				s.Process.User.Umask = &m
			},
			script: `umask; touch /tmp/f; stat -c %a /tmp/f`,
			want:   []string{"0027", "640"},
		},
		{
			name: "capabilities",
			edit: func(s *specs.Spec) {
				c := []string{"CAP_CHOWN", "CAP_KILL"}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c}
			},
			script: `grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | tr -s '\t ' ' '`,
			want: []string{
				"CapInh: 0000000000000000", "CapPrm: 0000000000000021", "CapEff: 0000000000000021",
				"CapBnd: 0000000000000021", "CapAmb: 0000000000000000",
			},
		},
		{
			name: "ambient capabilities for a non-root user",
			edit: func(s *specs.Spec) {
				c := []string{"CAP_NET_BIND_SERVICE"}
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				s.Process.Capabilities = &specs.LinuxCapabilities{
					Bounding: c, Effective: c, Permitted: c, Inheritable: c, Ambient: c,
				}
			},
			script: `grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | tr -s '\t ' ' '`,
			want: []string{
				"CapInh: 0000000000000400", "CapPrm: 0000000000000400", "CapEff: 0000000000000400",
				"CapBnd: 0000000000000400", "CapAmb: 0000000000000400",
			},
		},
		{
			name: "non-root user without ambient loses its capabilities",
			edit: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000}
			},
			script: `grep -E '^Cap(Prm|Eff|Bnd):' /proc/self/status | tr -s '\t ' ' '`,
			want: []string{
				"CapPrm: 0000000000000000", "CapEff: 0000000000000000", "CapBnd: 0000000020000420",
			},
		},
		{
			name: "rlimits",
			edit: func(s *specs.Spec) {
				// Within the host's hard limits: the bounding set lacks
				// CAP_SYS_RESOURCE on some hosts (nofile hard 20000 here).
				s.Process.Rlimits = []specs.POSIXRlimit{
					{Type: "RLIMIT_NOFILE", Soft: 1234, Hard: 5678},
					{Type: "RLIMIT_NPROC", Soft: 500, Hard: 600},
					{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
				}
			},
			script: `grep -E '^Max (open files|processes|core file size)' /proc/self/limits | tr -s ' ' ' '`,
			want: []string{
				"Max open files 1234 5678 files",
				"Max processes 500 600 processes",
				"Max core file size 0 0 bytes",
			},
		},
		{
			name:   "no_new_privs set",
			script: `grep NoNewPrivs /proc/self/status | tr -s '\t ' ' '`,
			want:   []string{"NoNewPrivs: 1"},
		},
		{
			name:   "no_new_privs unset",
			edit:   func(s *specs.Spec) { s.Process.NoNewPrivileges = false },
			script: `grep NoNewPrivs /proc/self/status | tr -s '\t ' ' '`,
			want:   []string{"NoNewPrivs: 0"},
		},
		{
			name: "oom_score_adj",
			edit: func(s *specs.Spec) {
				v := 123
				s.Process.OOMScoreAdj = &v
			},
			script: `cat /proc/self/oom_score_adj`,
			want:   []string{"123"},
		},
		{
			name: "sysctl",
			edit: func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
			},
			script: `cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni`,
			want:   []string{"1", "1234"},
		},
		{
			name: "proc shows only the container",
			// In a new PID namespace the shell is pid 1 and ls is its
			// child: no host pid can appear.
			script: `for p in /proc/[0-9]*; do echo "proc ${p#/proc/}"; done
n=$(ls -d /proc/[0-9]* | wc -l); if [ "$n" -le 4 ]; then echo few-pids; else echo "many-pids $n"; fi`,
			want: []string{"proc 1", "few-pids"},
		},
		{
			name:    "network namespace has only lo",
			script:  `ls /sys/class/net`,
			want:    []string{"lo"},
			notWant: []string{"eth0"},
		},
	})
}
