package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func uintp(v uint) *uint { return &v }

func TestValidate(t *testing.T) {
	ok := func(mod func(s *specs.LinuxSeccomp)) *specs.LinuxSeccomp {
		s := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
			Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uintp(1)},
				{Names: []string{"getpgid"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}},
				{Names: []string{"getppid"}, Action: specs.ActTrace, ErrnoRet: uintp(38)},
				{Names: []string{"no_such_syscall_is_fine"}, Action: specs.ActKillProcess},
			},
		}
		if mod != nil {
			mod(s)
		}
		return s
	}
	tests := []struct {
		name    string
		profile *specs.LinuxSeccomp
		wantErr string
	}{
		{name: "nil", profile: nil},
		{name: "valid", profile: ok(nil)},
		{name: "tsync accepted", profile: ok(func(s *specs.LinuxSeccomp) { s.Flags = append(s.Flags, "SECCOMP_FILTER_FLAG_TSYNC") })},
		{name: "notify with listener", profile: ok(func(s *specs.LinuxSeccomp) {
			s.ListenerPath, s.ListenerMetadata = "/run/agent.sock", "meta"
			s.Syscalls[0] = specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}
		})},
		{
			name:    "unknown syscall action",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[3].Action = "SCMP_ACT_FOO" }),
			wantErr: `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`,
		},
		{
			name:    "missing default action",
			profile: ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }),
			wantErr: `linux.seccomp.defaultAction: missing`,
		},
		{
			name:    "unknown default action",
			profile: ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = "allow" }),
			wantErr: `linux.seccomp.defaultAction: unknown action "allow"`,
		},
		{
			name:    "defaultErrnoRet on allow",
			profile: ok(func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uintp(1) }),
			wantErr: `linux.seccomp.defaultErrnoRet: action SCMP_ACT_ALLOW takes no errno`,
		},
		{
			name:    "errnoRet on kill",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[3].ErrnoRet = uintp(1) }),
			wantErr: `linux.seccomp.syscalls[3].errnoRet: action SCMP_ACT_KILL_PROCESS takes no errno`,
		},
		{
			name:    "errnoRet too large",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = uintp(70000) }),
			wantErr: `linux.seccomp.syscalls[0].errnoRet: 70000 is out of range (0 to 65535)`,
		},
		{
			name:    "unknown arch",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Architectures[1] = "SCMP_ARCH_VAX" }),
			wantErr: `linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`,
		},
		{
			name:    "unknown flag",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Flags = append(s.Flags, "SECCOMP_FILTER_FLAG_FOO") }),
			wantErr: `linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`,
		},
		{
			name:    "unknown operator",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[0].Op = "SCMP_CMP_LIKE" }),
			wantErr: `linux.seccomp.syscalls[1].args[0].op: unknown operator "SCMP_CMP_LIKE"`,
		},
		{
			name:    "argument index 6",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[0].Index = 6 }),
			wantErr: `linux.seccomp.syscalls[1].args[0].index: 6 is not a syscall argument (0 to 5)`,
		},
		{
			name:    "no names",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[2].Names = nil }),
			wantErr: `linux.seccomp.syscalls[2].names: must name at least one syscall`,
		},
		{
			name:    "empty name",
			profile: ok(func(s *specs.LinuxSeccomp) { s.Syscalls[2].Names = []string{"getpid", ""} }),
			wantErr: `linux.seccomp.syscalls[2].names[1]: empty syscall name`,
		},
		{
			name:    "notify default",
			profile: ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify; s.ListenerPath = "/a" }),
			wantErr: `linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action`,
		},
		{
			name: "notify on write",
			profile: ok(func(s *specs.LinuxSeccomp) {
				s.ListenerPath = "/a"
				s.Syscalls[0] = specs.LinuxSyscall{Names: []string{"read", "write"}, Action: specs.ActNotify}
			}),
			wantErr: `linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write`,
		},
		{
			name: "notify without listener",
			profile: ok(func(s *specs.LinuxSeccomp) {
				s.Syscalls[0] = specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}
			}),
			wantErr: `linux.seccomp.listenerPath: required when a syscall uses SCMP_ACT_NOTIFY`,
		},
		{
			name:    "metadata without listener",
			profile: ok(func(s *specs.LinuxSeccomp) { s.ListenerMetadata = "x" }),
			wantErr: `linux.seccomp.listenerMetadata: set without listenerPath`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.profile)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Validate error = %v\nwant %s", err, tt.wantErr)
			}
		})
	}
}

func TestFilterFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags []specs.LinuxSeccompFlag
		calls []specs.LinuxSyscall
		want  uint
	}{
		{name: "none", want: 0},
		{name: "log and spec allow", flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}, want: filterFlagLog | filterFlagSpecAllow},
		{
			name:  "notify adds listener",
			calls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
			want:  filterFlagNewListener,
		},
		{
			name:  "wait killable with notify",
			flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
			calls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
			want:  filterFlagNewListener | filterFlagWaitKillableRecv,
		},
		{name: "wait killable without notify is dropped", flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filterFlags(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: tt.flags, Syscalls: tt.calls})
			if err != nil || got != tt.want {
				t.Fatalf("filterFlags = %#x, %v; want %#x", got, err, tt.want)
			}
		})
	}
}
