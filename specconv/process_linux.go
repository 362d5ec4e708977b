package specconv

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
)

// ConvertProcess validates and converts a process: config.json's process
// (name "process") or an exec's process.json (name "" gives field names
// relative to the process object).
func ConvertProcess(name string, p *Process) (*configs.Process, error) {
	if p == nil {
		return convertProcess(name, nil, nil)
	}
	return convertProcess(name, p.Process, p.Landlock)
}

// convertProcess converts p; ll is its landlock property, which the
// loader read (landlock.go).
func convertProcess(name string, p *specs.Process, ll *configs.Landlock) (*configs.Process, error) {
	field := func(f string) string {
		if name == "" {
			return f
		}
		return name + "." + f
	}
	if p == nil {
		if name == "" {
			return nil, errors.New("no process given")
		}
		return nil, fieldErr(name, "required")
	}
	if len(p.Args) == 0 {
		return nil, fieldErr(field("args"), "at least one entry is required")
	}
	for i, a := range p.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fieldErr(idx(field("args"), i), "contains a NUL byte")
		}
	}
	if p.Args[0] == "" {
		return nil, fieldErr(idx(field("args"), 0), "the program to run is empty")
	}
	for i, e := range p.Env {
		if err := checkEnv(e); err != nil {
			return nil, fieldErr(idx(field("env"), i), "%v", err)
		}
	}
	if p.Cwd == "" {
		return nil, fieldErr(field("cwd"), "required")
	}
	if strings.IndexByte(p.Cwd, 0) >= 0 || !filepath.IsAbs(p.Cwd) {
		return nil, fieldErr(field("cwd"), "%q is not an absolute path", p.Cwd)
	}
	out := &configs.Process{
		Args:            p.Args,
		Env:             p.Env,
		Cwd:             filepath.Clean(p.Cwd),
		UID:             p.User.UID,
		GID:             p.User.GID,
		AdditionalGids:  p.User.AdditionalGids,
		Umask:           p.User.Umask,
		Terminal:        p.Terminal,
		OOMScoreAdj:     p.OOMScoreAdj,
		NoNewPrivileges: p.NoNewPrivileges,
		ApparmorProfile: p.ApparmorProfile,
		SelinuxLabel:    p.SelinuxLabel,
		Landlock:        ll,
	}
	if p.Terminal {
		// The spec: consoleSize is ignored without a terminal.
		out.ConsoleSize = p.ConsoleSize
	}
	uf := UserFields{UID: field("user.uid"), GID: field("user.gid"), AdditionalGids: field("user.additionalGids")}
	if err := checkRealIDs(uf, p.User.UID, p.User.GID, p.User.AdditionalGids); err != nil {
		return nil, err
	}
	if p.User.Umask != nil && *p.User.Umask > 0o777 {
		return nil, fieldErr(field("user.umask"), "%#o has bits other than 0777", *p.User.Umask)
	}
	if a := p.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
		// OOM_SCORE_ADJ_MIN/MAX; /proc/PID/oom_score_adj refuses others.
		return nil, fieldErr(field("oomScoreAdj"), "%d out of range -1000 to 1000", *a)
	}
	var err error
	if out.Rlimits, err = convertRlimits(field("rlimits"), p.Rlimits); err != nil {
		return nil, err
	}
	if out.Capabilities, err = convertCapabilities(field("capabilities"), p.Capabilities); err != nil {
		return nil, err
	}
	if out.Scheduler, err = checkScheduler(field("scheduler"), p.Scheduler); err != nil {
		return nil, err
	}
	if out.IOPriority, err = checkIOPriority(field("ioPriority"), p.IOPriority); err != nil {
		return nil, err
	}
	if a := p.ExecCPUAffinity; a != nil {
		if err := checkCPUList(a.Initial); err != nil {
			return nil, fieldErr(field("execCPUAffinity.initial"), "%w", err)
		}
		if err := checkCPUList(a.Final); err != nil {
			return nil, fieldErr(field("execCPUAffinity.final"), "%w", err)
		}
		out.ExecCPUAffinity = a
	}
	return out, nil
}

// checkEnv checks one NAME=value entry as runc does.
func checkEnv(e string) error {
	if strings.IndexByte(e, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	name, _, ok := strings.Cut(e, "=")
	if !ok {
		return fmt.Errorf("%q has no '='", e)
	}
	if name == "" {
		return fmt.Errorf("%q has an empty name", e)
	}
	return nil
}

// rlimits maps the spec's names to the kernel's RLIMIT_* numbers.
var rlimits = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}

func convertRlimits(name string, in []specs.POSIXRlimit) ([]configs.Rlimit, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]configs.Rlimit, 0, len(in))
	seen := map[string]int{}
	for i, r := range in {
		f := idx(name, i)
		t, ok := rlimits[r.Type]
		if !ok {
			return nil, fieldErr(f, "unknown rlimit type %q", r.Type)
		}
		if j, dup := seen[r.Type]; dup {
			return nil, fieldErr(f, "duplicate rlimit type %q (also %s[%d])", r.Type, name, j)
		}
		seen[r.Type] = i
		if r.Soft > r.Hard {
			return nil, fieldErr(f, "soft limit %d is greater than hard limit %d", r.Soft, r.Hard)
		}
		out = append(out, configs.Rlimit{Type: t, Soft: r.Soft, Hard: r.Hard})
	}
	return out, nil
}

// convertCapabilities maps names to CAP_* numbers. A name that is no
// capability at all is an error; whether the running kernel knows a
// capability is left to libct (the spec wants a warning there).
func convertCapabilities(name string, c *specs.LinuxCapabilities) (*configs.Capabilities, error) {
	if c == nil {
		return nil, nil
	}
	out := &configs.Capabilities{}
	for _, set := range []struct {
		name string
		in   []string
		out  *[]int
	}{
		{"bounding", c.Bounding, &out.Bounding},
		{"effective", c.Effective, &out.Effective},
		{"permitted", c.Permitted, &out.Permitted},
		{"inheritable", c.Inheritable, &out.Inheritable},
		{"ambient", c.Ambient, &out.Ambient},
	} {
		for i, n := range set.in {
			num, err := capabilities.FromName(n)
			if err != nil {
				return nil, &FieldError{Field: idx(name+"."+set.name, i), Err: err}
			}
			*set.out = append(*set.out, num)
		}
	}
	return out, nil
}

var schedFlags = map[specs.LinuxSchedulerFlag]bool{
	specs.SchedFlagResetOnFork:  true,
	specs.SchedFlagReclaim:      true,
	specs.SchedFlagDLOverrun:    true,
	specs.SchedFlagKeepPolicy:   true,
	specs.SchedFlagKeepParams:   true,
	specs.SchedFlagUtilClampMin: true,
	specs.SchedFlagUtilClampMax: true,
}

// checkScheduler follows sched_setattr(2): nice only means something for
// the normal policies, priority 1-99 only for the real-time ones, and
// runtime/deadline/period only for SCHED_DEADLINE.
func checkScheduler(name string, s *specs.Scheduler) (*specs.Scheduler, error) {
	if s == nil {
		return nil, nil
	}
	rt := false
	switch s.Policy {
	case specs.SchedFIFO, specs.SchedRR:
		rt = true
	case specs.SchedOther, specs.SchedBatch, specs.SchedISO, specs.SchedIdle, specs.SchedDeadline:
	case "":
		return nil, fieldErr(name+".policy", "required")
	default:
		return nil, fieldErr(name+".policy", "unknown policy %q", s.Policy)
	}
	if s.Nice < -20 || s.Nice > 19 {
		return nil, fieldErr(name+".nice", "%d out of range -20 to 19", s.Nice)
	}
	if rt && (s.Priority < 1 || s.Priority > 99) {
		return nil, fieldErr(name+".priority", "%s needs a priority in 1-99, got %d", s.Policy, s.Priority)
	}
	if !rt && s.Priority != 0 {
		return nil, fieldErr(name+".priority", "only SCHED_FIFO and SCHED_RR take a priority")
	}
	if s.Policy != specs.SchedDeadline && (s.Runtime != 0 || s.Deadline != 0 || s.Period != 0) {
		return nil, fieldErr(name, "runtime, deadline and period are only for SCHED_DEADLINE")
	}
	for i, f := range s.Flags {
		if !schedFlags[f] {
			return nil, fieldErr(idx(name+".flags", i), "unknown flag %q", f)
		}
	}
	return s, nil
}

func checkIOPriority(name string, p *specs.LinuxIOPriority) (*specs.LinuxIOPriority, error) {
	if p == nil {
		return nil, nil
	}
	switch p.Class {
	case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
	default:
		return nil, fieldErr(name+".class", "unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return nil, fieldErr(name+".priority", "%d out of range 0-7", p.Priority)
	}
	return p, nil
}
