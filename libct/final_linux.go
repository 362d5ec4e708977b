package libct

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/seccomp"
)

// The final stage of `hull init`: everything between a set-up container
// (or, for exec, joined namespaces) and execve that gives the process its
// credentials and security context. It is a program: an ordered list of
// typed steps that finalProgram builds from the process config alone (a
// pure function), checkProgram holds to the kernel's and the security
// rules of ordering, and runProgram executes through finalSys, the small
// syscall seam that the unit tests replace. The order lives in one place,
// is tested without root, and can be encoded and run by another executor
// (see "The final-stage program" in doc.go).

// opCode is one kind of step. The values travel in the wire format of
// the program (doc.go, "The final-stage program in C") and are frozen:
// a new step gets a new value.
type opCode uint8

// The steps, by what each does; doc.go's operand table says which step
// fields each one uses.
const (
	opWriteProc    opCode = iota + 1 // write data to /proc/<str> (verified procfs handle)
	opScheduler                      // sched_setattr(sched)
	opIOPriority                     // ioprio_set(num)
	opCPUAffinity                    // sched_setaffinity(cpus); nil: every CPU of the cpuset
	opApparmor                       // exec profile str at the next execve
	opSelinux                        // exec label str at the next execve
	opNoNewPrivs                     // prctl(PR_SET_NO_NEW_PRIVS, 1)
	opSeccomp                        // load the compiled filter bpf with seccomp(2) flags num
	opDropBounding                   // PR_CAPBSET_DROP every capability <= num2 not in num
	opSetgroups                      // setgroups(ids)
	opSetresgid                      // setresgid(num, num, num)
	opKeepCaps                       // prctl(PR_SET_KEEPCAPS, num)
	opSetresuid                      // setresuid(num, num, num)
	opCapset                         // capset(effective num, permitted ids[0], inheritable ids[1])
	opAmbient                        // clear the ambient set, raise num's capabilities <= num2
	opUmask                          // umask(num)
	opDefaultHome                    // HOME from /etc/passwd for uid num, unless env has one
	opChdir                          // chdir(str), then check getcwd is under the root
	opCloseFds                       // close every fd from 3+num on init no longer needs (fds_linux.go)
	opResolve                        // args[0] -> the path execve gets (PATH of the env)
	opReady                          // tell the parent; init: wait for start, run the startContainer hooks in str
	opLandlock                       // restrict the thread with the ruleset landlock (process.landlock)
	opRlimit                         // prlimit(num, soft ids[0], hard ids[1])
	opExecve                         // pass the preserved fds, execve(resolved path, args, env)
	opMemoryPolicy                   // set_mempolicy(num, nodes, num2) (linux.memoryPolicy)
	opConsole                        // num 0: a pty on the console socket, then stdio; 1: it is there; then the ctty
	opUnshare                        // unshare(num): new cgroup and time namespaces of init
	opKeyring                        // join the session keyring str (ENOSYS, EACCES ignored)
	opPersonality                    // personality(num)
	opSetup                          // init: rootfs, mounts, hooks, pivot_root, hostname, sysctls (setupContainer)
	opCount                          // one past the last step
)

var opNames = map[opCode]string{
	opWriteProc: "writeProc", opScheduler: "scheduler", opIOPriority: "ioPriority",
	opCPUAffinity: "cpuAffinity", opApparmor: "apparmor", opSelinux: "selinux",
	opNoNewPrivs: "noNewPrivs", opSeccomp: "seccomp", opDropBounding: "dropBounding",
	opSetgroups: "setgroups", opSetresgid: "setresgid", opKeepCaps: "keepCaps",
	opSetresuid: "setresuid", opCapset: "capset", opAmbient: "ambient", opUmask: "umask",
	opDefaultHome: "defaultHome", opChdir: "chdir", opCloseFds: "closeFds",
	opResolve: "resolve", opReady: "ready", opLandlock: "landlock", opRlimit: "rlimit", opExecve: "execve",
	opMemoryPolicy: "memoryPolicy", opConsole: "console", opUnshare: "unshare", opKeyring: "keyring",
	opPersonality: "personality", opSetup: "setup",
}

func (o opCode) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return "op" + strconv.Itoa(int(o))
}

// step is one step of the final-stage program: an opCode and its
// operands, plain numbers, strings and bytes (see the opCode table for
// which).
type step struct {
	op        opCode
	num, num2 uint64
	ids       []uint64
	str, data string
	sched     *unix.SchedAttr
	cpus      *unix.CPUSet
	landlock  *configs.Landlock
	// bpf is the seccomp program (struct sock_filter array).
	bpf []byte
	// nodes is the memory policy's nodemask.
	nodes []uint64
	// args and env are the process's, for execve.
	args, env []string
}

func (s step) String() string {
	switch s.op {
	case opWriteProc:
		return fmt.Sprintf("%s(%s=%s)", s.op, s.str, s.data)
	case opApparmor, opSelinux, opChdir, opKeyring:
		return fmt.Sprintf("%s(%s)", s.op, s.str)
	case opSeccomp, opNoNewPrivs, opResolve, opReady, opExecve, opScheduler, opSetup, opLandlock:
		return s.op.String()
	case opCPUAffinity:
		if s.cpus == nil {
			return s.op.String() + "(all)"
		}
		return s.op.String()
	case opSetgroups, opCapset, opRlimit:
		return fmt.Sprintf("%s(%d,%v)", s.op, s.num, s.ids)
	}
	return fmt.Sprintf("%s(%d)", s.op, s.num)
}

// stageOf names the step in errors, as the stages of init do.
func stageOf(s step) string {
	switch s.op {
	case opWriteProc:
		return path.Base(s.str)
	case opCPUAffinity:
		return "execCPUAffinity"
	case opNoNewPrivs:
		return "no_new_privs"
	case opDropBounding, opCapset, opAmbient:
		return "capabilities"
	case opSetgroups, opSetresgid, opKeepCaps, opSetresuid:
		return "setuid"
	case opChdir:
		return "cwd"
	case opCloseFds:
		return "close fds"
	case opResolve, opExecve:
		return "exec"
	case opRlimit:
		return "rlimits"
	case opDefaultHome:
		return "home"
	case opUnshare:
		if s.num&unix.CLONE_NEWCGROUP != 0 {
			return "cgroup namespace"
		}
		return "time namespace"
	case opKeyring:
		return "session keyring"
	}
	return s.op.String()
}

// programInput is what finalProgram needs besides the process: all of it
// known to the parent before the child exists.
type programInput struct {
	proc *configs.Process
	// init: the program of a new container's init, which sets the
	// container up (opSetup) and the per-process rest; else a process
	// exec'd into a running container.
	init bool
	// filter is the compiled linux.seccomp, if any.
	filter *seccomp.Filter
	// preserve is how many fds from 3 on are the process's.
	preserve int
	// lastCap is the running kernel's last capability (capabilities.Last).
	lastCap int
	// memPolicy is linux.memoryPolicy.
	memPolicy *configs.MemoryPolicy

	// For init only: new cgroup and time namespaces to unshare (once in
	// the cgroup, before any process enters them), the time offsets, the
	// session keyring to join ("" keeps the caller's), the personality,
	// and the startContainer hooks with their state (JSON startHooks;
	// empty: none).
	newCgroupNS, newTimeNS bool
	timeOffsets            map[string]specs.LinuxTimeOffset
	keyring                string
	personality            *specs.LinuxPersonality
	startHooks             []byte
}

// startHooks is the operand of init's ready step: the startContainer
// hooks and the state they get on stdin (its pid is set by whoever runs
// them: init's own).
type startHooks struct {
	Hooks []specs.Hook `json:"hooks"`
	State specs.State  `json:"state"`
}

// finalProgram builds the final stage for a process. It touches nothing:
// what it needs from the host (the last capability) is in the input. An
// error names the process field that cannot be applied.
func finalProgram(in programInput) ([]step, error) {
	p := in.proc
	var prog []step
	add := func(s step) { prog = append(prog, s) }

	// First, right after the cgroup placement: the CPU affinity. Linux
	// 6.2+ no longer resets the mask of a task moved into a cpuset, so
	// the one inherited from whoever started hull (a systemd unit's
	// CPUAffinity=, taskset) would stick: as runc 1.3.1, every process
	// gets every CPU of its cpuset (an all-ones mask, which the kernel
	// clamps), or execCPUAffinity.final when the process names one.
	aff := step{op: opCPUAffinity}
	if a := p.ExecCPUAffinity; a != nil && a.Final != "" {
		set, err := parseCPUList(a.Final)
		if err != nil {
			return nil, stage("execCPUAffinity", err)
		}
		aff.cpus = set
	}
	add(aff)
	if in.init {
		// The namespaces that are init's own, before the setup forks a
		// helper (which must see the cgroup namespace's root when it
		// mounts cgroupfs, and whose entering the time namespace would
		// freeze its offsets).
		var flags uint64
		if in.newCgroupNS {
			flags |= unix.CLONE_NEWCGROUP
		}
		if in.newTimeNS {
			flags |= unix.CLONE_NEWTIME
		}
		if flags != 0 {
			add(step{op: opUnshare, num: flags})
		}
		if in.newTimeNS && len(in.timeOffsets) > 0 {
			add(step{op: opWriteProc, str: "self/timens_offsets", data: timeOffsets(in.timeOffsets)})
		}
		add(step{op: opSetup})
		// What belongs to init itself, not to the setup: the terminal
		// as controlling terminal, a session keyring of its own (so the
		// container cannot read the host's keys), the personality.
		if p.Terminal {
			add(step{op: opConsole, num: 1})
		}
		if in.keyring != "" {
			add(step{op: opKeyring, str: in.keyring})
		}
		if pe := in.personality; pe != nil {
			v, err := personaValue(pe)
			if err != nil {
				return nil, stage("personality", err)
			}
			add(step{op: opPersonality, num: v})
		}
	} else if p.Terminal {
		s := step{op: opConsole, num2: uint64(p.UID), ids: []uint64{0, 0}}
		if sz := p.ConsoleSize; sz != nil {
			s.ids = []uint64{uint64(sz.Height), uint64(sz.Width)}
		}
		add(s)
	}

	// While fully privileged: procfs writes (lowering oom_score_adj
	// needs CAP_SYS_RESOURCE), the memory policy, scheduling (after the
	// affinity: SCHED_DEADLINE wants the whole root domain), and the LSM
	// labels the kernel applies at execve.
	if p.OOMScoreAdj != nil {
		add(step{op: opWriteProc, str: "self/oom_score_adj", data: strconv.Itoa(*p.OOMScoreAdj)})
	}
	if mp := in.memPolicy; mp != nil {
		mode, nodes, maxnode := mp.SyscallArgs()
		add(step{op: opMemoryPolicy, num: uint64(mode), nodes: nodes, num2: maxnode})
	}
	if p.Scheduler != nil {
		attr, err := schedAttr(p.Scheduler)
		if err != nil {
			return nil, stage("scheduler", err)
		}
		add(step{op: opScheduler, sched: attr})
	}
	if p.IOPriority != nil {
		v, err := ioprioValue(p.IOPriority)
		if err != nil {
			return nil, stage("ioPriority", err)
		}
		add(step{op: opIOPriority, num: uint64(v)})
	}
	if p.ApparmorProfile != "" {
		add(step{op: opApparmor, str: p.ApparmorProfile})
	}
	if p.SelinuxLabel != "" {
		add(step{op: opSelinux, str: p.SelinuxLabel})
	}
	// no_new_privs before any filter. Without it, loading a filter needs
	// CAP_SYS_ADMIN, which the process is about to lose: load it now.
	var filter step
	if f := in.filter; f != nil {
		filter = step{op: opSeccomp, bpf: f.Program, num: uint64(f.Flags)}
	}
	if p.NoNewPrivileges {
		add(step{op: opNoNewPrivs})
	} else if in.filter != nil {
		add(filter)
	}

	// Credentials: the bounding set while CAP_SETPCAP is effective,
	// groups and gid while CAP_SETGID is, keepcaps around setresuid so
	// that permitted survives leaving uid 0, then the sets themselves.
	caps, err := capabilities.Compute(p.Capabilities, in.lastCap)
	if err != nil {
		return nil, stage("capabilities", err)
	}
	last := uint64(in.lastCap)
	add(step{op: opDropBounding, num: caps.Bounding, num2: last})
	gids := make([]uint64, len(p.AdditionalGids))
	for i, g := range p.AdditionalGids {
		gids[i] = uint64(g)
	}
	add(step{op: opSetgroups, ids: gids})
	add(step{op: opSetresgid, num: uint64(p.GID)})
	add(step{op: opKeepCaps, num: 1})
	add(step{op: opSetresuid, num: uint64(p.UID)})
	add(step{op: opKeepCaps, num: 0})
	add(step{op: opCapset, num: caps.Effective, ids: []uint64{caps.Permitted, caps.Inheritable}})
	add(step{op: opAmbient, num: caps.Ambient, num2: last})

	// The process's view: umask (runc's default when the config has none,
	// rather than whatever hull was started with), HOME, the cwd checked
	// to be inside the root (CVE-2024-21626), hull's fds gone, and only
	// then args[0] resolved.
	umask := uint64(0o022)
	if p.Umask != nil {
		umask = uint64(*p.Umask)
	}
	add(step{op: opUmask, num: umask})
	add(step{op: opDefaultHome, num: uint64(p.UID)})
	add(step{op: opChdir, str: p.Cwd})
	add(step{op: opCloseFds, num: uint64(in.preserve)})
	add(step{op: opResolve})

	// With no_new_privs the filter comes as late as possible, so that
	// none of hull's own setup is filtered; a NOTIFY filter's listener
	// must reach the parent while it still listens, before ready.
	notify := in.filter != nil && in.filter.Notify()
	if p.NoNewPrivileges && in.filter != nil && notify {
		add(filter)
	}
	add(step{op: opReady, str: string(in.startHooks)})
	if p.NoNewPrivileges && in.filter != nil && !notify {
		add(filter)
	}
	// Landlock after seccomp, right before execve: none of hull's own
	// setup (nor a startContainer hook) is confined by the ruleset.
	if p.Landlock != nil {
		add(step{op: opLandlock, landlock: p.Landlock})
	}
	// rlimits last: a low RLIMIT_NOFILE or RLIMIT_AS would break hull's
	// own setup (runc's flaky rlimit test comes from setting them early).
	for _, r := range p.Rlimits {
		add(step{op: opRlimit, num: uint64(r.Type), ids: []uint64{r.Soft, r.Hard}})
	}
	add(step{op: opExecve, args: p.Args, env: p.Env})
	return prog, checkProgram(prog)
}

// timeOffsets is the text /proc/self/timens_offsets takes, one clock a
// line, in a stable order.
func timeOffsets(off map[string]specs.LinuxTimeOffset) string {
	clocks := make([]string, 0, len(off))
	for c := range off {
		clocks = append(clocks, c)
	}
	sort.Strings(clocks)
	var b strings.Builder
	for _, c := range clocks {
		fmt.Fprintf(&b, "%s %d %d\n", c, off[c].Secs, off[c].Nanosecs)
	}
	return b.String()
}

// personaValue is personality(2)'s argument for linux.personality.
func personaValue(p *specs.LinuxPersonality) (uint64, error) {
	switch p.Domain {
	case specs.PerLinux:
		return 0x0000, nil
	case specs.PerLinux32:
		return 0x0008, nil
	}
	return 0, fmt.Errorf("unknown personality domain %q", p.Domain)
}

// orderRule is one rule of ordering that every final program must keep.
type orderRule struct {
	name string
	why  string
	ok   func(prog []step) bool
}

// index returns the position of the first step with op (after from), or -1.
func index(prog []step, op opCode) int {
	for i, s := range prog {
		if s.op == op {
			return i
		}
	}
	return -1
}

func lastIndex(prog []step, op opCode) int {
	for i := len(prog) - 1; i >= 0; i-- {
		if prog[i].op == op {
			return i
		}
	}
	return -1
}

// before: every a comes before every b (true when either is absent).
func before(prog []step, a, b opCode) bool {
	la, fb := lastIndex(prog, a), index(prog, b)
	return la < 0 || fb < 0 || la < fb
}

// onlyAfter: after the first step with op, only the steps in allowed.
func onlyAfter(prog []step, op opCode, allowed ...opCode) bool {
	i := index(prog, op)
	if i < 0 {
		return true
	}
	for _, s := range prog[i+1:] {
		ok := false
		for _, a := range allowed {
			ok = ok || s.op == a
		}
		if !ok {
			return false
		}
	}
	return true
}

// orderRules are the security rules of the final stage's order.
var orderRules = []orderRule{
	{"execve last", "nothing may run after the process starts",
		func(p []step) bool { return len(p) > 0 && p[len(p)-1].op == opExecve && index(p, opExecve) == len(p)-1 }},
	{"rlimits last", "a low RLIMIT_NOFILE or RLIMIT_AS breaks hull's own setup",
		func(p []step) bool { return onlyAfter(p, opRlimit, opRlimit, opExecve) }},
	{"bounding set before setuid", "PR_CAPBSET_DROP needs CAP_SETPCAP, gone after setuid",
		func(p []step) bool {
			return index(p, opDropBounding) >= 0 && before(p, opDropBounding, opSetresuid)
		}},
	{"groups before uid", "setgroups and setresgid need CAP_SETGID, gone after setuid",
		func(p []step) bool { return before(p, opSetgroups, opSetresuid) && before(p, opSetresgid, opSetresuid) }},
	{"keepcaps around setuid", "permitted is cleared leaving uid 0 unless PR_SET_KEEPCAPS is set",
		func(p []step) bool {
			u := index(p, opSetresuid)
			if u < 0 {
				return false
			}
			on, off := -1, -1
			for i, s := range p {
				if s.op == opKeepCaps && s.num == 1 && i < u {
					on = i
				}
				if s.op == opKeepCaps && s.num == 0 && i > u && off < 0 {
					off = i
				}
			}
			return on >= 0 && off >= 0 && off < index(p, opCapset)
		}},
	{"capabilities after setuid", "a uid change recomputes the sets; capset must come after",
		func(p []step) bool {
			return index(p, opCapset) > index(p, opSetresuid) && index(p, opAmbient) > index(p, opCapset)
		}},
	{"no_new_privs before seccomp", "without no_new_privs the filter load needs CAP_SYS_ADMIN",
		func(p []step) bool { return before(p, opNoNewPrivs, opSeccomp) }},
	{"seccomp late with no_new_privs", "none of hull's setup may be filtered",
		func(p []step) bool {
			return index(p, opNoNewPrivs) < 0 || onlyAfter(p, opSeccomp, opReady, opLandlock, opRlimit, opExecve)
		}},
	{"seccomp before the capability drop without no_new_privs", "loading a filter needs CAP_SYS_ADMIN",
		func(p []step) bool {
			return index(p, opNoNewPrivs) >= 0 || (before(p, opSeccomp, opDropBounding) && before(p, opSeccomp, opSetresuid))
		}},
	{"affinity first", "right after the cgroup placement (Linux 6.2+ keeps a mask set before the move), and SCHED_DEADLINE refuses a task not allowed the whole root domain",
		func(p []step) bool {
			return len(p) > 0 && p[0].op == opCPUAffinity && lastIndex(p, opCPUAffinity) == 0
		}},
	{"init's namespaces, then setup, before the rest", "the setup's cgroupfs mounts need the cgroup namespace, and a process entering the time namespace freezes its offsets; the setup runs with every privilege",
		func(p []step) bool {
			s := index(p, opSetup)
			if s < 0 {
				// An exec'd process has none of init's steps.
				return index(p, opUnshare) < 0 && index(p, opKeyring) < 0 && index(p, opPersonality) < 0
			}
			if lastIndex(p, opSetup) != s || !before(p, opUnshare, opSetup) {
				return false
			}
			for _, st := range p[:s] {
				if st.op != opCPUAffinity && st.op != opUnshare && st.op != opWriteProc {
					return false
				}
			}
			return true
		}},
	{"privileged writes before the drop", "oom_score_adj, LSM exec labels, the console's owner, the keyring and the setup need the privileges init still has",
		func(p []step) bool {
			for _, op := range []opCode{opWriteProc, opApparmor, opSelinux, opScheduler, opIOPriority,
				opMemoryPolicy, opConsole, opUnshare, opKeyring, opPersonality, opSetup} {
				if !before(p, op, opDropBounding) || !before(p, op, opSetresuid) || !before(p, op, opSeccomp) {
					return false
				}
			}
			return true
		}},
	{"cwd as the process's user", "chdir's permission check is the process's, and args[0] may be relative",
		func(p []step) bool {
			c := index(p, opChdir)
			return c > index(p, opSetresuid) && before(p, opChdir, opResolve)
		}},
	{"landlock last before rlimits", "hull's setup and the startContainer hooks must not be confined",
		func(p []step) bool {
			return onlyAfter(p, opLandlock, opRlimit, opExecve) && before(p, opSeccomp, opLandlock) && before(p, opReady, opLandlock)
		}},
	{"fds closed before the path is resolved", "execve resolves args[0] before close-on-exec fds are gone (CVE-2024-21626)",
		func(p []step) bool {
			c, r := index(p, opCloseFds), index(p, opResolve)
			return c >= 0 && r > c && r < index(p, opExecve)
		}},
	{"ready once, before execve", "the parent must know the process is set up",
		func(p []step) bool {
			r := index(p, opReady)
			return r >= 0 && r == lastIndex(p, opReady) && r < index(p, opExecve)
		}},
}

// checkProgram returns the first ordering rule prog breaks.
func checkProgram(prog []step) error {
	for _, r := range orderRules {
		if !r.ok(prog) {
			return fmt.Errorf("final program breaks %q (%s): %v", r.name, r.why, prog)
		}
	}
	return nil
}

// finalSys is the syscall seam of the final stage: one method per kind
// of step, each acting on the calling thread or process.
type finalSys interface {
	writeProc(rel, data string) error
	schedSetattr(attr *unix.SchedAttr) error
	ioprioSet(prio int) error
	// setAffinity with nil sets every CPU of the cpuset.
	setAffinity(set *unix.CPUSet) error
	lsmExecLabel(lsm, label string) error
	noNewPrivs() error
	loadSeccomp(bpf []byte, flags uint) error
	dropBounding(keep uint64, last int) error
	setgroups(gids []int) error
	setresgid(gid int) error
	keepCaps(on bool) error
	setresuid(uid int) error
	capset(eff, perm, inh uint64) error
	ambient(amb uint64, last int) error
	umask(mask int)
	passwdHome(uid uint32) string
	chdir(dir string) error
	closeFds(first int) error
	lookPath(file string, env []string) (string, error)
	ready(hooks []byte) error
	landlock(l *configs.Landlock) error
	setrlimit(resource int, soft, hard uint64) error
	execve(path string, args, env []string) error
	memoryPolicy(mode int, nodes []uint64, maxnode uint64) error
	// console with pty makes a pty (owner uid, size rows x cols when
	// not 0) and its slave stdio; then, either way, the controlling
	// terminal.
	console(pty bool, uid int, rows, cols uint16) error
	unshare(flags int) error
	joinKeyring(name string) error
	personality(persona uint64) error
	setup() error
}

// stepError is a failed step of a program: its index, the errno behind
// the failure (0 when there is none) and, as for every failure of init,
// its stage.
type stepError struct {
	index int
	errno syscall.Errno
	*stageError
}

func (e *stepError) Unwrap() error { return e.stageError }

// failed wraps err, the failure of prog[i], into a stepError.
func failed(i int, s step, err error) *stepError {
	e := &stepError{index: i}
	errors.As(err, &e.errno)
	if !errors.As(err, &e.stageError) {
		e.stageError = &stageError{Stage: stageOf(s), Err: err.Error()}
	}
	return e
}

// runProgram executes prog. It returns only on failure (execve does not
// return), as a *stepError.
func runProgram(sys finalSys, prog []step) error {
	var exe string
	var args, env []string
	if n := len(prog); n > 0 && prog[n-1].op == opExecve {
		args, env = prog[n-1].args, prog[n-1].env
	}
	for i, s := range prog {
		var err error
		switch s.op {
		case opWriteProc:
			err = sys.writeProc(s.str, s.data)
		case opScheduler:
			err = sys.schedSetattr(s.sched)
		case opIOPriority:
			err = sys.ioprioSet(int(s.num))
		case opCPUAffinity:
			err = sys.setAffinity(s.cpus)
		case opApparmor:
			err = sys.lsmExecLabel("apparmor", s.str)
		case opSelinux:
			err = sys.lsmExecLabel("selinux", s.str)
		case opNoNewPrivs:
			err = sys.noNewPrivs()
		case opSeccomp:
			err = sys.loadSeccomp(s.bpf, uint(s.num))
		case opDropBounding:
			err = sys.dropBounding(s.num, int(s.num2))
		case opSetgroups:
			gids := make([]int, len(s.ids))
			for i, g := range s.ids {
				gids[i] = int(g)
			}
			err = sys.setgroups(gids)
		case opSetresgid:
			err = sys.setresgid(int(s.num))
		case opKeepCaps:
			err = sys.keepCaps(s.num != 0)
		case opSetresuid:
			err = sys.setresuid(int(s.num))
		case opCapset:
			err = sys.capset(s.num, s.ids[0], s.ids[1])
		case opAmbient:
			err = sys.ambient(s.num, int(s.num2))
		case opUmask:
			sys.umask(int(s.num))
		case opDefaultHome:
			env = withDefaultHome(env, func() string { return sys.passwdHome(uint32(s.num)) })
		case opChdir:
			err = sys.chdir(s.str)
		case opCloseFds:
			err = sys.closeFds(3 + int(s.num))
		case opResolve:
			exe, err = sys.lookPath(args[0], env)
		case opReady:
			err = sys.ready([]byte(s.str))
		case opLandlock:
			err = sys.landlock(s.landlock)
		case opRlimit:
			err = sys.setrlimit(int(s.num), s.ids[0], s.ids[1])
		case opExecve:
			err = sys.execve(exe, args, env)
			if err == nil {
				err = errors.New("execve returned")
			}
			err = fmt.Errorf("exec %s: %w", exe, err)
		case opMemoryPolicy:
			err = sys.memoryPolicy(int(s.num), s.nodes, s.num2)
		case opConsole:
			var rows, cols uint16
			if len(s.ids) == 2 {
				rows, cols = uint16(s.ids[0]), uint16(s.ids[1])
			}
			err = sys.console(s.num == 0, int(s.num2), rows, cols)
		case opUnshare:
			err = sys.unshare(int(s.num))
		case opKeyring:
			err = sys.joinKeyring(s.str)
		case opPersonality:
			err = sys.personality(s.num)
		case opSetup:
			err = sys.setup()
		default:
			err = fmt.Errorf("unknown step %v", s.op)
		}
		if err != nil {
			return failed(i, s, err)
		}
	}
	return errors.New("final program has no execve")
}

// withDefaultHome adds HOME, as runc does, when env has none.
func withDefaultHome(env []string, home func() string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	return append(env, "HOME="+home())
}
