package libct

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
)

// The final-stage program on the wire (doc.go, "The final-stage program
// in C", is the contract): the parent encodes the program that
// finalProgram built; the nsenter constructor runs it in C, or Init
// decodes it and runs it in Go (runProgram). Native byte order.

const (
	progMagic     = 0x31504648 // "HFP1"
	reportMagic   = 0x31524648 // "HFR1"
	progMaxSteps  = 256
	progMaxBytes  = 4 << 20
	progHeader    = 16
	progRecord    = 32
	reportSize    = 16
	schedAttrSize = 56 // struct sched_attr with the utilization clamps
	cpuMaskSize   = int(unsafe.Sizeof(unix.CPUSet{}))
)

// shape is what a step of one op carries on the wire: how many ids and
// strings, and how long a payload (min and max of each).
type shape struct {
	ids, strs, payload [2]int
}

// shapes are the operands of each op; nsenter's final.c has the same
// table, and both refuse a step that does not fit it.
var shapes = [opCount]shape{
	opWriteProc:    {strs: [2]int{2, 2}},
	opScheduler:    {payload: [2]int{schedAttrSize, schedAttrSize}},
	opIOPriority:   {},
	opCPUAffinity:  {payload: [2]int{0, cpuMaskSize}},
	opApparmor:     {strs: [2]int{2, 2}},
	opSelinux:      {strs: [2]int{2, 2}},
	opNoNewPrivs:   {},
	opSeccomp:      {payload: [2]int{8, 8 * 4096}},
	opDropBounding: {},
	opSetgroups:    {payload: [2]int{0, 4 * 65536}},
	opSetresgid:    {},
	opKeepCaps:     {},
	opSetresuid:    {},
	opCapset:       {ids: [2]int{2, 2}},
	opAmbient:      {},
	opUmask:        {},
	opDefaultHome:  {},
	opChdir:        {strs: [2]int{1, 1}},
	opCloseFds:     {},
	opResolve:      {},
	opReady:        {strs: [2]int{0, 1}},
	opLandlock:     {ids: [2]int{4, 65535}, strs: [2]int{0, 65535}},
	opRlimit:       {ids: [2]int{2, 2}, strs: [2]int{1, 1}},
	opExecve:       {strs: [2]int{1, 65535}},
	opMemoryPolicy: {payload: [2]int{0, 1024}},
	opConsole:      {ids: [2]int{0, 2}},
	opUnshare:      {},
	opKeyring:      {strs: [2]int{1, 1}},
	opPersonality:  {},
	opSetup:        {},
}

// apparmorExecAttr is the file of /proc that takes an AppArmor exec
// profile on this kernel: its own directory from Linux 5.1 on, as
// apparmor.ApplyProfile picks it.
func apparmorExecAttr() string {
	if _, err := os.Stat("/proc/self/attr/apparmor"); err == nil {
		return "thread-self/attr/apparmor/exec"
	}
	return "thread-self/attr/exec"
}

// wireStep is a step in its wire form.
type wireStep struct {
	op        opCode
	num, num2 uint64
	ids       []uint64
	payload   []byte
	strs      []string
}

// wire turns a step into its wire form. landlockABI is the running
// kernel's Landlock ABI: the ruleset travels reduced to it (Compat).
func (s step) wire(landlockABI int) (wireStep, error) {
	w := wireStep{op: s.op, num: s.num, num2: s.num2, ids: s.ids}
	switch s.op {
	case opWriteProc:
		w.strs = []string{s.str, s.data}
	case opApparmor:
		w.strs = []string{apparmorExecAttr(), "exec " + s.str}
	case opSelinux:
		w.strs = []string{"thread-self/attr/exec", s.str}
	case opChdir, opKeyring:
		w.strs = []string{s.str}
	case opRlimit:
		w.strs = []string{rlimitName(int(s.num))}
	case opSetgroups:
		w.num, w.ids = uint64(len(s.ids)), nil
		for _, g := range s.ids {
			w.payload = binary.NativeEndian.AppendUint32(w.payload, uint32(g))
		}
		for len(w.payload)%8 != 0 {
			w.payload = append(w.payload, 0)
		}
	case opReady:
		if s.str != "" {
			w.strs = []string{s.str}
		}
	case opScheduler:
		w.payload = binary.NativeEndian.AppendUint32(nil, schedAttrSize)
		a := s.sched
		w.payload = binary.NativeEndian.AppendUint32(w.payload, a.Policy)
		w.payload = binary.NativeEndian.AppendUint64(w.payload, a.Flags)
		w.payload = binary.NativeEndian.AppendUint32(w.payload, uint32(a.Nice))
		w.payload = binary.NativeEndian.AppendUint32(w.payload, a.Priority)
		for _, v := range []uint64{a.Runtime, a.Deadline, a.Period} {
			w.payload = binary.NativeEndian.AppendUint64(w.payload, v)
		}
		w.payload = binary.NativeEndian.AppendUint32(w.payload, a.Util_min)
		w.payload = binary.NativeEndian.AppendUint32(w.payload, a.Util_max)
	case opCPUAffinity:
		if s.cpus != nil {
			w.payload = unsafe.Slice((*byte)(unsafe.Pointer(s.cpus)), cpuMaskSize)
		}
	case opSeccomp:
		w.payload = s.bpf
	case opMemoryPolicy:
		for _, n := range s.nodes {
			w.payload = binary.NativeEndian.AppendUint64(w.payload, n)
		}
	case opExecve:
		w.num = uint64(len(s.args))
		w.strs = append(append([]string{}, s.args...), s.env...)
	case opLandlock:
		eff, _, err := landlock.Compat(s.landlock, landlockABI)
		if err != nil {
			return w, err
		}
		w.num, w.num2, w.ids, w.strs = landlockWire(eff)
	}
	return w, nil
}

// landlockWire flattens a ruleset (already reduced to the kernel's ABI)
// into the landlock step's operands: the handled rights, then ids
// [disableBestEffort, the rights a rule on a non-directory keeps, paths,
// ports], one [access, rule, index] per path (the strings, in order) and
// one [access, port, rule, index] per port, skipping rules with nothing
// to allow. A nil ruleset is nothing to enforce: num and num2 are 0.
func landlockWire(l *configs.Landlock) (fs, net uint64, ids []uint64, paths []string) {
	ids = []uint64{0, landlock.FileRights, 0, 0}
	if l == nil {
		return 0, 0, ids, nil
	}
	if l.DisableBestEffort {
		ids[0] = 1
	}
	for i, r := range l.PathBeneath {
		for j, p := range r.Paths {
			if r.AllowedAccess != 0 {
				ids = append(ids, r.AllowedAccess, uint64(i), uint64(j))
				paths = append(paths, p)
			}
		}
	}
	for i, r := range l.NetPort {
		for j, p := range r.Ports {
			if r.AllowedAccess != 0 {
				ids = append(ids, r.AllowedAccess, uint64(p), uint64(i), uint64(j))
				ids[3]++
			}
		}
	}
	ids[2] = uint64(len(paths))
	return l.HandledAccessFS, l.HandledAccessNet, ids, paths
}

// encodeProgram is the wire form of prog.
func encodeProgram(prog []step, landlockABI int) ([]byte, error) {
	if len(prog) == 0 || len(prog) > progMaxSteps {
		return nil, fmt.Errorf("final program: %d steps (1 to %d)", len(prog), progMaxSteps)
	}
	e := binary.NativeEndian
	b := make([]byte, progHeader, 1024)
	e.PutUint32(b, progMagic)
	e.PutUint32(b[4:], uint32(len(prog)))
	pad := func() {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	for _, s := range prog {
		w, err := s.wire(landlockABI)
		if err != nil {
			return nil, err
		}
		if err := shapes[w.op].check(len(w.ids), len(w.strs), len(w.payload)); err != nil {
			return nil, fmt.Errorf("final program: %v: %w", s, err)
		}
		b = e.AppendUint16(b, uint16(w.op))
		b = e.AppendUint16(b, uint16(len(w.ids)))
		b = e.AppendUint16(b, uint16(len(w.strs)))
		b = e.AppendUint16(b, 0)
		b = e.AppendUint32(b, uint32(len(w.payload)))
		b = e.AppendUint32(b, 0)
		b = e.AppendUint64(b, w.num)
		b = e.AppendUint64(b, w.num2)
		for _, id := range w.ids {
			b = e.AppendUint64(b, id)
		}
		b = append(b, w.payload...)
		pad()
		for _, str := range w.strs {
			for i := 0; i < len(str); i++ {
				if str[i] == 0 {
					return nil, fmt.Errorf("final program: %v: string %q holds a NUL", s, str)
				}
			}
			b = e.AppendUint32(b, uint32(len(str)))
			b = append(append(b, str...), 0)
			pad()
		}
	}
	if len(b) > progMaxBytes {
		return nil, fmt.Errorf("final program: %d bytes, more than %d", len(b), progMaxBytes)
	}
	e.PutUint32(b[8:], uint32(len(b)))
	return b, nil
}

func (sh shape) check(ids, strs, payload int) error {
	if ids < sh.ids[0] || ids > sh.ids[1] || strs < sh.strs[0] || strs > sh.strs[1] ||
		payload < sh.payload[0] || payload > sh.payload[1] || payload%8 != 0 {
		return fmt.Errorf("operands (%d ids, %d strings, %d bytes) do not fit the step", ids, strs, payload)
	}
	return nil
}

// errMalformed is a program that does not follow the wire format.
var errMalformed = errors.New("malformed final program")

// decodeProgram reads a program in its wire form, refusing what the C
// side refuses (the same checks, in Go).
func decodeProgram(b []byte) ([]step, error) {
	e := binary.NativeEndian
	bad := func(off int, what string) error { return fmt.Errorf("%w at byte %d: %s", errMalformed, off, what) }
	if len(b) < progHeader || e.Uint32(b) != progMagic {
		return nil, bad(0, "no HFP1 header")
	}
	n, total := int(e.Uint32(b[4:])), int(e.Uint32(b[8:]))
	if total != len(b) || total > progMaxBytes || n < 1 || n > progMaxSteps || e.Uint32(b[12:]) != 0 {
		return nil, bad(4, "bad step count or length")
	}
	off := progHeader
	var prog []step
	for i := 0; i < n; i++ {
		if len(b)-off < progRecord {
			return nil, bad(off, "truncated step")
		}
		r := b[off:]
		w := wireStep{op: opCode(e.Uint16(r)), num: e.Uint64(r[16:]), num2: e.Uint64(r[24:])}
		nids, nstrs, plen := int(e.Uint16(r[2:])), int(e.Uint16(r[4:])), int(e.Uint32(r[8:]))
		if w.op == 0 || w.op >= opCount || e.Uint16(r[6:]) != 0 || e.Uint32(r[12:]) != 0 {
			return nil, bad(off, "unknown step")
		}
		if err := shapes[w.op].check(nids, nstrs, plen); err != nil {
			return nil, bad(off, err.Error())
		}
		off += progRecord
		if (len(b)-off)/8 < nids {
			return nil, bad(off, "truncated ids")
		}
		for k := 0; k < nids; k++ {
			w.ids = append(w.ids, e.Uint64(b[off:]))
			off += 8
		}
		if len(b)-off < (plen+7)&^7 {
			return nil, bad(off, "truncated payload")
		}
		w.payload = b[off : off+plen]
		off += (plen + 7) &^ 7
		for k := 0; k < nstrs; k++ {
			if len(b)-off < 4 {
				return nil, bad(off, "truncated string")
			}
			sl := int(e.Uint32(b[off:]))
			off += 4
			if sl >= len(b)-off || b[off+sl] != 0 {
				return nil, bad(off, "string without its NUL")
			}
			str := string(b[off : off+sl])
			for c := 0; c < sl; c++ {
				if str[c] == 0 {
					return nil, bad(off, "NUL inside a string")
				}
			}
			w.strs = append(w.strs, str)
			off = (off + sl + 1 + 7) &^ 7
			if off > len(b) {
				return nil, bad(off, "truncated string padding")
			}
		}
		s, err := w.step()
		if err != nil {
			return nil, bad(off, err.Error())
		}
		prog = append(prog, s)
	}
	if off != len(b) {
		return nil, bad(off, "bytes after the last step")
	}
	if prog[n-1].op != opExecve || index(prog, opExecve) != n-1 {
		return nil, bad(off, "execve is not the last step, once")
	}
	return prog, nil
}

// step turns a wire step back into a step.
func (w wireStep) step() (step, error) {
	s := step{op: w.op, num: w.num, num2: w.num2, ids: w.ids}
	e := binary.NativeEndian
	switch w.op {
	case opWriteProc:
		s.str, s.data = w.strs[0], w.strs[1]
	case opApparmor:
		s.str = strings.TrimPrefix(w.strs[1], "exec ")
	case opSelinux:
		s.str = w.strs[1]
	case opChdir, opKeyring:
		s.str = w.strs[0]
	case opSetgroups:
		if w.num > uint64(len(w.payload)/4) {
			return s, errors.New("setgroups: more groups than bytes")
		}
		s.num, s.ids = 0, []uint64{}
		for k := uint64(0); k < w.num; k++ {
			s.ids = append(s.ids, uint64(e.Uint32(w.payload[4*k:])))
		}
	case opReady:
		if len(w.strs) == 1 {
			s.str = w.strs[0]
		}
	case opScheduler:
		p := w.payload
		s.sched = &unix.SchedAttr{Size: e.Uint32(p), Policy: e.Uint32(p[4:]), Flags: e.Uint64(p[8:]),
			Nice: int32(e.Uint32(p[16:])), Priority: e.Uint32(p[20:]), Runtime: e.Uint64(p[24:]),
			Deadline: e.Uint64(p[32:]), Period: e.Uint64(p[40:]), Util_min: e.Uint32(p[48:]), Util_max: e.Uint32(p[52:])}
	case opCPUAffinity:
		if len(w.payload) != 0 {
			if len(w.payload) != cpuMaskSize {
				return s, errors.New("cpu mask of another size")
			}
			s.cpus = new(unix.CPUSet)
			copy(unsafe.Slice((*byte)(unsafe.Pointer(s.cpus)), cpuMaskSize), w.payload)
		}
	case opSeccomp:
		s.bpf = w.payload
	case opMemoryPolicy:
		for k := 0; k+8 <= len(w.payload); k += 8 {
			s.nodes = append(s.nodes, e.Uint64(w.payload[k:]))
		}
	case opExecve:
		if w.num < 1 || w.num > uint64(len(w.strs)) {
			return s, errors.New("execve without args")
		}
		s.args, s.env, s.num = w.strs[:w.num], w.strs[w.num:], 0
		if len(s.env) == 0 {
			s.env = nil
		}
	case opLandlock:
		l, err := landlockFromWire(w)
		if err != nil {
			return s, err
		}
		s.landlock, s.num, s.num2, s.ids = l, 0, 0, nil
	}
	return s, nil
}

// landlockFromWire undoes landlockWire, keeping the rules' indexes.
func landlockFromWire(w wireStep) (*configs.Landlock, error) {
	ids := w.ids
	np, nn := ids[2], ids[3]
	if uint64(len(ids)) != 4+3*np+4*nn || uint64(len(w.strs)) != np {
		return nil, errors.New("landlock operands do not add up")
	}
	if w.num == 0 && w.num2 == 0 {
		return nil, nil
	}
	l := &configs.Landlock{HandledAccessFS: w.num, HandledAccessNet: w.num2, DisableBestEffort: ids[0] == 1}
	at := func(n, max uint64) (int, error) {
		if n >= max {
			return 0, errors.New("landlock rule index out of range")
		}
		return int(n), nil
	}
	for k := uint64(0); k < np; k++ {
		e := ids[4+3*k:]
		i, err := at(e[1], 1<<16)
		if err != nil {
			return nil, err
		}
		for len(l.PathBeneath) <= i {
			l.PathBeneath = append(l.PathBeneath, configs.LandlockPathBeneath{})
		}
		r := &l.PathBeneath[i]
		r.AllowedAccess = e[0]
		if e[2] != uint64(len(r.Paths)) {
			return nil, errors.New("landlock paths out of order")
		}
		r.Paths = append(r.Paths, w.strs[k])
	}
	for k := uint64(0); k < nn; k++ {
		e := ids[4+3*np+4*k:]
		i, err := at(e[2], 1<<16)
		if err != nil {
			return nil, err
		}
		for len(l.NetPort) <= i {
			l.NetPort = append(l.NetPort, configs.LandlockNetPort{})
		}
		r := &l.NetPort[i]
		r.AllowedAccess = e[0]
		if e[3] != uint64(len(r.Ports)) || e[1] > 0xffff {
			return nil, errors.New("landlock ports out of order")
		}
		r.Ports = append(r.Ports, uint16(e[1]))
	}
	return l, nil
}

// The C executor's reports.
//
// Once it runs a program, the constructor writes fixed-size reports on
// the sync socket (doc.go): ready, a NOTIFY listener to take (the parent
// answers one byte), the step that failed, or a program it refused.
type reportKind uint16

const (
	reportReady    reportKind = 1
	reportListener reportKind = 2
	reportFailed   reportKind = 3
	reportRefused  reportKind = 4
	// reportHelper comes from the setup helper of a new container's C
	// init, forked before the program arrives: its credentials
	// (SCM_CREDENTIALS) name it, for the parent to put it in the cgroup.
	reportHelper reportKind = 5
)

// progReport is one report of the C executor.
type progReport struct {
	Kind  reportKind
	Step  uint16
	Errno syscall.Errno
	// Value is the listener's fd, or what failed inside the step
	// (final.c's detail codes, see describe).
	Value int32
}

// recvFrame reads one 16-byte frame (a bootReport or a progReport) from
// sock, with its sender's pid as the kernel gives it (in our pid
// namespace) when SO_PASSCRED is set, else 0.
func recvFrame(sock *os.File) ([]byte, int, error) {
	buf, oob := make([]byte, reportSize), make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	got, pid := 0, 0
	for got < reportSize {
		n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf[got:], oob, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			if got == 0 {
				return nil, 0, io.EOF
			}
			return nil, 0, io.ErrUnexpectedEOF
		}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
			if cred, err := unix.ParseUnixCredentials(&msgs[0]); err == nil {
				pid = int(cred.Pid)
			}
		}
		got += n
	}
	return buf, pid, nil
}

// readProgReport reads one report.
func readProgReport(r io.Reader) (progReport, error) {
	var buf [reportSize]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return progReport{}, err
	}
	e := binary.NativeEndian
	if e.Uint32(buf[:]) != reportMagic {
		return progReport{}, fmt.Errorf("the child sent %#x instead of a report", e.Uint32(buf[:]))
	}
	return progReport{Kind: reportKind(e.Uint16(buf[4:])), Step: e.Uint16(buf[6:]),
		Errno: syscall.Errno(e.Uint32(buf[8:])), Value: int32(e.Uint32(buf[12:]))}, nil
}

// Detail codes of final.c (progReport.Value of a failed step) for the
// steps made of several calls.
const (
	detailChdir   = 0 // chdir failed
	detailGetcwd  = 1 // getcwd after chdir: ENOENT means outside the root
	detailNotProc = 1 // writeProc: /proc or the file is not on procfs
)

// consoleCalls name the calls of the console step, by final.c's detail code.
var consoleCalls = []string{"open /dev/pts/ptmx", "/dev/pts/ptmx is not the pty multiplexer", "unlock pty",
	"get pty number", "open pty slave", "set console size", "chown pty slave",
	"send pty master over console socket", "dup pty slave to stdio", "setsid", "set controlling terminal"}

// describe is the error of a step the C executor reports as failed, in
// the words the Go executor uses for the same failure.
func describe(prog []step, rep progReport) error {
	if int(rep.Step) >= len(prog) {
		return fmt.Errorf("the constructor reports step %d of a %d-step program failed: %w", rep.Step, len(prog), rep.Errno)
	}
	s, errno, v := prog[rep.Step], rep.Errno, int(rep.Value)
	var err error
	switch s.op {
	case opWriteProc:
		err = fmt.Errorf("write /proc/%s: %w", s.str, errno)
		if v == detailNotProc {
			err = fmt.Errorf("/proc/%s is not on procfs", s.str)
		}
	case opScheduler:
		err = fmt.Errorf("sched_setattr policy %d: %w", s.sched.Policy, errno)
	case opIOPriority:
		err = fmt.Errorf("ioprio_set %#x: %w", s.num, errno)
	case opCPUAffinity:
		err = fmt.Errorf("sched_setaffinity: %w", errno)
	case opApparmor:
		err = fmt.Errorf("apparmor profile %q: %w", s.str, errno)
	case opSelinux:
		err = fmt.Errorf("set exec label %q: %w", s.str, errno)
	case opSeccomp:
		err = fmt.Errorf("load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
		if errno == unix.EACCES {
			err = fmt.Errorf("%w (needs no_new_privs or CAP_SYS_ADMIN)", err)
		}
	case opDropBounding:
		err = fmt.Errorf("drop %s from the bounding set: %w", capabilities.Name(v), errno)
	case opSetgroups:
		err = fmt.Errorf("setgroups %v: %w", s.ids, errno)
	case opSetresgid:
		err = fmt.Errorf("setresgid %d: %w", s.num, errno)
	case opSetresuid:
		err = fmt.Errorf("setresuid %d: %w", s.num, errno)
	case opKeepCaps:
		err = fmt.Errorf("prctl PR_SET_KEEPCAPS %d: %w", s.num, errno)
	case opCapset:
		err = fmt.Errorf("capset effective=%#x permitted=%#x inheritable=%#x: %w", s.num, s.ids[0], s.ids[1], errno)
	case opAmbient:
		err = fmt.Errorf("raise ambient capability %s: %w", capabilities.Name(v), errno)
	case opChdir:
		switch {
		case v == detailChdir:
			err = fmt.Errorf("chdir %s: %w", s.str, errno)
		case errno == unix.ENOENT:
			err = fmt.Errorf("cwd %s resolves outside the container root", s.str)
		default:
			err = fmt.Errorf("getcwd after chdir %s: %w", s.str, errno)
		}
	case opCloseFds:
		err = fmt.Errorf("close fd %d: %w", v, errno)
		if errno == unix.EISDIR {
			err = fmt.Errorf("fd %d that init keeps until execve is a directory", v)
		}
	case opResolve:
		args := prog[len(prog)-1].args
		err = fmt.Errorf("exec %q: %w", args[0], errno)
		if v == 1 {
			err = fmt.Errorf("exec %q: executable file not found in $PATH", args[0])
		}
	case opRlimit:
		err = fmt.Errorf("setrlimit %s: %w", rlimitName(int(s.num)), errno)
	case opMemoryPolicy:
		err = fmt.Errorf("set_mempolicy mode %#x: %w", s.num, errno)
	case opConsole:
		what := "console"
		if v >= 0 && v < len(consoleCalls) {
			what = consoleCalls[v]
		}
		err = fmt.Errorf("%s: %w", what, errno)
	case opUnshare:
		err = fmt.Errorf("unshare %#x: %w", s.num, errno)
	case opKeyring:
		err = fmt.Errorf("join session keyring %s: %w", s.str, errno)
	case opPersonality:
		err = fmt.Errorf("personality %#x: %w", s.num, errno)
	case opSetup:
		err = fmt.Errorf("the setup helper %s", waitString(syscall.WaitStatus(v)))
		if errno != 0 {
			err = fmt.Errorf("start the setup helper: %w", errno)
		}
	default:
		err = fmt.Errorf("%s: %w", s.op, errno)
	}
	fe := failed(int(rep.Step), s, err)
	fe.errno = errno
	return fe
}

// waitString says how a process with wait status ws ended.
func waitString(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("ended with wait status %#x", int(ws))
}
