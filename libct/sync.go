package libct

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/hullrt/hull/libct/configs"
)

// The parent (hull create, run or exec) and the process it starts (hull
// init) talk through two channels, both defined in this file:
//
//   - the bootstrap: every fd number and flag the child needs before it can
//     read anything, in one environment variable (envBootstrap, type
//     bootstrap below). The C constructor of libct/nsenter reads the
//     fields it needs before the Go runtime starts; Go's Init reads the
//     rest.
//
//   - the sync socket: one SOCK_STREAM socketpair (the child's end is
//     bootstrap.Sync). For exec (bootGate) it starts with the parent's
//     gate byte, written once the started child is in the container's
//     cgroup; then comes one fixed-size bootReport written by the C
//     constructor. Then, with the Go executor, it carries one JSON
//     object per message (a line), in the order of this table. With the C
//     executor (bootProgram) the parent first sends the final program in
//     its wire form (finalwire_linux.go) and the constructor runs it,
//     writing fixed-size reports (progReport: ready, a seccomp listener
//     to take, a failed step) where the table says ready, seccompFd and
//     error. For a new container the init's setup helper (doc.go, "A
//     light init") first writes a report of its own (reportHelper, right
//     after the bootReport or, in a joined pid namespace, before it) whose
//     credentials give the parent its pid; the config (#1) follows the
//     program, for that helper, and #2, #3 and the child's error are its
//     own. A JSON message starts with '{', a report with its magic: the
//     parent reads whichever comes.
//
//     | # | from   | type       | payload     | meaning                                              |
//     |---|--------|------------|-------------|------------------------------------------------------|
//     | g | parent | (binary)   | gateByte    | exec only (bootGate): the started child is in its    |
//     |   |        |            |             | cgroup; the constructor, which joined the namespaces |
//     |   |        |            |             | meanwhile, may now fork and report                   |
//     | 0 | child  | (binary)   | bootReport  | the constructor joined what it had to; Pid names the |
//     |   | (C)    |            |             | process that goes on when it forked (a joined pid    |
//     |   |        |            |             | namespace), else 0; or the step that failed          |
//     | 1 | parent | config     | initConfig  | what to set up; sent once the child is in its cgroup |
//     | 2 | child  | hooks      | -           | namespaces and mounts are ready: run prestart and    |
//     |   |        |            |             | createRuntime hooks now (init only, if any exist)    |
//     | 3 | parent | hooksDone  | -           | hooks ran; go on                                     |
//     | 4 | child  | seccompFd  | fd number   | a NOTIFY filter is loaded: take the listener fd      |
//     |   |        |            |             | with pidfd_getfd and send it to the seccomp agent    |
//     | 5 | parent | seccompFd- | -           | the agent has it; go on                              |
//     |   |        | Done       |             |                                                      |
//     | 6 | child  | ready      | -           | set up; init waits on the exec FIFO, exec's process  |
//     |   |        |            |             | runs at once                                         |
//     | - | child  | error      | stage+cause | setup failed at stage; the child exits               |
//     | - | parent | error      | cause       | a hook failed; the child exits without exec          |
//
// An EOF instead of a message means the other side died; the parent then
// reports the child's exit status, never a bare EOF.
type syncType string

const (
	syncConfig        syncType = "config"
	syncHooks         syncType = "hooks"
	syncHooksDone     syncType = "hooksDone"
	syncReady         syncType = "ready"
	syncSeccompFd     syncType = "seccompFd"
	syncSeccompFdDone syncType = "seccompFdDone"
	syncError         syncType = "error"
)

// syncMsg is one JSON message of the protocol above.
type syncMsg struct {
	Type  syncType    `json:"type"`
	Stage string      `json:"stage,omitempty"`
	Err   string      `json:"error,omitempty"`
	Init  *initConfig `json:"init,omitempty"`
	// Fd is the listener fd's number in the child, for seccompFd.
	Fd int `json:"fd,omitempty"`
}

// initMode says whether the child sets up a new container or joins one.
type initMode string

const (
	modeInit initMode = "init" // a new container: rootfs, hostname, ...
	modeExec initMode = "exec" // a process joining a running container
)

// initConfig is everything the child needs that is not a number in the
// bootstrap.
type initConfig struct {
	Mode    initMode         `json:"mode"`
	ID      string           `json:"id"`
	Config  *configs.Config  `json:"config"`
	Process *configs.Process `json:"process"`
	// HookState is the state JSON given to createContainer hooks on
	// stdin (its pid is the child's host pid).
	HookState []byte `json:"hookState,omitempty"`
	// Program is the final program in its wire form, for the Go
	// executor (the C one gets it on the socket before this config).
	Program []byte `json:"program,omitempty"`
}

// stageError is an error the child reported, with the stage it failed in.
type stageError struct {
	Stage string
	Err   string
	// cause is the error behind Err, when it happened in this process.
	cause error
}

func (e *stageError) Unwrap() error { return e.cause }

func (e *stageError) Error() string {
	if e.Stage == "" {
		return e.Err
	}
	return fmt.Sprintf("%s: %s", e.Stage, e.Err)
}

type syncPipe struct {
	enc *json.Encoder
	dec *json.Decoder
}

func (p *syncPipe) send(m syncMsg) error { return p.enc.Encode(&m) }

func (p *syncPipe) recv() (syncMsg, error) {
	var m syncMsg
	err := p.dec.Decode(&m)
	return m, err
}

// The bootstrap.
//
// Everything the child needs before it can read the sync socket is a
// number: the fds the parent placed for it (exec.Cmd's ExtraFiles, from 3
// on) and a few flags. They travel in one environment variable,
// envBootstrap, as space-separated name=value tokens with a decimal value:
//
//	_HULL_INIT=sync=4 fds=6 preserve=1 fifo=5 errfifo=6 ns_net=7 flags=1 mnt=2:8
//
// Why this format and not JSON or runc's netlink message: the C constructor
// of libct/nsenter must parse it before the Go runtime exists, without
// allocating, and a mistake there runs with all of hull's privileges. Name
// and value are split at the first '=', the value is digits only, and the
// C side looks the name up in a table of the fields it needs and skips the
// rest: about twenty lines, no escaping, no lengths to trust. No string
// ever travels here (namespaces to join are fds the parent opened, never
// paths), so there is nothing to quote. The one list (mount sources) is a
// repeated name whose value only Go reads.
//
//	| name       | read by | meaning                                                 |
//	|------------|---------|---------------------------------------------------------|
//	| sync       | C, Go   | the child's end of the sync socketpair                  |
//	| fds        | C, Go   | fds 3..3+fds-1 are the parent's; the constructor closes |
//	|            |         | every fd above them (inherited by hull, never passed)   |
//	| preserve   | C, Go   | fds 3..3+preserve-1 are the process's (--preserve-fds,  |
//	|            |         | LISTEN_FDS) and stay open across execve                 |
//	| fifo       | C, Go   | read end of exec.fifo (init only)                       |
//	| errfifo    | C, Go   | write end of err.fifo (init only)                       |
//	| console    | C, Go   | socket that receives the pty master                     |
//	| usernswait | C, Go   | pipe: wait for newuidmap/newgidmap before going on      |
//	| ns_<type>  | C       | a namespace to setns into (user first, pid last; types  |
//	|            |         | in nsOrder)                                             |
//	| pidfd      | C       | a pidfd of the container's init: setns(pidfd, pidfd_ns) |
//	|            |         | joins all its namespaces in one call (exec, Linux 5.8+) |
//	| pidfd_ns   | C       | the CLONE_NEW* flags for that setns                     |
//	| clone      | C       | CLONE_NEW* flags of the process cloned after ns_pid     |
//	| cgtasks    | C       | first of cgtasks_n fds: cgroup v1 "tasks" files, open   |
//	| cgtasks_n  | C       | for writing; the constructor writes "0" to each (exec)  |
//	| flags      | C, Go   | bootFlag bits                                           |
//	| mnt        | Go      | "index:fd": detached tree for config mount #index       |
//
// An fd of 0 means "none" (the parent never places one of these below 3).
const envBootstrap = "_HULL_INIT"

// bootstrap is the decoded envBootstrap. See the table above.
type bootstrap struct {
	Sync int
	// Fds is how many fds the parent placed from 3 on; every other fd the
	// child inherited is closed by the constructor (CVE-2024-21626).
	Fds        int
	Preserve   int
	Fifo       int
	ErrFifo    int
	Console    int
	UserNSWait int
	// NS holds, by nsOrder index, the fd of each namespace to join.
	NS [len(nsOrder)]int
	// Pidfd is a pidfd of the container's init whose namespaces (PidfdNS,
	// CLONE_NEW* flags) the constructor joins with one setns; used
	// instead of NS when the kernel has it.
	Pidfd, PidfdNS int
	// Clone is the CLONE_NEW* flags of the process the constructor
	// clones after joining a pid namespace (the namespaces it creates).
	Clone int
	// CgTasks is the first of CgTasksN consecutive fds, each a cgroup
	// v1 "tasks" file open for writing, into which the constructor
	// writes "0" before the gate (exec; see bootGate).
	CgTasks, CgTasksN int
	Flags             bootFlag
	// MountSources maps a config mount index to its detached tree's fd.
	MountSources map[int]int
}

// bootFlag is a bit of bootstrap.Flags.
type bootFlag int

const (
	// bootNewIPC: unshare the IPC namespace once root of the new user
	// namespace (see deferIPC).
	bootNewIPC bootFlag = 1 << iota
	// bootDumpable: stay dumpable until the id maps are written, because
	// a process outside the child opens /proc/<pid> (newuidmap checks its
	// owner; a non-root parent writes uid_map). Otherwise the constructor
	// makes the child non-dumpable before anything else (CVE-2016-9962).
	bootDumpable
	// bootProgram: after its report, the constructor reads the final
	// program from the sync socket and runs it in C (final.c): the Go
	// runtime never starts in the process, but in the helpers the
	// program's setup and ready steps fork (doc.go).
	bootProgram
	// bootGate (exec): once it joined the namespaces, the constructor
	// reads gateByte from the sync socket before it forks into the pid
	// namespace, reports or runs anything else. The parent writes the
	// started child's pid into the container's cgroups meanwhile (the
	// slow part of an exec on cgroup v1: the first write waits for an RCU
	// grace period) and sends the byte only once that succeeded: the
	// process that goes on is forked after it and inherits the cgroups,
	// so nothing of the container -- no step of the final program, no
	// execve -- runs outside them (nsenter.c; TestConstructorGate,
	// TestExecCgroupFromTheStart).
	bootGate
)

// gateByte is the byte of bootGate; any other is refused (bootGateStep).
const gateByte = 'g'

// nsOrder is the order in which the constructor joins namespaces: the
// user namespace first (it grants the capabilities the others need when
// they belong to it), the pid namespace last (setns(CLONE_NEWPID) only
// moves the children, so the constructor forks right after it). The C
// table in libct/nsenter/nsenter.c lists the same names in the same order.
var nsOrder = [...]configs.NamespaceType{
	configs.NEWUSER, configs.NEWNS, configs.NEWNET, configs.NEWIPC,
	configs.NEWUTS, configs.NEWCGROUP, configs.NEWTIME, configs.NEWPID,
}

// nsIndex returns t's index in nsOrder.
func nsIndex(t configs.NamespaceType) int {
	for i, o := range nsOrder {
		if o == t {
			return i
		}
	}
	return -1
}

// bootInt is one integer field of the bootstrap, by name.
type bootInt struct {
	name string
	v    *int
}

// ints returns the bootstrap's integer fields, in encoding order.
func (b *bootstrap) ints() []bootInt {
	out := []bootInt{
		{"sync", &b.Sync}, {"fds", &b.Fds}, {"preserve", &b.Preserve}, {"fifo", &b.Fifo},
		{"errfifo", &b.ErrFifo}, {"console", &b.Console}, {"usernswait", &b.UserNSWait},
	}
	for i, t := range nsOrder {
		out = append(out, bootInt{"ns_" + string(t), &b.NS[i]})
	}
	return append(out, bootInt{"pidfd", &b.Pidfd}, bootInt{"pidfd_ns", &b.PidfdNS},
		bootInt{"clone", &b.Clone}, bootInt{"cgtasks", &b.CgTasks}, bootInt{"cgtasks_n", &b.CgTasksN},
		bootInt{"flags", (*int)(&b.Flags)})
}

// encode returns the value of envBootstrap. Zero fields are left out.
func (b *bootstrap) encode() string {
	var s []byte
	add := func(name, val string) {
		if len(s) > 0 {
			s = append(s, ' ')
		}
		s = append(append(append(s, name...), '='), val...)
	}
	for _, f := range b.ints() {
		if *f.v != 0 {
			add(f.name, strconv.Itoa(*f.v))
		}
	}
	idx := make([]int, 0, len(b.MountSources))
	for i := range b.MountSources {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		add("mnt", strconv.Itoa(i)+":"+strconv.Itoa(b.MountSources[i]))
	}
	return string(s)
}

// decodeBootstrap parses envBootstrap's value. Unlike the C side, which
// skips what it does not read, it refuses any name it does not know: the
// same binary wrote it.
func decodeBootstrap(s string) (*bootstrap, error) {
	b := &bootstrap{}
	ints := map[string]*int{}
	for _, f := range b.ints() {
		ints[f.name] = f.v
	}
	num := func(v string) (int, bool) {
		if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	for _, tok := range strings.Split(s, " ") {
		name, val, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, fmt.Errorf("bootstrap: %q is not name=value", tok)
		}
		if name == "mnt" {
			is, fs, _ := strings.Cut(val, ":")
			i, ok1 := num(is)
			fd, ok2 := num(fs)
			if !ok1 || !ok2 || fd < 3 {
				return nil, fmt.Errorf("bootstrap: bad mount source %q", val)
			}
			if b.MountSources == nil {
				b.MountSources = map[int]int{}
			}
			b.MountSources[i] = fd
			continue
		}
		p, known := ints[name]
		if !known {
			return nil, fmt.Errorf("bootstrap: unknown field %q", name)
		}
		n, ok := num(val)
		if !ok {
			return nil, fmt.Errorf("bootstrap: %s=%q is not a number", name, val)
		}
		*p = n
	}
	if b.Sync < 3 {
		return nil, fmt.Errorf("bootstrap: no sync fd in %q", s)
	}
	// Every fd named must be one the parent placed (the others are gone).
	end := 3 + b.Fds
	fds := []int{b.Sync, b.Fifo, b.ErrFifo, b.Console, b.UserNSWait, b.Pidfd}
	if b.CgTasksN < 0 || b.CgTasksN > b.Fds || (b.CgTasksN > 0) != (b.CgTasks != 0) {
		return nil, fmt.Errorf("bootstrap: %d cgroup tasks files from fd %d", b.CgTasksN, b.CgTasks)
	}
	for i := 0; i < b.CgTasksN; i++ {
		fds = append(fds, b.CgTasks+i)
	}
	for _, fd := range b.MountSources {
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		if fd != 0 && (fd < 3 || fd >= end) {
			return nil, fmt.Errorf("bootstrap: fd %d is not one of the %d passed", fd, b.Fds)
		}
	}
	if b.Preserve < 0 || 3+b.Preserve > end {
		return nil, fmt.Errorf("bootstrap: %d preserved fds of %d passed", b.Preserve, b.Fds)
	}
	for _, fd := range fds {
		if fd != 0 && fd < 3+b.Preserve {
			return nil, fmt.Errorf("bootstrap: fd %d is one of the %d preserved for the process", fd, b.Preserve)
		}
	}
	return b, nil
}

// The constructor's report.
//
// The C constructor always writes exactly one bootReport on the sync
// socket before anything else, in native byte order: it is the first
// thing the parent reads. On success Step is bootOK and Pid is 0, or,
// when the constructor joined a pid namespace and forked (setns only
// moves the children), the host pid of the process it forked: that
// process is the parent's child (CLONE_PARENT) and goes on with the
// protocol, while the one that wrote the report exits 0. On failure Step
// and NS say what failed and Errno why; the constructor exits 1. Nothing
// but numbers: the Go side turns them into the error text.
type bootReport struct {
	Magic uint32
	Pid   int32
	Errno int32
	Step  bootStep
	NS    uint16 // nsOrder index, for bootJoin
}

// bootMagic starts every report ("HULL" on a little-endian host): a
// child that dies before the constructor (or a binary without it) can
// never be taken for one that reported.
const bootMagic = 0x4c4c5548

// bootReportSize is the report's size on the wire.
const bootReportSize = 16

// bootStep is the constructor's step that a report names.
type bootStep uint16

// The constructor's steps, in the order it runs them; nsenter.c's enum
// has the same values.
const (
	bootOK          bootStep = iota // all done
	bootParse                       // read envBootstrap
	bootNotDumpable                 // prctl(PR_SET_DUMPABLE, 0)
	bootJoin                        // setns(NS[i]) (NS says which)
	bootFork                        // clone(CLONE_PARENT|clone) into the joined pid namespace
	bootRoot                        // setresgid/setresuid 0 in the joined user namespace
	bootCloseFds                    // close_range(3+fds, ~0, 0)
	bootJoinPidfd                   // setns(pidfd, pidfd_ns)
	bootGateStep                    // read gateByte (bootGate)
	bootCgroup                      // write "0" to cgroup tasks file #NS (CgTasks)
)

// bootStepNames are the steps as nsenter.c's enum names them.
var bootStepNames = []string{"STEP_OK", "STEP_PARSE", "STEP_DUMPABLE", "STEP_JOIN", "STEP_FORK", "STEP_ROOT", "STEP_CLOSE_FDS", "STEP_JOIN_PIDFD", "STEP_GATE", "STEP_CGROUP"}

// readBootReport reads the constructor's report from the sync socket.
func readBootReport(r io.Reader) (bootReport, error) {
	var buf [bootReportSize]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return bootReport{}, err
	}
	e := binary.NativeEndian
	rep := bootReport{
		Magic: e.Uint32(buf[0:]),
		Pid:   int32(e.Uint32(buf[4:])),
		Errno: int32(e.Uint32(buf[8:])),
		Step:  bootStep(e.Uint16(buf[12:])),
		NS:    e.Uint16(buf[14:]),
	}
	if rep.Magic != bootMagic {
		return rep, fmt.Errorf("the child sent %#x instead of its constructor's report", rep.Magic)
	}
	return rep, nil
}

// err returns the failure the report describes, or nil.
func (r bootReport) err() error {
	if r.Step == bootOK {
		if r.Pid < 0 {
			return fmt.Errorf("nsenter: bad pid %d in the report", r.Pid)
		}
		return nil
	}
	what := map[bootStep]string{
		bootParse:       "read the bootstrap",
		bootNotDumpable: "set not dumpable",
		bootFork:        "fork into the pid namespace",
		bootRoot:        "become uid and gid 0 of the joined user namespace",
		bootCloseFds:    "close the fds hull did not pass",
		bootJoinPidfd:   "join the namespaces of the container's init (setns on its pidfd)",
		bootGateStep:    "wait for the parent to place it in its cgroup",
		bootCgroup:      "join the container's cgroup (write 0 to a tasks file)",
	}[r.Step]
	if r.Step == bootJoin {
		what = "join a namespace"
		if int(r.NS) < len(nsOrder) {
			what = "join " + string(nsOrder[r.NS]) + " namespace"
		}
	}
	if what == "" {
		what = fmt.Sprintf("step %d", r.Step)
	}
	return &stageError{Stage: "nsenter", Err: fmt.Sprintf("%s: %s", what, syscall.Errno(r.Errno))}
}
