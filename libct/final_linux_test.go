package libct

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/seccomp"
)

// testFilter is a compiled filter (allow everything); notifyFilter one
// that asks for a listener.
var (
	allowAll     = []byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f} // BPF_RET|BPF_K SECCOMP_RET_ALLOW
	testFilter   = &seccomp.Filter{Program: allowAll}
	notifyFilter = &seccomp.Filter{Program: allowAll, Flags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}
)

// fullProcess asks for every step the final stage has.
func fullProcess() *configs.Process {
	oom, umask := -500, uint32(0o027)
	return &configs.Process{
		Args: []string{"sh", "-c", "x"}, Env: []string{"PATH=/bin"}, Cwd: "/work",
		UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20},
		Umask: &umask, OOMScoreAdj: &oom, NoNewPrivileges: true,
		ApparmorProfile: "prof", SelinuxLabel: "system_u:system_r:container_t:s0",
		Scheduler:       &specs.Scheduler{Policy: specs.SchedBatch},
		IOPriority:      &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4},
		ExecCPUAffinity: &specs.CPUAffinity{Final: "0"},
		Capabilities:    &configs.Capabilities{Bounding: []int{0, 21}, Effective: []int{0}, Permitted: []int{0}, Inheritable: []int{0}, Ambient: []int{0}},
		Rlimits:         []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 10, Hard: 10}, {Type: unix.RLIMIT_AS, Soft: 1 << 30, Hard: 1 << 30}},
		Landlock:        &configs.Landlock{HandledAccessFS: 1},
	}
}

func ops(prog []step) string {
	var out []string
	for _, s := range prog {
		out = append(out, s.op.String())
	}
	return strings.Join(out, " ")
}

func TestFinalProgram(t *testing.T) {
	plain := &configs.Process{Args: []string{"true"}, Cwd: "/"}
	noNNP := fullProcess()
	noNNP.NoNewPrivileges = false
	tty := &configs.Process{Args: []string{"sh"}, Cwd: "/", Terminal: true}
	const creds = "dropBounding setgroups setresgid keepCaps setresuid keepCaps capset ambient umask defaultHome chdir closeFds resolve"
	const early = "cpuAffinity writeProc memoryPolicy scheduler ioPriority apparmor selinux"
	mp := &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1}}
	for _, tc := range []struct {
		name string
		in   programInput
		want string
	}{
		{"nothing asked", programInput{proc: plain, lastCap: 40},
			"cpuAffinity " + creds + " ready execve"},
		{"no_new_privs: seccomp right before execve", programInput{proc: fullProcess(), filter: testFilter, memPolicy: mp, lastCap: 40},
			early + " noNewPrivs " + creds + " ready seccomp landlock rlimit rlimit execve"},
		{"no_new_privs, NOTIFY filter: before ready", programInput{proc: fullProcess(), filter: notifyFilter, memPolicy: mp, lastCap: 40},
			early + " noNewPrivs " + creds + " seccomp ready landlock rlimit rlimit execve"},
		{"without no_new_privs: seccomp before the drop", programInput{proc: noNNP, filter: testFilter, memPolicy: mp, lastCap: 40},
			early + " seccomp " + creds + " ready landlock rlimit rlimit execve"},
		{"no filter, no seccomp step", programInput{proc: fullProcess(), memPolicy: mp, lastCap: 40},
			early + " noNewPrivs " + creds + " ready landlock rlimit rlimit execve"},
		{"exec with a terminal: the pty first", programInput{proc: tty, lastCap: 40},
			"cpuAffinity console " + creds + " ready execve"},
		{"init: its namespaces, the setup, its own", programInput{proc: tty, init: true, newCgroupNS: true, newTimeNS: true,
			timeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}, keyring: "_ses.x",
			personality: &specs.LinuxPersonality{Domain: specs.PerLinux32}, lastCap: 40},
			"cpuAffinity unshare writeProc setup console keyring personality " + creds + " ready execve"},
		{"init, plain", programInput{proc: plain, init: true, lastCap: 40},
			"cpuAffinity setup " + creds + " ready execve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := finalProgram(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := ops(prog); got != tc.want {
				t.Errorf("program\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFinalProgramOperands(t *testing.T) {
	tty := fullProcess()
	tty.Terminal, tty.ConsoleSize = true, &specs.Box{Height: 24, Width: 80}
	tty.ExecCPUAffinity = nil
	prog, err := finalProgram(programInput{proc: tty, filter: testFilter, preserve: 2, lastCap: 40,
		memPolicy: &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Flags: unix.MPOL_F_STATIC_NODES, Nodes: []uint64{3}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cpuAffinity(all)", "console(0)", "writeProc(self/oom_score_adj=-500)", "memoryPolicy(32770)",
		"dropBounding(2097153)", "setgroups(0,[10 20])",
		"setresgid(1000)", "keepCaps(1)", "setresuid(1000)", "keepCaps(0)", "capset(1,[1 1])", "ambient(1)",
		"umask(23)", "defaultHome(1000)", "chdir(/work)", "closeFds(2)", "rlimit(7,[10 10])",
	}
	var got []string
	for _, s := range prog {
		got = append(got, s.String())
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("program lacks %s: %v", w, got)
		}
	}
	c := prog[index(prog, opConsole)]
	if c.num2 != 1000 || !slices.Equal(c.ids, []uint64{24, 80}) {
		t.Errorf("console step %+v: want owner 1000, size 24x80", c)
	}
	m := prog[index(prog, opMemoryPolicy)]
	if !slices.Equal(m.nodes, []uint64{3}) || m.num2 != 65 {
		t.Errorf("memoryPolicy step %+v: want nodes [3], maxnode 65 (SyscallArgs)", m)
	}
	x := prog[len(prog)-1]
	if !slices.Equal(x.args, tty.Args) || !slices.Equal(x.env, tty.Env) {
		t.Errorf("execve step %+v: want the process's args and env", x)
	}
}

func TestFinalProgramRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *configs.Process)
		want string
	}{
		{"scheduler policy", func(p *configs.Process) { p.Scheduler.Policy = "SCHED_NOPE" }, `scheduler: unknown policy "SCHED_NOPE"`},
		{"io class", func(p *configs.Process) { p.IOPriority.Class = "nope" }, `ioPriority: unknown class "nope"`},
		{"cpu list", func(p *configs.Process) { p.ExecCPUAffinity.Final = "3-1" }, "execCPUAffinity: cpu list"},
		{"capability number", func(p *configs.Process) { p.Capabilities.Effective = []int{99} }, "capabilities: effective capabilities: 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fullProcess()
			tc.edit(p)
			_, err := finalProgram(programInput{proc: p, lastCap: 40})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Program surgery for the rule tests.
func without(prog []step, op opCode) ([]step, step) {
	i := index(prog, op)
	s := prog[i]
	return slices.Delete(slices.Clone(prog), i, i+1), s
}

// moveAfter moves the first op step to right after the first anchor step.
func moveAfter(prog []step, op, anchor opCode) []step {
	rest, s := without(prog, op)
	return slices.Insert(rest, index(rest, anchor)+1, s)
}

// moveBefore moves the first op step to right before the first anchor step.
func moveBefore(prog []step, op, anchor opCode) []step {
	rest, s := without(prog, op)
	return slices.Insert(rest, index(rest, anchor), s)
}

// TestOrderRules: every rule of orderRules is kept by the programs
// finalProgram builds and caught when a program breaks it, so that each
// rule's test can fail. A new rule without a breaking case fails here.
func TestOrderRules(t *testing.T) {
	mp := &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1}}
	nnp, err := finalProgram(programInput{proc: fullProcess(), filter: testFilter, memPolicy: mp, lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	noNNPProc := fullProcess()
	noNNPProc.NoNewPrivileges = false
	noNNP, err := finalProgram(programInput{proc: noNNPProc, filter: testFilter, lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	initProc := fullProcess()
	initProc.Terminal = true
	initProg, err := finalProgram(programInput{proc: initProc, init: true, newCgroupNS: true, keyring: "_ses.x",
		personality: &specs.LinuxPersonality{Domain: specs.PerLinux}, filter: testFilter, lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	breaks := map[string][]step{
		"execve last":                    moveBefore(nnp, opExecve, opRlimit),
		"rlimits last":                   moveBefore(nnp, opRlimit, opReady),
		"bounding set before setuid":     moveAfter(nnp, opDropBounding, opSetresuid),
		"groups before uid":              moveAfter(nnp, opSetresgid, opSetresuid),
		"keepcaps around setuid":         moveAfter(nnp, opKeepCaps, opSetresuid),
		"capabilities after setuid":      moveBefore(nnp, opCapset, opSetresuid),
		"no_new_privs before seccomp":    moveAfter(nnp, opNoNewPrivs, opSeccomp),
		"seccomp late with no_new_privs": moveBefore(nnp, opSeccomp, opDropBounding),
		"seccomp before the capability drop without no_new_privs": moveAfter(noNNP, opSeccomp, opSetresuid),
		"affinity first": moveAfter(nnp, opCPUAffinity, opScheduler),
		"init's namespaces, then setup, before the rest": moveBefore(initProg, opKeyring, opSetup),
		"privileged writes before the drop":              moveAfter(nnp, opMemoryPolicy, opSetresuid),
		"cwd as the process's user":                      moveBefore(nnp, opChdir, opSetresuid),
		"fds closed before the path is resolved":         moveAfter(nnp, opCloseFds, opResolve),
		"ready once, before execve":                      slices.Insert(slices.Clone(nnp), 1, step{op: opReady}),
		"landlock last before rlimits":                   moveBefore(nnp, opLandlock, opSeccomp),
	}
	for _, r := range orderRules {
		t.Run(r.name, func(t *testing.T) {
			for _, good := range [][]step{nnp, noNNP, initProg} {
				if !r.ok(good) {
					t.Fatalf("a built program breaks the rule: %v", good)
				}
			}
			bad, ok := breaks[r.name]
			if !ok {
				t.Fatal("no breaking program for this rule")
			}
			if r.ok(bad) {
				t.Fatalf("rule does not catch %v", bad)
			}
			if err := checkProgram(bad); err == nil {
				t.Fatal("checkProgram accepts the broken program")
			}
		})
	}
	// Steps of init only are refused in a program without setup (exec).
	withKeyring := slices.Insert(slices.Clone(nnp), 1, step{op: opKeyring, str: "k"})
	if checkProgram(withKeyring) == nil {
		t.Error("an exec program with a keyring step passes")
	}
	if checkProgram(moveAfter(initProg, opUnshare, opSetup)) == nil {
		t.Error("unshare after setup passes")
	}
}

// fakeSys records every call of the final stage and can fail one.
type fakeSys struct {
	calls []string
	fail  string // the call that fails
}

func (f *fakeSys) do(call string) error {
	f.calls = append(f.calls, call)
	if f.fail != "" && strings.HasPrefix(call, f.fail) {
		return errors.New("injected")
	}
	return nil
}

func (f *fakeSys) writeProc(rel, data string) error { return f.do("writeProc " + rel + " " + data) }
func (f *fakeSys) schedSetattr(a *unix.SchedAttr) error {
	return f.do(fmt.Sprint("sched_setattr ", a.Policy))
}
func (f *fakeSys) ioprioSet(p int) error { return f.do(fmt.Sprint("ioprio_set ", p)) }
func (f *fakeSys) setAffinity(s *unix.CPUSet) error {
	if s == nil {
		return f.do("sched_setaffinity all")
	}
	return f.do(fmt.Sprint("sched_setaffinity ", s.Count()))
}
func (f *fakeSys) lsmExecLabel(lsm, label string) error { return f.do(lsm + " " + label) }
func (f *fakeSys) noNewPrivs() error                    { return f.do("no_new_privs") }
func (f *fakeSys) loadSeccomp(bpf []byte, flags uint) error {
	return f.do(fmt.Sprint("seccomp ", len(bpf), " ", flags))
}
func (f *fakeSys) dropBounding(keep uint64, l int) error {
	return f.do(fmt.Sprint("capbset ", keep, " ", l))
}
func (f *fakeSys) setgroups(g []int) error       { return f.do(fmt.Sprint("setgroups ", g)) }
func (f *fakeSys) setresgid(g int) error         { return f.do(fmt.Sprint("setresgid ", g)) }
func (f *fakeSys) keepCaps(on bool) error        { return f.do(fmt.Sprint("keepcaps ", on)) }
func (f *fakeSys) setresuid(u int) error         { return f.do(fmt.Sprint("setresuid ", u)) }
func (f *fakeSys) capset(e, p, i uint64) error   { return f.do(fmt.Sprint("capset ", e, p, i)) }
func (f *fakeSys) ambient(a uint64, l int) error { return f.do(fmt.Sprint("ambient ", a)) }
func (f *fakeSys) umask(m int)                   { _ = f.do(fmt.Sprintf("umask %o", m)) }
func (f *fakeSys) passwdHome(uid uint32) string {
	_ = f.do(fmt.Sprint("passwd ", uid))
	return "/home/u"
}
func (f *fakeSys) chdir(d string) error     { return f.do("chdir " + d) }
func (f *fakeSys) closeFds(first int) error { return f.do(fmt.Sprint("closefds ", first)) }
func (f *fakeSys) lookPath(file string, env []string) (string, error) {
	return "/bin/" + file, f.do("lookpath " + file + " " + strings.Join(env, ","))
}
func (f *fakeSys) ready(h []byte) error { return f.do("ready " + string(h)) }
func (f *fakeSys) landlock(l *configs.Landlock) error {
	return f.do(fmt.Sprint("landlock ", l.HandledAccessFS))
}
func (f *fakeSys) setrlimit(r int, s, h uint64) error {
	return f.do(fmt.Sprint("setrlimit ", r, " ", s, " ", h))
}
func (f *fakeSys) execve(path string, args, env []string) error {
	_ = f.do("execve " + path + " " + strings.Join(args, ",") + " " + strings.Join(env, ","))
	return errors.New("fake execve")
}
func (f *fakeSys) memoryPolicy(mode int, nodes []uint64, maxnode uint64) error {
	return f.do(fmt.Sprint("set_mempolicy ", mode, " ", nodes, " ", maxnode))
}
func (f *fakeSys) console(pty bool, uid int, rows, cols uint16) error {
	return f.do(fmt.Sprint("console ", pty, " ", uid, " ", rows, "x", cols))
}
func (f *fakeSys) unshare(flags int) error       { return f.do(fmt.Sprintf("unshare %#x", flags)) }
func (f *fakeSys) joinKeyring(name string) error { return f.do("keyring " + name) }
func (f *fakeSys) personality(p uint64) error    { return f.do(fmt.Sprint("personality ", p)) }
func (f *fakeSys) setup() error                  { return f.do("setup") }

func TestRunProgram(t *testing.T) {
	p := fullProcess()
	p.Terminal = true
	prog, err := finalProgram(programInput{proc: p, filter: testFilter, preserve: 1, lastCap: 40,
		memPolicy: &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSys{}
	err = runProgram(f, prog)
	if err == nil || !strings.Contains(err.Error(), "exec: exec /bin/sh: fake execve") {
		t.Fatalf("error %v, want the execve failure with stage exec", err)
	}
	want := []string{
		"sched_setaffinity 1", "console true 1000 0x0", "writeProc self/oom_score_adj -500", "set_mempolicy 2 [1] 65",
		"sched_setattr 3", "ioprio_set 16388",
		"apparmor prof", "selinux system_u:system_r:container_t:s0", "no_new_privs",
		"capbset 2097153 40", "setgroups [10 20]", "setresgid 1000", "keepcaps true", "setresuid 1000",
		"keepcaps false", "capset 1 1 1", "ambient 1", "umask 27", "passwd 1000", "chdir /work", "closefds 4",
		"lookpath sh PATH=/bin,HOME=/home/u", "ready ", "seccomp 8 0", "landlock 1",
		"setrlimit 7 10 10", "setrlimit 9 1073741824 1073741824",
		"execve /bin/sh sh,-c,x PATH=/bin,HOME=/home/u",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls\n got %q\nwant %q", f.calls, want)
	}
	// init: its own steps around the setup.
	prog, err = finalProgram(programInput{proc: fullProcess(), init: true, newCgroupNS: true, keyring: "_ses.c",
		personality: &specs.LinuxPersonality{Domain: specs.PerLinux32}, startHooks: []byte(`{"hooks":[]}`), lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	f = &fakeSys{}
	_ = runProgram(f, prog)
	for i, w := range []string{"sched_setaffinity 1", "unshare 0x2000000", "setup", "keyring _ses.c", "personality 8"} {
		if f.calls[i] != w {
			t.Errorf("init call %d: %q, want %q (%q)", i, f.calls[i], w, f.calls)
		}
	}
	if !slices.Contains(f.calls, `ready {"hooks":[]}`) {
		t.Errorf("ready did not get the startContainer hooks: %q", f.calls)
	}
}

// TestRunProgramStops: a failing step stops the program there, and the
// error names the step's stage and index.
func TestRunProgramStops(t *testing.T) {
	prog, err := finalProgram(programInput{proc: fullProcess(), filter: testFilter, lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fail, stage string
		op          opCode
	}{
		{"writeProc", "oom_score_adj", opWriteProc}, {"capbset", "capabilities", opDropBounding},
		{"setresuid", "setuid", opSetresuid}, {"chdir", "cwd", opChdir}, {"closefds", "close fds", opCloseFds},
		{"lookpath", "exec", opResolve}, {"seccomp", "seccomp", opSeccomp}, {"setrlimit", "rlimits", opRlimit},
		{"no_new_privs", "no_new_privs", opNoNewPrivs}, {"landlock", "landlock", opLandlock},
		{"sched_setaffinity", "execCPUAffinity", opCPUAffinity},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			f := &fakeSys{fail: tc.fail}
			err := runProgram(f, prog)
			var se *stepError
			if !errors.As(err, &se) || se.Stage != tc.stage || se.index != index(prog, tc.op) {
				t.Fatalf("error %v, want stage %q at step %d", err, tc.stage, index(prog, tc.op))
			}
			if last := f.calls[len(f.calls)-1]; !strings.HasPrefix(last, tc.fail) {
				t.Errorf("ran %q after the failing %s", last, tc.fail)
			}
		})
	}
}
